package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// In-flight work that rises during a fault and falls back after it is load,
// not a breach; goroutines that stay up once the fault is over are.
func TestGoroutineGrowthJudgedOnceSettled(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stayHigh  bool
		wantFound bool
	}{
		{"falls back after the fault", false, false},
		{"stays up after the fault", true, true},
		{"drains within the settled window", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := testSpec(func(sp *v1alpha1.ExperimentSpec) { sp.Faults = sp.Faults[:1] }) // delay 10s–40s
			e := newEngine(t, sp)
			d := &driver{t: t, e: e, w: newWorld(), hook: func(at time.Duration, w *world) {
				switch {
				case at >= 12*s && at < 40*s:
					w.goroutines["gateway-0"] = 200 // 10× the baseline of 20
				case at >= 40*s && !tc.stayHigh && tc.name == "drains within the settled window":
					// still high at the first settled sample, drained by the end
					w.goroutines["gateway-0"] = max(22, 200-float64(at-40*s)/float64(s)*15)
				case at >= 40*s && !tc.stayHigh:
					w.goroutines["gateway-0"] = 22
				}
			}}
			d.run(0, 39*s)
			if got := findingsOf(e)[v1alpha1.FindingGoroutineGrowth]; len(got) != 0 {
				t.Fatalf("growth during the fault became a finding: %+v", got)
			}
			timeline := false
			for _, ev := range e.Timeline() {
				timeline = timeline || (ev.Kind == KindGoroutineGrowth && ev.Target == "gateway-0")
			}
			if !timeline {
				t.Errorf("growth during the fault is missing from the cascade timeline")
			}
			d.run(40*s, 60*s)
			if got := findingsOf(e)[v1alpha1.FindingGoroutineGrowth]; len(got) != 0 {
				t.Fatalf("growth judged before the end: %+v", got)
			}
			e.Finish(60 * s)
			got := findingsOf(e)[v1alpha1.FindingGoroutineGrowth]
			if found := len(got) > 0; found != tc.wantFound {
				t.Fatalf("growth finding = %v, want %v: %+v", found, tc.wantFound, got)
			}
			if tc.wantFound && (got[0].At.Duration < 40*s+DefaultSettle || !strings.Contains(got[0].Message, "stayed at ≥ 200") || !strings.Contains(got[0].Message, "peak 200")) {
				t.Errorf("finding %+v: want it after the settle time, with the peak during the fault", got[0])
			}
		})
	}
}
