package v1alpha1

import (
	"fmt"
	"regexp"
	"time"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds enforced by the CRD's schema and CEL rules and by Validate.
const (
	// MaxExperimentDuration caps spec.duration.
	MaxExperimentDuration = time.Hour
	// MaxGatewayTimeout caps spec.victim.gateway.timeout.
	MaxGatewayTimeout = time.Minute
	// MaxDuplicateAfter caps spec.load.duplicateAfter.
	MaxDuplicateAfter = time.Hour
	// MaxFaults caps the number of faults of one experiment.
	MaxFaults = 16
	// MaxCount caps maxDuplicateCharges and maxLeakedGoroutines.
	MaxCount = 1_000_000_000
	// MaxRestartsBound caps maxRestarts.
	MaxRestartsBound = 10000
)

var (
	ratioRE     = regexp.MustCompile(`^(0(\.[0-9]+)?|1(\.0+)?)$`)
	growthRE    = regexp.MustCompile(`^([1-9][0-9]{0,3})(\.[0-9]+)?$`)
	faultNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	pathRE      = regexp.MustCompile(`^/[^?#[:space:]]*$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks an experiment, after SetDefaults, against the same rules
// as the CRD's OpenAPI schema and CEL rules (and Chaos Mesh's own webhook
// validation of each fault), returning every problem with its field path,
// such as spec.faults[1].after. An empty list means the experiment is valid.
func Validate(exp *Experiment) field.ErrorList {
	var errs field.ErrorList
	if exp.Name == "" && exp.GenerateName == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "an experiment needs a name"))
	} else if exp.Name != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(exp.Name, false) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), exp.Name, msg))
		}
	}
	return append(errs, ValidateSpec(&exp.Spec, field.NewPath("spec"))...)
}

// ValidateSpec checks a spec, after SetDefaults, with paths under fld.
func ValidateSpec(spec *ExperimentSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case spec.Victim == nil && spec.Target == nil:
		errs = append(errs, field.Required(fld.Child("victim"), "exactly one of victim or target must be set"))
	case spec.Victim != nil && spec.Target != nil:
		errs = append(errs, field.Forbidden(fld.Child("target"), "exactly one of victim or target must be set"))
	}
	if spec.Victim != nil {
		errs = append(errs, validateVictim(spec.Victim, fld.Child("victim"))...)
	}
	if spec.Target != nil {
		errs = append(errs, validateTarget(spec.Target, fld.Child("target"))...)
	}
	errs = append(errs, validateLoad(&spec.Load, fld.Child("load"))...)

	d := spec.Duration.Duration
	if d <= 0 || d > MaxExperimentDuration {
		errs = append(errs, field.Invalid(fld.Child("duration"), spec.Duration.Duration.String(), "must be greater than 0s and at most 1h"))
	}
	ss := spec.SteadyState.Duration
	if ss <= 0 {
		errs = append(errs, field.Invalid(fld.Child("steadyState"), spec.SteadyState.Duration.String(), "must be greater than 0s"))
	} else if d > 0 && ss >= d {
		errs = append(errs, field.Invalid(fld.Child("steadyState"), spec.SteadyState.Duration.String(), "steadyState must be shorter than duration"))
	}
	errs = append(errs, validateEnum(string(spec.SteadyStateGate), fld.Child("steadyStateGate"), string(GateEnforce), string(GateContinue))...)
	errs = append(errs, validateFaults(spec.Faults, d, spec.SteadyState.Duration, fld.Child("faults"))...)
	errs = append(errs, validateHypothesis(&spec.Hypothesis, fld.Child("hypothesis"))...)
	if a := spec.Abort; a != nil {
		errs = append(errs, validateRatio(a.ErrorRatioAbove, true, fld.Child("abort", "errorRatioAbove"))...)
		if a.For.Duration <= 0 {
			errs = append(errs, field.Invalid(fld.Child("abort", "for"), a.For.Duration.String(), "must be greater than 0s"))
		}
	}
	return errs
}

func validateVictim(v *VictimSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r := v.Orders.Replicas; r < 1 || r > 10 {
		errs = append(errs, field.Invalid(fld.Child("orders", "replicas"), r, "must be between 1 and 10"))
	}
	errs = append(errs, validateEnum(string(v.Orders.Cache), fld.Child("orders", "cache"),
		string(CacheRacy), string(CacheMutex), string(CacheSharded), string(CacheSyncMap), string(CacheSerialized))...)
	errs = append(errs, validateEnum(string(v.Ledger.Idempotency), fld.Child("ledger", "idempotency"),
		string(IdempotencyNone), string(IdempotencyCAS))...)
	errs = append(errs, validateEnum(string(v.Gateway.Mode), fld.Child("gateway", "mode"),
		string(GatewayLeaky), string(GatewayBounded))...)
	for name, d := range map[string]*metav1.Duration{"janitorInterval": v.Orders.JanitorInterval, "cacheTTL": v.Orders.CacheTTL} {
		if d != nil && (d.Duration < time.Millisecond || d.Duration > time.Hour) {
			errs = append(errs, field.Invalid(fld.Child("orders", name), d.Duration.String(), "must be between 1ms and 1h"))
		}
	}
	if t := v.Gateway.Timeout.Duration; t <= 0 || t > MaxGatewayTimeout {
		errs = append(errs, field.Invalid(fld.Child("gateway", "timeout"), v.Gateway.Timeout.Duration.String(), "must be greater than 0s and at most 1m"))
	}
	if r := v.Gateway.Retries; r != nil && (*r < 0 || *r > 5) {
		errs = append(errs, field.Invalid(fld.Child("gateway", "retries"), *r, "must be between 0 and 5"))
	}
	if len(v.Image) > 512 {
		errs = append(errs, field.TooLong(fld.Child("image"), "", 512))
	}
	return errs
}

func validateTarget(t *TargetSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(t.Selector.MatchLabels) == 0 && len(t.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fld.Child("selector"), "", "must not be empty: an empty selector selects every pod in the namespace"))
	}
	for name, p := range map[string]int32{"port": t.Port, "adminPort": t.AdminPort} {
		if p < 1 || p > 65535 {
			errs = append(errs, field.Invalid(fld.Child(name), p, "must be between 1 and 65535"))
		}
	}
	for name, p := range map[string]string{"metricsPath": t.MetricsPath, "goroutinesPath": t.GoroutinesPath} {
		if len(p) > 256 || !pathRE.MatchString(p) {
			errs = append(errs, field.Invalid(fld.Child(name), p, "must be a path starting with / (at most 256 characters, no query, fragment or space)"))
		}
	}
	if len(t.LoadURL) > 2048 {
		errs = append(errs, field.TooLong(fld.Child("loadURL"), "", 2048))
	}
	if p := t.Process; p != nil {
		errs = append(errs, validateProcess(p, fld.Child("process"))...)
		if len(t.Selector.MatchLabels) == 0 {
			errs = append(errs, field.Required(fld.Child("selector", "matchLabels"), "target.process needs selector.matchLabels: they become the processes' labels"))
		}
	}
	return errs
}

func validateProcess(p *ProcessSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case len(p.Command) == 0 || p.Command[0] == "":
		errs = append(errs, field.Required(fld.Child("command"), "the program to run and its arguments, such as [./myservice, --listen=:$(PORT)]"))
	case len(p.Command) > 64:
		errs = append(errs, field.TooMany(fld.Child("command"), len(p.Command), 64))
	}
	for i, a := range p.Command {
		if len(a) > 4096 {
			errs = append(errs, field.TooLong(fld.Child("command").Index(i), "", 4096))
		}
	}
	if r := p.Replicas; r < 1 || r > 10 {
		errs = append(errs, field.Invalid(fld.Child("replicas"), r, "must be between 1 and 10"))
	}
	if len(p.Env) > 64 {
		errs = append(errs, field.TooMany(fld.Child("env"), len(p.Env), 64))
	}
	for i, e := range p.Env {
		ep := fld.Child("env").Index(i)
		if len(e.Name) > 256 || !envNameRE.MatchString(e.Name) {
			errs = append(errs, field.Invalid(ep.Child("name"), e.Name, "must be letters, digits and '_', not starting with a digit"))
		}
		if len(e.Value) > 4096 {
			errs = append(errs, field.TooLong(ep.Child("value"), "", 4096))
		}
	}
	return errs
}

func validateLoad(l *LoadSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if l.Rate < 1 || l.Rate > 5000 {
		errs = append(errs, field.Invalid(fld.Child("rate"), l.Rate, "must be between 1 and 5000 requests per second"))
	}
	errs = append(errs, validateRatio(l.DuplicateRatio, false, fld.Child("duplicateRatio"))...)
	if d := l.DuplicateAfter.Duration; d < 0 || d > MaxDuplicateAfter {
		errs = append(errs, field.Invalid(fld.Child("duplicateAfter"), l.DuplicateAfter.Duration.String(), "must be at least 0s and at most 1h"))
	}
	if r := l.Request; r != nil {
		errs = append(errs, validateRequest(r, fld.Child("request"))...)
	}
	return errs
}

func validateHypothesis(h *Hypothesis, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateRatio(h.MaxErrorRatio, false, fld.Child("maxErrorRatio"))...)
	if g := h.MaxGoroutineGrowth; g != "" && (len(g) > 16 || !growthRE.MatchString(g)) {
		errs = append(errs, field.Invalid(fld.Child("maxGoroutineGrowth"), g, "must be a decimal string from \"1\" to \"9999\", such as \"2.0\""))
	}
	for _, c := range []struct {
		name string
		v    *int64
		max  int64
	}{{"maxDuplicateCharges", h.MaxDuplicateCharges, MaxCount}, {"maxLeakedGoroutines", h.MaxLeakedGoroutines, MaxCount}} {
		if c.v != nil && (*c.v < 0 || *c.v > c.max) {
			errs = append(errs, field.Invalid(fld.Child(c.name), *c.v, "must be between 0 and 1000000000"))
		}
	}
	if r := h.MaxRestarts; r != nil && (*r < 0 || *r > MaxRestartsBound) {
		errs = append(errs, field.Invalid(fld.Child("maxRestarts"), *r, "must be between 0 and 10000"))
	}
	return errs
}

// validateRatio checks a decimal string from "0" to "1".
func validateRatio(s string, required bool, fld *field.Path) field.ErrorList {
	if s == "" {
		if required {
			return field.ErrorList{field.Required(fld, "a decimal string from \"0\" to \"1\"")}
		}
		return nil
	}
	if len(s) > 16 || !ratioRE.MatchString(s) {
		return field.ErrorList{field.Invalid(fld, s, "must be a decimal string from \"0\" to \"1\", such as \"0.01\"")}
	}
	return nil
}

// validateEnum checks that s is one of the allowed values (empty is allowed:
// the field is optional and defaulted).
func validateEnum(s string, fld *field.Path, allowed ...string) field.ErrorList {
	if s == "" {
		return nil
	}
	for _, a := range allowed {
		if s == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(fld, s, allowed)}
}

func validateFaults(faults []Fault, d, steadyState time.Duration, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(faults) > MaxFaults {
		errs = append(errs, field.TooMany(fld, len(faults), MaxFaults))
	}
	seen := map[string]bool{}
	for i := range faults {
		f := &faults[i]
		p := fld.Index(i)
		switch {
		case f.Name == "":
			errs = append(errs, field.Required(p.Child("name"), "a fault needs a name"))
		case len(f.Name) > 40:
			errs = append(errs, field.TooLong(p.Child("name"), f.Name, 40))
		case !faultNameRE.MatchString(f.Name):
			errs = append(errs, field.Invalid(p.Child("name"), f.Name, "must be lower-case letters, digits and '-', starting and ending with a letter or digit"))
		case seen[f.Name]:
			errs = append(errs, field.Duplicate(p.Child("name"), f.Name))
		}
		seen[f.Name] = true
		after := f.After.Duration
		if after < 0 {
			errs = append(errs, field.Invalid(p.Child("after"), f.After.Duration.String(), "must be at least 0s"))
		} else if d > 0 && after >= d {
			errs = append(errs, field.Invalid(p.Child("after"), f.After.Duration.String(),
				"fault "+f.Name+" starts when the experiment is over: after must be less than spec.duration"))
		}
		if ss := steadyState; after >= 0 && ss > 0 && after < ss && (d <= 0 || ss < d) {
			errs = append(errs, field.Invalid(p.Child("after"), f.After.Duration.String(),
				fmt.Sprintf("fault %s starts at %s, inside the steady state (spec.steadyState %s): after must be at least spec.steadyState, or the baseline it is judged against already holds the fault", f.Name, f.After.Duration, ss)))
		}
		errs = append(errs, validateFaultChaos(f, p)...)
		if fd, ok := faultDuration(f); ok && after >= 0 && d > 0 && after < d && after+fd > d {
			errs = append(errs, field.Invalid(p.Child("after"), f.After.Duration.String(),
				"fault "+f.Name+" ends after the experiment: after plus the fault's duration must be at most spec.duration"))
		}
	}
	return errs
}

// faultDuration returns the fault's own duration when it has a valid one.
func faultDuration(f *Fault) (time.Duration, bool) {
	var s *string
	switch {
	case f.PodChaos != nil:
		s = f.PodChaos.Duration
	case f.NetworkChaos != nil:
		s = f.NetworkChaos.Duration
	}
	if s == nil {
		return 0, false
	}
	d, err := time.ParseDuration(*s)
	return d, err == nil && d > 0
}
