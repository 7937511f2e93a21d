package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/local"
	"github.com/cascadelab/cascadelab/operator/report"
	"github.com/cascadelab/cascadelab/operator/sweep"
)

const sweepUsage = "Usage: cascadelab sweep SWEEP.yaml [--out DIR] [--compare OTHER/sweep.json] [--seed N]\n" +
	"       cascadelab sweep DONE/sweep.json --compare OTHER/sweep.json [--out DIR]   (redraw, no run)"

// sweepCmd runs a sweep file's grid of drills locally, or redraws a
// finished sweep.json (beside another one with --compare).
func sweepCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for sweep.{json,csv,md,html} and cells/<cell>/run-<n>/ (default sweeps/<metadata.name>; a redraw defaults to the sweep.json's directory)")
	compare := fs.String("compare", "", "another sweep's sweep.json, drawn beside this one in sweep.html and sweep.md")
	seed := fs.Int64("seed", 0, "base seed of the runs (run n of cell i uses seed+1000i+n); 0 picks one from the clock")
	victimBin := fs.String("victim-binary", "", "run this victim binary instead of this executable's own `victim` subcommand")
	fs.Usage = func() { fmt.Fprintln(stderr, sweepUsage); fs.PrintDefaults() }
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "cascadelab sweep: want one sweep file, got %d\n%s\n", len(files), sweepUsage)
		return exitInvalid
	}
	var other *sweep.Result
	if *compare != "" {
		if other, err = sweep.ReadJSONFile(*compare); err != nil {
			fmt.Fprintf(stderr, "cascadelab sweep: --compare %s: %v\n", *compare, err)
			return exitInvalid
		}
	}
	if done, err := sweep.ReadJSONFile(files[0]); err == nil {
		dir := *out
		if dir == "" {
			dir = filepath.Dir(files[0])
		}
		return writeSweep(dir, done, other, stdout, stderr)
	}
	plan, ok := loadSweep(files[0], stderr)
	if !ok {
		return exitInvalid
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("sweeps", plan.Sweep.Name)
	}
	if err := clearOut(dir); err != nil {
		fmt.Fprintf(stderr, "cascadelab sweep: --out %s: %v\n", dir, err)
		return exitInvalid
	}
	if *seed == 0 {
		*seed = time.Now().UnixNano()
	}
	runs := len(plan.Cells) * plan.Sweep.RepeatCount()
	fmt.Fprintf(stdout, "sweep %s: %d cells × %d runs of %s (%s), results in %s\n", plan.Sweep.Name, len(plan.Cells),
		plan.Sweep.RepeatCount(), plan.Cells[0].Experiment.Spec.Duration.Duration, plan.Base.Name, dir)
	run := func(ctx context.Context, c sweep.Cell, n int) (*report.Report, error) {
		o := runOptions{seed: sweep.RunSeed(*seed, c, n), interval: time.Second, victimCmd: *victimBin}
		return drill(ctx, c.Experiment, o, newProgress(io.Discard))
	}
	prog := newSweepProgress(stderr, runs)
	res := sweep.Execute(ctx, plan, dir, run, func(ev sweep.Event) {
		prog.event(ev)
		if ev.Finished != nil {
			ev.Result.Seed = *seed
			if err := sweep.WriteFiles(dir, ev.Result, other); err != nil { // what finished is on disk at every step
				fmt.Fprintf(stderr, "cascadelab sweep: writing results: %v\n", err)
			}
		}
	})
	prog.stop()
	res.Seed = *seed
	status := writeSweep(dir, res, other, stdout, stderr)
	if res.Interrupted {
		fmt.Fprintf(stderr, "cascadelab sweep: interrupted; the runs that finished are in %s\n", dir)
		return exitMismatch
	}
	if !res.Complete {
		fmt.Fprintf(stderr, "cascadelab sweep: %s\n", sweep.StatusLine(res))
		return exitMismatch
	}
	return status
}

// loadSweep reads the sweep file and its experiment and plans every cell,
// printing each problem with its file and field path.
func loadSweep(file string, stderr io.Writer) (*sweep.Plan, bool) {
	s, err := sweep.LoadFile(file)
	if err != nil {
		printErrors(stderr, file, err)
		return nil, false
	}
	exps, ok := loadAndValidate([]string{s.Spec.Experiment}, stderr)
	if !ok {
		fmt.Fprintf(stderr, "%s: spec.experiment: %s is not a valid experiment (above)\n", file, s.Spec.Experiment)
		return nil, false
	}
	if len(exps) != 1 {
		fmt.Fprintf(stderr, "%s: spec.experiment: %s holds %d experiments; a sweep runs one\n", file, s.Spec.Experiment, len(exps))
		return nil, false
	}
	plan, err := sweep.NewPlan(s, exps[0], func(e *v1alpha1.Experiment) field.ErrorList { return local.CheckSupported(e.Spec) })
	if err != nil {
		printErrors(stderr, file, err)
		return nil, false
	}
	return plan, true
}

func printErrors(w io.Writer, file string, err error) {
	var errs sweep.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintf(w, "%s: %s\n", file, e.Error())
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", file, err)
}

// clearOut makes dir ready for a sweep: it may be new or empty, or hold a
// previous sweep (a sweep.json), whose results and cells are removed.
func clearOut(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || err == nil && len(entries) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := sweep.ReadJSONFile(filepath.Join(dir, sweep.JSONFile)); err != nil {
		return fmt.Errorf("not empty and holds no previous sweep (%s); choose another directory", sweep.JSONFile)
	}
	for _, name := range []string{"cells", sweep.JSONFile, sweep.CSVFile, sweep.MarkdownFile, sweep.HTMLFile} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func writeSweep(dir string, res, other *sweep.Result, stdout, stderr io.Writer) int {
	if err := sweep.WriteFiles(dir, res, other); err != nil {
		fmt.Fprintf(stderr, "cascadelab sweep: %v\n", err)
		return exitMismatch
	}
	violated, finished := 0, 0
	for _, c := range res.Cells {
		violated += c.Measures.Violated
		finished += c.Measures.Runs
	}
	fmt.Fprintf(stdout, "\nsweep %s: %d of %d finished runs Violated, over %d cells, in %s\n",
		res.Name, violated, finished, len(res.Cells), time.Duration(res.Elapsed*float64(time.Second)).Round(time.Second))
	fmt.Fprintf(stdout, "  results: %s/sweep.{json,csv,md,html}\n", dir)
	return exitOK
}

// sweepProgress shows where a sweep is on stderr: a line redrawn every
// second on a terminal, one line per finished run otherwise.
type sweepProgress struct {
	w     io.Writer
	tty   bool
	total int
	mu    sync.Mutex
	line  string
	eta   time.Time
	quit  chan struct{}
	wg    sync.WaitGroup
}

func newSweepProgress(w io.Writer, total int) *sweepProgress {
	p := &sweepProgress{w: w, total: total, quit: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	if p.tty {
		p.wg.Add(1)
		go p.redraw()
	}
	return p
}

// event records a run starting or over.
func (p *sweepProgress) event(ev sweep.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eta = time.Now().Add(ev.ETA)
	where := fmt.Sprintf("%s run %d", ev.Cell.Name, ev.N)
	if ev.Finished == nil {
		p.line = fmt.Sprintf("cell runs %d/%d done, running %s", ev.Done, p.total, where)
		return
	}
	r := ev.Finished
	what := string(r.Verdict)
	switch {
	case r.Interrupted:
		what = "interrupted"
	case r.Error != "":
		what = "failed: " + r.Error
	default:
		if r.BrokeBeforeFaults {
			what += " (broke before any fault)"
		}
		if r.FirstCrash != nil {
			what += fmt.Sprintf(", first crash %.1fs", *r.FirstCrash)
		}
	}
	done := fmt.Sprintf("[%d/%d] %s: %s, duplicates %d, peak errors %.1f%%, peak goroutines %d (%.0fs); ETA %s",
		ev.Done, p.total, where, what, r.DuplicateCharges, 100*r.PeakErrorRatio, r.PeakGoroutines, r.Elapsed, ev.ETA.Round(time.Second))
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", done)
	} else {
		fmt.Fprintln(p.w, done)
	}
	p.line = fmt.Sprintf("cell runs %d/%d done", ev.Done, p.total)
}

func (p *sweepProgress) redraw() {
	defer p.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			fmt.Fprint(p.w, "\r\033[K")
			return
		case <-t.C:
			p.mu.Lock()
			left := max(0, time.Until(p.eta)).Round(time.Second)
			fmt.Fprintf(p.w, "\r\033[K%s, ETA %s", p.line, left)
			p.mu.Unlock()
		}
	}
}

// stop ends the redrawn line.
func (p *sweepProgress) stop() {
	close(p.quit)
	p.wg.Wait()
}
