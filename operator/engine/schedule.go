package engine

import (
	"fmt"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// faultRun is one fault's schedule and state.
type faultRun struct {
	name  string
	kind  string        // e.g. "pod-kill", "delay"
	after time.Duration // scheduled injection
	// length is how long the fault lasts once injected; 0 means until the
	// end of the drill (instant faults are recovered at once instead).
	length time.Duration
	// instant faults (pod-kill, container-kill) are over once injected.
	instant bool
	// podFault faults restart processes (pod-kill, container-kill, pod-failure).
	podFault bool

	state        v1alpha1.FaultState
	injectAsked  bool
	recoverAsked bool
	injectedAt   *time.Duration
	recoveredAt  *time.Duration
	targets      []string
	message      string
	// latency is a delay fault's injected latency.
	latency time.Duration
	// peers are the roles of a network fault's target selector
	// (networkChaos.target, by app.kubernetes.io/component): the fault
	// acts on the edges between its targets and them only. Empty: every
	// edge touching its targets.
	peers map[string]bool
	// injectedCrashes are the process exits of its targets the backend
	// reported as this fault's doing, restored from status (the crash
	// reports themselves are not kept there).
	injectedCrashes map[string]int32
	// effect and effectDetail are the fault effect check's result.
	effect       v1alpha1.FaultEffect
	effectDetail string
	// effectRestored: the effect came from status (decided before a
	// restart, on records this engine does not have).
	effectRestored bool
}

// schedule reads the faults of a spec.
func schedule(spec v1alpha1.ExperimentSpec) ([]*faultRun, error) {
	var out []*faultRun
	for i, f := range spec.Faults {
		path := fmt.Sprintf("spec.faults[%d]", i)
		r := &faultRun{name: f.Name, after: f.After.Duration, state: v1alpha1.FaultPending}
		if r.after < 0 {
			return nil, fmt.Errorf("%s.after: must not be negative", path)
		}
		var dur *string
		switch {
		case f.PodChaos != nil && f.NetworkChaos == nil:
			a := f.PodChaos.Action
			if a == "" {
				a = chaosv1alpha1.PodKillAction
			}
			r.kind, r.podFault = string(a), true
			r.instant = a == chaosv1alpha1.PodKillAction || a == chaosv1alpha1.ContainerKillAction
			dur = f.PodChaos.Duration
		case f.NetworkChaos != nil && f.PodChaos == nil:
			r.kind = string(f.NetworkChaos.Action)
			dur = f.NetworkChaos.Duration
			if d := f.NetworkChaos.Delay; d != nil && d.Latency != "" {
				l, err := time.ParseDuration(d.Latency)
				if err != nil || l < 0 {
					return nil, fmt.Errorf("%s.networkChaos.delay.latency: %q is not a Go duration", path, d.Latency)
				}
				r.latency = l
			}
			if tg := f.NetworkChaos.Target; tg != nil {
				if role := tg.Selector.LabelSelectors[observe.LabelComponent]; role != "" {
					r.peers = map[string]bool{role: true}
				}
			}
		default:
			return nil, fmt.Errorf("%s: exactly one of podChaos or networkChaos must be set", path)
		}
		if dur != nil && *dur != "" && !r.instant {
			d, err := time.ParseDuration(*dur)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("%s.duration: %q is not a positive Go duration", path, *dur)
			}
			r.length = d
		}
		out = append(out, r)
	}
	return out, nil
}

// recoverDue is when an injected fault is to be recovered.
func (f *faultRun) recoverDue(drill time.Duration) time.Duration {
	if f.injectedAt == nil || f.length == 0 {
		return drill
	}
	return min(*f.injectedAt+f.length, drill)
}

// active reports whether the fault is (or may be, being asked for) in effect.
func (f *faultRun) active() bool {
	return f.state == v1alpha1.FaultInjected || (f.state == v1alpha1.FaultPending && f.injectAsked)
}

func (f *faultRun) status() v1alpha1.FaultStatus {
	st := v1alpha1.FaultStatus{Name: f.name, State: f.state, Message: f.message, Effect: f.effect, EffectDetail: f.effectDetail}
	if f.injectedAt != nil {
		st.InjectedAt = &metav1.Duration{Duration: *f.injectedAt}
	}
	if f.recoveredAt != nil {
		st.RecoveredAt = &metav1.Duration{Duration: *f.recoveredAt}
	}
	st.Targets = append(st.Targets, f.targets...)
	return st
}

// Tick returns the actions due at now: fault injections and recoveries, and
// at the end of the drill the recovery of every fault still active followed
// by Stop. It advances the phase.
func (e *Engine) Tick(now time.Duration) []Action {
	switch e.phase {
	case v1alpha1.PhaseSteadyState, v1alpha1.PhaseInjecting, v1alpha1.PhaseRecovering:
	default:
		return nil
	}
	var acts []Action
	if first := e.firstFault(); first != nil && now >= first.after {
		if stop := e.checkGate(now); stop != nil {
			return stop
		}
	}
	for i, f := range e.faults {
		if f.state == v1alpha1.FaultPending && !f.injectAsked && now >= f.after && f.after < e.duration {
			f.injectAsked = true
			acts = append(acts, Action{Type: ActionInject, Fault: i, Reason: fmt.Sprintf("%s due at %s", f.name, f.after)})
		}
		if f.state == v1alpha1.FaultInjected && !f.recoverAsked && now >= f.recoverDue(e.duration) && now < e.duration {
			f.recoverAsked = true
			acts = append(acts, Action{Type: ActionRecover, Fault: i, Reason: fmt.Sprintf("%s over", f.name)})
		}
		// Asked for, never acknowledged, and its window is over: it is no
		// longer wanted (whatever the backend half-made is removed) and it
		// ends the drill as FaultNotInjected.
		if f.state == v1alpha1.FaultPending && f.injectAsked && !f.recoverAsked && f.length > 0 && now >= f.after+f.length && now < e.duration {
			f.recoverAsked = true
			msg := "not acknowledged injected before its window ended"
			if f.message != "" { // what the backend last said it waited for
				msg += "; last: " + f.message
			}
			f.message = truncate(msg, 1024)
			acts = append(acts, Action{Type: ActionRecover, Fault: i, Reason: fmt.Sprintf("%s window over, never injected", f.name)})
		}
	}
	if now >= e.duration {
		return append(acts, e.toJudging(now, "drill over")...)
	}
	e.advance()
	return acts
}

// recoverAll asks to recover every active fault not yet asked for.
func (e *Engine) recoverAll(reason string) []Action {
	var acts []Action
	for i, f := range e.faults {
		if f.active() && !f.recoverAsked {
			f.recoverAsked = true
			acts = append(acts, Action{Type: ActionRecover, Fault: i, Reason: reason})
		}
	}
	return acts
}

// advance moves SteadyState → Injecting → Recovering as faults come and go.
func (e *Engine) advance() {
	if e.phase != v1alpha1.PhaseSteadyState && e.phase != v1alpha1.PhaseInjecting {
		return
	}
	started, outstanding := false, false
	for _, f := range e.faults {
		if f.injectAsked || f.state != v1alpha1.FaultPending {
			started = true
		}
		if (f.state == v1alpha1.FaultPending && !f.recoverAsked && f.after < e.duration) || f.state == v1alpha1.FaultInjected {
			outstanding = true
		}
	}
	switch {
	case !started:
	case outstanding:
		e.phase = v1alpha1.PhaseInjecting
	default:
		e.phase = v1alpha1.PhaseRecovering
	}
}

// FaultInjected records that the backend injected fault i at at, hitting
// targets. Instant faults (pod-kill, container-kill) are recovered at once.
func (e *Engine) FaultInjected(i int, at time.Duration, targets []string) {
	if i < 0 || i >= len(e.faults) {
		return
	}
	f := e.faults[i]
	if f.state == v1alpha1.FaultRecovered || f.state == v1alpha1.FaultFailed {
		return
	}
	f.state, f.injectAsked, f.injectedAt = v1alpha1.FaultInjected, true, &at
	f.message = "" // what the backend waited for is over
	f.targets = append([]string(nil), targets...)
	if f.podFault {
		for _, t := range targets {
			e.judge.podFaultHits[t]++
		}
	}
	e.judge.event(at, KindFaultInjected, joinTargets(targets), fmt.Sprintf("%s (%s) injected", f.name, f.kind))
	if f.instant {
		f.state, f.recoveredAt, f.recoverAsked = v1alpha1.FaultRecovered, &at, true
	}
	e.advance()
}

// FaultWaiting records what the backend says it is waiting for while fault
// i is asked for and not yet acknowledged (Chaos Mesh's own failure text,
// say); it is the fault's message until then, and part of the
// FaultNotInjected finding if the window ends first.
func (e *Engine) FaultWaiting(i int, detail string) {
	if i < 0 || i >= len(e.faults) || detail == "" {
		return
	}
	if f := e.faults[i]; f.state == v1alpha1.FaultPending && f.injectAsked && !f.recoverAsked {
		f.message = truncate(detail, 512)
	}
}

// FaultRecovered records that the backend recovered fault i at at.
func (e *Engine) FaultRecovered(i int, at time.Duration) {
	if i < 0 || i >= len(e.faults) {
		return
	}
	f := e.faults[i]
	if f.state == v1alpha1.FaultRecovered || f.state == v1alpha1.FaultFailed {
		return
	}
	if f.injectedAt == nil {
		// Whatever the backend made of a fault it never acknowledged is
		// gone. A fault not yet due (a resumed driver clearing what a lost
		// create may have left) is still to be injected; one that was
		// asked for stays Pending and is judged FaultNotInjected.
		if f.injectAsked {
			f.recoverAsked = true
		}
		return
	}
	f.state, f.recoverAsked, f.recoveredAt = v1alpha1.FaultRecovered, true, &at
	e.judge.event(at, KindFaultRecovered, joinTargets(f.targets), fmt.Sprintf("%s (%s) recovered", f.name, f.kind))
	e.advance()
}

// FaultFailed records that the backend could not inject (or recover)
// fault i; the drill goes on without it.
func (e *Engine) FaultFailed(i int, at time.Duration, err error) {
	if i < 0 || i >= len(e.faults) {
		return
	}
	f := e.faults[i]
	if f.state == v1alpha1.FaultRecovered {
		return
	}
	f.state, f.injectAsked, f.recoverAsked = v1alpha1.FaultFailed, true, true
	if err != nil {
		f.message = truncate(err.Error(), 1024)
	}
	e.judge.event(at, KindFaultFailed, "", fmt.Sprintf("%s (%s) failed: %s", f.name, f.kind, f.message))
	e.advance()
}

// NextDue returns the time from now until the next scheduled injection,
// recovery or the end of the drill: 0 when one is due, Never when nothing is
// scheduled (before VictimReady, while Judging, and once terminal).
func (e *Engine) NextDue(now time.Duration) time.Duration {
	switch e.phase {
	case v1alpha1.PhaseSteadyState, v1alpha1.PhaseInjecting, v1alpha1.PhaseRecovering:
	default:
		return Never
	}
	next := e.duration
	for _, f := range e.faults {
		if f.state == v1alpha1.FaultPending && !f.injectAsked && f.after < e.duration {
			next = min(next, f.after)
		}
		if f.state == v1alpha1.FaultInjected && !f.recoverAsked {
			next = min(next, f.recoverDue(e.duration))
		}
		if f.state == v1alpha1.FaultPending && f.injectAsked && !f.recoverAsked && f.length > 0 {
			next = min(next, f.after+f.length)
		}
	}
	return max(next-now, 0)
}

// Want is the state the engine wants the backend in, for a level-triggered
// driver: it makes each part so, retrying until the backend acknowledges,
// and reports back (VictimReady, FaultInjected, FaultRecovered, FaultFailed).
type Want struct {
	// Victim: the victim's processes are to run (false once stopping).
	Victim bool
	// Load: the load generator is to run.
	Load bool
	// Faults[i]: fault i is to be in effect; false means removed (a fault
	// never asked for has nothing to remove).
	Faults []bool
	// Observe: the drill is being observed (the load has started and the
	// drill is not over).
	Observe bool
}

// Want returns the state the engine wants now. Before VictimReady only the
// victim is wanted; once the engine asked to stop (Judging, or a terminal
// phase) nothing is: faults removed, load and victim stopped.
func (e *Engine) Want() Want {
	w := Want{Faults: make([]bool, len(e.faults))}
	if e.stopped || e.phase.Terminal() || e.phase == v1alpha1.PhaseJudging {
		return w
	}
	w.Victim = true
	if e.phase == v1alpha1.PhasePending {
		return w
	}
	w.Load, w.Observe = true, true
	for i, f := range e.faults {
		w.Faults[i] = f.injectAsked && !f.recoverAsked && (f.state == v1alpha1.FaultPending || f.state == v1alpha1.FaultInjected)
	}
	return w
}

// Stopping reports whether the engine asked to stop: the driver removes
// every fault, takes a last observation, stops the load and the victim,
// then calls Finish (unless the phase is already terminal, as after Fail).
func (e *Engine) Stopping() bool { return e.stopped }
