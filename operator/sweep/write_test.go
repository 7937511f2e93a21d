package sweep

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"golang.org/x/net/html"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/report"
)

func f64(v float64) *float64 { return &v }

func TestSweepMeasureRun(t *testing.T) {
	rep := &report.Report{
		Phase: v1alpha1.PhaseCompleted, Verdict: v1alpha1.VerdictViolated,
		Summary: v1alpha1.Summary{DuplicateCharges: 7, PeakGoroutines: 300, PeakErrorRatio: "0.35", Restarts: 2},
		Findings: []v1alpha1.Finding{
			{Type: v1alpha1.FindingDuplicateCharges, At: metav1.Duration{Duration: 2 * time.Second}},
			{Type: v1alpha1.FindingProcessCrashed, At: metav1.Duration{Duration: 9 * time.Second}},
		},
		// An organic crash below maxRestarts is only in the timeline; a
		// process killed by a fault is no crash.
		Timeline: []engine.TimelineEvent{
			{At: 3 * time.Second, Kind: engine.KindProcessKilled},
			{At: 7 * time.Second, Kind: engine.KindProcessCrashed},
		},
		Series: []engine.Point{{ErrorRatio: 0.9, Goroutines: map[string]float64{"total": 450}}},
		Faults: []v1alpha1.FaultStatus{{Name: "slow", InjectedAt: &metav1.Duration{Duration: time.Second}}},
	}
	r := MeasureRun(rep)
	if r.FirstCrash == nil || *r.FirstCrash != 7 {
		t.Errorf("first crash %v, want 7s", r.FirstCrash)
	}
	if r.PeakErrorRatio != 0.35 {
		t.Errorf("peak error ratio %v, want the engine's 0.35 over the series' 0.9", r.PeakErrorRatio)
	}
	if r.PeakGoroutines != 450 || r.DuplicateCharges != 7 || r.Restarts != 2 {
		t.Errorf("goroutines %d duplicates %d restarts %d", r.PeakGoroutines, r.DuplicateCharges, r.Restarts)
	}
	if !reflect.DeepEqual(r.Findings, []v1alpha1.FindingType{v1alpha1.FindingDuplicateCharges, v1alpha1.FindingProcessCrashed}) {
		t.Errorf("findings %v", r.Findings)
	}
	if r.BrokeBeforeFaults {
		t.Errorf("the first breach (2s) came after the first fault (1s), yet the run broke before any fault")
	}
	// The same breach before the first injection.
	rep.Faults[0].InjectedAt = &metav1.Duration{Duration: 5 * time.Second}
	if r := MeasureRun(rep); !r.BrokeBeforeFaults {
		t.Errorf("duplicates at 2s, first fault at 5s: not marked as broken before any fault")
	}
	// The gate's finding, with no fault injected.
	rep.Summary.PeakErrorRatio, rep.Timeline, rep.Faults = "", nil, nil
	rep.Findings = []v1alpha1.Finding{{Type: "SteadyStateNotMet", At: metav1.Duration{Duration: time.Second}}}
	if r := MeasureRun(rep); r.PeakErrorRatio != 0.9 || r.FirstCrash != nil || !r.BrokeBeforeFaults {
		t.Errorf("without the engine's peak: %v, first crash %v, broke before faults %v", r.PeakErrorRatio, r.FirstCrash, r.BrokeBeforeFaults)
	}
}

func run(v v1alpha1.Verdict, crash *float64, dups int64, errRatio float64, gor int64) Run {
	return Run{Phase: v1alpha1.PhaseCompleted, Verdict: v, FirstCrash: crash, DuplicateCharges: dups, PeakErrorRatio: errRatio, PeakGoroutines: gor}
}

func gated(r Run) Run { r.BrokeBeforeFaults = true; return r }

func TestSweepAggregate(t *testing.T) {
	runs := []Run{
		run(v1alpha1.VerdictViolated, f64(4), 10, 0.5, 100),
		run(v1alpha1.VerdictViolated, f64(8), 2, 0.75, 300),
		run(v1alpha1.VerdictHeld, nil, 0, 0, 50),
		gated(run(v1alpha1.VerdictInconclusive, nil, 4, 0.25, 200)),
		{N: 5, Error: "victim did not start"},
		{N: 6, Error: "interrupted", Interrupted: true, Verdict: v1alpha1.VerdictViolated, Phase: v1alpha1.PhaseAborted},
	}
	m := Aggregate(runs)
	want := Measures{
		Runs: 4, Failed: 1, Held: 1, Violated: 2, Inconclusive: 1, ViolatedShare: f64(0.5),
		BrokeBeforeFaults: 1, BrokeBeforeFaultsShare: f64(0.25),
		Crashed: 2, MedianFirstCrash: f64(6), MedianDuplicateCharges: f64(3), MaxDuplicateCharges: 10,
		MedianPeakErrorRatio: f64(0.375), MedianPeakGoroutines: f64(150),
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Aggregate:\n got %+v\nwant %+v", m, want)
	}
	if m := Aggregate(nil); m.ViolatedShare != nil || m.MedianPeakGoroutines != nil || m.Runs != 0 {
		t.Errorf("no runs: %+v", m)
	}
}

// sampleResult is a finished 2×2 sweep with one cell not run.
func sampleResult(name string) *Result {
	res := &Result{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: ResultKind, Name: name,
		Experiment: "experiments/x.yaml", ExperimentName: "x", Victim: "racy",
		Axes:    []ResultAxis{{Path: "load.rate", Values: []string{"50", "400"}}, {Path: "faults[slow-ledger].networkChaos.delay.latency", Values: []string{"0ms", "600ms"}}},
		Repeats: 1, CellDuration: 20, Elapsed: 61, Complete: true,
	}
	for i, c := range [][]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
		cr := CellResult{Name: "c" + string(rune('0'+i)), Coords: c, Values: []string{res.Axes[0].Values[c[0]], res.Axes[1].Values[c[1]]}, Runs: []Run{}}
		if i < 3 {
			r := run(v1alpha1.VerdictViolated, f64(float64(10-i)), int64(i), 0.3, 100)
			r.N, r.Dir = 1, "cells/"+cr.Name+"/run-1"
			cr.Runs = append(cr.Runs, r)
		}
		cr.Measures = Aggregate(cr.Runs)
		res.Cells = append(res.Cells, cr)
	}
	return res
}

func TestSweepCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, sampleResult("a")); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want a header and 4 cells", len(rows))
	}
	wantHeader := append([]string{"load.rate", "faults[slow-ledger].networkChaos.delay.latency"}, CSVHeader...)
	if !reflect.DeepEqual(rows[0], wantHeader) {
		t.Errorf("header %q", rows[0])
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if r := rows[2]; r[0] != "50" || r[1] != "600ms" || r[col["cell"]] != "c1" || r[col["violated_share"]] != "1.000" || r[col["median_first_crash_s"]] != "9.0" {
		t.Errorf("row of c1: %q", r)
	}
	if r := rows[4]; r[col["runs"]] != "0" || r[col["violated_share"]] != "" || r[col["median_peak_goroutines"]] != "" {
		t.Errorf("a cell without runs has figures: %q", r)
	}
}

func TestSweepJSONRoundTrip(t *testing.T) {
	res := sampleResult("a")
	res.StartedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, res) {
		t.Errorf("round trip changed the result:\n%+v\n%+v", back, res)
	}
	for _, bad := range []string{`{}`, `{"kind": "SweepResult", "axes": []}`, `{"kind":"SweepResult","axes":[{"path":"a","values":["1"]}],"cells":[{"coords":[3]}]}`, `{"kind":"SweepResult","bogus":1}`} {
		if _, err := ReadJSON(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadJSON accepted %s", bad)
		}
	}
}

// heatmaps parses the page and returns its heatmaps' data-measure values.
func heatmaps(t *testing.T, page string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "svg" {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			if attrs["class"] == "heatmap" {
				found = append(found, attrs["data-measure"])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return found
}

func TestSweepHTMLHeatmapPerMeasure(t *testing.T) {
	var keys []string
	for _, m := range HeatmapMeasures {
		keys = append(keys, m.Key)
	}
	if want := []string{"violated", "before-faults", "first-crash", "duplicates", "error-ratio", "goroutines"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("measures %v, want %v", keys, want)
	}
	var one, two bytes.Buffer
	if err := WriteHTML(&one, sampleResult("racy"), nil); err != nil {
		t.Fatal(err)
	}
	if got := heatmaps(t, one.String()); !reflect.DeepEqual(got, keys) {
		t.Errorf("one sweep: heatmaps %v, want one per measure %v", got, keys)
	}
	if err := WriteHTML(&two, sampleResult("racy"), sampleResult("fixed")); err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, k, k)
	}
	if got := heatmaps(t, two.String()); !reflect.DeepEqual(got, pairs) {
		t.Errorf("compared: heatmaps %v, want each measure twice, side by side", got)
	}
	for _, page := range []string{one.String(), two.String()} {
		for _, ext := range []string{"http://", "https://", "<script src", "<link"} {
			if strings.Contains(page, ext) {
				t.Errorf("page is not self-contained: it contains %q", ext)
			}
		}
	}
	p := one.String()
	for _, want := range []string{`href="cells/c0/run-1/report.html"`, ">9.0s<", ">no run<", "load.rate"} {
		if !strings.Contains(p, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func TestSweepMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, sampleResult("racy"), sampleResult("fixed")); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, m := range HeatmapMeasures {
		if strings.Count(md, "## "+m.Title+"\n") != 1 {
			t.Errorf("no section %q", m.Title)
		}
	}
	for _, want := range []string{"| 600ms | 9.0s | no run |", "**fixed**", "[run 1 HypothesisViolated](cells/c0/run-1/report.md)"} {
		if !strings.Contains(md, want) {
			t.Errorf("sweep.md lacks %q:\n%s", want, md)
		}
	}
}

// Execute runs repeat by repeat, writes each report, and on interruption
// keeps what finished.
func TestSweepExecute(t *testing.T) {
	s := mustLoad(t, strings.Replace(twoAxes, "values: [0ms, 300ms, 600ms]", "values: [0ms, 600ms]", 1))
	plan, err := NewPlan(s, cascade(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var order []string
	var events int
	runFn := func(ctx context.Context, c Cell, n int) (*report.Report, error) {
		order = append(order, c.Name+"#"+string(rune('0'+n)))
		if len(order) == 6 { // the second pass's second run is interrupted
			cancel()
			return &report.Report{Name: "x", Phase: v1alpha1.PhaseAborted, Verdict: v1alpha1.VerdictInconclusive}, ctx.Err()
		}
		if c.Index == 3 {
			return nil, errors.New("victim did not start")
		}
		return &report.Report{Name: "x", Phase: v1alpha1.PhaseCompleted, Verdict: v1alpha1.VerdictViolated,
			Summary: v1alpha1.Summary{DuplicateCharges: int64(c.Experiment.Spec.Load.Rate)}}, nil
	}
	res := Execute(ctx, plan, out, runFn, func(Event) { events++ })
	want := []string{"rate-50_latency-0ms#1", "rate-50_latency-600ms#1", "rate-400_latency-0ms#1", "rate-400_latency-600ms#1", "rate-50_latency-0ms#2", "rate-50_latency-600ms#2"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("run order %v\nwant %v", order, want)
	}
	if !res.Interrupted || res.Complete || events != 12 {
		t.Errorf("interrupted %v complete %v events %d", res.Interrupted, res.Complete, events)
	}
	c0, c1, c3 := res.Cells[0].Measures, res.Cells[1].Measures, res.Cells[3].Measures
	if c0.Runs != 2 || c1.Runs != 1 || c3.Runs != 0 || c3.Failed != 1 {
		t.Errorf("runs counted: %+v / %+v / %+v", c0, c1, c3)
	}
	if got := res.Cells[2].Measures.MedianDuplicateCharges; got == nil || *got != 400 {
		t.Errorf("cell rate-400 ran with rate %v, want 400", got)
	}
	for _, dir := range []string{"rate-50_latency-0ms/run-2", "rate-50_latency-600ms/run-2"} {
		if _, err := os.Stat(filepath.Join(out, "cells", dir, "report.json")); err != nil {
			t.Errorf("report of %s not written: %v", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "cells", "rate-400_latency-600ms")); err == nil {
		t.Errorf("a run without report left a directory")
	}
}
