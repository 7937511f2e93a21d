package engine

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

var inf = math.Inf(1)

func TestScheduleAndPhases(t *testing.T) {
	e, err := New(testSpec())
	if err != nil {
		t.Fatal(err)
	}
	if e.Phase() != v1alpha1.PhasePending {
		t.Fatalf("phase %s", e.Phase())
	}
	if a := e.Start(); len(a) != 1 || a[0].Type != ActionStartVictim {
		t.Fatalf("Start: %v", a)
	}
	if e.Tick(5*s) != nil || e.NextDue(0) != Never {
		t.Fatal("Pending must not schedule")
	}
	if a := e.VictimReady(); len(a) != 1 || a[0].Type != ActionStartLoad || e.Phase() != v1alpha1.PhaseSteadyState {
		t.Fatalf("VictimReady: %v %s", a, e.Phase())
	}
	d := &driver{t: t, e: e, w: newWorld()}
	phases := d.run(0, 70*s)
	want := []string{
		"10s InjectFault 0",
		"20s InjectFault 1",
		"40s RecoverFault 0",
		"1m0s Stop 0",
	}
	if !slices.Equal(d.log, want) {
		t.Errorf("actions\n got %q\nwant %q", d.log, want)
	}
	for at, p := range map[time.Duration]v1alpha1.Phase{
		0: v1alpha1.PhaseSteadyState, 9 * s: v1alpha1.PhaseSteadyState,
		10 * s: v1alpha1.PhaseInjecting, 25 * s: v1alpha1.PhaseInjecting, 39 * s: v1alpha1.PhaseInjecting,
		40 * s: v1alpha1.PhaseRecovering, 59 * s: v1alpha1.PhaseRecovering, 60 * s: v1alpha1.PhaseJudging,
	} {
		if phases[at] != p {
			t.Errorf("phase at %s: %s want %s", at, phases[at], p)
		}
	}
	st := e.Status()
	if st.Faults[0].State != v1alpha1.FaultRecovered || st.Faults[0].InjectedAt.Duration != 10*s || st.Faults[0].RecoveredAt.Duration != 40*s {
		t.Errorf("fault 0: %+v", st.Faults[0])
	}
	// pod-kill is instantaneous: recovered when injected, no RecoverFault.
	if f := st.Faults[1]; f.State != v1alpha1.FaultRecovered || f.RecoveredAt.Duration != 20*s || !slices.Equal(f.Targets, []string{"orders-1"}) {
		t.Errorf("fault 1: %+v", f)
	}
	e.Finish(61 * s)
	if e.Phase() != v1alpha1.PhaseCompleted || e.Verdict() != v1alpha1.VerdictHeld {
		t.Errorf("finish: %s %s findings %v", e.Phase(), e.Verdict(), e.Findings())
	}
	if e.Tick(62*s) != nil || e.Observe(Observation{At: 62 * s}) != nil {
		t.Error("terminal engine acted")
	}
}

func TestFaultActiveAtEndIsRecoveredBeforeStop(t *testing.T) {
	sp := testSpec(func(sp *v1alpha1.ExperimentSpec) {
		sp.Faults = sp.Faults[:1]
		sp.Faults[0].NetworkChaos.Duration = nil // until the end of the drill
	})
	e := newEngine(t, sp)
	d := &driver{t: t, e: e, w: newWorld()}
	d.run(0, 60*s)
	want := []string{"10s InjectFault 0", "1m0s RecoverFault 0", "1m0s Stop 0"}
	if !slices.Equal(d.log, want) {
		t.Errorf("got %q want %q", d.log, want)
	}
}

func TestNextDue(t *testing.T) {
	e := newEngine(t, testSpec())
	for _, c := range []struct {
		now  time.Duration
		want time.Duration
	}{{0, 10 * s}, {7 * s, 3 * s}, {10 * s, 0}, {12 * s, 0}} {
		if got := e.NextDue(c.now); got != c.want {
			t.Errorf("NextDue(%s)=%s want %s", c.now, got, c.want)
		}
	}
	e.Tick(10 * s) // inject 0 asked, not confirmed: 1 is next
	if got := e.NextDue(12 * s); got != 8*s {
		t.Errorf("after inject asked: %s", got)
	}
	e.FaultInjected(0, 11*s, nil) // recovery due at 11+30
	e.Tick(20 * s)
	e.FaultInjected(1, 20*s, []string{"orders-1"})
	if got := e.NextDue(21 * s); got != 20*s {
		t.Errorf("recovery next: %s", got)
	}
	e.Tick(41 * s)
	e.FaultRecovered(0, 41*s)
	if got := e.NextDue(50 * s); got != 10*s {
		t.Errorf("end next: %s", got)
	}
	e.Tick(60 * s)
	if got := e.NextDue(60 * s); got != Never {
		t.Errorf("judging: %s", got)
	}
}

func TestStopIsInconclusive(t *testing.T) {
	e := newEngine(t, testSpec())
	d := &driver{t: t, e: e, w: newWorld()}
	d.run(0, 12*s) // fault 0 injected
	acts := e.Stop(12*s, "stopped by user")
	if len(acts) != 2 || acts[0].Type != ActionRecover || acts[0].Fault != 0 || acts[1].Type != ActionStop {
		t.Fatalf("Stop: %v", acts)
	}
	if e.Stop(13*s, "again") != nil {
		t.Error("second Stop acted")
	}
	e.Finish(13 * s)
	if e.Phase() != v1alpha1.PhaseCompleted || e.Verdict() != v1alpha1.VerdictInconclusive {
		t.Errorf("%s %s", e.Phase(), e.Verdict())
	}
}

func TestStopBeforeVictimReady(t *testing.T) {
	e, _ := New(testSpec())
	e.Start()
	acts := e.Stop(0, "victim never came up")
	if len(acts) != 1 || acts[0].Type != ActionStop {
		t.Fatalf("%v", acts)
	}
	e.Finish(0)
	if e.Verdict() != v1alpha1.VerdictInconclusive {
		t.Errorf("verdict %s", e.Verdict())
	}
}

func TestFail(t *testing.T) {
	e := newEngine(t, testSpec())
	d := &driver{t: t, e: e, w: newWorld()}
	d.run(0, 15*s)
	acts := e.Fail(15*s, "chaos-mesh webhook down")
	if len(acts) != 2 || acts[0].Type != ActionRecover || acts[1].Type != ActionStop {
		t.Fatalf("Fail: %v", acts)
	}
	if e.Phase() != v1alpha1.PhaseFailed || e.Verdict() != v1alpha1.VerdictInconclusive {
		t.Errorf("%s %s", e.Phase(), e.Verdict())
	}
	e.Finish(16 * s)
	if e.Phase() != v1alpha1.PhaseFailed {
		t.Errorf("Finish changed a failed drill: %s", e.Phase())
	}
}

func TestFaultFailedDrillContinues(t *testing.T) {
	e := newEngine(t, testSpec())
	e.Tick(10 * s)
	e.FaultFailed(0, 10*s, errors.New("admission webhook denied"))
	if st := e.Status().Faults[0]; st.State != v1alpha1.FaultFailed || !strings.Contains(st.Message, "webhook") {
		t.Errorf("%+v", st)
	}
	if a := e.Tick(20 * s); len(a) != 1 || a[0].Fault != 1 {
		t.Errorf("next fault: %v", a)
	}
	e.FaultInjected(1, 20*s, nil)
	if e.Phase() != v1alpha1.PhaseRecovering {
		t.Errorf("phase %s", e.Phase())
	}
	if a := e.Tick(60 * s); len(a) != 1 || a[0].Type != ActionStop {
		t.Errorf("end: %v", a)
	}
}

func TestNewRejectsBadSpec(t *testing.T) {
	for name, mod := range map[string]func(*v1alpha1.ExperimentSpec){
		"zero duration":  func(sp *v1alpha1.ExperimentSpec) { sp.Duration = dur(0) },
		"bad ratio":      func(sp *v1alpha1.ExperimentSpec) { sp.Hypothesis.MaxErrorRatio = "lots" },
		"bad growth":     func(sp *v1alpha1.ExperimentSpec) { sp.Hypothesis.MaxGoroutineGrowth = "-1" },
		"bad abort":      func(sp *v1alpha1.ExperimentSpec) { sp.Abort.ErrorRatioAbove = "" },
		"bad duration":   func(sp *v1alpha1.ExperimentSpec) { sp.Faults[0].NetworkChaos.Duration = ptr("soon") },
		"both chaos":     func(sp *v1alpha1.ExperimentSpec) { sp.Faults[0].PodChaos = &chaosv1alpha1.PodChaosSpec{} },
		"neither chaos":  func(sp *v1alpha1.ExperimentSpec) { sp.Faults[0].NetworkChaos = nil },
		"negative after": func(sp *v1alpha1.ExperimentSpec) { sp.Faults[0].After = dur(-s) },
	} {
		if _, err := New(testSpec(mod)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Empty thresholds take the defaults.
	e, err := New(testSpec(func(sp *v1alpha1.ExperimentSpec) { sp.Hypothesis = v1alpha1.Hypothesis{}; sp.Abort = nil }))
	if err != nil || e.th.maxErrorRatio != 0.01 || e.th.maxGrowth != 2 || e.th.abort {
		t.Errorf("defaults: %+v %v", e.th, err)
	}
}
