package v1alpha1

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/genericwebhook"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// netemDurationRE is Chaos Mesh's schema pattern for delay latency and jitter.
var netemDurationRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$`)

var selectorModes = []string{"one", "all", "fixed", "fixed-percent", "random-max-percent"}

// validateFaultChaos checks the Chaos Mesh part of one fault: the schema of
// Chaos Mesh's CRD, cascadelab's CEL rules on it, and Chaos Mesh's own
// webhook validation.
func validateFaultChaos(f *Fault, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case f.PodChaos == nil && f.NetworkChaos == nil:
		return field.ErrorList{field.Required(p.Child("podChaos"), "exactly one of podChaos or networkChaos must be set")}
	case f.PodChaos != nil && f.NetworkChaos != nil:
		return field.ErrorList{field.Forbidden(p.Child("networkChaos"), "exactly one of podChaos or networkChaos must be set")}
	case f.PodChaos != nil:
		pc, pp := f.PodChaos, p.Child("podChaos")
		errs = append(errs, validateEnum(string(pc.Action), pp.Child("action"), "pod-kill", "pod-failure", "container-kill")...)
		if pc.Action == "" {
			errs = append(errs, field.Required(pp.Child("action"), ""))
		}
		if pc.GracePeriod < 0 {
			errs = append(errs, field.Invalid(pp.Child("gracePeriod"), pc.GracePeriod, "must be at least 0"))
		}
		if pc.Action == chaosv1alpha1.PodFailureAction && pc.Duration == nil {
			errs = append(errs, field.Required(pp.Child("duration"), "podChaos.duration is required for action pod-failure"))
		}
		if pc.Action == chaosv1alpha1.ContainerKillAction && len(pc.ContainerNames) == 0 {
			errs = append(errs, field.Required(pp.Child("containerNames"), "podChaos.containerNames is required for action container-kill"))
		}
		errs = append(errs, validateChaosDuration(pc.Duration, pp.Child("duration"), "podChaos")...)
		errs = append(errs, validatePodSelector(&pc.PodSelector, pp)...)
		errs = append(errs, validateRemote(pc.RemoteCluster, pp)...)
		c := pc.DeepCopy()
		errs = append(errs, chaosMeshValidate(&struct{ Spec *chaosv1alpha1.PodChaosSpec }{c}, c, pp)...)
	default:
		nc, np := f.NetworkChaos, p.Child("networkChaos")
		errs = append(errs, validateEnum(string(nc.Action), np.Child("action"),
			"netem", "delay", "loss", "duplicate", "corrupt", "partition", "bandwidth")...)
		if nc.Action == "" {
			errs = append(errs, field.Required(np.Child("action"), ""))
		}
		missing := (nc.Action == chaosv1alpha1.DelayAction && nc.Delay == nil) ||
			(nc.Action == chaosv1alpha1.LossAction && nc.Loss == nil) ||
			(nc.Action == chaosv1alpha1.DuplicateAction && nc.Duplicate == nil) ||
			(nc.Action == chaosv1alpha1.CorruptAction && nc.Corrupt == nil) ||
			(nc.Action == chaosv1alpha1.BandwidthAction && nc.Bandwidth == nil)
		if missing {
			errs = append(errs, field.Required(np.Child(string(nc.Action)),
				"networkChaos needs the parameters of its action: delay, loss, duplicate, corrupt or bandwidth"))
		}
		errs = append(errs, validateEnum(string(nc.Direction), np.Child("direction"), "to", "from", "both")...)
		errs = append(errs, validateEnum(string(nc.PartitionBehavior), np.Child("partitionBehavior"), "drop", "reject")...)
		if d := nc.Delay; d != nil {
			if !netemDurationRE.MatchString(d.Latency) {
				errs = append(errs, field.Invalid(np.Child("delay", "latency"), d.Latency, "must be a duration such as 200ms"))
			}
			if d.Jitter != "" && !netemDurationRE.MatchString(d.Jitter) {
				errs = append(errs, field.Invalid(np.Child("delay", "jitter"), d.Jitter, "must be a duration such as 50ms"))
			}
			errs = append(errs, validateDelayCap(d, np.Child("delay", "latency"))...)
		}
		if b := nc.Bandwidth; b != nil {
			if b.Limit < 1 {
				errs = append(errs, field.Invalid(np.Child("bandwidth", "limit"), b.Limit, "must be at least 1"))
			}
			if b.Buffer < 1 {
				errs = append(errs, field.Invalid(np.Child("bandwidth", "buffer"), b.Buffer, "must be at least 1"))
			}
		}
		errs = append(errs, validateChaosDuration(nc.Duration, np.Child("duration"), "networkChaos")...)
		errs = append(errs, validatePodSelector(&nc.PodSelector, np)...)
		if nc.Target != nil {
			errs = append(errs, validateEnum(string(nc.Target.Mode), np.Child("target", "mode"), selectorModes...)...)
			if len(nc.Target.Selector.Namespaces) > 0 {
				errs = append(errs, field.Forbidden(np.Child("target", "selector", "namespaces"),
					"networkChaos.target.selector.namespaces must be empty: faults act only in the experiment's namespace"))
			}
		}
		errs = append(errs, validateRemote(nc.RemoteCluster, np)...)
		c := nc.DeepCopy()
		errs = append(errs, chaosMeshValidate(&struct {
			Spec *chaosv1alpha1.NetworkChaosSpec
		}{c}, c, np)...)
	}
	return errs
}

// MaxDelay caps a NetworkChaos delay's latency plus jitter. The manager's
// observation waits out the injected latency (its scrape timeout is above
// it), so the cap also bounds how long one read of a delayed pod may take.
const MaxDelay = 10 * time.Second

// maxDelayMessage is the rejection of a delay above MaxDelay, in Validate
// and in the CRD's CEL rule alike.
const maxDelayMessage = "networkChaos.delay.latency plus networkChaos.delay.jitter must be at most 10s"

// validateDelayCap refuses a delay whose latency plus jitter exceeds
// MaxDelay (malformed values are reported by the format checks).
func validateDelayCap(d *chaosv1alpha1.DelaySpec, fld *field.Path) field.ErrorList {
	lat, err := time.ParseDuration(d.Latency)
	if err != nil || !netemDurationRE.MatchString(d.Latency) {
		return nil
	}
	var jit time.Duration
	if d.Jitter != "" {
		if jit, err = time.ParseDuration(d.Jitter); err != nil || !netemDurationRE.MatchString(d.Jitter) {
			return nil
		}
	}
	if lat+jit > MaxDelay || lat > MaxDelay || jit > MaxDelay {
		return field.ErrorList{field.Invalid(fld, d.Latency, fmt.Sprintf("%s (latency %s, jitter %s)", maxDelayMessage, d.Latency, cmp.Or(d.Jitter, "0s")))}
	}
	return nil
}

func validateChaosDuration(s *string, fld *field.Path, kind string) field.ErrorList {
	if s == nil {
		return nil
	}
	d, err := time.ParseDuration(*s)
	if err != nil {
		return field.ErrorList{field.Invalid(fld, *s, "must be a Go duration such as 30s")}
	}
	if d <= 0 {
		return field.ErrorList{field.Invalid(fld, *s, kind+".duration must be greater than 0s")}
	}
	return nil
}

// validatePodSelector checks the selector rules cascadelab adds: a mode,
// a non-empty selector, and no namespaces (the experiment's is forced).
func validatePodSelector(s *chaosv1alpha1.PodSelector, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	kind := fld.String()[strings.LastIndex(fld.String(), ".")+1:]
	if s.Mode == "" {
		errs = append(errs, field.Required(fld.Child("mode"), ""))
	}
	errs = append(errs, validateEnum(string(s.Mode), fld.Child("mode"), selectorModes...)...)
	sel := s.Selector
	if len(sel.LabelSelectors) == 0 && len(sel.ExpressionSelectors) == 0 && len(sel.Pods) == 0 &&
		len(sel.FieldSelectors) == 0 && len(sel.AnnotationSelectors) == 0 {
		errs = append(errs, field.Invalid(fld.Child("selector"), "",
			kind+".selector must not be empty: an empty selector selects every pod in the namespace"))
	}
	if len(sel.Namespaces) > 0 {
		errs = append(errs, field.Forbidden(fld.Child("selector", "namespaces"),
			kind+".selector.namespaces must be empty: faults act only in the experiment's namespace"))
	}
	return errs
}

func validateRemote(remote string, fld *field.Path) field.ErrorList {
	if remote == "" {
		return nil
	}
	return field.ErrorList{field.Forbidden(fld.Child("remoteCluster"), "remoteCluster is not supported: faults act only in the experiment's cluster")}
}

// chaosMeshValidate runs Chaos Mesh's webhook validation (the genericwebhook
// walk over the spec) and rewrites its Go-field-name paths, such as
// Spec.PodSelector.Value, into JSON paths under fld, such as
// spec.faults[0].podChaos.value.
//
// It first applies Chaos Mesh's webhook defaults (such as correlation "0"),
// as its mutating webhook does in a cluster, so root must hold a copy.
func chaosMeshValidate(root any, spec any, fld *field.Path) field.ErrorList {
	genericwebhook.Default(root)
	errs := genericwebhook.Validate(root)
	for _, e := range errs {
		e.Field = jsonPath(reflect.TypeOf(spec).Elem(), strings.TrimPrefix(strings.TrimPrefix(e.Field, "Spec"), "."), fld.String())
	}
	return errs
}

// jsonPath translates a dotted path of Go field names in t into JSON names,
// dropping inlined embedded structs; segments it cannot resolve are kept.
func jsonPath(t reflect.Type, goPath, prefix string) string {
	out := prefix
	if goPath == "" {
		return out
	}
	for _, seg := range strings.Split(goPath, ".") {
		name, idx, _ := strings.Cut(seg, "[")
		if idx != "" {
			idx = "[" + idx
		}
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice) {
			t = t.Elem()
		}
		var sf reflect.StructField
		ok := false
		if t != nil && t.Kind() == reflect.Struct {
			sf, ok = t.FieldByName(name)
			ok = ok && len(sf.Index) == 1
		}
		if !ok {
			out += "." + seg
			t = nil
			continue
		}
		t = sf.Type
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if tag == "" && sf.Anonymous {
			out += idx
			continue
		}
		if tag == "" {
			tag = name
		}
		out += "." + tag + idx
	}
	return out
}
