package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/report"
)

// runOptions are the flags of `cascadelab run`.
type runOptions struct {
	reportDir string
	expect    string
	seed      int64
	interval  time.Duration
	victimCmd string
	junit     string
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o runOptions
	fs.StringVar(&o.reportDir, "report-dir", "reports", "directory for report.json, report.md and report.html (one sub-directory per drill when several files are given)")
	fs.StringVar(&o.expect, "expect", "", "expected verdict: HypothesisHeld, HypothesisViolated or Inconclusive; exit 1 when it differs")
	fs.Int64Var(&o.seed, "seed", 0, "seed for random choices (pod selection, jitter, load order IDs); 0 picks one from the clock")
	fs.DurationVar(&o.interval, "sample-interval", time.Second, "time between observations")
	fs.StringVar(&o.junit, "junit", "", "also write the drills as JUnit XML to this file: one test suite per drill, one case per hypothesis row and per fault")
	fs.StringVar(&o.victimCmd, "victim-binary", "", "run this victim binary instead of this executable's own `victim` subcommand")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cascadelab run FILE... [--report-dir DIR] [--expect VERDICT] [--junit FILE] [--seed N]")
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "cascadelab run: no experiment file given")
		return exitInvalid
	}
	switch v1alpha1.Verdict(o.expect) {
	case "", v1alpha1.VerdictHeld, v1alpha1.VerdictViolated, v1alpha1.VerdictInconclusive:
	default:
		fmt.Fprintf(stderr, "cascadelab run: --expect: unknown verdict %q (want HypothesisHeld, HypothesisViolated or Inconclusive)\n", o.expect)
		return exitInvalid
	}
	if o.interval < 100*time.Millisecond {
		fmt.Fprintf(stderr, "cascadelab run: --sample-interval: %s is below the 100ms minimum\n", o.interval)
		return exitInvalid
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()
	}
	exps, ok := loadAndValidate(files, stderr)
	if !ok {
		return exitInvalid
	}
	status := exitOK
	var reports []*report.Report
	for _, exp := range exps {
		dir := o.reportDir
		if len(exps) > 1 {
			dir = filepath.Join(o.reportDir, exp.Name)
		}
		rep, err := drill(ctx, exp, o, newProgress(stdout))
		if rep != nil {
			if werr := report.WriteFiles(dir, rep); werr != nil {
				fmt.Fprintf(stderr, "cascadelab run: writing report: %v\n", werr)
				status = exitMismatch
			} else {
				printSummary(stdout, rep, dir)
			}
			reports = append(reports, rep)
			if o.junit != "" {
				if werr := report.WriteJUnitFile(o.junit, reports...); werr != nil {
					fmt.Fprintf(stderr, "cascadelab run: --junit: %v\n", werr)
					status = exitMismatch
				}
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "cascadelab run: %s: %v\n", exp.Name, err)
			status = exitMismatch
			if errors.Is(err, context.Canceled) {
				return status
			}
			continue
		}
		if o.expect != "" && rep.Verdict != v1alpha1.Verdict(o.expect) {
			fmt.Fprintf(stderr, "cascadelab run: %s: verdict %s, expected %s\n", exp.Name, rep.Verdict, o.expect)
			status = exitMismatch
		} else if o.expect == "" && !rep.Phase.Terminal() {
			status = exitMismatch
		}
	}
	return status
}

// parseInterspersed parses flags that may appear before or after the files.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return files, nil
		}
		files = append(files, args[0])
		args = args[1:]
	}
}
