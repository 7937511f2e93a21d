package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/sweep"
)

// writeSweepFile writes a sweep file whose spec.experiment is the shipped
// drill of that name (absolute) and returns its path.
func writeSweepFile(t *testing.T, drill, spec string) string {
	t.Helper()
	exp, err := filepath.Abs("../../experiments/" + drill + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: cascadelab.dev/v1alpha1\nkind: Sweep\nmetadata: {name: test-sweep}\nspec:\n  experiment: " + exp + "\n" + spec
	path := filepath.Join(t.TempDir(), "sweep.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Bad sweep files: exit 2 before anything runs, the problem named by its
// field path.
func TestSweepBadFilesExitTwo(t *testing.T) {
	const axis = "  axes:\n  - path: load.rate\n    values: [50, 100]\n"
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"unknown sweep field", axis + "  repeat: 2\n", `unknown field "spec.repeat"`},
		{"unknown axis path", "  axes:\n  - path: load.rat\n    values: [50]\n", `spec.axes[0].path: unknown field "load.rat"`},
		{"no fault of that name", "  axes:\n  - path: faults[slow-gateway].networkChaos.delay.latency\n    values: [1ms]\n", `spec.axes[0].path: faults[slow-gateway]: no element named "slow-gateway"`},
		{"path at an object", "  axes:\n  - path: victim.orders\n    values: [1]\n", "spec.axes[0].path: victim.orders is an object"},
		{"path syntax", "  axes:\n  - path: load..rate\n    values: [1]\n", "spec.axes[0].path: \"load..rate\": segment 2"},
		{"three axes", axis + "  - path: load.duplicateRatio\n    values: [\"0.1\"]\n  - path: duration\n    values: [30s]\n", "spec.axes: 3 axes; a sweep has at most 2"},
		{"no axes", "  axes: []\n", "spec.axes: required"},
		{"same path twice", axis + axis[len("  axes:\n"):], "spec.axes[1].path: \"load.rate\" is already spec.axes[0].path"},
		{"value not a scalar", "  axes:\n  - path: load.rate\n    values: [true]\n", "spec.axes[0].values[0]: must be a number or a string, not true"},
		{"duplicate value", "  axes:\n  - path: load.rate\n    values: [50, 50]\n", "spec.axes[0].values[1]: 50 repeats values[0]"},
		{"value out of range", "  axes:\n  - path: load.rate\n    values: [50, 9000]\n", "spec.axes[0].values[1]: 9000 makes the experiment invalid: spec.load.rate"},
		{"value of the wrong type", "  axes:\n  - path: load.rate\n    values: [fast]\n", "spec.axes[0].values[0]: \"fast\" makes the experiment invalid: spec.load.rate: wrong type"},
		{"bad latency", "  axes:\n  - path: faults[slow-ledger].networkChaos.delay.latency\n    values: [soon]\n", "spec.axes[0].values[0]: \"soon\" makes the experiment invalid: spec.faults[0].networkChaos.delay.latency"},
		{"local backend limit", "  axes:\n  - path: faults[slow-ledger].networkChaos.delay.correlation\n    values: [\"50\"]\n", "spec.faults[0].networkChaos.delay.correlation: Forbidden"},
		{"repeats zero", axis + "  repeats: 0\n", "spec.repeats: 0: must be between 1 and 20"},
		{"cellDuration not a duration", axis + "  cellDuration: soon\n", "spec.cellDuration: \"soon\" is not a duration"},
		{"cellDuration too short", axis + "  cellDuration: 2s\n", "spec.cellDuration: 2s: must be between 5s and 1h0m0s"},
		{"duration axis with cellDuration", "  axes:\n  - path: duration\n    values: [30s]\n  cellDuration: 20s\n", "spec.axes[0].path: duration cannot be an axis when spec.cellDuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeSweepFile(t, "map-panic-cascade", tc.spec)
			out := filepath.Join(t.TempDir(), "out")
			code, _, errs := cli(t, "sweep", file, "--out", out)
			if code != exitInvalid {
				t.Errorf("exit %d, want %d; stderr: %s", code, exitInvalid, errs)
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr does not name the problem %q:\n%s", tc.want, errs)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("an invalid sweep created its output directory")
			}
		})
	}
	// Not a sweep at all, or not the experiment it names.
	dir := t.TempDir()
	for _, tc := range []struct{ doc, want string }{
		{"apiVersion: cascadelab.dev/v1alpha1\nkind: Experiment\nmetadata: {name: x}\n", `kind: must be "Sweep", not "Experiment"`},
		{"apiVersion: cascadelab.dev/v1alpha1\nkind: Sweep\nmetadata: {name: x}\nspec:\n  experiment: missing.yaml\n  axes:\n  - path: load.rate\n    values: [1]\n", "spec.experiment: " + filepath.Join(dir, "missing.yaml") + " is not a valid experiment"},
		{"apiVersion: cascadelab.dev/v1alpha1\nkind: Sweep\nspec:\n  experiment: x.yaml\n  axes:\n  - path: load.rate\n    values: [1]\n", "metadata.name: a sweep needs a name"},
	} {
		file := filepath.Join(dir, "s.yaml")
		if err := os.WriteFile(file, []byte(tc.doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, errs := cli(t, "sweep", file); code != exitInvalid || !strings.Contains(errs, tc.want) {
			t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errs, tc.want)
		}
	}
	for _, args := range [][]string{{"sweep"}, {"sweep", "a.yaml", "b.yaml"}, {"sweep", "x.yaml", "--compare", "nope.json"}} {
		if code, _, _ := cli(t, args...); code != exitInvalid {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// The shipped sweeps plan (every cell a valid experiment for the local
// backend) and their cells fit the 15 minutes they promise, counting a few
// seconds a run for the victim to start and stop.
func TestSweepShippedFiles(t *testing.T) {
	files, err := filepath.Glob("../../experiments/sweeps/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("want the racy and the fixed sweep in experiments/sweeps, got %v (%v)", files, err)
	}
	caches := map[v1alpha1.CacheStrategy]bool{}
	for _, f := range files {
		var errb strings.Builder
		plan, ok := loadSweep(f, &errb)
		if !ok {
			t.Errorf("%s: %s", f, errb.String())
			continue
		}
		caches[plan.Base.Spec.Victim.Orders.Cache] = true
		const perRun = 3 * time.Second
		var total time.Duration
		for _, c := range plan.Cells {
			total += time.Duration(plan.Sweep.RepeatCount()) * (c.Experiment.Spec.Duration.Duration + perRun)
		}
		if total > 15*time.Minute {
			t.Errorf("%s: %d cells × %d runs take at least %s, over 15 minutes", f, len(plan.Cells), plan.Sweep.RepeatCount(), total)
		}
	}
	if !caches[v1alpha1.CacheRacy] || len(caches) < 2 {
		t.Errorf("the shipped sweeps cover caches %v; want the racy victim and a fixed one", caches)
	}
}

// A tiny real sweep: the fixed drill at two load rates, 8s a cell, one run
// each, against real victim processes; then the finished sweep.json
// redrawn beside itself with --compare. (The fixed victim, because the
// racy one may break in its steady state, and the gate then ends the cell
// at once: the sweep would still work, but not show the cell's full run.)
func TestSweepEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two 8s drills with real processes")
	}
	file := writeSweepFile(t, "fixed-under-chaos", "  axes:\n  - path: load.rate\n    values: [40, 120]\n  repeats: 1\n  cellDuration: 8s\n")
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, errs := cli(t, "sweep", file, "--out", out, "--seed", "3")
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, errs)
	}
	if n := strings.Count(errs, "] rate-"); n != 2 {
		t.Errorf("stderr has %d progress lines for 2 runs (not a terminal: one per run):\n%s", n, errs)
	}
	res, err := sweep.ReadJSONFile(filepath.Join(out, "sweep.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || res.Interrupted || len(res.Cells) != 2 || res.Seed != 3 {
		t.Fatalf("result: complete %v interrupted %v cells %d seed %d", res.Complete, res.Interrupted, len(res.Cells), res.Seed)
	}
	for i, c := range res.Cells {
		if len(c.Runs) != 1 || !c.Runs[0].Finished() || c.Measures.Runs != 1 {
			t.Fatalf("cell %s: runs %+v", c.Name, c.Runs)
		}
		// The cell ran the experiment with its value and the scaled schedule.
		rep := loadReport(t, filepath.Join(out, c.Runs[0].Dir))
		wantRate := []int32{40, 120}[i]
		if rep.Spec.Load.Rate != wantRate || rep.Spec.Duration.Duration != 8*time.Second {
			t.Errorf("cell %s ran rate %d for %s, want %d for 8s", c.Name, rep.Spec.Load.Rate, rep.Spec.Duration.Duration, wantRate)
		}
		if rep.Verdict != c.Runs[0].Verdict || !rep.Phase.Terminal() {
			t.Errorf("cell %s: report verdict %s phase %s, sweep says %s", c.Name, rep.Verdict, rep.Phase, c.Runs[0].Verdict)
		}
		if rep.Verdict == v1alpha1.VerdictViolated && c.Measures.Violated != 1 {
			t.Errorf("cell %s: a Violated run not counted: %+v", c.Name, c.Measures)
		}
		if len(rep.Series) < 4 || c.Runs[0].PeakGoroutines == 0 {
			t.Errorf("cell %s: %d samples, peak goroutines %d: the victim was not observed for 8s", c.Name, len(rep.Series), c.Runs[0].PeakGoroutines)
		}
		if len(rep.Faults) != 2 || rep.Faults[0].InjectedAt == nil || rep.Faults[0].InjectedAt.Duration > 3*time.Second {
			t.Errorf("cell %s: the slow ledger was not injected at its scaled offset (1.3s): %+v", c.Name, rep.Faults)
		}
	}
	f, err := os.Open(filepath.Join(out, "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 3 || rows[0][0] != "load.rate" || rows[1][0] != "40" || rows[2][0] != "120" {
		t.Errorf("sweep.csv: %v %q", err, rows)
	}
	for _, name := range []string{"sweep.md", "sweep.html"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s missing or empty: %v", name, err)
		}
	}
	// Redraw beside another sweep without running anything.
	other := filepath.Join(t.TempDir(), "cmp")
	code, _, errs = cli(t, "sweep", filepath.Join(out, "sweep.json"), "--compare", filepath.Join(out, "sweep.json"), "--out", other)
	if code != exitOK {
		t.Fatalf("redraw: exit %d: %s", code, errs)
	}
	page, err := os.ReadFile(filepath.Join(other, "sweep.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), `class="heatmap"`); n != 2*len(sweep.HeatmapMeasures) {
		t.Errorf("compared page has %d heatmaps, want %d", n, 2*len(sweep.HeatmapMeasures))
	}
	if _, err := os.Stat(filepath.Join(other, "cells")); err == nil {
		t.Errorf("a redraw ran cells")
	}
	// A previous sweep's directory is cleared for the next one; a directory
	// holding something else is refused.
	if err := clearOut(out); err != nil {
		t.Errorf("clearing a previous sweep: %v", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("left after clearing: %v", entries)
	}
	junk := t.TempDir()
	if err := os.WriteFile(filepath.Join(junk, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "sweep", file, "--out", junk); code != exitInvalid || !strings.Contains(errs, "holds no previous sweep") {
		t.Errorf("sweep into a foreign directory: exit %d, %s", code, errs)
	}
}
