package local

import (
	"strconv"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CheckSupported reports, with field paths, everything in spec that the
// local backend cannot honour, so that a run is refused before it starts
// rather than a field being ignored: spec.target without process (existing
// pods need a cluster) or with loadURL,
// PodChaos remoteCluster; NetworkChaos actions duplicate and corrupt (and
// those fields), device, targetDevice, externalTargets, remoteCluster, delay
// correlation and reorder, loss correlation, bandwidth peakrate and minburst,
// fields that belong to another action; selector nodes, nodeSelectors,
// fieldSelectors and podPhaseSelectors; bad modes, values and durations.
// PodChaos containerNames are accepted: every local pod is one process, its
// only container.
func CheckSupported(spec v1alpha1.ExperimentSpec) field.ErrorList {
	var errs field.ErrorList
	root := field.NewPath("spec")
	switch {
	case spec.Target != nil && spec.Target.Process == nil:
		errs = append(errs, field.Required(root.Child("target", "process"), "the local backend starts the target's processes: give its command (existing pods need a cluster)"))
	case spec.Target != nil && spec.Target.LoadURL != "":
		errs = append(errs, field.Forbidden(root.Child("target", "loadURL"), "the local backend sends the load to the processes it starts"))
	case spec.Target == nil && spec.Victim == nil:
		errs = append(errs, field.Required(root.Child("victim"), "the local backend needs the victim topology or spec.target.process"))
	}
	for i, f := range spec.Faults {
		p := root.Child("faults").Index(i)
		if f.PodChaos != nil {
			errs = append(errs, checkPodChaos(p.Child("podChaos"), f.PodChaos)...)
		}
		if f.NetworkChaos != nil {
			errs = append(errs, checkNetworkChaos(p.Child("networkChaos"), f.NetworkChaos)...)
		}
	}
	return errs
}

func checkPodChaos(p *field.Path, pc *chaosv1alpha1.PodChaosSpec) field.ErrorList {
	errs := checkSelector(p, pc.PodSelector)
	switch pc.Action {
	case chaosv1alpha1.PodKillAction, chaosv1alpha1.ContainerKillAction, chaosv1alpha1.PodFailureAction:
	default:
		errs = append(errs, field.NotSupported(p.Child("action"), pc.Action, []string{"pod-kill", "pod-failure", "container-kill"}))
	}
	if pc.RemoteCluster != "" {
		errs = append(errs, field.Forbidden(p.Child("remoteCluster"), "not supported by the local backend"))
	}
	errs = append(errs, checkDuration(p.Child("duration"), pc.Duration)...)
	if pc.GracePeriod < 0 {
		errs = append(errs, field.Invalid(p.Child("gracePeriod"), pc.GracePeriod, "must not be negative"))
	}
	return errs
}

func checkNetworkChaos(p *field.Path, nc *chaosv1alpha1.NetworkChaosSpec) field.ErrorList {
	errs := checkSelector(p, nc.PodSelector)
	forbid := func(set bool, name, why string) {
		if set {
			errs = append(errs, field.Forbidden(p.Child(name), why))
		}
	}
	const unsupported = "not supported by the local backend"
	forbid(nc.Duplicate != nil, "duplicate", "packet duplication is not supported by the local backend (TCP proxy)")
	forbid(nc.Corrupt != nil, "corrupt", "packet corruption is not supported by the local backend (TCP proxy)")
	forbid(nc.Device != "", "device", unsupported)
	forbid(nc.TargetDevice != "", "targetDevice", unsupported)
	forbid(len(nc.ExternalTargets) > 0, "externalTargets", "the local backend only proxies edges between victim pods")
	forbid(nc.RemoteCluster != "", "remoteCluster", unsupported)

	a := nc.Action
	netem := a == chaosv1alpha1.NetemAction
	switch a {
	case chaosv1alpha1.DelayAction, chaosv1alpha1.LossAction, chaosv1alpha1.PartitionAction,
		chaosv1alpha1.BandwidthAction, chaosv1alpha1.NetemAction:
	default:
		errs = append(errs, field.NotSupported(p.Child("action"), a, []string{"delay", "loss", "partition", "bandwidth", "netem"}))
	}
	other := func(set, ok bool, name string) {
		if set && !ok {
			errs = append(errs, field.Forbidden(p.Child(name), "set but action is "+string(a)))
		}
		if !set && ok && !netem {
			errs = append(errs, field.Required(p.Child(name), "required by action "+string(a)))
		}
	}
	other(nc.Delay != nil, a == chaosv1alpha1.DelayAction || netem, "delay")
	other(nc.Loss != nil, a == chaosv1alpha1.LossAction || netem, "loss")
	other(nc.Bandwidth != nil, a == chaosv1alpha1.BandwidthAction, "bandwidth")
	other(nc.Rate != nil, netem, "rate")
	if netem && nc.Delay == nil && nc.Loss == nil && nc.Rate == nil {
		errs = append(errs, field.Required(p, "action netem needs delay, loss or rate"))
	}
	if d := nc.Delay; d != nil {
		dp := p.Child("delay")
		if lat, err := time.ParseDuration(d.Latency); err != nil || lat < 0 {
			errs = append(errs, field.Invalid(dp.Child("latency"), d.Latency, "want a non-negative Go duration"))
		}
		if d.Jitter != "" {
			if j, err := time.ParseDuration(d.Jitter); err != nil || j < 0 {
				errs = append(errs, field.Invalid(dp.Child("jitter"), d.Jitter, "want a non-negative Go duration"))
			}
		}
		forbid(nonZero(d.Correlation), "delay.correlation", "correlation is not supported by the local backend")
		forbid(d.Reorder != nil, "delay.reorder", "reordering is not supported by the local backend (TCP proxy)")
	}
	if l := nc.Loss; l != nil {
		if _, err := parsePercent(l.Loss); err != nil {
			errs = append(errs, field.Invalid(p.Child("loss", "loss"), l.Loss, err.Error()))
		}
		forbid(nonZero(l.Correlation), "loss.correlation", "correlation is not supported by the local backend")
	}
	if b := nc.Bandwidth; b != nil {
		if _, err := parseRate(b.Rate); err != nil {
			errs = append(errs, field.Invalid(p.Child("bandwidth", "rate"), b.Rate, err.Error()))
		}
		forbid(b.Peakrate != nil, "bandwidth.peakrate", unsupported)
		forbid(b.Minburst != nil, "bandwidth.minburst", unsupported)
	}
	if r := nc.Rate; r != nil {
		if _, err := parseRate(r.Rate); err != nil {
			errs = append(errs, field.Invalid(p.Child("rate", "rate"), r.Rate, err.Error()))
		}
	}
	switch nc.Direction {
	case "", chaosv1alpha1.To, chaosv1alpha1.From, chaosv1alpha1.Both:
	default:
		errs = append(errs, field.NotSupported(p.Child("direction"), nc.Direction, []string{"to", "from", "both"}))
	}
	switch nc.PartitionBehavior {
	case "", chaosv1alpha1.DropPartitionBehavior, chaosv1alpha1.RejectPartitionBehavior:
	default:
		errs = append(errs, field.NotSupported(p.Child("partitionBehavior"), nc.PartitionBehavior, []string{"drop", "reject"}))
	}
	if nc.Target != nil {
		errs = append(errs, checkSelector(p.Child("target"), *nc.Target)...)
	}
	errs = append(errs, checkDuration(p.Child("duration"), nc.Duration)...)
	return errs
}

// checkSelector checks a PodSelector's unsupported fields, mode and value.
func checkSelector(p *field.Path, s chaosv1alpha1.PodSelector) field.ErrorList {
	var errs field.ErrorList
	sp := p.Child("selector")
	const noNodes = "the local backend has no nodes"
	if len(s.Selector.Nodes) > 0 {
		errs = append(errs, field.Forbidden(sp.Child("nodes"), noNodes))
	}
	if len(s.Selector.NodeSelectors) > 0 {
		errs = append(errs, field.Forbidden(sp.Child("nodeSelectors"), noNodes))
	}
	if len(s.Selector.FieldSelectors) > 0 {
		errs = append(errs, field.Forbidden(sp.Child("fieldSelectors"), "not supported by the local backend"))
	}
	if len(s.Selector.PodPhaseSelectors) > 0 {
		errs = append(errs, field.Forbidden(sp.Child("podPhaseSelectors"), "not supported by the local backend"))
	}
	v, err := strconv.Atoi(s.Value)
	switch s.Mode {
	case chaosv1alpha1.OneMode, chaosv1alpha1.AllMode:
	case chaosv1alpha1.FixedMode:
		if err != nil || v <= 0 {
			errs = append(errs, field.Invalid(p.Child("value"), s.Value, "mode fixed needs a positive integer"))
		}
	case chaosv1alpha1.FixedPercentMode, chaosv1alpha1.RandomMaxPercentMode:
		if err != nil || v < 0 || v > 100 {
			errs = append(errs, field.Invalid(p.Child("value"), s.Value, "needs an integer percentage from 0 to 100"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("mode"), s.Mode, []string{"one", "all", "fixed", "fixed-percent", "random-max-percent"}))
	}
	return errs
}

func checkDuration(p *field.Path, d *string) field.ErrorList {
	if d == nil {
		return nil
	}
	if v, err := time.ParseDuration(*d); err != nil || v < 0 {
		return field.ErrorList{field.Invalid(p, *d, "want a non-negative Go duration")}
	}
	return nil
}

func nonZero(s string) bool {
	if s == "" {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err != nil || f != 0
}
