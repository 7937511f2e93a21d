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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cascadelab compare A/report.json B/report.json [--out DIR]")
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
	if err := report.WriteCompareMarkdown(stdout, reps[0], reps[1]); err != nil {
		fmt.Fprintf(stderr, "cascadelab compare: %v\n", err)
		return exitMismatch
	}
	if *out == "" {
		return exitOK
	}
	if err := writeCompare(*out, reps[0], reps[1]); err != nil {
		fmt.Fprintf(stderr, "cascadelab compare: %v\n", err)
		return exitMismatch
	}
	fmt.Fprintf(stdout, "\ncomparison: %s/compare.{md,html}\n", *out)
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
