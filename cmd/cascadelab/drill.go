package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/local"
	"github.com/cascadelab/cascadelab/operator/observe"
	"github.com/cascadelab/cascadelab/operator/report"
)

// startTimeout bounds how long the victim may take to become ready.
const startTimeout = 30 * time.Second

// driver carries out one drill: it owns the engine and the local backend and
// does nothing the engine did not ask for.
type driver struct {
	exp      v1alpha1.Experiment
	eng      *engine.Engine
	backend  *local.Backend
	scraper  *observe.Scraper
	t0       time.Time
	interval time.Duration
	crashes  []observe.Crash
	stopped  bool
}

// drill runs exp to its end (or until ctx is cancelled) and returns its report.
// A report is returned whenever the drill started, even with an error.
func drill(ctx context.Context, exp v1alpha1.Experiment, o runOptions, prog *progress) (*report.Report, error) {
	eng, err := engine.New(exp.Spec)
	if err != nil {
		return nil, err
	}
	victimPath, victimArgs, err := victimCommand(o.victimCmd)
	if err != nil {
		return nil, err
	}
	backend, err := local.New(exp.Name, *exp.Spec.Victim,
		local.WithVictimCommand(victimPath, victimArgs...),
		local.WithRand(rand.New(rand.NewSource(o.seed))),
	)
	if err != nil {
		return nil, err
	}
	d := &driver{exp: exp, eng: eng, backend: backend, scraper: observe.NewScraper(), interval: o.interval}
	// Every fault recovered and every child stopped, whatever happens below.
	defer backend.Close()

	err = d.loop(ctx, prog)
	prog.done()
	return d.report(), err
}

// loop starts the victim and the load, then ticks, observes and acts until
// the engine asks to stop.
func (d *driver) loop(ctx context.Context, prog *progress) error {
	d.t0 = time.Now()
	if err := d.do(ctx, d.eng.Start()); err != nil {
		return err
	}
	if d.stopped {
		return nil
	}
	d.t0 = time.Now()
	if err := d.do(ctx, d.eng.VictimReady()); err != nil {
		return err
	}
	sample := time.NewTicker(d.interval)
	defer sample.Stop()
	due := time.NewTimer(d.eng.NextDue(0))
	defer due.Stop()
	for !d.stopped {
		select {
		case <-ctx.Done():
			now := time.Since(d.t0)
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := d.do(stopCtx, d.eng.Stop(now, "interrupted by signal"))
			cancel()
			return errors.Join(ctx.Err(), err)
		case c := <-d.backend.Crashes():
			// The supervisor reports an exit at once, stamped with its time;
			// the engine judges it with the next sample (at most one
			// interval later). Sampling now instead would judge rates over a
			// sliver of a window.
			d.crashes = append(d.crashes, c)
			continue
		case <-sample.C:
			if err := d.observe(ctx, prog); err != nil {
				return err
			}
		case <-due.C:
		}
		if err := d.do(ctx, d.eng.Tick(time.Since(d.t0))); err != nil {
			return err
		}
		due.Reset(max(d.eng.NextDue(time.Since(d.t0)), 10*time.Millisecond))
	}
	return nil
}

// observe scrapes every process and feeds the engine.
func (d *driver) observe(ctx context.Context, prog *progress) error {
	now := time.Since(d.t0)
	samples := d.scraper.ScrapeAll(ctx, now, d.backend.Targets())
	restarts := d.backend.Restarts()
	for i := range samples {
		samples[i].Restarts = restarts[samples[i].Target]
	}
	obs := engine.Observation{At: now, Samples: samples, Crashes: d.crashes}
	d.crashes = nil
	acts := d.eng.Observe(obs)
	prog.update(d.eng)
	return d.do(ctx, acts)
}

// do carries out the engine's actions in order.
func (d *driver) do(ctx context.Context, acts []engine.Action) error {
	for _, a := range acts {
		now := time.Since(d.t0)
		switch a.Type {
		case engine.ActionStartVictim:
			sctx, cancel := context.WithTimeout(ctx, startTimeout)
			err := d.backend.Start(sctx)
			cancel()
			if err != nil {
				stopErr := d.do(ctx, d.eng.Stop(now, "victim never came up: "+err.Error()))
				return errors.Join(fmt.Errorf("starting victim: %w", err), stopErr)
			}
		case engine.ActionStartLoad:
			l := d.exp.Spec.Load
			if err := d.backend.StartLoad(ctx, l.Rate, l.DuplicateRatio, 0); err != nil {
				return errors.Join(fmt.Errorf("starting load: %w", err), d.do(ctx, d.eng.Fail(now, "load did not start: "+err.Error())))
			}
		case engine.ActionInject:
			targets, err := d.backend.Inject(ctx, a.Fault, d.exp.Spec.Faults[a.Fault])
			if err != nil {
				d.eng.FaultFailed(a.Fault, now, err)
			} else {
				d.eng.FaultInjected(a.Fault, now, targets)
			}
		case engine.ActionRecover:
			if err := d.backend.Recover(ctx, a.Fault); err != nil {
				d.eng.FaultFailed(a.Fault, now, err)
			} else {
				d.eng.FaultRecovered(a.Fault, now)
			}
		case engine.ActionStop:
			// A last look before the victim goes away, then judge.
			if !d.stopped {
				d.stopped = true
				last := d.scraper.ScrapeAll(ctx, now, d.backend.Targets())
				d.eng.Observe(engine.Observation{At: now, Samples: last, Crashes: d.crashes})
				d.crashes = nil
				if err := d.backend.Stop(ctx); err != nil {
					fmt.Fprintf(os.Stderr, "cascadelab: stopping victim: %v\n", err)
				}
				d.eng.Finish(time.Since(d.t0))
			}
		}
	}
	return nil
}

// report assembles the drill's report from the engine.
func (d *driver) report() *report.Report {
	st := d.eng.Status()
	return &report.Report{
		Name:      d.exp.Name,
		Namespace: d.exp.Namespace,
		Backend:   "local",
		StartedAt: d.t0,
		Elapsed:   time.Since(d.t0),
		Phase:     st.Phase,
		Verdict:   st.Verdict,
		Summary:   st.Summary,
		Findings:  st.Findings,
		Faults:    st.Faults,
		Timeline:  d.eng.Timeline(),
		Series:    d.eng.Series(),
		Spec:      d.exp.Spec,
	}
}

// victimCommand is how the backend launches the victim: a given binary, or
// this executable's own `victim` subcommand.
func victimCommand(path string) (string, []string, error) {
	if path != "" {
		return path, nil, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("locating this executable to run the victim: %w", err)
	}
	return self, []string{"victim"}, nil
}
