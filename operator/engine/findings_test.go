package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// TestFindings runs the drill with one misbehaviour at a time and checks
// which findings come out: each type, and the near misses that must not.
func TestFindings(t *testing.T) {
	type want map[v1alpha1.FindingType]string // type → target (and message substring after "|")
	for _, c := range []struct {
		name string
		hook func(at time.Duration, w *world)
		want want
	}{
		{"quiet", nil, want{}},
		{"error ratio breach", func(at time.Duration, w *world) {
			w.errShare = 0
			if at >= 25*s && at < 30*s {
				w.errShare = 0.42
			}
		}, want{v1alpha1.FindingErrorRatioExceeded: "loadgen-0|error ratio 0.4200 > 0.01"}},
		{"error ratio at the bound", func(at time.Duration, w *world) { w.errShare = 0.01 }, want{}},
		{"duplicates", func(at time.Duration, w *world) {
			if at >= 30*s {
				w.dup, w.dupCents = 3, 7110
			}
		}, want{v1alpha1.FindingDuplicateCharges: "ledger-0|3 duplicate charges (7110 cents charged twice) > 0"}},
		{"goroutine growth", func(at time.Duration, w *world) {
			if at >= 30*s {
				w.goroutines["gateway-0"] = 20 + float64(at/s-29)*10
				w.goroutines["loadgen-0"] = 5000 // the load generator is not judged
			}
		}, want{v1alpha1.FindingGoroutineGrowth: "gateway-0|baseline 20.0 > 2×"}},
		{"growth under the bound", func(at time.Duration, w *world) {
			if at >= 30*s {
				w.goroutines["gateway-0"] = 40
			}
		}, want{}},
		{"growth under the floor", func(at time.Duration, w *world) {
			w.goroutines["ledger-0"] = 2
			if at >= 30*s {
				w.goroutines["ledger-0"] = 6
			}
		}, want{}},
		{"leak", func(at time.Duration, w *world) {
			w.leaked["gateway-0"] = 0
			if at >= 30*s {
				w.leaked["gateway-0"] = 12
			}
		}, want{v1alpha1.FindingGoroutineLeak: "gateway-0|12 leaked goroutines > 0"}},
		{"organic crash", func(at time.Duration, w *world) {
			if at == 33*s {
				w.restarts["orders-0"]++
				w.crashes = append(w.crashes, observe.Crash{Target: "orders-0", At: 32500 * time.Millisecond, ExitCode: 2,
					Headline: "fatal error: concurrent map writes"})
			}
		}, want{
			v1alpha1.FindingProcessCrashed: "orders-0|fatal error: concurrent map writes",
			v1alpha1.FindingRestarts:       "orders-0|1 restarts not caused by injected faults > 0 (orders-0: 1)",
		}},
		{"restart without a crash report", func(at time.Duration, w *world) {
			if at >= 40*s {
				w.restarts["ledger-0"] = 2
			}
		}, want{v1alpha1.FindingRestarts: "ledger-0|2 restarts"}},
		{"injected kill restarts twice, reported once", func(at time.Duration, w *world) {
			// The pod-kill of orders-1 (driver) restarts it; a second
			// restart without a crash report is organic.
			if at >= 45*s {
				w.restarts["orders-1"] = 2
			}
		}, want{v1alpha1.FindingRestarts: "orders-1|1 restarts"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, testSpec())
			d := &driver{t: t, e: e, w: newWorld(), hook: c.hook}
			d.run(0, 60*s)
			e.Finish(61 * s)
			got := findingsOf(e)
			for typ, fs := range got {
				if len(fs) != 1 {
					t.Errorf("%s: %d findings, want one per target: %v", typ, len(fs), fs)
				}
				w, ok := c.want[typ]
				if !ok {
					t.Errorf("unexpected %s: %+v", typ, fs)
					continue
				}
				target, msg, _ := strings.Cut(w, "|")
				if fs[0].Target != target || !strings.Contains(fs[0].Message, msg) {
					t.Errorf("%s: target %q message %q; want %q containing %q", typ, fs[0].Target, fs[0].Message, target, msg)
				}
			}
			for typ := range c.want {
				if len(got[typ]) == 0 {
					t.Errorf("missing %s (have %v)", typ, e.Findings())
				}
			}
			wantVerdict := v1alpha1.VerdictHeld
			if len(c.want) > 0 {
				wantVerdict = v1alpha1.VerdictViolated
			}
			if e.Verdict() != wantVerdict || e.Phase() != v1alpha1.PhaseCompleted {
				t.Errorf("verdict %s phase %s, want %s", e.Verdict(), e.Phase(), wantVerdict)
			}
		})
	}
}

func TestErrorRatioFindingKeepsFirstAndPeak(t *testing.T) {
	e := newEngine(t, testSpec())
	d := &driver{t: t, e: e, w: newWorld(), hook: func(at time.Duration, w *world) {
		switch {
		case at == 25*s:
			w.errShare = 0.2
		case at == 26*s:
			w.errShare = 0.6
		default:
			w.errShare = 0
		}
	}}
	d.run(0, 60*s)
	f := findingsOf(e)[v1alpha1.FindingErrorRatioExceeded]
	if len(f) != 1 || f[0].At.Duration != 25*s || !strings.Contains(f[0].Message, "error ratio 0.2000") ||
		!strings.Contains(f[0].Message, "peak 0.6000 at 26s") || !strings.Contains(f[0].Message, "gateway 0.6000") {
		t.Errorf("%+v", f)
	}
	if got := e.Status().Summary.PeakErrorRatio; got != "0.6000" {
		t.Errorf("peak %s", got)
	}
}

func TestAbortGuard(t *testing.T) {
	for _, c := range []struct {
		name    string
		share   func(at time.Duration) float64
		abortAt time.Duration // 0: no abort
	}{
		{"trips after 10s above", func(at time.Duration) float64 {
			if at >= 22*s {
				return 0.99
			}
			return 0
		}, 32 * s},
		{"dips below within the window", func(at time.Duration) float64 {
			if at >= 22*s && at != 30*s && at != 40*s && at != 50*s {
				return 0.99
			}
			return 0.5
		}, 0},
		{"at the bound is not above", func(at time.Duration) float64 { return 0.95 }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := testSpec(func(sp *v1alpha1.ExperimentSpec) { sp.Faults[0].NetworkChaos.Duration = nil })
			e := newEngine(t, sp)
			d := &driver{t: t, e: e, w: newWorld(), hook: func(at time.Duration, w *world) { w.errShare = c.share(at) }}
			d.run(0, 60*s)
			e.Finish(61 * s)
			ab := findingsOf(e)[v1alpha1.FindingAborted]
			if c.abortAt == 0 {
				if len(ab) != 0 || e.Phase() != v1alpha1.PhaseCompleted {
					t.Fatalf("aborted: %v %s", ab, e.Phase())
				}
				return
			}
			if len(ab) != 1 || ab[0].At.Duration != c.abortAt || !strings.Contains(ab[0].Message, "0.9900 > 0.95 for 10s") {
				t.Fatalf("aborted finding %v", ab)
			}
			want := fmt.Sprintf("%s RecoverFault 0", c.abortAt)
			if i := indexOf(d.log, want); i < 0 || i+1 >= len(d.log) || !strings.Contains(d.log[i+1], "Stop") {
				t.Errorf("want %q then Stop in %q", want, d.log)
			}
			if e.Phase() != v1alpha1.PhaseAborted || e.Verdict() != v1alpha1.VerdictViolated {
				t.Errorf("%s %s", e.Phase(), e.Verdict())
			}
		})
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

func TestCounterResetsAndSummary(t *testing.T) {
	e := newEngine(t, testSpec(func(sp *v1alpha1.ExperimentSpec) { sp.Faults = nil }))
	lg := func(at time.Duration, ok, bad float64) Observation {
		return Observation{At: at, Samples: []observe.Sample{{Target: "loadgen-0", Role: "loadgen", Up: true, Leaked: -1,
			ClientRequests: map[string]float64{"200": ok, "503": bad}}}}
	}
	e.Observe(lg(1*s, 100, 0))  // counted from zero: the load started with the drill
	e.Observe(lg(2*s, 200, 0))  // +100
	e.Observe(lg(3*s, 30, 20))  // restarted: +50, 20 of them errors
	e.Observe(lg(4*s, 130, 20)) // +100
	sr := e.Series()
	if len(sr) != 4 {
		t.Fatalf("%d points", len(sr))
	}
	if sr[2].RequestRate != 50 || sr[2].ErrorRatio != 0.4 || sr[3].ErrorRatio != 0 {
		t.Errorf("after reset: rate %v ratio %v then %v", sr[2].RequestRate, sr[2].ErrorRatio, sr[3].ErrorRatio)
	}
	if got := e.Status().Summary.Requests; got != 350 {
		t.Errorf("requests %d want 350", got)
	}
}

func TestDuplicatesTakeTheMaxAcrossLedgerRestarts(t *testing.T) {
	e := newEngine(t, testSpec(func(sp *v1alpha1.ExperimentSpec) { sp.Faults = nil }))
	led := func(at time.Duration, name string, up bool, dup float64) Observation {
		return Observation{At: at, Samples: []observe.Sample{{Target: name, Role: "ledger", Up: up, Leaked: -1,
			DuplicateCharges: dup, DuplicateChargedCents: dup * 100}}}
	}
	e.Observe(led(11*s, "ledger-0", true, 2))
	e.Observe(led(12*s, "ledger-0", false, 0)) // down
	e.Observe(led(13*s, "ledger-0", true, 2))  // restored from its store
	e.Observe(led(14*s, "ledger-1", true, 3))  // a replacement pod, same store
	sum := e.Status().Summary
	if sum.DuplicateCharges != 3 || sum.DuplicateChargedCents != 300 {
		t.Errorf("%+v", sum)
	}
	f := findingsOf(e)[v1alpha1.FindingDuplicateCharges]
	if len(f) != 1 || f[0].Target != "ledger-0" || !strings.Contains(f[0].Message, "3 duplicate charges") {
		t.Errorf("%+v", f)
	}
}

func TestFindingsCapped(t *testing.T) {
	e := newEngine(t, testSpec(func(sp *v1alpha1.ExperimentSpec) { sp.Faults = nil; sp.Abort.For = dur(s) }))
	obs := func(at time.Duration, g float64, errs float64) Observation {
		o := Observation{At: at}
		for i := range 100 {
			o.Samples = append(o.Samples, observe.Sample{Target: fmt.Sprintf("orders-%d", i), Role: "orders", Up: true, Goroutines: g, Leaked: 5})
		}
		o.Samples = append(o.Samples, observe.Sample{Target: "loadgen-0", Role: "loadgen", Up: true, Leaked: -1,
			ClientRequests: map[string]float64{"200": 100, "error": errs}})
		return o
	}
	e.Observe(obs(8*s, 20, 0))
	e.Observe(obs(12*s, 200, 0))
	e.Observe(obs(13*s, 200, 1000))
	acts := e.Observe(obs(14*s, 200, 2000))
	if len(acts) == 0 || acts[len(acts)-1].Type != ActionStop {
		t.Fatalf("abort: %v", acts)
	}
	fs := e.Status().Findings
	if len(fs) != MaxFindings {
		t.Errorf("%d findings, want %d", len(fs), MaxFindings)
	}
	if findingsOf(e)[v1alpha1.FindingAborted] == nil {
		t.Error("the Aborted finding was crowded out")
	}
}

func TestTimelineCascade(t *testing.T) {
	e := newEngine(t, testSpec())
	d := &driver{t: t, e: e, w: newWorld(), hook: func(at time.Duration, w *world) {
		w.errShare = 0
		switch {
		case at == 23*s:
			w.restarts["orders-0"]++
			w.crashes = append(w.crashes, observe.Crash{Target: "orders-0", At: 23 * s, ExitCode: 2, Headline: "fatal error: concurrent map writes"})
		case at >= 24*s && at < 27*s:
			w.errShare = 0.3
		}
		if at >= 28*s {
			w.goroutines["gateway-0"] = 200
			w.leaked["gateway-0"] = 40
		}
		if at >= 30*s {
			w.dup, w.dupCents = 1, 2370
		}
	}}
	d.run(0, 60*s)
	var got []string
	for _, ev := range e.Timeline() {
		got = append(got, fmt.Sprintf("%s %s %s", ev.At, ev.Kind, ev.Target))
	}
	want := []string{
		"10s FaultInjected ledger-0",
		"20s FaultInjected orders-1",
		"20s ProcessKilled orders-1",
		"23s ProcessCrashed orders-0",
		"23s Restarts orders-0",
		"24s Upstream5xx gateway",
		"24s ErrorRatioExceeded loadgen-0",
		"28s GoroutineGrowth gateway-0",
		"28s GoroutineLeak gateway-0",
		"30s DuplicateCharges ",
		"40s FaultRecovered ledger-0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("timeline\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	sum := e.Status().Summary
	if sum.BaselineGoroutines != 80 || sum.PeakGoroutines != 260 || sum.Restarts != 2 || sum.DuplicateCharges != 1 ||
		sum.DuplicateChargedCents != 2370 || sum.LeakedGoroutines != 40 || sum.PeakErrorRatio != "0.3000" || sum.Requests != 6100 {
		t.Errorf("summary %+v", sum)
	}
}
