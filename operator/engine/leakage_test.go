package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// A leak finding says how old its figure was when sampled (the leak scan
// runs on its own cadence) and, when the runtime says, how long the oldest
// leaked goroutine had been blocked.
func TestLeakFindingSaysItsAge(t *testing.T) {
	e := newEngine(t, testSpec())
	w := newWorld()
	d := &driver{t: t, e: e, w: w}
	d.run(0, 12*s)
	obs := w.observation(13 * s)
	for i := range obs.Samples {
		if obs.Samples[i].Target == "gateway-0" {
			obs.Samples[i].Leaked, obs.Samples[i].LeakAge, obs.Samples[i].LeakOldestBlockedMinutes = 40, 2300*time.Millisecond, 3
		}
	}
	e.Observe(obs)
	f := findingsOf(e)[v1alpha1.FindingGoroutineLeak]
	if len(f) != 1 || !strings.Contains(f[0].Message, "figure 2.3s old when sampled") || !strings.Contains(f[0].Message, "oldest blocked ≥ 3 min") {
		t.Errorf("leak findings %+v, want one giving the figure's age and the oldest blocked time", f)
	}
}
