//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/dashboards"
	"github.com/cascadelab/cascadelab/internal/testenv"
)

// drills and the verdict each must reach (from their header comments).
var drills = []struct{ file, name, verdict string }{
	{"experiments/map-panic-cascade.yaml", "map-panic-cascade", "HypothesisViolated"},
	{"experiments/fixed-under-chaos.yaml", "fixed-under-chaos", "HypothesisHeld"},
}

const (
	namespace  = "cascadelab-drills"
	prometheus = "http://127.0.0.1:9090"
	grafana    = "http://127.0.0.1:3000"
)

func TestKindLab(t *testing.T) {
	for _, tool := range []string{"docker", "kind", "kubectl", "helm", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not on PATH: the kind lab needs docker, kind, kubectl and helm (docs/kind-lab.md)", tool)
		}
	}
	root := testenv.RepoRoot()
	run(t, root, 45*time.Minute, "make", "kind-up")
	if os.Getenv("CASCADELAB_E2E_KEEP") == "" {
		t.Cleanup(func() { run(t, root, 5*time.Minute, "make", "kind-down") })
	}
	waitHTTP(t, grafana+"/api/health", 3*time.Minute)
	waitHTTP(t, prometheus+"/-/ready", 3*time.Minute)

	for _, d := range drills {
		t.Run(d.name, func(t *testing.T) {
			run(t, root, 15*time.Minute, "make", "drill", "EXP="+d.file)
			out := run(t, root, time.Minute, "kubectl", "--context", "kind-cascadelab", "-n", namespace,
				"get", "experiment", d.name, "-o", "json")
			var exp struct {
				Status struct {
					Phase     string `json:"phase"`
					Verdict   string `json:"verdict"`
					ReportRef struct {
						ConfigMap string `json:"configMap"`
					} `json:"reportRef"`
					Findings []struct{ Type, Target, Message string } `json:"findings"`
				} `json:"status"`
			}
			if err := json.Unmarshal([]byte(out), &exp); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: phase %s, verdict %s, findings %+v", d.name, exp.Status.Phase, exp.Status.Verdict, exp.Status.Findings)
			if exp.Status.Verdict != d.verdict {
				t.Errorf("%s: verdict %q, want %q", d.name, exp.Status.Verdict, d.verdict)
			}
			if exp.Status.ReportRef.ConfigMap == "" {
				t.Errorf("%s: no report ConfigMap in status.reportRef", d.name)
			} else {
				run(t, root, time.Minute, "kubectl", "--context", "kind-cascadelab", "-n", namespace,
					"get", "configmap", exp.Status.ReportRef.ConfigMap)
			}
		})
	}

	// The dashboard's victim panels against the lab's Prometheus, over the
	// drills just run. (The fault gauge is only set while a fault is
	// injected, so its annotation query is checked in the dashboards
	// package's real-Prometheus test instead.)
	for _, p := range dashboards.Panels {
		if p.Query == dashboards.FaultsActiveQuery {
			continue
		}
		expr := dashboards.Substitute(p.Expr(), namespace, "1m", "1h")
		// Rates over a past drill: look back to when it ran.
		expr = "max_over_time((" + expr + ")[1h:15s])"
		if n := series(t, expr); n == 0 {
			t.Errorf("panel %q: no series in the lab's Prometheus\n%s", p.Title, expr)
		}
	}
	// The dashboard is provisioned in Grafana.
	resp, err := http.Get(grafana + "/api/dashboards/uid/" + dashboards.UID)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("Grafana has no dashboard %s: %v %v", dashboards.UID, err, resp)
	}
	if resp != nil {
		resp.Body.Close()
	}
}

// run runs a command in dir with a timeout, streaming its output to the
// test log, and returns its stdout.
func run(t *testing.T, dir string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = testWriter{t}
	t.Logf("$ %s %s", name, strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	t.Log(strings.TrimSpace(out.String()))
	return out.String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func waitHTTP(t *testing.T, u string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v: %v", u, timeout, err)
		}
		time.Sleep(2 * time.Second)
	}
}

// series returns how many series an instant query returns from the lab's
// Prometheus.
func series(t *testing.T, expr string) int {
	t.Helper()
	resp, err := http.Get(prometheus + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" {
		t.Errorf("query failed: %s\n%s", r.Error, expr)
	}
	return len(r.Data.Result)
}
