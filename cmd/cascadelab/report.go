package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cascadelab/cascadelab/operator/report"
)

// maxReportInput is the most bytes `cascadelab report` reads. A cluster
// drill's report.json stays under 512 KiB (it lives in a ConfigMap); a local
// drill's, with its full time series, is a few MiB at most.
const maxReportInput = 64 << 20

// reportCmd renders report.md and report.html (and JUnit with --junit) from
// a report.json, such as the one a cluster drill leaves in its ConfigMap
// NAME-report. "-" reads standard input.
func reportCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for report.json, report.md and report.html (default: the input file's directory; reports for standard input)")
	junit := fs.String("junit", "", "also write the drill as JUnit XML to this file: one test suite, one case per hypothesis row and per fault")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cascadelab report FILE|- [--out DIR] [--junit FILE]")
		fmt.Fprintln(stderr, "\nRenders report.md and report.html (and JUnit) from a report.json, as")
		fmt.Fprintln(stderr, "`cascadelab run` writes them. FILE may also be a ConfigMap as")
		fmt.Fprintln(stderr, "`kubectl get configmap NAME-report -o json` prints it. \"-\" reads standard input:")
		fmt.Fprintln(stderr, "  kubectl get configmap NAME-report -o jsonpath='{.data.report\\.json}' | cascadelab report - --out DIR")
		fmt.Fprintln(stderr, "Exit status: 0 written, 1 a file could not be written, 2 invalid input.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "cascadelab report: want one report.json (or - for standard input), got %d\n", len(files))
		return exitInvalid
	}
	name := files[0]
	dir := *out
	var in io.Reader
	if name == "-" {
		in, name = stdin, "standard input"
		if dir == "" {
			dir = "reports"
		}
	} else {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "cascadelab report: %v\n", err)
			return exitInvalid
		}
		defer f.Close()
		in = f
		if dir == "" {
			dir = filepath.Dir(name)
		}
	}
	rep, err := readReportInput(in)
	if err != nil {
		fmt.Fprintf(stderr, "cascadelab report: %s: %v\n", name, err)
		return exitInvalid
	}
	if err := report.WriteFiles(dir, rep); err != nil {
		fmt.Fprintf(stderr, "cascadelab report: %v\n", err)
		return exitMismatch
	}
	if *junit != "" {
		if err := report.WriteJUnitFile(*junit, rep); err != nil {
			fmt.Fprintf(stderr, "cascadelab report: --junit: %v\n", err)
			return exitMismatch
		}
	}
	printSummary(stdout, rep, dir)
	return exitOK
}

// readReportInput reads at most maxReportInput bytes of a report.json, or of
// a ConfigMap (JSON) whose data holds one under the key report.json.
func readReportInput(in io.Reader) (*report.Report, error) {
	data, err := io.ReadAll(io.LimitReader(in, maxReportInput+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > maxReportInput {
		return nil, fmt.Errorf("input larger than %d MiB: not a report.json", maxReportInput>>20)
	}
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	if json.Unmarshal(data, &cm) == nil && cm.Kind == "ConfigMap" {
		js, ok := cm.Data["report.json"]
		if !ok {
			return nil, fmt.Errorf("a ConfigMap without the key report.json in its data")
		}
		data = []byte(js)
	}
	return report.ReadJSON(bytes.NewReader(data))
}
