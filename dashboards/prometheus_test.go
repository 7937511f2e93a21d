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
