package report

import (
	"fmt"
	"math"
	"strings"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// injectedFault is a spec fault together with the pods it hit.
type injectedFault struct {
	v1alpha1.Fault
	Targets []string
}

// injected returns the spec faults that were really injected: the status
// has an injectedAt, the state is Injected or Recovered, and no
// FaultNotInjected finding names it (a fault that selected no pod has an
// injectedAt but hit nothing). Without statuses nothing counts as injected.
func (r *Report) injected() []injectedFault {
	notInjected := map[string]bool{}
	for _, f := range r.Findings {
		if f.Type == v1alpha1.FindingFaultNotInjected {
			notInjected[f.Target] = true
		}
	}
	status := map[string]v1alpha1.FaultStatus{}
	for _, s := range r.Faults {
		status[s.Name] = s
	}
	var out []injectedFault
	for _, f := range r.Spec.Faults {
		s, ok := status[f.Name]
		if !ok || s.InjectedAt == nil || notInjected[f.Name] ||
			(s.State != v1alpha1.FaultInjected && s.State != v1alpha1.FaultRecovered) {
			continue
		}
		out = append(out, injectedFault{f, s.Targets})
	}
	return out
}

// faultLessons explains each kind of fault the drill injected, and only
// those: a pod kill, a pod failure, a network delay, other network faults.
func (r *Report) faultLessons() []lesson {
	var kills, failures, delays, network []injectedFault
	for _, f := range r.injected() {
		switch {
		case f.PodChaos != nil && (f.PodChaos.Action == chaosv1alpha1.PodKillAction || f.PodChaos.Action == chaosv1alpha1.ContainerKillAction):
			kills = append(kills, f)
		case f.PodChaos != nil && f.PodChaos.Action == chaosv1alpha1.PodFailureAction:
			failures = append(failures, f)
		case f.NetworkChaos != nil && f.NetworkChaos.Action == chaosv1alpha1.DelayAction && f.NetworkChaos.Delay != nil:
			delays = append(delays, f)
		case f.NetworkChaos != nil:
			network = append(network, f)
		}
	}
	var ls []lesson
	if len(kills) > 0 {
		text := fmt.Sprintf("%s killed %s. Requests in flight on a killed process fail at once or time out at "+
			"their caller, and the replacement starts with nothing in memory", names(kills), hit(kills))
		if r.Spec.Victim != nil {
			text += " (an empty orders cache)"
		}
		text += ". Restarts caused by an injected kill are expected and not counted against `maxRestarts`; any other restart is."
		ls = append(ls, lesson{"A killed process takes its requests in flight with it", text})
	}
	if len(failures) > 0 {
		ls = append(ls, lesson{"A failed pod stops serving without going away",
			fmt.Sprintf("%s made %s unavailable for the fault's duration without deleting the pod: callers get "+
				"connection errors or wait for their own timeout until it comes back, and only a deadline on each "+
				"call bounds what they spend waiting.", names(failures), hit(failures))})
	}
	if len(delays) > 0 {
		ls = append(ls, r.delayLesson(delays))
	}
	if len(network) > 0 {
		var actions []string
		for _, f := range network {
			actions = append(actions, networkAction(f.NetworkChaos))
		}
		ls = append(ls, lesson{"A lossy or cut network is paid for in waiting",
			fmt.Sprintf("%s (%s) hit %s. A dropped packet does not fail fast: the sender waits for TCP to "+
				"retransmit or for its own timeout, so the fault costs time on every request that crosses it, "+
				"and only the caller's deadline bounds how much.", names(network), strings.Join(actions, "; "), hit(network))})
	}
	return ls
}

// delayLesson applies Little's law to the injected delays at the drill's rate.
func (r *Report) delayLesson(delays []injectedFault) lesson {
	var most time.Duration
	for _, f := range delays {
		if d, err := time.ParseDuration(f.NetworkChaos.Delay.Latency); err == nil {
			most = max(most, d)
		}
	}
	text := fmt.Sprintf("%s delayed %s. By Little's law the work in flight is the arrival rate times the time "+
		"each request takes", names(delays), hit(delays))
	if most > 0 && r.Spec.Load.Rate > 0 {
		text += fmt.Sprintf(": at %d req/s, %s more on each request that crosses the delayed link keeps up to about %.0f more "+
			"requests in flight, each holding at least one goroutine on every caller along the path", r.Spec.Load.Rate, most,
			math.Ceil(float64(r.Spec.Load.Rate)*most.Seconds()))
	}
	text += ". They should drain when the delay ends: growth that stays after the faults is a leak, which is " +
		"why goroutine growth is judged only once the faults are over and settled."
	if v := r.Spec.Victim; v != nil && v.Gateway.Timeout.Duration > 0 {
		text += fmt.Sprintf(" The gateway gives each try %s: a delay that pushes a call past it becomes a timeout", v.Gateway.Timeout.Duration)
		if v.Gateway.Retries != nil && *v.Gateway.Retries > 0 {
			text += fmt.Sprintf(" and a retry, up to %d more calls down the slow path", *v.Gateway.Retries)
		}
		text += "."
	}
	return lesson{"Latency multiplies the work in flight", text}
}

// names lists the faults' names, e.g. "Fault slow-ledger" or "Faults a, b".
func names(fs []injectedFault) string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name)
	}
	if len(n) == 1 {
		return "Fault " + n[0]
	}
	return "Faults " + strings.Join(n, ", ")
}

// hit lists the pods the faults hit, sorted, or says the targets were not recorded.
func hit(fs []injectedFault) string {
	seen := map[string]bool{}
	for _, f := range fs {
		for _, t := range f.Targets {
			seen[t] = true
		}
	}
	if len(seen) == 0 {
		return "pods its status does not name"
	}
	return strings.Join(sortedKeys(seen), ", ")
}
