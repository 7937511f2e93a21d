package local

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// DriveBackend is the local backend behind drive.Driver: the victim as
// local processes, faults as signals and toxics. Its Ensure methods are
// idempotent; what cannot be mended by trying again (a victim that never
// came up, a fault the local backend refuses or whose selector matches no
// process) is a drive.Permanent error.
type DriveBackend struct {
	b    *Backend
	spec v1alpha1.ExperimentSpec
	// StartTimeout bounds one EnsureVictim's wait for the processes.
	StartTimeout time.Duration

	mu       sync.Mutex
	started  bool
	startErr error
	loading  bool
	loadErr  error
	injected map[int][]string
	// base is each process's restart count at the first Targets, when the
	// load started: restarts and exits before it (a port taken at
	// start-up, a slow first start) are not the drill's.
	base map[string]int32
}

// NewDriveBackend wraps b for the drill spec (spec.victim must be set).
func NewDriveBackend(b *Backend, spec v1alpha1.ExperimentSpec) *DriveBackend {
	return &DriveBackend{b: b, spec: spec, StartTimeout: 30 * time.Second, injected: map[int][]string{}}
}

// Name is "local".
func (d *DriveBackend) Name() string { return "local" }

// EnsureVictim starts the victim's processes once and waits until they
// are ready; a start that failed is permanent (Start cannot be repeated).
func (d *DriveBackend) EnsureVictim(ctx context.Context) (bool, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return d.startErr == nil, "", drive.Permanent(d.startErr)
	}
	d.started = true
	sctx, cancel := context.WithTimeout(ctx, d.StartTimeout)
	defer cancel()
	if err := d.b.Start(sctx); err != nil {
		d.startErr = err
		return false, err.Error(), drive.Permanent(err)
	}
	return true, "", nil
}

// EnsureLoad starts the load generator once, for as long as the drill
// runs (it is stopped by EnsureStopped).
func (d *DriveBackend) EnsureLoad(ctx context.Context) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loading {
		return d.loadErr == nil, drive.Permanent(d.loadErr)
	}
	d.loading = true
	if err := d.b.StartLoad(ctx, d.spec.Load, 0); err != nil {
		d.loadErr = err
		return false, drive.Permanent(err)
	}
	return true, nil
}

// EnsureFault injects or recovers spec.faults[i]. The local backend
// acknowledges at once: its faults are in effect when Inject returns.
func (d *DriveBackend) EnsureFault(ctx context.Context, i int, active bool) (drive.FaultAck, error) {
	d.mu.Lock()
	targets, ok := d.injected[i]
	d.mu.Unlock()
	if !active {
		if err := d.b.Recover(ctx, i); err != nil {
			return drive.FaultAck{}, err
		}
		d.mu.Lock()
		delete(d.injected, i)
		d.mu.Unlock()
		return drive.FaultAck{Done: true}, nil
	}
	if ok {
		return drive.FaultAck{Done: true, Targets: targets}, nil
	}
	if i < 0 || i >= len(d.spec.Faults) {
		return drive.FaultAck{}, drive.Permanent(errors.New("no such fault"))
	}
	targets, err := d.b.Inject(ctx, i, d.spec.Faults[i])
	if err != nil {
		// Refused by the local backend's checks, or its selector matches
		// no process: trying again changes nothing.
		return drive.FaultAck{}, drive.Permanent(err)
	}
	d.mu.Lock()
	d.injected[i] = targets
	d.mu.Unlock()
	return drive.FaultAck{Done: true, Targets: targets}, nil
}

// Targets lists the supervised processes with their restarts since the
// load started, and the exits the supervisors reported since the last call.
// The driver first calls it once the load runs: that call records each
// process's restart count and drops the exits reported before it, which
// happened while the victim was starting, before the drill.
func (d *DriveBackend) Targets(context.Context) ([]drive.Process, []observe.Crash, error) {
	restarts := d.b.Restarts()
	d.mu.Lock()
	first := d.base == nil
	if first {
		d.base = restarts
	}
	base := d.base
	d.mu.Unlock()
	var out []drive.Process
	for _, t := range d.b.Targets() {
		out = append(out, drive.Process{Target: t, Restarts: max(restarts[t.Name]-base[t.Name], 0)})
	}
	var crashes []observe.Crash
	for {
		select {
		case c := <-d.b.Crashes():
			if !first {
				crashes = append(crashes, c)
			}
		default:
			return out, crashes, nil
		}
	}
}

// EnsureStopped stops the load and the victim (every fault is recovered
// by then; Stop recovers any left as well).
func (d *DriveBackend) EnsureStopped(ctx context.Context) (bool, error) {
	if err := d.b.Stop(ctx); err != nil {
		return false, err
	}
	return true, nil
}
