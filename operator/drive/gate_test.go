package drive

import (
	"context"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// crashingAtDue reports a crash of orders-0 on the first Targets call once
// armed: the crash a drill sees on the very step its first fault falls due.
type crashingAtDue struct {
	*flakyBackend
	armed, reported bool
}

func (c *crashingAtDue) Targets(ctx context.Context) ([]Process, []observe.Crash, error) {
	ps, crashes, err := c.flakyBackend.Targets(ctx)
	if err == nil && c.armed && !c.reported {
		c.reported = true
		crashes = append(crashes, observe.Crash{Target: "orders-0", ExitCode: 2, Headline: "fatal error: concurrent map writes"})
	}
	return ps, crashes, err
}

// A crash observed on the step the first fault falls due reaches the
// steady-state gate before the fault is asked for: no fault is ever
// created, and the drill ends Inconclusive with SteadyStateNotMet. (The
// driver once ticked before observing, and the fault went in.)
func TestGateSeesACrashOnTheDueStep(t *testing.T) {
	b := &crashingAtDue{flakyBackend: newFlaky(t, 0)}
	drv, err := New(shortSpec(), b, WithInterval(time.Second), WithRetry(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	for step := 0; !drv.Done() && ctx.Err() == nil && step < 200; step++ {
		if !drv.start.IsZero() && now.Sub(drv.start) >= 2*time.Second { // slow-ledger is due at 2s
			b.armed = true
		}
		if _, err := drv.Step(ctx, now); err != nil {
			t.Logf("step: %v", err)
		}
		now = now.Add(500 * time.Millisecond)
	}
	st := drv.Engine().Status()
	if st.Verdict != v1alpha1.VerdictInconclusive {
		t.Errorf("verdict %s, want Inconclusive; findings %+v", st.Verdict, st.Findings)
	}
	for k, n := range b.calls {
		if k == "fault/0/true" || k == "fault/1/true" {
			t.Errorf("%s called %d times behind the gate", k, n)
		}
	}
	gated := false
	for _, f := range st.Findings {
		gated = gated || f.Type == v1alpha1.FindingSteadyStateNotMet
	}
	if !gated {
		t.Errorf("no SteadyStateNotMet in %+v", st.Findings)
	}
}
