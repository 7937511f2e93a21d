// Package drive runs a drill: one level-triggered driver that keeps a
// backend in the state the engine wants, over any backend — the local
// processes of `cascadelab run` or a cluster driven by the operator.
//
// The engine (operator/engine) says what it wants (victim up, load running,
// fault i in effect or not, everything stopped); the Driver makes each so
// through the Backend, retrying transient errors with back-off until the
// backend acknowledges, and reports the acknowledgements back to the
// engine. No action is emitted once and assumed done: a lost create or
// delete is simply made again at the next Step. Because both backends run
// through the same Driver, the same experiment means the same thing on
// both: the clock starts when the load is acknowledged running, the last
// observation is taken after every fault is removed and before the load
// stops, restarts are each process's own restart count, and one scraper
// (with a timeout above the largest injected latency) observes.
//
// A driver is stepped, not run: Step(ctx, now) does what is due and says
// when to call it next. The CLI calls it in a loop; the operator calls it
// once per reconcile and returns RequeueAfter.
package drive

import (
	"context"
	"errors"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// Backend is where a drill runs. Every method is idempotent: the driver
// calls each again until it reports done, and again after a restart.
type Backend interface {
	// Name is the backend's name for reports: "local" or "kubernetes".
	Name() string
	// EnsureVictim makes the victim's processes exist (the kit's own
	// victim, or nothing to create for spec.target) and reports whether
	// every process the drill needs is ready; detail says what is missing.
	EnsureVictim(ctx context.Context) (ready bool, detail string, err error)
	// EnsureLoad makes the load generator run for the drill and reports
	// whether it is running.
	EnsureLoad(ctx context.Context) (running bool, err error)
	// EnsureFault makes spec.faults[i] be in effect (active) or be gone
	// (!active). A Permanent error means it can never be made so (the
	// fault is refused, or it selects no pod); any other error is retried.
	EnsureFault(ctx context.Context, i int, active bool) (FaultAck, error)
	// Targets lists the processes to observe, each with its restart count
	// and instance, and the process exits seen since the last call.
	Targets(ctx context.Context) ([]Process, []observe.Crash, error)
	// EnsureStopped stops the load and the victim and reports whether
	// nothing of the drill runs any more.
	EnsureStopped(ctx context.Context) (done bool, err error)
}

// FaultAck is a backend's answer to EnsureFault.
type FaultAck struct {
	// Done: the fault is in effect (active) or gone (!active).
	Done bool
	// Targets are the pods (processes) the fault hit, when active and done.
	Targets []string
	// Detail says what the backend is waiting for when not done.
	Detail string
}

// Process is one process to observe.
type Process struct {
	observe.Target
	// Restarts is the process's restart count (a container's restarts).
	Restarts int32
}

// PermanentError is a backend error that retrying cannot mend.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as one that retrying cannot mend (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err (or an error it wraps) is Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
