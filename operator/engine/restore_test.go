package engine

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// roundTrip passes a status through JSON, as the API server would.
func roundTrip(t *testing.T, st v1alpha1.ExperimentStatus) v1alpha1.ExperimentStatus {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out v1alpha1.ExperimentStatus
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestoreMidDrill(t *testing.T) {
	hook := func(at time.Duration, w *world) {
		if at == 22*s {
			w.restarts["orders-0"]++
			w.crashes = append(w.crashes, observe.Crash{Target: "orders-0", At: at, ExitCode: 2, Headline: "fatal error: concurrent map writes"})
		}
		if at >= 21*s {
			w.dup, w.dupCents = 2, 500
		}
	}
	e := newEngine(t, testSpec())
	w := newWorld()
	d := &driver{t: t, e: e, w: w, hook: hook}
	d.run(0, 25*s)
	before := e.Status()

	r, err := Restore(testSpec(), roundTrip(t, before))
	if err != nil {
		t.Fatal(err)
	}
	if r.Phase() != v1alpha1.PhaseInjecting {
		t.Fatalf("phase %s", r.Phase())
	}
	d2 := &driver{t: t, e: r, w: w, hook: hook}
	d2.run(26*s, 60*s)
	want := []string{"40s RecoverFault 0", "1m0s Stop 0"} // nothing injected twice
	if !slices.Equal(d2.log, want) {
		t.Errorf("after restore %q want %q", d2.log, want)
	}
	r.Finish(61 * s)
	got := findingsOf(r)
	for _, typ := range []v1alpha1.FindingType{v1alpha1.FindingProcessCrashed, v1alpha1.FindingDuplicateCharges, v1alpha1.FindingRestarts} {
		if len(got[typ]) != 1 {
			t.Errorf("%s: %v", typ, got[typ])
		}
	}
	if len(r.Findings()) != len(before.Findings) {
		t.Errorf("findings %d before, %d after: %v", len(before.Findings), len(r.Findings()), r.Findings())
	}
	sum := r.Status().Summary
	// The second between the last scrape before and the first after the
	// restart has no previous sample in the new engine: 100 requests lost.
	if sum.Requests != 6000 || sum.DuplicateCharges != 2 || sum.BaselineGoroutines != before.Summary.BaselineGoroutines {
		t.Errorf("summary %+v", sum)
	}
	if r.Verdict() != v1alpha1.VerdictViolated {
		t.Errorf("verdict %s", r.Verdict())
	}
}

func TestRestoreOverdueAndPending(t *testing.T) {
	e := newEngine(t, testSpec())
	e.Tick(10 * s)
	e.FaultInjected(0, 10*s, nil)
	st := roundTrip(t, e.Status())

	// The driver was down from 12 s to 45 s: fault 0 is overdue for
	// recovery, fault 1 overdue for injection.
	r, err := Restore(testSpec(), st)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.NextDue(45 * s); got != 0 {
		t.Errorf("NextDue %s", got)
	}
	acts := r.Tick(45 * s)
	if len(acts) != 2 || acts[0].Type != ActionRecover || acts[0].Fault != 0 || acts[1].Type != ActionInject || acts[1].Fault != 1 {
		t.Errorf("overdue: %v", acts)
	}
	if r.Tick(46*s) != nil {
		t.Error("asked twice")
	}
}

func TestRestoreTerminalAndJudging(t *testing.T) {
	spec := testSpec()
	spec.SteadyStateGate = v1alpha1.GateContinue // the breach at 15 s comes before any fault
	e := newEngine(t, spec)
	e.Observe(Observation{At: 15 * s, Samples: []observe.Sample{{Target: "loadgen-0", Role: "loadgen", Up: true, Leaked: -1,
		ClientRequests: map[string]float64{"error": 100}}}})
	e.Tick(60 * s)
	r, err := Restore(spec, roundTrip(t, e.Status()))
	if err != nil {
		t.Fatal(err)
	}
	if r.Phase() != v1alpha1.PhaseJudging || r.Tick(61*s) != nil || r.Stop(61*s, "x") != nil {
		t.Fatalf("judging: %s", r.Phase())
	}
	r.Finish(62 * s)
	if r.Phase() != v1alpha1.PhaseCompleted || r.Verdict() != v1alpha1.VerdictViolated {
		t.Errorf("%s %s", r.Phase(), r.Verdict())
	}
	done, _ := Restore(spec, roundTrip(t, r.Status()))
	if done.Phase() != v1alpha1.PhaseCompleted || done.Verdict() != v1alpha1.VerdictViolated || done.Start() != nil || done.Tick(70*s) != nil {
		t.Errorf("terminal restore: %s %s", done.Phase(), done.Verdict())
	}
}

func TestRestoreJudgesGrowthOnTotal(t *testing.T) {
	st := v1alpha1.ExperimentStatus{Phase: v1alpha1.PhaseRecovering,
		Summary: v1alpha1.Summary{BaselineGoroutines: 80}}
	r, err := Restore(testSpec(func(sp *v1alpha1.ExperimentSpec) { sp.Faults = nil }), st)
	if err != nil {
		t.Fatal(err)
	}
	r.Observe(Observation{At: 50 * s, Samples: []observe.Sample{{Target: "gateway-x", Role: "gateway", Up: true, Leaked: -1, Goroutines: 400}}})
	r.Finish(60 * s)
	f := findingsOf(r)[v1alpha1.FindingGoroutineGrowth]
	if len(f) != 1 || f[0].Target != "total" {
		t.Errorf("%v", f)
	}
}

// The drill's clock zero survives a restart to the microsecond: a resumed
// driver's offsets are the ones the first driver used (status.startTime
// was whole seconds, which shifted a resumed clock by up to 1 s).
func TestRestoreKeepsTheClockToTheMicrosecond(t *testing.T) {
	e := newEngine(t, testSpec())
	start := time.Date(2026, 11, 27, 15, 44, 18, 123456789, time.UTC)
	e.SetStartTime(start)
	r, err := Restore(testSpec(), roundTrip(t, e.Status()))
	if err != nil {
		t.Fatal(err)
	}
	got := r.Status().StartTime
	if got == nil || !got.Time.Equal(start.Truncate(time.Microsecond)) {
		t.Errorf("start time after a restore %v, want %v", got, start.Truncate(time.Microsecond))
	}
}
