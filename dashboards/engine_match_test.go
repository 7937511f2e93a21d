package dashboards

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// The engine is fed one observation every obsEvery loadgen scrapes (the
// scrape interval is 1 s), numObs of them; each but the first is compared
// with Prometheus over the interval since the one before. The orders
// process is killed and restarted in place after killAfter loadgen scrapes.
const (
	obsEvery  = 10
	numObs    = 5
	killAfter = 23
)

// Tolerances. Both sides read the same bytes (every scrape Prometheus
// stored went through a recorder) at the same timestamps (the engine is fed
// each scrape at Prometheus' own timestamp), and each observation's rate
// window is chosen so that, for every target whatever its scrape phase,
// Prometheus' range (open on the left) holds exactly the samples of the
// engine's interval: rate() then extrapolates the sampled interval to the
// window and divides by the window, which cancels. So the figures agree to
// floating-point rounding; the tolerances are that plus a margin for a
// scrape timestamp jittering across a range's edge (then one second of ten
// moves: under 0.02 on a ratio near 0.5 at ~50 requests/s, under 5 % on a
// rate). Goroutines are gauges read from the same scrape. Restarts and
// duplicate charges are counts and must be equal.
//
// One difference is by design and not compared: a series that first
// appears inside a window (a status code seen for the first time) counts
// from zero in the engine (observe.CounterDeltas) but only from its first
// sample in rate(), which cannot know that the series started at zero. A
// window where that happens skips the signals of that metric for that
// target (the test logs it); every signal must still be compared at least
// once.
const (
	ratioTol    = 0.02 // absolute, on error and 5xx ratios
	relativeTol = 0.05 // relative, on request rate, p99 and goroutines
)

// TestPromQLMatchesEngine holds the dashboards' PromQL to the engine's
// numbers on the same data. A real victim runs on loopback (ledger, orders,
// a gateway that sends every other request to a dead port, so about half
// fail with 502, and the load generator); a real Prometheus scrapes each
// process every second through a recorder that keeps every exposition.
// The orders process is killed and restarted in place on the way. The
// recorded scrapes, stamped with Prometheus' timestamps, are turned into
// samples with operator/observe and fed to operator/engine every 10 s;
// then each query runs on Prometheus at the time of each observation and
// must give what the engine computed (ServerP99Query, which the engine does
// not judge, against observe.HistogramQuantile on the same buckets).
func TestPromQLMatchesEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and the victim (skipped under -short)")
	}
	prometheusBinary(t)
	bin := victimBinary(t)
	dir := t.TempDir()
	procs := &processes{t: t}
	defer func() {
		if t.Failed() {
			procs.dumpLogs()
		}
	}()

	ledgerApp, ledgerAdmin := freeAddr(t), freeAddr(t)
	ordersApp, ordersAdmin := freeAddr(t), freeAddr(t)
	gatewayApp, gatewayAdmin := freeAddr(t), freeAddr(t)
	loadgenAdmin, dead := freeAddr(t), freeAddr(t)
	ordersArgs := []string{"--role=orders", "--listen=" + ordersApp, "--admin-listen=" + ordersAdmin,
		"--cache=mutex", "--ledger-url=http://" + ledgerApp}
	ledger := procs.start("ledger", bin, "--role=ledger", "--listen="+ledgerApp, "--admin-listen="+ledgerAdmin,
		"--idempotency=none", "--data-dir="+filepath.Join(dir, "ledger"))
	orders := procs.start("orders", bin, ordersArgs...)
	gateway := procs.start("gateway", bin, "--role=gateway", "--listen="+gatewayApp, "--admin-listen="+gatewayAdmin,
		"--mode=bounded", "--orders-url=http://"+ordersApp+",http://"+dead, "--timeout=500ms", "--retries=0")
	for _, a := range []string{ledgerAdmin, ordersAdmin, gatewayAdmin} {
		waitOK(t, procs, "http://"+a+"/readyz", 60*time.Second)
	}
	loadgen := procs.start("loadgen", bin, "--role=loadgen", "--admin-listen="+loadgenAdmin,
		"--target=http://"+gatewayApp, "--rate=50", "--duplicate-ratio=0.2", "--duration=0")
	t0 := time.Now() // the engine's offset 0: the load starts

	recs := []*recorder{
		newRecorder(t, "ledger-0", observe.RoleLedger, ledgerAdmin, ledger.cmd.Process.Pid),
		newRecorder(t, "orders-0", observe.RoleOrders, ordersAdmin, orders.cmd.Process.Pid),
		newRecorder(t, "gateway-0", observe.RoleGateway, gatewayAdmin, gateway.cmd.Process.Pid),
		newRecorder(t, "loadgen-0", observe.RoleLoadgen, loadgenAdmin, loadgen.cmd.Process.Pid),
	}
	config := "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n- job_name: victim\n  static_configs:\n"
	for _, r := range recs {
		config += fmt.Sprintf("  - targets: [%q]\n    labels: {namespace: %q, pod: %q, component: %q, experiment: %q}\n",
			r.addr, testNamespace, r.name, r.role, testExperiment)
	}
	promAddr := startPrometheus(t, procs, dir, config)
	lg := recs[3]

	// Kill orders as a crash would and start it again on the same ports.
	waitFor(t, procs, "loadgen scrapes before the kill", func() bool { return lg.count() >= killAfter })
	procs.kill(orders)
	killedAt := time.Now()
	orders = procs.start("orders (restarted)", bin, ordersArgs...)
	recs[1].replaced(orders.cmd.Process.Pid)
	waitOK(t, procs, "http://"+ordersAdmin+"/readyz", 60*time.Second)

	// Wait until Prometheus holds the scrapes of the last observation, then
	// read its timestamps for every scrape from up.
	var scrapes [][]scrape
	waitFor(t, procs, "Prometheus to store the last observation's scrapes", func() bool {
		scrapes = matchScrapes(t, promAddr, recs)
		n := 0
		for _, s := range scrapes[3] {
			if s.promUp && allRead(scrapes, s.promAt) {
				n++
			}
		}
		return n > obsEvery*(numObs-1)
	})

	e, err := engine.New(v1alpha1.ExperimentSpec{
		Victim:      &v1alpha1.VictimSpec{},
		Duration:    metav1.Duration{Duration: time.Hour},
		SteadyState: metav1.Duration{Duration: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	e.VictimReady()
	obs := observations(t, recs, scrapes, t0, killedAt)
	for _, o := range obs {
		e.Observe(o.Observation)
	}
	series := e.Series()
	if len(series) != len(obs) {
		t.Fatalf("engine kept %d points for %d observations", len(series), len(obs))
	}
	compared := map[string]int{}
	for k := 1; k < len(obs); k++ {
		if obs[k].window <= 0 {
			// No target was scraped in both this observation and the one
			// before (scrapes missed on a loaded machine): there is no
			// window to ask Prometheus about. Every signal must still be
			// compared in some window (below).
			t.Logf("at %v: no target scraped in two consecutive observations; not compared", obs[k].At)
			continue
		}
		compareWindow(t, promAddr, obs[k], series[k], compared, k == 1)
	}
	for _, what := range []string{"request rate", "error ratio", "p99", "goroutines", "total goroutines",
		"5xx ratio gateway", "5xx ratio orders", "5xx ratio ledger", "server p99 gateway", "server p99 orders", "server p99 ledger"} {
		if compared[what] == 0 {
			t.Errorf("%s was compared in no window", what)
		}
	}
	compareTotals(t, promAddr, obs[len(obs)-1], series[len(series)-1], t0)
}

// observation is one engine observation and what the test knows about it.
type observation struct {
	engine.Observation
	promAt time.Time // Prometheus' timestamp of the loadgen scrape it is taken at
	// window is the rate window whose range holds exactly the samples of
	// the engine's interval for every fresh target.
	window time.Duration
	// fresh names the targets whose previous observed sample was taken in
	// the previous observation by the same process: only for these is the
	// engine's interval the window's.
	fresh map[string]bool
	// appeared lists, by target and metric, the series that appeared in
	// the interval (see the tolerances).
	appeared map[string]map[string][]string
	// serverP99 is observe.HistogramQuantile(0.99) of each fresh role's
	// server latency over the interval, what ServerP99Query restates.
	serverP99 map[string]float64
}

// picked is the scrape of one target an observation used.
type picked struct {
	obs    int
	idx    int // in the target's matched scrapes
	sample observe.Sample
	keys   map[string]map[string]bool
}

// observations builds numObs observations, obsEvery loadgen scrapes apart
// from the first at which every target had been read, each at a loadgen
// scrape's Prometheus timestamp and holding every target's latest scrape
// at or before it.
func observations(t *testing.T, recs []*recorder, scrapes [][]scrape, t0, killedAt time.Time) []observation {
	t.Helper()
	var up []scrape
	for _, s := range scrapes[3] {
		if s.promUp && allRead(scrapes, s.promAt) {
			up = append(up, s)
		}
	}
	if len(up) <= obsEvery*(numObs-1) {
		t.Fatalf("%d loadgen scrapes once every target was read, need %d", len(up), obsEvery*(numObs-1)+1)
	}
	var out []observation
	last := map[string]picked{}
	for k := range numObs {
		at := up[k*obsEvery].promAt
		o := observation{promAt: at, fresh: map[string]bool{}, appeared: map[string]map[string][]string{}, serverP99: map[string]float64{}}
		o.At = at.Sub(t0)
		if k > 0 && killedAt.After(out[k-1].promAt) && !killedAt.After(at) {
			o.Crashes = []observe.Crash{{Target: "orders-0", At: killedAt.Sub(t0), ExitCode: -1, Signal: "killed", Injected: true}}
		}
		var lo, hi time.Time // the range must start in [lo, hi)
		for i, r := range recs {
			j := -1
			for jj := range scrapes[i] {
				if !scrapes[i][jj].promAt.After(at) {
					j = jj
				}
			}
			if j < 0 {
				continue
			}
			cur := picked{obs: k, idx: j, sample: r.sample(t, scrapes[i][j], o.At)}
			o.Samples = append(o.Samples, cur.sample)
			if !cur.sample.Up {
				continue
			}
			cur.keys = seriesKeys(t, scrapes[i][j].body)
			if prev, ok := last[r.name]; ok && prev.obs == k-1 && prev.sample.Instance == cur.sample.Instance {
				o.fresh[r.name] = true
				o.appeared[r.name] = appeared(prev.keys, cur.keys)
				d := observe.BucketsDelta(prev.sample.ServerLatency, cur.sample.ServerLatency)
				if q := observe.HistogramQuantile(0.99, d); !math.IsNaN(q) {
					o.serverP99[r.role] = q
				}
				a := scrapes[i][prev.idx].promAt
				if hi.IsZero() || a.Before(hi) {
					hi = a
				}
				if b := scrapes[i][max(prev.idx-1, 0)].promAt; prev.idx > 0 && b.After(lo) {
					lo = b
				}
			}
			last[r.name] = cur
		}
		if k > 0 && !hi.IsZero() {
			if lo.IsZero() {
				// Every fresh target's previous scrape was its first: no
				// earlier sample to keep out, any start before hi holds
				// exactly the interval (a zero lo made the window the
				// whole epoch, and Prometheus answered nothing).
				lo = hi.Add(-500 * time.Millisecond)
			}
			if !lo.Before(hi) {
				t.Logf("at %v: no range start holds exactly every target's interval (%v ≥ %v)", o.At, lo, hi)
			}
			o.window = at.Sub(lo.Add(hi.Sub(lo) / 2)).Round(time.Millisecond)
		}
		out = append(out, o)
	}
	return out
}

// matchScrapes reads up for every target from Prometheus and stamps each
// recorder's scrapes with it (see recorder.match), in the order of recs.
func matchScrapes(t *testing.T, promAddr string, recs []*recorder) [][]scrape {
	t.Helper()
	res, err := promQuery(promAddr, `up{job="victim"}[10m]`, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]scrape, len(recs))
	for i, r := range recs {
		for _, s := range res {
			if s.Metric["instance"] != r.addr {
				continue
			}
			var missed []promPoint
			if out[i], missed = r.match(s.Points); len(missed) > 0 {
				t.Fatalf("%s: Prometheus stored %d scrapes the recorder did not see, first at %v", r.name, len(missed), missed[0].At)
			}
		}
	}
	return out
}

func waitFor(t *testing.T, procs *processes, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		procs.alive()
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
