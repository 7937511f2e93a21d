//go:build node

package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/dashboards"
	"github.com/cascadelab/cascadelab/internal/syncbuf"
)

// promSeriesCount runs an instant query and returns how many series it
// gave.
func promSeriesCount(addr, expr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/query?" + url.Values{"query": {expr}}.Encode())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          struct{ Result []json.RawMessage }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("%s: %v", resp.Status, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", resp.Status, r.Error)
	}
	return len(r.Data.Result), nil
}

// TestPrometheusAndMakeDrill: the Prometheus server `make
// prometheus-assets` builds runs as a host process with
// manifests/monitoring's own scrape config (Kubernetes service discovery
// of pods, through a kubeconfig: the only change), `make drill LAB=node`
// runs the cascade drill, and while it runs every query of the Cascade
// drill dashboard (each panel, the node graph's edges, the fault-window
// annotation) returns series from the real pods; make drill exits 0 and
// prints the verdict.
func TestPrometheusAndMakeDrill(t *testing.T) {
	deployOperator(t)
	root := repoRoot(t)
	prom := filepath.Join(root, "bin", "prometheus")
	if _, err := os.Stat(prom); err != nil {
		t.Fatalf("no %s: make prometheus-assets", prom)
	}
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(kubectl(t, "config", "view", "--raw", "--flatten")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(root, "manifests", "monitoring", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	sd := "  - role: pod\n"
	if !bytes.Contains(cfg, []byte(sd)) {
		t.Fatalf("manifests/monitoring's prometheus.yml has no %q", sd)
	}
	cfg = bytes.Replace(cfg, []byte(sd), []byte(sd+"    kubeconfig_file: "+kc+"\n"), 1)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var promLog syncbuf.Buffer
	p := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	p.Stdout, p.Stderr = &promLog, &promLog
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Process.Kill(); p.Wait() })

	var drillOut syncbuf.Buffer
	var drill *exec.Cmd
	var drillDone chan error
	startDrill := func() {
		drill = exec.Command("make", "drill", "LAB=node", "EXP=experiments/map-panic-cascade-no-netem.yaml")
		drill.Dir, drill.Stdout, drill.Stderr = root, &drillOut, &drillOut
		if err := drill.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func(c *exec.Cmd) { done <- c.Wait() }(drill)
		drillDone = done
	}
	startDrill()

	queries := map[string]string{"annotation fault windows": dashboards.FaultsActiveQuery}
	for _, panel := range dashboards.Panels {
		queries["panel "+panel.Title] = panel.Expr()
		if panel.Edges != "" {
			queries["panel "+panel.Title+" (edges)"] = dashboards.Grafana(panel.Edges)
		}
	}
	// Query while the drill runs, from 10 s after the first fault, until
	// every query has given series once or the drill is over.
	injected := func() experiment {
		time.Sleep(15 * time.Second) // the Experiment exists and its victim starts
		return waitExperiment(t, "map-panic-cascade-no-netem", 3*time.Minute, "with slow-ledger injected", func(e experiment) bool {
			return terminal(e) || len(e.Status.Faults) > 0 && e.Status.Faults[0].State != "Pending"
		})
	}
	if e := injected(); gated(e) {
		// The racy map died under the load alone (see
		// TestDrillsByKubectlApply): no fault, no fault window. Once more.
		t.Logf("the steady state broke before the first fault: running make drill again")
		select {
		case <-drillDone:
		case <-time.After(3 * time.Minute):
			drill.Process.Kill()
			t.Fatalf("make drill did not end after the gate\n%s", drillOut.String())
		}
		startDrill()
		injected()
	}
	time.Sleep(10 * time.Second)
	seen := map[string]bool{}
	var lastErr = map[string]string{}
	for deadline := time.Now().Add(60 * time.Second); len(seen) < len(queries) && time.Now().Before(deadline); time.Sleep(3 * time.Second) {
		for name, q := range queries {
			if seen[name] {
				continue
			}
			n, err := promSeriesCount(addr, dashboards.Substitute(q, drillNS, "30s", "5m"))
			switch {
			case err != nil:
				lastErr[name] = err.Error()
			case n > 0:
				seen[name] = true
			}
		}
		if terminal(getExperiment(t, "map-panic-cascade-no-netem")) {
			break
		}
	}
	var missing []string
	for name := range queries {
		if !seen[name] {
			missing = append(missing, name+" "+lastErr[name])
		}
	}
	sort.Strings(missing)
	t.Logf("%d of %d dashboard queries returned series", len(seen), len(queries))
	if len(missing) > 0 {
		t.Errorf("no series for:\n  %s", strings.Join(missing, "\n  "))
	}

	select {
	case err := <-drillDone:
		if err != nil {
			t.Errorf("make drill LAB=node: %v\n%s", err, drillOut.String())
		}
	case <-time.After(6 * time.Minute):
		drill.Process.Kill()
		t.Fatalf("make drill did not end\n%s", drillOut.String())
	}
	out := drillOut.String()
	t.Logf("make drill LAB=node:\n%s", tail(out, 1500))
	if !strings.Contains(out, "verdict: HypothesisViolated") {
		t.Errorf("make drill did not print the verdict HypothesisViolated")
	}
}
