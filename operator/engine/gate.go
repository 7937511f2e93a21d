package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// gate is spec.steadyStateGate, Enforce when empty.
func (e *Engine) gate() v1alpha1.SteadyStateGate {
	if e.spec.SteadyStateGate == "" {
		return v1alpha1.GateEnforce
	}
	return e.spec.SteadyStateGate
}

// faultsStarted reports whether any fault was asked for or injected.
func (e *Engine) faultsStarted() bool {
	for _, f := range e.faults {
		if f.injectAsked || f.state != v1alpha1.FaultPending {
			return true
		}
	}
	return false
}

// firstFault is the earliest scheduled fault within the drill, nil if none.
func (e *Engine) firstFault() *faultRun {
	var first *faultRun
	for _, f := range e.faults {
		if f.after < e.duration && (first == nil || f.after < first.after) {
			first = f
		}
	}
	return first
}

// steadyBreaches are the findings that breach the hypothesis (not the
// evidence ones) made so far, while no fault has started.
func (j *judge) steadyBreaches() []v1alpha1.Finding {
	var out []v1alpha1.Finding
	for _, f := range j.sortedFindings() {
		if !isEvidence(f.Type) && f.Type != v1alpha1.FindingAborted {
			out = append(out, f)
		}
	}
	return out
}

// checkGate runs the steady-state gate before any fault starts: when the
// hypothesis is already violated, or once the steady state is over it
// carried no load at all, Enforce ends the drill (no fault is
// injected; Inconclusive with SteadyStateNotMet) and Continue records
// SteadyStateNotMet once and lets the faults run. It returns the actions of
// an Enforce stop.
func (e *Engine) checkGate(now time.Duration) []Action {
	if e.phase != v1alpha1.PhaseSteadyState || e.faultsStarted() || e.gateChecked {
		return nil
	}
	first := e.firstFault()
	if first == nil {
		return nil
	}
	breaches := e.judge.steadyBreaches()
	var what []string
	target := ""
	if len(breaches) > 0 {
		target = breaches[0].Target
	}
	if now >= first.after { // the steady state is over: was there load?
		if w := e.judge.steadyWithoutLoad(now); w != "" {
			what = append(what, w)
		}
	}
	if len(breaches) == 0 && len(what) == 0 {
		return nil
	}
	for _, f := range breaches {
		w := fmt.Sprintf("%s %s at %s", f.Type, orText(f.Target, "-"), secs(f.At.Duration))
		if f.Message != "" {
			w += " (" + f.Message + ")"
		}
		what = append(what, w)
	}
	msg := fmt.Sprintf("hypothesis violated in the steady state, before the first fault (%s due at %s): %s",
		first.name, secs(first.after), strings.Join(what, "; "))
	e.gateChecked = true
	if e.gate() == v1alpha1.GateContinue {
		e.judge.find(v1alpha1.FindingSteadyStateNotMet, target, now,
			"steadyStateGate Continue: the faults ran anyway; "+msg)
		e.judge.event(now, KindSteadyStateNotMet, target, "gate skipped (Continue): faults injected anyway")
		return nil
	}
	e.judge.find(v1alpha1.FindingSteadyStateNotMet, target, now, msg)
	e.judge.event(now, KindSteadyStateNotMet, target, "no fault injected: "+msg)
	for _, f := range e.faults {
		f.message = "not injected: the steady state did not meet the hypothesis (steadyStateGate Enforce)"
	}
	e.outcome, e.reason = outcomeGated, "steady state not met: no fault injected"
	return e.toJudging(now, e.reason)
}

// cause is the fault a finding at offset at followed: among the faults
// injected at or before at whose window — from injection to recovery (or
// the end of the drill) plus the settle time; an instant fault's is its
// injection plus the settle time — contains at, the one injected last.
// Nil when no fault's window contains at.
func (e *Engine) cause(at time.Duration) *v1alpha1.FindingCause {
	var best *faultRun
	for _, f := range e.faults {
		if f.injectedAt == nil || *f.injectedAt > at {
			continue
		}
		end := e.duration
		if f.recoveredAt != nil {
			end = *f.recoveredAt
		}
		if at > end+e.opts.settle {
			continue
		}
		if best == nil || *f.injectedAt >= *best.injectedAt {
			best = f
		}
	}
	if best == nil {
		return nil
	}
	return &v1alpha1.FindingCause{Fault: best.name, After: metav1.Duration{Duration: at - *best.injectedAt}}
}

// attribute sets each breach finding's cause.
func (e *Engine) attribute(fs []v1alpha1.Finding) []v1alpha1.Finding {
	for i := range fs {
		fs[i].Cause = nil
		if !isEvidence(fs[i].Type) && fs[i].Type != v1alpha1.FindingSteadyStateNotMet {
			fs[i].Cause = e.cause(fs[i].At.Duration)
		}
	}
	return fs
}

// lateGate applies the steady-state gate (Enforce) again at Finish, to the
// breaches stamped before the first injection but seen after it (a crash
// whose time arrives with the kubelet's status, after the fault was
// injected): had they been seen in time, no fault would have run. It
// records SteadyStateNotMet and reports true: the drill is Inconclusive,
// not Violated — its baseline was broken before any fault.
func (e *Engine) lateGate(now time.Duration) bool {
	if e.gate() != v1alpha1.GateEnforce || e.gateChecked {
		return false
	}
	first, _, ok := e.injections()
	if !ok {
		return false
	}
	var what []string
	target := ""
	for _, f := range e.judge.steadyBreaches() {
		if f.At.Duration >= first {
			continue
		}
		if target == "" {
			target = f.Target
		}
		w := fmt.Sprintf("%s %s at %s", f.Type, orText(f.Target, "-"), secs(f.At.Duration))
		if f.Message != "" {
			w += " (" + f.Message + ")"
		}
		what = append(what, w)
	}
	if len(what) == 0 {
		return false
	}
	e.gateChecked = true
	msg := fmt.Sprintf("hypothesis violated in the steady state, seen only after the first injection at %s (steadyStateGate Enforce, applied again when judging): %s",
		secs(first), strings.Join(what, "; "))
	e.judge.find(v1alpha1.FindingSteadyStateNotMet, target, now, msg)
	e.judge.event(now, KindSteadyStateNotMet, target, "steady state not met (seen late): the verdict cannot rest on a broken baseline")
	return true
}
