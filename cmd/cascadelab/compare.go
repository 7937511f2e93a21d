package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cascadelab/cascadelab/operator/report"
)

func compareCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for compare.md and compare.html (default: Markdown on standard output only)")
	allow := fs.Bool("allow-different-chaos", false,
		"exit 0 even when the two drills did not run like for like (different faults, load, timing,\n"+
			"hypothesis or abort guard); the differences are still listed")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cascadelab compare A/report.json B/report.json [--out DIR] [--allow-different-chaos]")
		fmt.Fprintln(stderr, "\nFirst says whether the two drills ran like for like (the same spec but for")
		fmt.Fprintln(stderr, "the victim or target), listing every difference, then compares them.")
		fmt.Fprintln(stderr, "Exit status: 0 like for like (or different with --allow-different-chaos),")
		fmt.Fprintln(stderr, "1 not like for like, 2 invalid input.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(files) != 2 {
		fmt.Fprintf(stderr, "cascadelab compare: want exactly two reports, got %d\n", len(files))
		return exitInvalid
	}
	var reps [2]*report.Report
	for i, f := range files {
		r, err := readReport(f)
		if err != nil {
			fmt.Fprintf(stderr, "cascadelab compare: %s: %v\n", f, err)
			return exitInvalid
		}
		reps[i] = r
	}
	diffs := report.ChaosDifferences(reps[0], reps[1])
	if len(diffs) == 0 {
		fmt.Fprintln(stdout, report.LikeForLike)
	} else {
		fmt.Fprintln(stdout, report.NotLikeForLike)
		for _, d := range diffs {
			fmt.Fprintln(stdout, "  "+d)
		}
	}
	fmt.Fprintln(stdout)
	if err := report.WriteCompareMarkdown(stdout, reps[0], reps[1]); err != nil {
		fmt.Fprintf(stderr, "cascadelab compare: %v\n", err)
		return exitMismatch
	}
	if *out != "" {
		if err := writeCompare(*out, reps[0], reps[1]); err != nil {
			fmt.Fprintf(stderr, "cascadelab compare: %v\n", err)
			return exitMismatch
		}
		fmt.Fprintf(stdout, "\ncomparison: %s/compare.{md,html}\n", *out)
	}
	if len(diffs) > 0 && !*allow {
		fmt.Fprintf(stderr, "cascadelab compare: not like for like: %d difference(s), listed first on standard output (--allow-different-chaos to exit 0)\n", len(diffs))
		return exitMismatch
	}
	return exitOK
}

func readReport(path string) (*report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return report.ReadJSON(f)
}

func writeCompare(dir string, a, b *report.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer, *report.Report, *report.Report) error{
		"compare.md":   report.WriteCompareMarkdown,
		"compare.html": report.WriteCompareHTML,
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = write(f, a, b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
