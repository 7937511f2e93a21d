package drive

import (
	"context"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// lateAck is a backend that applies a fault at once but acknowledges it
// only after acks calls, as Chaos Mesh does: the chaos object exists, the
// daemon applies the rules, and AllInjected is set seconds later on a
// loaded cluster.
type lateAck struct {
	*flakyBackend
	acks int
}

func (l *lateAck) EnsureFault(ctx context.Context, i int, active bool) (FaultAck, error) {
	ack, err := l.flakyBackend.EnsureFault(ctx, i, active)
	if err != nil || !active || i != 0 {
		return ack, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls["fault/0/true"] <= l.acks {
		return FaultAck{Detail: "created; waiting for Chaos Mesh"}, nil
	}
	return ack, nil
}

// A fault acknowledged late is injected as of when its object was
// created: what happened in between followed it. On 5424438 the node lab's
// cascade had a double charge 2.5 s after its slow-ledger was created and
// 3 s before Chaos Mesh acknowledged it, reported as following no fault.
func TestLateAcknowledgedFaultCountsFromItsCreation(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	b := &lateAck{flakyBackend: newFlaky(t, 0), acks: 3}
	spec := shortSpec()
	// The flaky backend's traffic follows the wall clock, this test's
	// clock is its own: the steady state may look idle; let the faults run.
	spec.SteadyStateGate = v1alpha1.GateContinue
	drv, err := New(spec, b, WithInterval(500*time.Millisecond), WithRetry(10*time.Millisecond, 100*time.Millisecond),
		WithPollInterval(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	ctx := context.Background()
	drv.Step(ctx, t0) // load acknowledged: the clock starts
	start := drv.StartTime()
	var asked time.Duration = -1
	for now := start; now.Before(start.Add(5 * time.Second)); now = now.Add(500 * time.Millisecond) {
		drv.Step(ctx, now)
		if asked < 0 && b.calls["fault/0/true"] > 0 {
			asked = drv.Offset(now)
		}
	}
	st := drv.Engine().Status().Faults[0]
	if b.calls["fault/0/true"] <= b.acks || st.InjectedAt == nil {
		t.Fatalf("fault not acknowledged after %d calls: %+v", b.calls["fault/0/true"], st)
	}
	if got := st.InjectedAt.Duration; got != asked {
		t.Errorf("injected at %v, want %v: when its object was created (acknowledged %d polls later)", got, asked, b.acks)
	}
}
