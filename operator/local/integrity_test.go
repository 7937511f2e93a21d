package local

import (
	"context"
	"testing"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// TestVerdictIntegrity: what happened before the load started is not the
// drill's.
func TestVerdictIntegrity(t *testing.T) {
	// orders-0 exited at start-up (its port was taken) and was restarted
	// before the load began: neither the restart nor the exit is a crash
	// of the drill. One exit during the drill is.
	t.Run("start-up exits and restarts are not the drill's", func(t *testing.T) {
		orders := &pod{name: "orders-0", role: RoleOrders, done: make(chan struct{}), restarts: 1}
		b := &Backend{crashes: make(chan observe.Crash, 4), pods: []*pod{orders}}
		b.report(observe.Crash{Target: "orders-0", ExitCode: 1, Headline: "listen tcp 127.0.0.1:8081: bind: address already in use"})
		d := NewDriveBackend(b, v1alpha1.ExperimentSpec{})
		check := func(want int32, wantCrashes int) {
			t.Helper()
			procs, crashes, err := d.Targets(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(procs) != 1 || procs[0].Restarts != want {
				t.Errorf("processes %+v, want orders-0 with %d restarts since the load started", procs, want)
			}
			if len(crashes) != wantCrashes {
				t.Errorf("crashes %+v, want %d", crashes, wantCrashes)
			}
		}
		check(0, 0) // the load starts
		orders.mu.Lock()
		orders.restarts++
		orders.mu.Unlock()
		b.report(observe.Crash{Target: "orders-0", ExitCode: 2, Headline: "fatal error: concurrent map writes"})
		check(1, 1)
	})
}
