package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
	"github.com/cascadelab/cascadelab/operator/local"
	"github.com/cascadelab/cascadelab/operator/report"
)

// startTimeout bounds how long the victim may take to become ready.
const startTimeout = 30 * time.Second

// windDown bounds how long an interrupted drill may take to recover its
// faults and stop its processes.
const windDown = 15 * time.Second

// drill runs exp on the local backend through the shared driver (the same
// one the operator steps per reconcile) until it is over or ctx is
// cancelled, and returns its report. A report is returned whenever the
// drill started, even with an error.
func drill(ctx context.Context, exp v1alpha1.Experiment, o runOptions, prog *progress) (*report.Report, error) {
	victimPath, victimArgs, err := victimCommand(o.victimCmd)
	if err != nil {
		return nil, err
	}
	backend, err := local.NewForSpec(exp.Name, exp.Spec,
		local.WithVictimCommand(victimPath, victimArgs...),
		local.WithRand(rand.New(rand.NewSource(o.seed))),
	)
	if err != nil {
		return nil, err
	}
	// Every fault recovered and every child stopped, whatever happens below.
	defer backend.Close()
	db := local.NewDriveBackend(backend, exp.Spec)
	db.StartTimeout = startTimeout
	drv, err := drive.New(exp.Spec, db, drive.WithInterval(o.interval), drive.WithVictimTimeout(startTimeout), drive.WithClock(time.Now))
	if err != nil {
		return nil, err
	}
	defer drv.Close()
	err = stepUntilDone(ctx, drv, prog)
	prog.done()
	rep := buildReport(exp, drv)
	ev := backend.Evidence()
	rep.Races, rep.Crashes = ev.Races, ev.Crashes
	return rep, err
}

// stepUntilDone steps the driver until the drill is over. On ctx's end the drill is
// stopped (Inconclusive) and wound down within windDown.
func stepUntilDone(ctx context.Context, drv *drive.Driver, prog *progress) error {
	var interrupted error
	stepCtx := ctx
	deadline := time.Time{}
	for !drv.Done() {
		next, err := drv.Step(stepCtx, time.Now())
		if err != nil {
			fmt.Fprintf(os.Stderr, "cascadelab: %v (retrying)\n", err)
		}
		prog.update(drv.Engine())
		if drv.Done() {
			break
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return errors.Join(interrupted, errors.New("faults and processes not confirmed stopped within "+windDown.String()+"; the backend's Close kills what is left"))
		}
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			if interrupted == nil {
				interrupted = ctx.Err()
				drv.Stop(time.Now(), "interrupted by signal")
				var cancel context.CancelFunc
				stepCtx, cancel = context.WithTimeout(context.Background(), windDown)
				defer cancel()
				deadline = time.Now().Add(windDown)
			}
		case <-timer.C:
		}
	}
	return interrupted
}

// buildReport assembles the drill's report from the engine.
func buildReport(exp v1alpha1.Experiment, drv *drive.Driver) *report.Report {
	e := drv.Engine()
	st := e.Status()
	rep := &report.Report{
		Name:       exp.Name,
		Namespace:  exp.Namespace,
		Backend:    "local",
		StartedAt:  drv.StartTime(),
		Phase:      st.Phase,
		Verdict:    st.Verdict,
		Summary:    st.Summary,
		Findings:   st.Findings,
		Faults:     st.Faults,
		Hypothesis: st.Hypothesis,
		Timeline:   e.Timeline(),
		Series:     e.Series(),
		Spec:       exp.Spec,
	}
	if !rep.StartedAt.IsZero() {
		rep.Elapsed = time.Since(rep.StartedAt)
	}
	return rep
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
