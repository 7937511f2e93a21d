package dashboards

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
// cascadelab_faults_active gauge, and a real Prometheus (the kind lab's
// release, built by `make prometheus-assets`) scraping them every second
// with the labels Kubernetes service discovery gives in the lab. Every
// panel query, the fault-window annotation and the variables'
// label_values() must return at least one series. What the engine's
// queries return is held to the engine's numbers by TestPromQLMatchesEngine.
//
// The gateway round-robins between the real orders and a closed port, with
// no retries, so about half the requests fail with 502 and every series
// the queries select exists.
//
// It needs the Prometheus server (see prometheusBinary); it fails without
// it, and only skips under -short, with the other tests that run processes.
func TestQueriesAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and the victim (skipped under -short)")
	}
	prometheusBinary(t) // fail before starting anything when there is none
	victim := victimBinary(t)
	dir := t.TempDir()

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
	kube.FaultsActive.WithLabelValues(testNamespace, testExperiment, "slow-ledger", "NetworkChaos").Set(1)
	t.Cleanup(func() {
		kube.FaultsActive.DeleteLabelValues(testNamespace, testExperiment, "slow-ledger", "NetworkChaos")
	})
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
	// A second orders pod that never answers its scrape: a crashed
	// process for the topology queries.
	crashed := fmt.Sprintf(`  - targets: [%q]
    labels: {namespace: %q, pod: %q, component: orders, experiment: %q}
`, dead, testNamespace, testExperiment+"-orders-1", testExperiment)
	config := `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
- job_name: kubernetes-pods
  static_configs:
` + target(ledgerAdmin, "ledger") + target(ordersAdmin, "orders") + target(gatewayAdmin, "gateway") + target(loadgenAdmin, "loadgen") + crashed +
		fmt.Sprintf(`  - targets: [%q]
    labels: {namespace: cascadelab-system, pod: cascadelab-manager-0, component: manager}
`, ln.Addr().String())
	promAddr := startPrometheus(t, procs, dir, config)

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
	if len(pending) == 0 {
		checkTopology(t, promAddr)
	}
	if t.Failed() {
		procs.dumpLogs()
	}
}

// instantQuery runs expr on Prometheus' HTTP API and returns the number of
// series in the result (those with a non-empty label, when label is set),
// or 0 and why. A query Prometheus refuses fails the test.
func instantQuery(t *testing.T, promAddr, expr, label string) (int, string) {
	t.Helper()
	res, err := promQuery(promAddr, expr, time.Time{})
	if err != nil {
		if strings.HasPrefix(err.Error(), "query failed") {
			t.Error(err)
		}
		return 0, err.Error()
	}
	n := 0
	for _, s := range res {
		if label == "" || s.Metric[label] != "" {
			n++
		}
	}
	if n == 0 {
		return 0, "empty result"
	}
	return n, ""
}

// checkTopology reads the node graph's queries as Grafana gets them: one
// node per pod with the node graph's fields as labels and its state (the
// gateway, half of whose requests fail, degraded; the orders pod that never
// answers crashed), and the edges between the pods with the callers'
// failed share; and the process-state timeline's numbers.
func checkTopology(t *testing.T, promAddr string) {
	t.Helper()
	run := func(q string) []promSeries {
		res, err := promQuery(promAddr, Substitute(Grafana(q), testNamespace, "10s", "5m"), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	pod := func(role string, n int) string { return fmt.Sprintf("%s-%s-%d", testExperiment, role, n) }
	nodes := map[string]promSeries{}
	for _, s := range run(TopologyNodesQuery) {
		if _, dup := nodes[s.Metric["id"]]; dup {
			t.Errorf("node %s twice", s.Metric["id"])
		}
		nodes[s.Metric["id"]] = s
	}
	want := map[string]struct{ role, state string }{
		pod("loadgen", 0): {"loadgen", "degraded"}, pod("gateway", 0): {"gateway", "degraded"},
		pod("orders", 0): {"orders", "serving"}, pod("orders", 1): {"orders", "crashed / restarting"},
		pod("ledger", 0): {"ledger", "serving"},
	}
	if len(nodes) != len(want) {
		t.Errorf("%d nodes, want one per pod (%d): %v", len(nodes), len(want), nodes)
	}
	for id, w := range want {
		n, ok := nodes[id]
		if !ok {
			t.Errorf("no node %s", id)
			continue
		}
		bad := w.state != "serving"
		if n.Metric["title"] != id || n.Metric["subtitle"] != w.role || n.Metric["secondarystat"] != w.state || (n.Metric["highlighted"] == "true") != bad {
			t.Errorf("node %s: %v = %v; want title %s, subtitle %s, state %q, highlighted %v", id, n.Metric, n.Value, id, w.role, w.state, bad)
		}
		if bad && n.Value <= 0.01 || !bad && n.Value > 0.01 {
			t.Errorf("node %s (%s): failed share %v", id, w.state, n.Value)
		}
	}
	edges := map[string]promSeries{}
	for _, s := range run(TopologyEdgesQuery) {
		if s.Metric["id"] != s.Metric["source"]+"→"+s.Metric["target"] {
			t.Errorf("edge id %q, source %q, target %q", s.Metric["id"], s.Metric["source"], s.Metric["target"])
		}
		edges[s.Metric["id"]] = s
	}
	wantEdges := map[string]bool{ // true: the caller sees failures
		pod("loadgen", 0) + "→" + pod("gateway", 0): true,
		pod("gateway", 0) + "→" + pod("orders", 0):  true, // half its calls go to a closed port
		pod("gateway", 0) + "→" + pod("orders", 1):  true,
		pod("orders", 0) + "→" + pod("ledger", 0):   false,
	}
	if len(edges) != len(wantEdges) {
		t.Errorf("edges %v, want %v", edges, wantEdges)
	}
	for id, failing := range wantEdges {
		e, ok := edges[id]
		if !ok {
			t.Errorf("no edge %s", id)
			continue
		}
		if failing && e.Value < 0.2 || !failing && e.Value != 0 {
			t.Errorf("edge %s: failed share %v", id, e.Value)
		}
	}
	t.Logf("topology: %d nodes, %d edges", len(nodes), len(edges))
	states := map[string]float64{}
	for _, s := range run(ProcessStateQuery) {
		states[s.Metric["pod"]] = s.Value
	}
	if len(states) != len(want) || states[pod("orders", 1)] != -1 || states[pod("ledger", 0)] != 0 || states[pod("gateway", 0)] <= 0.01 {
		t.Errorf("process states %v: want -1 for the crashed orders pod, 0 for the ledger, the gateway's failed share", states)
	}
}
