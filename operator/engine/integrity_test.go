package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
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

	// Every bound is a row, judged held, breached or not judged. A drill
	// that read no goleak figure did not judge maxLeakedGoroutines: the row
	// says so and why, and the drill cannot be Held.
	t.Run("every hypothesis row judged or said not judged", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			leaks  bool
			want   v1alpha1.Verdict
			result v1alpha1.HypothesisResult
		}{
			{"leak figures read", true, v1alpha1.VerdictHeld, v1alpha1.RowHeld},
			{"no leak figure", false, v1alpha1.VerdictInconclusive, v1alpha1.RowNotJudged},
		} {
			w := newWorld()
			if !c.leaks {
				w.leaked = map[string]int64{}
			}
			e := newEngine(t, testSpec(), WithSampleInterval(s))
			d := &driver{t: t, e: e, w: w}
			d.run(0, 60*s)
			e.Finish(61 * s)
			if e.Verdict() != c.want {
				t.Errorf("%s: verdict %s, want %s; findings %+v", c.name, e.Verdict(), c.want, e.Findings())
			}
			rows := e.Status().Hypothesis
			if len(rows) != 6 {
				t.Fatalf("%s: %d hypothesis rows in status, want 6: %+v", c.name, len(rows), rows)
			}
			for _, r := range rows {
				want := v1alpha1.RowHeld
				if r.Name == RowMaxLeakedGoroutines {
					want = c.result
				}
				if r.Result != want || r.Why == "" {
					t.Errorf("%s: row %+v, want result %s with a why", c.name, r, want)
				}
			}
			gap := hasFinding(e, v1alpha1.FindingObservationGap, "hypothesis.maxLeakedGoroutines", "leaked goroutines not judged: no goleak figure")
			if gap != !c.leaks {
				t.Errorf("%s: row finding %v, want %v; findings %+v", c.name, gap, !c.leaks, e.Findings())
			}
		}
	})

	// A 150ms delay on the ledger (10-22s) and a loss on the orders pods
	// (12-36s) that does nothing visible: the orders → ledger latency the
	// delay caused is not the loss's effect. The delay is Confirmed on the
	// seconds it ran alone; the loss is Inconclusive, naming the delay.
	t.Run("effects of their own: an overlapping fault's movement is not borrowed", func(t *testing.T) {
		sp := testSpec(func(sp *v1alpha1.ExperimentSpec) {
			sp.Faults = []v1alpha1.Fault{
				{Name: "slow-ledger", After: dur(10 * s), NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
					Action: chaosv1alpha1.DelayAction, Duration: ptr("12s"),
					TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "150ms"}}}},
				{Name: "lossy-orders", After: dur(12 * s), NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
					Action: chaosv1alpha1.LossAction, Duration: ptr("24s"),
					TcParameter: chaosv1alpha1.TcParameter{Loss: &chaosv1alpha1.LossSpec{Loss: "1"}}}},
			}
		})
		e := newEngine(t, sp, WithSampleInterval(s))
		d := &driver{t: t, e: e, w: newWorld()}
		d.inject = func(i int, _ time.Duration) ([]string, bool) {
			if i == 1 {
				return []string{"orders-0", "orders-1"}, true // a loss nothing sees
			}
			return nil, false
		}
		d.recover = func(i int, _ time.Duration) bool { return i == 1 }
		d.run(0, 60*s)
		e.Finish(61 * s)
		fs := e.Status().Faults
		if fs[0].Effect != v1alpha1.EffectConfirmed {
			t.Errorf("slow-ledger effect %s (%s), want Confirmed", fs[0].Effect, fs[0].EffectDetail)
		}
		if fs[1].Effect != v1alpha1.EffectInconclusive || !strings.Contains(fs[1].EffectDetail, "slow-ledger") {
			t.Errorf("lossy-orders effect %s (%s), want Inconclusive naming slow-ledger", fs[1].Effect, fs[1].EffectDetail)
		}
		if e.Verdict() == v1alpha1.VerdictHeld {
			t.Errorf("verdict Held on a loss whose effect was borrowed; findings %+v", e.Findings())
		}
	})

	// A kill is confirmed by its own targets' crash or replacement within
	// its window, not by an earlier kill's crash of the same pod.
	t.Run("effects of their own: a kill is not confirmed by an earlier crash", func(t *testing.T) {
		sp := testSpec(func(sp *v1alpha1.ExperimentSpec) {
			sp.Faults = []v1alpha1.Fault{
				{Name: "kill-a", After: dur(15 * s), PodChaos: &chaosv1alpha1.PodChaosSpec{Action: chaosv1alpha1.PodKillAction}},
				{Name: "kill-b", After: dur(30 * s), PodChaos: &chaosv1alpha1.PodChaosSpec{Action: chaosv1alpha1.PodKillAction}},
			}
		})
		e := newEngine(t, sp, WithSampleInterval(s))
		d := &driver{t: t, e: e, w: newWorld()}
		d.inject = func(i int, _ time.Duration) ([]string, bool) {
			if i == 1 {
				return []string{"orders-1"}, true // acknowledged, nothing killed
			}
			return nil, false
		}
		d.run(0, 60*s)
		e.Finish(61 * s)
		fs := e.Status().Faults
		if fs[0].Effect != v1alpha1.EffectConfirmed {
			t.Errorf("kill-a effect %s (%s), want Confirmed", fs[0].Effect, fs[0].EffectDetail)
		}
		if fs[1].Effect == v1alpha1.EffectConfirmed {
			t.Errorf("kill-b effect Confirmed (%s) by kill-a's crash 15s earlier", fs[1].EffectDetail)
		}
	})

	// A crash stamped before the first fault but seen after it (the
	// kubelet's status arrives late) is a steady state not met: the gate
	// is applied again when judging, Inconclusive, not Violated.
	t.Run("gate applied again at Finish to breaches stamped before the first fault", func(t *testing.T) {
		e := newEngine(t, testSpec(), WithSampleInterval(s))
		d := &driver{t: t, e: e, w: newWorld(), hook: func(at time.Duration, w *world) {
			if at == 12*s {
				w.crashes = append(w.crashes, observe.Crash{Target: "orders-0", At: 9 * s, ExitCode: 2, Headline: "fatal error: concurrent map writes"})
				w.restarts["orders-0"]++
			}
		}}
		d.run(0, 60*s)
		e.Finish(61 * s)
		if e.Verdict() != v1alpha1.VerdictInconclusive {
			t.Errorf("verdict %s, want Inconclusive; findings %+v", e.Verdict(), e.Findings())
		}
		if !hasFinding(e, v1alpha1.FindingSteadyStateNotMet, "", "ProcessCrashed orders-0 at 9s") {
			t.Errorf("findings %+v, want SteadyStateNotMet naming the crash at 9s", e.Findings())
		}
	})

	// One pod-failure that restarted its target four times: a manager
	// restarted after it must still count the four as the fault's, not
	// three of them as the victim's own (Violated on a fixed victim).
	t.Run("restored engine keeps the faults' injected crashes", func(t *testing.T) {
		sp := testSpec(func(sp *v1alpha1.ExperimentSpec) {
			sp.Faults[1] = v1alpha1.Fault{Name: "fail-orders", After: dur(20 * s), PodChaos: &chaosv1alpha1.PodChaosSpec{
				Action: chaosv1alpha1.PodFailureAction, Duration: ptr("10s")}}
		})
		w := newWorld()
		inject := func(i int, at time.Duration) ([]string, bool) {
			if i != 1 {
				return nil, false
			}
			for k := 0; k < 4; k++ {
				w.restarts["orders-1"]++
				w.crashes = append(w.crashes, observe.Crash{Target: "orders-1", At: at + time.Duration(k)*s, Injected: true, Cause: "pod-failure"})
			}
			return []string{"orders-1"}, true
		}
		e := newEngine(t, sp, WithSampleInterval(s))
		d := &driver{t: t, e: e, w: w, inject: inject, recover: func(i int, _ time.Duration) bool { return i == 1 }}
		d.run(0, 35*s)
		r, err := Restore(sp, roundTrip(t, e.Status()), WithSampleInterval(s))
		if err != nil {
			t.Fatal(err)
		}
		d2 := &driver{t: t, e: r, w: w, inject: inject, recover: d.recover}
		d2.run(36*s, 60*s)
		r.Finish(61 * s)
		if hasFinding(r, v1alpha1.FindingRestarts, "", "") || r.Verdict() == v1alpha1.VerdictViolated {
			t.Errorf("verdict %s, findings %+v: the pod-failure's restarts counted as the victim's", r.Verdict(), r.Findings())
		}
	})

	// The manager away from 25s to 40s while every request failed: the
	// time away is an ObservationGap with its interval, never Held.
	t.Run("manager downtime is an ObservationGap with its interval", func(t *testing.T) {
		w := newWorld()
		e := newEngine(t, testSpec(), WithSampleInterval(s))
		d := &driver{t: t, e: e, w: w}
		d.run(0, 25*s)
		r, err := Restore(testSpec(), roundTrip(t, e.Status()), WithSampleInterval(s))
		if err != nil {
			t.Fatal(err)
		}
		w.errShare = 1
		for at := 26 * s; at < 40*s; at += s {
			w.step() // the victim fails while nobody watches
		}
		w.errShare = 0
		d2 := &driver{t: t, e: r, w: w}
		d2.run(40*s, 60*s)
		r.Finish(61 * s)
		if !hasFinding(r, v1alpha1.FindingObservationGap, TargetManager, "from 25s to 40s") {
			t.Errorf("findings %+v, want an ObservationGap for the manager's absence from 25s to 40s", r.Findings())
		}
		if r.Verdict() == v1alpha1.VerdictHeld {
			t.Errorf("verdict Held over 15s nobody observed")
		}
	})

	// A recovery forced through (Chaos Mesh's finalizer stripped) or found
	// with live rules is not a recovery: RecoveryUnverified, Inconclusive,
	// before and after the drill is judged.
	t.Run("a recovery not verified makes the drill Inconclusive", func(t *testing.T) {
		for _, late := range []bool{false, true} {
			e := newEngine(t, testSpec(), WithSampleInterval(s))
			d := &driver{t: t, e: e, w: newWorld()}
			d.run(0, 60*s)
			if !late {
				e.RecoveryUnverified(0, 40*s, "NetworkChaos slow-ledger: Chaos Mesh's finalizer removed by force")
			}
			e.Finish(61 * s)
			if late {
				e.RecoveryUnverified(0, 62*s, "live iptables rules in ledger-0")
			}
			if e.Verdict() != v1alpha1.VerdictInconclusive || !hasFinding(e, v1alpha1.FindingRecoveryUnverified, "slow-ledger", "") {
				t.Errorf("late %v: verdict %s, findings %+v; want Inconclusive with RecoveryUnverified", late, e.Verdict(), e.Findings())
			}
		}
	})
}
