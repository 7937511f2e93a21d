package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// TestVerdictIntegrity: what the drill did not judge never reads as held.
func TestVerdictIntegrity(t *testing.T) {
	// Growth "after the faults" needs a sample the settle time (6 s) after
	// the last recovery. A delay that runs to the end of the drill leaves
	// none: growth is not judged, so the drill cannot be Held.
	t.Run("growth not judged when the last fault runs to the end", func(t *testing.T) {
		toEnd := func(sp *v1alpha1.ExperimentSpec) { sp.Faults[0].NetworkChaos.Duration = ptr("50s") }
		for _, c := range []struct {
			name string
			mod  func(*v1alpha1.ExperimentSpec)
			want v1alpha1.Verdict
		}{
			{"delay over at 40s", func(*v1alpha1.ExperimentSpec) {}, v1alpha1.VerdictHeld},
			{"delay to the end", toEnd, v1alpha1.VerdictInconclusive},
		} {
			e := newEngine(t, testSpec(c.mod), WithSampleInterval(s))
			d := &driver{t: t, e: e, w: newWorld()}
			d.run(0, 60*s)
			e.Finish(61 * s)
			if e.Verdict() != c.want {
				t.Errorf("%s: verdict %s, want %s; findings %+v", c.name, e.Verdict(), c.want, e.Findings())
			}
			gap := hasFinding(e, v1alpha1.FindingObservationGap, "", "goroutine growth after the faults")
			if want := c.want == v1alpha1.VerdictInconclusive; gap != want {
				t.Errorf("%s: growth ObservationGap %v, want %v; findings %+v", c.name, gap, want, e.Findings())
			}
			if gap && !hasFinding(e, v1alpha1.FindingObservationGap, "", "not judged: no sample 6s after the last fault was over (slow-ledger over at 1m0s") {
				t.Errorf("%s: the gap does not say why: %+v", c.name, e.Findings())
			}
		}
	})

	// A steady state with no request at all is no baseline: the gate ends
	// the drill before any fault, Inconclusive with SteadyStateNotMet.
	t.Run("steady state without load fails the gate", func(t *testing.T) {
		e := newEngine(t, testSpec())
		w := newWorld()
		w.rate = 0
		d := &driver{t: t, e: e, w: w, hook: func(at time.Duration, w *world) {
			if at == 10*s {
				w.rate = 100 // the load arrives when the first fault is due
			}
		}}
		d.run(0, 60*s)
		if e.Phase() != v1alpha1.PhaseJudging {
			t.Fatalf("phase %s after a steady state without load, want Judging at the first fault", e.Phase())
		}
		e.Finish(11 * s)
		if e.Phase() != v1alpha1.PhaseCompleted || e.Verdict() != v1alpha1.VerdictInconclusive {
			t.Errorf("%s %s, want Completed Inconclusive", e.Phase(), e.Verdict())
		}
		for _, l := range d.log {
			if strings.Contains(l, string(ActionInject)) {
				t.Errorf("a fault was asked for: %v", d.log)
			}
		}
		if !hasFinding(e, v1alpha1.FindingSteadyStateNotMet, "", "no load") {
			t.Errorf("findings %+v, want SteadyStateNotMet naming the missing load", e.Findings())
		}
	})
}
