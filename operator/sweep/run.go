package sweep

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/report"
)

// RunFunc runs a cell's experiment once (run n, from 1) until it is over
// or ctx ends, and returns its report — whenever the drill started, even
// with an error.
type RunFunc func(ctx context.Context, cell Cell, n int) (*report.Report, error)

// Event tells a progress display where a sweep is.
type Event struct {
	// Done is the number of runs over, of Total (cells × repeats).
	Done, Total int
	// Cell and N are the run starting (Finished nil) or just over.
	Cell     Cell
	N        int
	Finished *Run
	// Elapsed is the sweep's time so far; ETA the estimated time left.
	Elapsed, ETA time.Duration
	// Result is the sweep's result so far, measures up to date; it is
	// changed by the sweep after notify returns.
	Result *Result
}

// startupGuess is what a run is assumed to add to its cell's length (the
// victim starting and stopping) before one has been timed.
const startupGuess = 5 * time.Second

// Execute runs every cell of p Repeats times through run, repeat by repeat
// (every cell once, then every cell again), so that an interrupted sweep
// has covered the whole grid as evenly as it could. Each run's report is
// written to out/cells/<cell>/run-<n>/. When ctx ends, the running cell is
// stopped by run, recorded as interrupted, and Execute returns what
// finished. notify, if not nil, is called before and after every run.
func Execute(ctx context.Context, p *Plan, out string, run RunFunc, notify func(Event)) *Result {
	res := NewResult(p)
	start := time.Now()
	res.StartedAt = start
	repeats := p.Sweep.RepeatCount()
	total := len(p.Cells) * repeats
	per := p.Cells[0].Experiment.Spec.Duration.Duration + startupGuess
	done := 0
	event := func(c Cell, n int, fin *Run) {
		if notify == nil {
			return
		}
		el := time.Since(start)
		if done > 0 {
			per = el / time.Duration(done)
		}
		res.Elapsed = el.Seconds()
		notify(Event{Done: done, Total: total, Cell: c, N: n, Finished: fin, Elapsed: el, ETA: per * time.Duration(total-done), Result: res})
	}
loop:
	for n := 1; n <= repeats; n++ {
		for _, c := range p.Cells {
			if ctx.Err() != nil {
				res.Interrupted = true
				break loop
			}
			event(c, n, nil)
			r := runOne(ctx, c, n, out, run)
			cr := &res.Cells[c.Index]
			cr.Runs = append(cr.Runs, r)
			cr.Measures = Aggregate(cr.Runs)
			done++
			event(c, n, &r)
			if r.Interrupted {
				res.Interrupted = true
				break loop
			}
		}
	}
	res.Elapsed = time.Since(start).Seconds()
	res.Complete = !res.Interrupted
	for _, cr := range res.Cells {
		if len(cr.Runs) < repeats || cr.Measures.Failed > 0 {
			res.Complete = false
		}
	}
	return res
}

// runOne runs a cell once and writes its report.
func runOne(ctx context.Context, c Cell, n int, out string, run RunFunc) Run {
	dir := filepath.Join("cells", c.Name, fmt.Sprintf("run-%d", n))
	start := time.Now()
	rep, err := run(ctx, c, n)
	r := Run{Elapsed: time.Since(start).Seconds()}
	if rep != nil {
		r = MeasureRun(rep)
		if werr := report.WriteFiles(filepath.Join(out, dir), rep); werr != nil && err == nil {
			err = werr
		}
	}
	r.N, r.Dir = n, filepath.ToSlash(dir)
	switch {
	case ctx.Err() != nil:
		r.Interrupted = true
		r.Error = "interrupted"
	case err != nil:
		r.Error = err.Error()
	case rep == nil:
		r.Error = "the run returned no report"
	}
	return r
}

// NewResult is the empty result of p: its header and a cell per grid
// point, with no runs.
func NewResult(p *Plan) *Result {
	res := &Result{
		APIVersion:     v1alpha1.GroupVersion.String(),
		Kind:           ResultKind,
		Name:           p.Sweep.Name,
		Experiment:     p.Sweep.Spec.Experiment,
		ExperimentName: p.Base.Name,
		Victim:         DescribeVictim(p.Base.Spec.Victim),
		Repeats:        p.Sweep.RepeatCount(),
	}
	if len(p.Cells) > 0 {
		res.CellDuration = p.Cells[0].Experiment.Spec.Duration.Seconds()
	}
	for _, ax := range p.Sweep.Spec.Axes {
		ra := ResultAxis{Path: ax.Path}
		for _, v := range ax.Values {
			ra.Values = append(ra.Values, ValueText(v))
		}
		res.Axes = append(res.Axes, ra)
	}
	for _, c := range p.Cells {
		res.Cells = append(res.Cells, CellResult{Name: c.Name, Coords: c.Coords, Values: c.Values, Runs: []Run{}})
	}
	return res
}

// DescribeVictim names the victim's modes in a few words.
func DescribeVictim(v *v1alpha1.VictimSpec) string {
	if v == nil {
		return "existing pods"
	}
	retries := int32(0)
	if v.Gateway.Retries != nil {
		retries = *v.Gateway.Retries
	}
	return fmt.Sprintf("orders cache %s ×%d, ledger idempotency %s, gateway %s (timeout %s, %d retries)",
		v.Orders.Cache, v.Orders.Replicas, v.Ledger.Idempotency, v.Gateway.Mode, v.Gateway.Timeout.Duration, retries)
}

// RunSeed is the seed of run n of cell c in a sweep seeded with base.
func RunSeed(base int64, c Cell, n int) int64 {
	return base + 1000*int64(c.Index) + int64(n)
}
