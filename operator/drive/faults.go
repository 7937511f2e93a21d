package drive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// syncFaults makes every fault what the engine wants: in effect, or gone.
// An injection is reported to the engine when the backend acknowledges it
// (with the pods it hit), a removal when the backend says it is gone; a
// Permanent refusal is a failed fault; anything else is retried.
func (d *Driver) syncFaults(ctx context.Context, now time.Time) error {
	e := d.eng
	want := e.Want()
	st := e.Status()
	var errs []error
	for i, active := range want.Faults {
		state := st.Faults[i].State
		key := fmt.Sprintf("fault/%d/%t", i, active)
		switch {
		case active && state == "Pending":
			if !d.due(key, now) {
				continue
			}
			d.dirty[i] = true
			ack, err := d.b.EnsureFault(ctx, i, true)
			if err = d.outcome(key, now, err); err != nil {
				if IsPermanent(err) {
					e.FaultFailed(i, d.Offset(now), err)
					continue
				}
				errs = append(errs, fmt.Errorf("injecting %s: %w", d.spec.Faults[i].Name, err))
				continue
			}
			if d.asked[i].IsZero() {
				d.asked[i] = now
			}
			if ack.Done {
				// Injected as of the ask, not of the acknowledgement: a
				// backend that applies the fault asynchronously (Chaos Mesh:
				// seconds on a loaded cluster) may have had it acting for
				// a while, and what it did then followed it.
				e.FaultInjected(i, d.Offset(d.asked[i]), ack.Targets)
			} else {
				e.FaultWaiting(i, ack.Detail)
				d.wait(key, now, d.o.pollInterval)
			}
		case !active && d.dirty[i]:
			if !d.due(key, now) {
				continue
			}
			ack, err := d.b.EnsureFault(ctx, i, false)
			if err = d.outcome(key, now, err); err != nil {
				// Removal is never given up: leftover chaos is the worst bug.
				errs = append(errs, fmt.Errorf("recovering %s: %w", d.spec.Faults[i].Name, err))
				continue
			}
			if !ack.Done {
				d.wait(key, now, d.o.pollInterval)
				continue
			}
			d.dirty[i] = false
			e.FaultRecovered(i, d.Offset(now))
		}
	}
	return errors.Join(errs...)
}

// clean reports whether no fault may be left in the backend.
func (d *Driver) clean() bool {
	for _, x := range d.dirty {
		if x {
			return false
		}
	}
	return true
}

// wind ends a drill the engine asked to stop: once every fault is gone, a
// last observation (the load still running), then the load and the victim
// stop, then the engine judges.
func (d *Driver) wind(ctx context.Context, now time.Time) error {
	if !d.clean() {
		return nil // syncFaults is removing them
	}
	if d.cleanAt.IsZero() {
		d.cleanAt = now
	}
	// The last observation is one taken once every fault is gone: a tick
	// already made since then is it (another now would judge a sliver).
	if !d.observed && !d.start.IsZero() && d.lastObs.Before(d.cleanAt) {
		err := d.observe(ctx, now)
		if d.lastObs.Before(d.cleanAt) && !d.giveUp("last-observation", now) {
			return err // none taken since: a Sampler's comes within its interval
		}
	}
	d.observed = true
	if !d.due("stop", now) {
		return nil
	}
	done, err := d.b.EnsureStopped(ctx)
	if err = d.outcome("stop", now, err); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	if !done {
		d.wait("stop", now, d.o.pollInterval)
		return nil
	}
	d.eng.Finish(d.Offset(now))
	d.finished = true
	return nil
}

// observe lists the processes, scrapes them and feeds the engine.
func (d *Driver) observe(ctx context.Context, now time.Time) error {
	d.lastSample = now
	procs, crashes, err := d.b.Targets(ctx)
	d.crashes = append(d.crashes, crashes...)
	if err != nil {
		return fmt.Errorf("listing the processes: %w", err)
	}
	targets := make([]observe.Target, len(procs))
	for i, p := range procs {
		targets[i] = p.Target
	}
	if d.o.newSampler != nil {
		return d.observeSampled(procs, targets, now)
	}
	at := d.Offset(now)
	d.leaks.maybeStart(now, targets)
	samples := d.scraper.ScrapeAll(ctx, at, targets)
	for i := range samples {
		samples[i].Restarts = procs[i].Restarts
	}
	d.leaks.fill(samples)
	d.lastObs = now
	d.eng.Observe(engine.Observation{At: at, Samples: samples, Crashes: d.crashes})
	d.crashes = nil
	return nil
}

// observeSampled feeds the engine the Sampler's newest samples of the
// processes listed now, stamped with the time they were taken. With none
// taken since the last, it asks again after the poll interval (the crashes
// wait for the next observation).
func (d *Driver) observeSampled(procs []Process, targets []observe.Target, now time.Time) error {
	if d.sampler == nil {
		d.sampler = d.o.newSampler(d.scraper)
	}
	d.leaks.maybeStart(now, targets)
	taken, got, ok := d.sampler.Sample(targets)
	if !ok || !taken.After(d.lastObs) {
		d.lastSample = now.Add(d.o.pollInterval - d.o.interval)
		return nil
	}
	restarts := make(map[string]int32, len(procs))
	for _, p := range procs {
		restarts[p.Name] = p.Restarts
	}
	if taken.Before(d.start) {
		taken = d.start
	}
	at := d.Offset(taken)
	samples := make([]observe.Sample, 0, len(got))
	for _, s := range got {
		n, listed := restarts[s.Target]
		if !listed {
			continue // gone since it was read
		}
		s.Restarts, s.At = n, at
		samples = append(samples, s)
	}
	d.leaks.fill(samples)
	d.lastObs = taken
	d.eng.Observe(engine.Observation{At: at, Samples: samples, Crashes: d.crashes})
	d.crashes = nil
	return nil
}

// next is how long until the next Step is due.
func (d *Driver) next(now time.Time) time.Duration {
	if d.finished {
		return engine.Never
	}
	next := d.o.interval - now.Sub(d.lastSample)
	if !d.start.IsZero() {
		next = min(next, d.eng.NextDue(d.Offset(now)))
	}
	for _, r := range d.retry {
		if !r.at.IsZero() {
			next = min(next, r.at.Sub(now))
		}
	}
	if d.start.IsZero() || d.eng.Stopping() || d.eng.Phase().Terminal() {
		next = min(next, d.o.pollInterval)
	}
	return max(next, d.o.minStep)
}

// retry is one item's back-off: how often it failed, and when it may be
// tried again.
type retry struct {
	fails int
	at    time.Time
	first time.Time
}

func (d *Driver) item(key string) *retry {
	r := d.retry[key]
	if r == nil {
		r = &retry{}
		d.retry[key] = r
	}
	return r
}

// due reports whether key may be tried at now.
func (d *Driver) due(key string, now time.Time) bool {
	r := d.retry[key]
	return r == nil || !now.Before(r.at)
}

// wait schedules key again after delay (the backend is working on it).
func (d *Driver) wait(key string, now time.Time, delay time.Duration) {
	d.item(key).at = now.Add(delay)
}

// outcome records a try of key: a success clears its back-off; a
// transient error doubles it (from the initial retry delay up to the
// maximum). It returns err.
func (d *Driver) outcome(key string, now time.Time, err error) error {
	r := d.item(key)
	if err == nil {
		*r = retry{}
		return nil
	}
	if r.fails == 0 {
		r.first = now
	}
	r.fails++
	delay := d.o.retryInitial << min(r.fails-1, 16)
	r.at = now.Add(min(delay, d.o.retryMax))
	return err
}

// giveUp reports whether key has been failing longer than the give-up
// time (only for steps the drill can finish without).
func (d *Driver) giveUp(key string, now time.Time) bool {
	r := d.item(key)
	if r.fails == 0 {
		r.first, r.fails = now, 1
	}
	return now.Sub(r.first) >= d.o.retryMax
}
