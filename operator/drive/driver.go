package drive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// Driver runs one drill over one backend. It is not safe for concurrent
// use: Step is called from one goroutine at a time.
type Driver struct {
	spec    v1alpha1.ExperimentSpec
	eng     *engine.Engine
	b       Backend
	o       options
	scraper *observe.Scraper
	leaks   *leakScanner
	sampler Sampler // WithSampler's: scrapes instead of Step

	created    time.Time // first Step: the victim's start-up clock
	start      time.Time // load acknowledged running: the drill's clock zero
	lastSample time.Time // the last observation asked for
	lastObs    time.Time // when the last observation fed to the engine was taken
	lastLoad   time.Time
	// dirty[i]: fault i may have something in the backend to remove.
	dirty []bool
	// asked[i]: when the backend first took fault i's injection (a chaos
	// object created): the fault may act from then on, whenever its
	// injection is acknowledged.
	asked    []time.Time
	retry    map[string]*retry
	crashes  []observe.Crash
	observed bool      // the last observation was taken
	cleanAt  time.Time // the drill was stopping and every fault was gone
	finished bool
}

// New returns a driver for a new drill of spec over b.
func New(spec v1alpha1.ExperimentSpec, b Backend, opts ...Option) (*Driver, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	eng, err := engine.New(spec, o.engineOptions()...)
	if err != nil {
		return nil, err
	}
	return newDriver(spec, eng, b, o), nil
}

// Resume returns a driver that picks a drill up from its status (a
// restarted manager): the engine is restored, the clock is the status's
// start time, and every fault is checked in the backend, so whatever a lost
// create or delete left behind is made right.
func Resume(spec v1alpha1.ExperimentSpec, status v1alpha1.ExperimentStatus, b Backend, opts ...Option) (*Driver, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	eng, err := engine.Restore(spec, status, o.engineOptions()...)
	if err != nil {
		return nil, err
	}
	d := newDriver(spec, eng, b, o)
	if status.StartTime != nil {
		d.start = status.StartTime.Time
		eng.SetStartTime(d.start)
	}
	for i := range d.dirty {
		d.dirty[i] = true
	}
	d.finished = status.Phase.Terminal()
	return d, nil
}

func newDriver(spec v1alpha1.ExperimentSpec, eng *engine.Engine, b Backend, o options) *Driver {
	timeout := scrapeTimeout(spec, o.scrapeTimeout)
	scrape := append(append([]observe.ScrapeOption{observe.WithConcurrency(16), observe.WithTimeout(timeout)}, o.scrape...), targetScrapeOptions(spec)...)
	leakScraper := observe.NewScraper(append(scrape, observe.WithTimeout(timeout+o.leakTimeout))...)
	return &Driver{
		spec: spec, eng: eng, b: b, o: o,
		// Metrics only on the tick; goleak on its own cadence.
		scraper: observe.NewScraper(append(scrape, observe.WithLeakEvery(0))...),
		leaks:   newLeakScanner(leakScraper, o.leakEvery, observe.RoleGateway, observe.RoleOrders, observe.RoleLedger).forSpec(spec, eng, timeout+o.leakTimeout),
		dirty:   make([]bool, len(spec.Faults)),
		asked:   make([]time.Time, len(spec.Faults)),
		retry:   map[string]*retry{},
	}
}

// Engine is the drill's engine (status, series, timeline).
func (d *Driver) Engine() *engine.Engine { return d.eng }

// Done reports whether the drill is over: judged, every fault removed and
// everything stopped.
func (d *Driver) Done() bool { return d.finished }

// StartTime is when the load was acknowledged running (zero before).
func (d *Driver) StartTime() time.Time { return d.start }

// Offset is now on the drill's clock (0 before the load started).
func (d *Driver) Offset(now time.Time) time.Duration {
	if d.start.IsZero() {
		return 0
	}
	return now.Sub(d.start)
}

// Stop ends the drill early (a user's interrupt, a deleted Experiment):
// the next Steps remove every fault and stop everything, and the verdict
// is Inconclusive.
func (d *Driver) Stop(now time.Time, reason string) { d.eng.Stop(d.Offset(now), reason) }

// Fail ends the drill on a failure the backend cannot get past: phase
// Failed, verdict Inconclusive; the next Steps still remove every fault and
// stop everything.
func (d *Driver) Fail(now time.Time, reason string) { d.eng.Fail(d.Offset(now), reason) }

// Close waits for a leak scan in flight and releases the driver's
// connections.
func (d *Driver) Close() {
	d.leaks.wait()
	d.scraper.CloseIdleConnections()
	d.leaks.scraper.CloseIdleConnections()
	d.leaks.closeIdle()
}

// Step does what is due at now and returns how long until the next Step
// is due (engine.Never once Done: do not sleep on it). Errors are
// transient backend errors (already scheduled for a retry with back-off);
// the drill goes on.
func (d *Driver) Step(ctx context.Context, now time.Time) (time.Duration, error) {
	if d.finished {
		return engine.Never, nil
	}
	if d.created.IsZero() {
		d.created = now
	}
	var errs []error
	e := d.eng
	if !e.Stopping() && !e.Phase().Terminal() {
		if err := d.bringUp(ctx, now); err != nil {
			errs = append(errs, err)
		}
		if d.start.After(now) { // the clock started after this Step began (WithClock)
			now = d.start
		}
	}
	if !d.start.IsZero() && !e.Stopping() && !e.Phase().Terminal() {
		// Observe before asking for what is due: a crash seen on the tick
		// a fault falls due on must reach the steady-state gate first.
		if now.Sub(d.lastSample) >= d.o.interval*4/5 {
			if err := d.observe(ctx, now); err != nil {
				errs = append(errs, err)
			}
		}
		e.Tick(d.Offset(now))
	}
	if err := d.syncFaults(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if e.Stopping() || e.Phase().Terminal() {
		if err := d.wind(ctx, now); err != nil {
			errs = append(errs, err)
		}
	}
	return d.next(now), errors.Join(errs...)
}

// bringUp makes the victim ready and the load run.
func (d *Driver) bringUp(ctx context.Context, now time.Time) error {
	e := d.eng
	if e.Phase() == v1alpha1.PhasePending {
		if !d.due("victim", now) {
			return nil
		}
		ready, detail, err := d.b.EnsureVictim(ctx)
		if err = d.outcome("victim", now, err); err != nil {
			if IsPermanent(err) {
				e.Stop(0, "victim never came up: "+err.Error())
				return nil
			}
			return fmt.Errorf("starting the victim: %w", err)
		}
		switch {
		case ready:
			e.VictimReady()
		case now.Sub(d.created) > d.o.victimTimeout:
			e.Stop(0, "victim not ready after "+d.o.victimTimeout.String()+": "+detail)
			return nil
		default:
			d.wait("victim", now, d.o.pollInterval)
			return nil
		}
	}
	if !d.start.IsZero() {
		if now.Sub(d.lastLoad) < d.o.interval {
			return nil
		}
		d.lastLoad = now
	}
	if !d.due("load", now) {
		return nil
	}
	running, err := d.b.EnsureLoad(ctx)
	if err = d.outcome("load", now, err); err != nil {
		if IsPermanent(err) {
			e.Fail(d.Offset(now), "the load could not start: "+err.Error())
			return nil
		}
		return fmt.Errorf("starting the load: %w", err)
	}
	if running && d.start.IsZero() {
		if d.o.clock != nil {
			now = d.o.clock()
		}
		d.start, d.lastLoad = now, now
		e.SetStartTime(now)
	}
	if !running && d.start.IsZero() && now.Sub(d.created) > d.o.victimTimeout {
		// The load generator is ready once the victim answers it (a
		// Service routes some time after its pods are ready): never, and
		// the drill would wait for ever.
		e.Stop(0, "victim not ready after "+d.o.victimTimeout.String()+": the load generator got no answer from it")
		return nil
	}
	if !running {
		d.wait("load", now, d.o.pollInterval)
	}
	return nil
}
