// Command cascadelab runs chaos drills against a deliberately racy Go payment
// service and reports what broke.
//
//	cascadelab run FILE… [--report-dir DIR] [--expect VERDICT] [--seed N]
//	cascadelab validate FILE…
//	cascadelab compare A/report.json B/report.json [--out DIR] [--allow-different-chaos]
//	cascadelab sweep SWEEP.yaml [--out DIR] [--compare OTHER/sweep.json]
//	cascadelab report FILE|- [--out DIR] [--junit FILE]
//	cascadelab victim --role=ROLE …   (the victim service itself; see --help)
//
// Exit status: 0 when every drill completed (and matched --expect, if given),
// 1 when a verdict differs from --expect or a drill did not complete, 2 for
// invalid input. compare exits 0 when the two drills ran like for like (the
// same spec but for the victim or target), 1 when they did not (0 with
// --allow-different-chaos; the differences are listed either way), 2 for
// invalid input.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/cascadelab/cascadelab/victim"
)

// Exit statuses of the CLI.
const (
	exitOK       = 0
	exitMismatch = 1
	exitInvalid  = 2
)

const usage = `cascadelab — chaos drills against a racy Go payment service

Usage:
  cascadelab run FILE... [--report-dir DIR] [--expect VERDICT] [--seed N]
      Run each drill locally (no cluster): start the victim as child
      processes, apply the faults, judge the hypothesis, write
      report.json, report.md and report.html.
  cascadelab validate FILE...
      Check experiments against the API's schema and CEL rules and the
      local backend's limits.
  cascadelab compare A/report.json B/report.json [--out DIR] [--allow-different-chaos]
      Say whether two drills ran like for like (the same spec but for the
      victim or target), listing every difference, then put the two
      reports side by side (Markdown and HTML). Exit 0 like for like, 1 a
      difference (0 with --allow-different-chaos), 2 invalid input.
  cascadelab sweep SWEEP.yaml [--out DIR] [--compare OTHER/sweep.json]
      Run one drill over a grid of values (up to two axes) and map where
      it breaks: sweep.json, sweep.csv, sweep.md, sweep.html (a heatmap
      per measure; another sweep beside it with --compare). Exit 0 when
      every cell ran, whatever its verdicts; 1 interrupted or a run
      failed; 2 invalid input.
  cascadelab report FILE|- [--out DIR] [--junit FILE]
      Render report.md and report.html (and JUnit) from a report.json,
      such as a cluster drill's ConfigMap NAME-report holds; - reads
      standard input. Exit 0 written, 1 a write failed, 2 invalid input.
  cascadelab victim --role=ROLE [flags]
      Run the victim service itself (the runner starts it this way).

Exit status: 0 ok, 1 verdict differs from --expect or drill incomplete,
2 invalid input.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitInvalid
	}
	switch args[0] {
	case "run":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runCmd(ctx, args[1:], stdout, stderr)
	case "sweep":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return sweepCmd(ctx, args[1:], stdout, stderr)
	case "validate":
		return validateCmd(args[1:], stdout, stderr)
	case "compare":
		return compareCmd(args[1:], stdout, stderr)
	case "report":
		return reportCmd(args[1:], os.Stdin, stdout, stderr)
	case "victim":
		return victim.Main(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "cascadelab: unknown command %q\n\n%s", args[0], usage)
		return exitInvalid
	}
}
