package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/internal/reportschema"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/report"
)

// clusterReport is report.json as the operator writes it into the ConfigMap
// NAME-report (compact JSON, backend kubernetes): the node suite's no-netem
// cascade, cut short.
func clusterReport(t *testing.T) []byte {
	t.Helper()
	d := func(s float64) metav1.Duration {
		return metav1.Duration{Duration: time.Duration(s * float64(time.Second))}
	}
	pd := func(s float64) *metav1.Duration { v := d(s); return &v }
	r := &report.Report{
		Name: "map-panic-cascade-no-netem", Namespace: "cascadelab-drills", Backend: "kubernetes",
		StartedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Elapsed: 41 * time.Second,
		Phase: v1alpha1.PhaseAborted, Verdict: v1alpha1.VerdictViolated,
		Summary: v1alpha1.Summary{Requests: 2400, PeakErrorRatio: "1.0000", BaselineGoroutines: 60, PeakGoroutines: 900, Restarts: 2},
		Findings: []v1alpha1.Finding{
			{Type: v1alpha1.FindingProcessCrashed, At: d(14.2), Target: "map-panic-cascade-no-netem-orders-7d9c-abcde",
				Message: "fatal error: concurrent map writes", Cause: &v1alpha1.FindingCause{Fault: "slow-ledger", After: d(4.2)}},
			{Type: v1alpha1.FindingAborted, At: d(40.5), Message: "abort guard tripped: error ratio 1.0000 > 0.95 for 10s"},
		},
		Faults: []v1alpha1.FaultStatus{{Name: "slow-ledger", State: v1alpha1.FaultRecovered, InjectedAt: pd(10), RecoveredAt: pd(40.5),
			Targets: []string{"map-panic-cascade-no-netem-ledger-0"}, Effect: v1alpha1.EffectConfirmed, EffectDetail: "ledger edge mean latency 0.8ms → 19ms"}},
		Timeline: []engine.TimelineEvent{{At: 10 * time.Second, Kind: "FaultInjected", Target: "ledger-0", Detail: "slow-ledger"}},
		Series: []engine.Point{
			{At: 5 * time.Second, RequestRate: 80, Goroutines: map[string]float64{"gateway-0": 30}},
			{At: 15 * time.Second, RequestRate: 80, ErrorRatio: 0.5, Goroutines: map[string]float64{"gateway-0": 600}},
		},
		Spec: v1alpha1.ExperimentSpec{
			Victim: &v1alpha1.VictimSpec{Orders: v1alpha1.OrdersSpec{Replicas: 2, Cache: v1alpha1.CacheRacy}},
			Load:   v1alpha1.LoadSpec{Rate: 80, DuplicateRatio: "0.1"}, Duration: d(60), SteadyState: d(10),
			Faults: []v1alpha1.Fault{{Name: "slow-ledger", After: d(10), NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
				PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode},
				Action:      chaosv1alpha1.BandwidthAction,
			}}},
		},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reportCLI(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := reportCmd(args, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

// checkRendered checks dir holds the three files a local run writes, the
// report.json valid against docs/report.schema.json.
func checkRendered(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := reportschema.Validate(data); err != nil {
		t.Errorf("report.json: %v", err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"map-panic-cascade-no-netem", "HypothesisViolated", "concurrent map writes"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("<html")) || !bytes.Contains(html, []byte("concurrent map writes")) {
		t.Errorf("report.html (%d bytes) is not the drill's page", len(html))
	}
}

// TestReportFromConfigMap renders a cluster drill's report.json piped on
// standard input, as `kubectl get configmap NAME-report -o
// jsonpath='{.data.report\.json}' | cascadelab report - --out DIR` does.
func TestReportFromConfigMap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	junit := filepath.Join(t.TempDir(), "junit", "drills.xml")
	code, stdout, stderr := reportCLI(t, bytes.NewReader(clusterReport(t)), "-", "--out", dir, "--junit", junit)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "verdict HypothesisViolated") {
		t.Errorf("stdout lacks the verdict:\n%s", stdout)
	}
	checkRendered(t, dir)
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(x, &suites); err != nil || len(suites.Suites) != 1 || suites.Suites[0].Name != "map-panic-cascade-no-netem" {
		t.Errorf("JUnit: %v, %+v\n%s", err, suites, x)
	}
}

// TestReportFromFile renders a report.json file next to itself by default,
// and reads a whole ConfigMap (`kubectl get configmap -o json`) as well.
func TestReportFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	if err := os.WriteFile(path, clusterReport(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := reportCLI(t, nil, path); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkRendered(t, dir)

	cm, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "map-panic-cascade-no-netem-report"},
		"data":     map[string]string{"report.json": string(clusterReport(t))}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "cm")
	if code, _, stderr := reportCLI(t, bytes.NewReader(cm), "-", "--out", out); code != exitOK {
		t.Fatalf("ConfigMap: exit %d: %s", code, stderr)
	}
	checkRendered(t, out)
}

// TestReportBadInput: exit 2 with a message naming the problem, nothing written.
func TestReportBadInput(t *testing.T) {
	huge := io.LimitReader(repeatReader('{'), maxReportInput+10)
	for _, tc := range []struct {
		name  string
		in    io.Reader
		args  []string
		wants string
	}{
		{"no file", nil, nil, "want one report.json"},
		{"two files", nil, []string{"a.json", "b.json"}, "want one report.json"},
		{"missing file", nil, []string{"does-not-exist.json"}, "does-not-exist.json"},
		{"empty", strings.NewReader(""), []string{"-"}, "empty input"},
		{"bad JSON", strings.NewReader("{\n  \"name\": \"x\",\n  \"verdict\": }"), []string{"-"}, "invalid JSON at line 3"},
		{"not a report", strings.NewReader(`{"hello": "world"}`), []string{"-"}, "missing name or verdict"},
		{"ConfigMap without the key", strings.NewReader(`{"kind": "ConfigMap", "data": {"report.md": "x"}}`), []string{"-"}, "without the key report.json"},
		{"too large", huge, []string{"-"}, "larger than 64 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := reportCLI(t, tc.in, append(tc.args, "--out", out)...)
			if code != exitInvalid {
				t.Errorf("exit %d, want %d", code, exitInvalid)
			}
			if !strings.Contains(stderr, tc.wants) {
				t.Errorf("stderr %q lacks %q", stderr, tc.wants)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s written for bad input", out)
			}
		})
	}
}

// TestReportIsACommand: main's dispatcher knows `report`.
func TestReportIsACommand(t *testing.T) {
	if code, _, stderr := cli(t, "report"); code != exitInvalid || !strings.Contains(stderr, "want one report.json") {
		t.Errorf("cascadelab report: exit %d, %q", code, stderr)
	}
	if _, out, _ := cli(t, "help"); !strings.Contains(out, "cascadelab report FILE|-") {
		t.Errorf("usage lacks the report command")
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}
