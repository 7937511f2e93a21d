package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// crashAt makes orders-0 crash with the map race at offset at.
func crashAt(at time.Duration) func(time.Duration, *world) {
	return func(now time.Duration, w *world) {
		if now == at {
			w.restarts["orders-0"]++
			w.crashes = append(w.crashes, observe.Crash{Target: "orders-0", At: at - 300*time.Millisecond, ExitCode: 2,
				Headline: "fatal error: concurrent map writes"})
		}
	}
}

// Enforce: a crash in the steady state ends the drill at once, no fault is
// ever asked for, and the verdict is Inconclusive with SteadyStateNotMet
// naming the crash.
func TestGateEnforceStopsBeforeAnyFault(t *testing.T) {
	e := newEngine(t, testSpec())
	d := &driver{t: t, e: e, w: newWorld(), hook: crashAt(4 * s)}
	d.run(0, 60*s)
	if e.Phase() != v1alpha1.PhaseJudging {
		t.Fatalf("phase %s after a steady-state crash, want Judging at once", e.Phase())
	}
	e.Finish(5 * s)
	if e.Phase() != v1alpha1.PhaseCompleted || e.Verdict() != v1alpha1.VerdictInconclusive {
		t.Errorf("%s %s, want Completed Inconclusive", e.Phase(), e.Verdict())
	}
	for _, l := range d.log {
		if strings.Contains(l, string(ActionInject)) {
			t.Errorf("a fault was asked for: %v", d.log)
		}
	}
	for _, f := range e.Status().Faults {
		if f.State != v1alpha1.FaultPending || f.InjectedAt != nil {
			t.Errorf("fault %s %s injectedAt %v, want never injected", f.Name, f.State, f.InjectedAt)
		}
	}
	fs := findingsOf(e)
	gate := fs[v1alpha1.FindingSteadyStateNotMet]
	if len(gate) != 1 || !strings.Contains(gate[0].Message, "ProcessCrashed orders-0") || !strings.Contains(gate[0].Message, "concurrent map writes") ||
		!strings.Contains(gate[0].Message, "slow-ledger due at 10s") {
		t.Errorf("SteadyStateNotMet %+v, want one naming the crash and the first fault", gate)
	}
	if len(fs[v1alpha1.FindingFaultNotInjected]) != 0 || len(fs[v1alpha1.FindingFaultEffectNotObserved]) != 0 {
		t.Errorf("evidence findings for faults the gate held back: %+v", fs)
	}
	if c := fs[v1alpha1.FindingProcessCrashed]; len(c) != 1 || c[0].Cause != nil {
		t.Errorf("crash finding %+v, want one with no cause (before any fault)", c)
	}
}

// Continue: the same crash lets the faults run; the gate's finding says so,
// and the breach still makes the verdict Violated.
func TestGateContinueRunsTheFaults(t *testing.T) {
	e := newEngine(t, testSpec(func(sp *v1alpha1.ExperimentSpec) { sp.SteadyStateGate = v1alpha1.GateContinue }))
	d := &driver{t: t, e: e, w: newWorld(), hook: crashAt(4 * s)}
	d.run(0, 60*s)
	e.Finish(61 * s)
	if e.Verdict() != v1alpha1.VerdictViolated {
		t.Errorf("verdict %s, want Violated", e.Verdict())
	}
	for _, f := range e.Status().Faults {
		if f.InjectedAt == nil {
			t.Errorf("fault %s not injected under Continue", f.Name)
		}
	}
	gate := findingsOf(e)[v1alpha1.FindingSteadyStateNotMet]
	if len(gate) != 1 || !strings.Contains(gate[0].Message, "Continue") || gate[0].At.Duration != 10*s {
		t.Errorf("SteadyStateNotMet %+v, want one at the first fault saying the faults ran anyway", gate)
	}
}

// A clean steady state passes the gate: no SteadyStateNotMet, the faults run.
func TestGatePassesACleanSteadyState(t *testing.T) {
	e := newEngine(t, testSpec())
	d := &driver{t: t, e: e, w: newWorld(), hook: crashAt(23 * s)}
	d.run(0, 60*s)
	e.Finish(61 * s)
	fs := findingsOf(e)
	if len(fs[v1alpha1.FindingSteadyStateNotMet]) != 0 {
		t.Errorf("gate tripped on a clean steady state: %+v", fs[v1alpha1.FindingSteadyStateNotMet])
	}
	// The crash at 22.7 s follows the pod-kill at 20 s (injected last), not
	// the ledger delay at 10 s.
	c := fs[v1alpha1.FindingProcessCrashed]
	if len(c) != 1 || c[0].Cause == nil || c[0].Cause.Fault != "kill-one-orders" || c[0].Cause.After.Duration != 2700*time.Millisecond {
		t.Errorf("crash finding %+v, want cause kill-one-orders after 2.7s", c)
	}
}

// A finding is attributed to the fault whose window (plus the settle time)
// holds it, the latest injected; outside every window it has no cause.
func TestCause(t *testing.T) {
	e := newEngine(t, testSpec())
	d := &driver{t: t, e: e, w: newWorld()}
	d.run(0, 59*s)
	for _, c := range []struct {
		at    time.Duration
		fault string
		after time.Duration
	}{
		{5 * s, "", 0},                     // steady state
		{12 * s, "slow-ledger", 2 * s},     // in the delay
		{21 * s, "kill-one-orders", 1 * s}, // after the kill, inside the delay: the later
		{45 * s, "slow-ledger", 35 * s},    // the delay ended at 40 s; settle 6 s
		{47 * s, "", 0},                    // past every window
	} {
		got := e.cause(c.at)
		switch {
		case c.fault == "" && got != nil:
			t.Errorf("cause(%s) = %+v, want none", c.at, got)
		case c.fault != "" && (got == nil || got.Fault != c.fault || got.After.Duration != c.after):
			t.Errorf("cause(%s) = %+v, want %s after %s", c.at, got, c.fault, c.after)
		}
	}
}
