package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/report"
)

// progress prints one status line per observation: redrawn in place on a
// terminal, one line per second otherwise (readable CI logs).
type progress struct {
	w    io.Writer
	tty  bool
	last time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

// update prints the engine's latest point.
func (p *progress) update(e *engine.Engine) {
	series := e.Series()
	if len(series) == 0 {
		return
	}
	if !p.tty && time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	line := statusLine(series[len(series)-1])
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// done ends the in-place line.
func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// statusLine formats one point of the series.
func statusLine(pt engine.Point) string {
	var leaked int64
	for _, n := range pt.Leaked {
		leaked += n
	}
	faults := "-"
	if len(pt.ActiveFaults) > 0 {
		faults = strings.Join(pt.ActiveFaults, ",")
	}
	return fmt.Sprintf("%6.1fs %-11s rps=%-6.0f err=%5.1f%% p99=%-7s goroutines=%-5.0f restarts=%d dup=%.0f leaked=%d faults=%s",
		pt.At.Seconds(), pt.Phase, pt.RequestRate, 100*pt.ErrorRatio,
		time.Duration(pt.P99*float64(time.Second)).Round(time.Millisecond),
		pt.Goroutines["total"], pt.Restarts, pt.DuplicateCharges, leaked, faults)
}

// printSummary prints the verdict and findings after a drill.
func printSummary(w io.Writer, r *report.Report, dir string) {
	fmt.Fprintf(w, "\n%s: phase %s, verdict %s (%s)\n", r.Name, r.Phase, r.Verdict, r.Elapsed.Round(100*time.Millisecond))
	s := r.Summary
	fmt.Fprintf(w, "  requests %d, peak error ratio %s, goroutines %d→%d, restarts %d, duplicate charges %d (%d cents), leaked goroutines %d\n",
		s.Requests, orDash(s.PeakErrorRatio), s.BaselineGoroutines, s.PeakGoroutines, s.Restarts, s.DuplicateCharges, s.DuplicateChargedCents, s.LeakedGoroutines)
	findings := append(r.Findings[:0:0], r.Findings...)
	sort.SliceStable(findings, func(i, j int) bool { return findings[i].At.Duration < findings[j].At.Duration })
	for _, f := range findings {
		target := ""
		if f.Target != "" {
			target = " [" + f.Target + "]"
		}
		cause := ""
		if c := f.Cause; c != nil {
			cause = fmt.Sprintf(" (after %s +%s)", c.Fault, c.After.Duration.Round(100*time.Millisecond))
		}
		fmt.Fprintf(w, "  %7.1fs %-20s%s%s %s\n", f.At.Seconds(), f.Type, target, cause, f.Message)
	}
	fmt.Fprintf(w, "  report: %s/report.{json,md,html}\n", dir)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
