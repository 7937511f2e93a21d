package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cascadelab/cascadelab/internal/freeport"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// Labels the scrape config puts on every victim target, as the kind lab's
// Kubernetes service discovery does (manifests/monitoring/prometheus).
const (
	testNamespace  = DefaultNamespace
	testExperiment = "local-drill"
)

// TestQueriesAgainstPrometheus runs the victim on loopback under load
// (ledger, orders, a gateway, loadgen), a registry serving the manager's
// cascadelab_faults_active gauge, and Debian's real Prometheus scraping
// them every second with the labels Kubernetes service discovery gives in
// the lab. Every panel query, the fault-window annotation and the
// variables' label_values() must return at least one series.
//
// The gateway round-robins between the real orders and a closed port, with
// no retries, so about half the requests fail with 502: the 5xx ratio
// queries select only 5xx series in their numerators and return nothing
// from a system that never failed.
//
// It needs the prometheus binary (`apt-get install prometheus`, which
// .ci/run does when it is missing); it fails without it, and only skips
// under -short.
func TestQueriesAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and the victim (skipped under -short)")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not on PATH: install Debian's prometheus package (apt-get install -y --no-install-recommends prometheus; .ci/run does it): %v", err)
	}
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	build := exec.Command("go", "build", "-o", victim, "./victim/cmd/victim")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build victim: %v\n%s", err, out)
	}

	addr := func() string { return freeAddr(t) }
	ledgerApp, ledgerAdmin := addr(), addr()
	ordersApp, ordersAdmin := addr(), addr()
	gatewayApp, gatewayAdmin := addr(), addr()
	loadgenAdmin := addr()
	dead := addr() // nothing listens here
	procs := &processes{t: t}
	procs.start("ledger", victim, "--role=ledger", "--listen="+ledgerApp, "--admin-listen="+ledgerAdmin,
		"--idempotency=cas", "--data-dir="+filepath.Join(dir, "ledger"))
	procs.start("orders", victim, "--role=orders", "--listen="+ordersApp, "--admin-listen="+ordersAdmin,
		"--cache=mutex", "--ledger-url=http://"+ledgerApp)
	procs.start("gateway", victim, "--role=gateway", "--listen="+gatewayApp, "--admin-listen="+gatewayAdmin,
		"--mode=bounded", "--orders-url=http://"+ordersApp+",http://"+dead, "--timeout=500ms", "--retries=0")
	for _, a := range []string{ledgerAdmin, ordersAdmin, gatewayAdmin} {
		waitOK(t, procs, "http://"+a+"/readyz", 60*time.Second)
	}
	procs.start("loadgen", victim, "--role=loadgen", "--admin-listen="+loadgenAdmin,
		"--target=http://"+gatewayApp, "--rate=50", "--duplicate-ratio=0.2", "--duration=0")

	// The manager's fault gauge, as operator/kube exports it.
	kube.FaultsActive.WithLabelValues(testExperiment, "slow-ledger", "NetworkChaos").Set(1)
	t.Cleanup(func() { kube.FaultsActive.DeleteLabelValues(testExperiment, "slow-ledger", "NetworkChaos") })
	reg := prometheus.NewRegistry()
	reg.MustRegister(kube.FaultsActive)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mgr := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go mgr.Serve(ln)
	t.Cleanup(func() { mgr.Close() })

	target := func(addr, role string) string {
		return fmt.Sprintf(`  - targets: [%q]
    labels: {namespace: %q, pod: %q, component: %q, experiment: %q}
`, addr, testNamespace, testExperiment+"-"+role+"-0", role, testExperiment)
	}
	config := `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
- job_name: kubernetes-pods
  static_configs:
` + target(ledgerAdmin, "ledger") + target(ordersAdmin, "orders") + target(gatewayAdmin, "gateway") + target(loadgenAdmin, "loadgen") +
		fmt.Sprintf(`  - targets: [%q]
    labels: {namespace: cascadelab-system, pod: cascadelab-manager-0, component: manager}
`, ln.Addr().String())
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := addr()
	procs.start("prometheus", promBin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	waitOK(t, procs, "http://"+promAddr+"/-/ready", 60*time.Second)

	type check struct{ where, expr, label string }
	var checks []check
	for _, q := range queries(t) {
		checks = append(checks, check{q.where, Substitute(q.expr, testNamespace, "10s", "5m"), ""})
	}
	labelValues := regexp.MustCompile(`^label_values\((.+), *([a-z_]+)\)$`)
	for _, v := range load(t).Templating.List {
		if s, ok := v.Query.(string); ok && v.Type == "query" {
			if m := labelValues.FindStringSubmatch(s); m != nil {
				checks = append(checks, check{"variable " + v.Name,
					fmt.Sprintf("count by (%s) (%s)", m[2], Substitute(m[1], testNamespace, "10s", "5m")), m[2]})
			}
		}
	}

	pending := map[int]string{}
	for i := range checks {
		pending[i] = "not queried yet"
	}
	deadline := time.Now().Add(90 * time.Second)
	for len(pending) > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		procs.alive()
		for i := range pending {
			c := checks[i]
			n, why := instantQuery(t, promAddr, c.expr, c.label)
			if n > 0 {
				t.Logf("%s: %d series", c.where, n)
				delete(pending, i)
			} else {
				pending[i] = why
			}
		}
	}
	for i, why := range pending {
		t.Errorf("%s: no series from Prometheus: %s\n%s", checks[i].where, why, checks[i].expr)
	}
	if t.Failed() {
		procs.dumpLogs()
	}
}

// instantQuery runs expr on Prometheus' HTTP API and returns the number of
// series in the result (those with a non-empty label, when label is set),
// or 0 and why.
func instantQuery(t *testing.T, promAddr, expr, label string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err.Error()
	}
	if r.Status != "success" {
		t.Errorf("query failed (%s): %s\n%s", resp.Status, r.Error, expr)
		return 0, r.Error
	}
	n := 0
	for _, s := range r.Data.Result {
		if label == "" || s.Metric[label] != "" {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Sprintf("empty %s result", r.Data.ResultType)
	}
	return n, ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// processes runs the test's child processes, stops them (SIGINT, then
// SIGKILL after 10 s) when the test ends, and keeps their output.
type processes struct {
	t     *testing.T
	mu    sync.Mutex
	procs []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func (p *processes) start(name, bin string, args ...string) {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		p.t.Fatalf("start %s: %v", name, err)
	}
	pr := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { pr.err = cmd.Wait(); close(pr.done) }()
	p.mu.Lock()
	p.procs = append(p.procs, pr)
	p.mu.Unlock()
	p.t.Cleanup(func() { cancel(); <-pr.done })
}

// alive fails the test if a process has exited.
func (p *processes) alive() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.procs {
		select {
		case <-pr.done:
			p.t.Fatalf("%s exited: %v\n%s", pr.name, pr.err, pr.out.tail(2000))
		default:
		}
	}
}

func (p *processes) dumpLogs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.procs {
		p.t.Logf("--- %s output (tail):\n%s", pr.name, pr.out.tail(2000))
	}
}

func waitOK(t *testing.T, procs *processes, u string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		procs.alive()
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			procs.dumpLogs()
			t.Fatalf("%s not ready after %v: %v", u, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.String()
	if len(b) > n {
		b = "…" + b[len(b)-n:]
	}
	return strings.TrimSpace(b)
}
