package victim_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// delayProxy forwards to a base URL over loopback, holding each request
// for the current delay first: a latency fault on one edge, in process.
type delayProxy struct {
	URL   string // base URL to give the caller
	delay atomic.Int64
	srv   *http.Server
	tr    *http.Transport
}

func newDelayProxy(t *testing.T, target string) *delayProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{tr: &http.Transport{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = p.tr
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(p.delay.Load()); d > 0 {
			time.Sleep(d)
		}
		rp.ServeHTTP(w, r)
	})}
	var ln net.Listener
	for attempt := 0; ln == nil; attempt++ {
		addr := freePort(t)
		if ln, err = net.Listen("tcp", addr); err != nil && attempt >= 3 {
			t.Fatal(err)
		}
	}
	p.URL = "http://" + ln.Addr().String()
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close(); p.tr.CloseIdleConnections() })
	return p
}

// edge scrapes p's /metrics with the kit's own scraper and returns its
// stats for calls into upstream.
func edge(t *testing.T, sc *observe.Scraper, p *proc, role, upstream string) observe.EdgeStats {
	t.Helper()
	s := sc.Scrape(context.Background(), 0, observe.Target{Name: role, Role: role, AdminURL: p.Admin}, false)
	if !s.Up {
		t.Fatalf("scrape %s: %s", role, s.Error)
	}
	return s.Upstream[upstream]
}

// windowMean is the mean latency of the calls made between two scrapes.
func windowMean(t *testing.T, before, after observe.EdgeStats) (mean, calls float64) {
	t.Helper()
	calls = after.LatencyCount - before.LatencyCount
	if calls <= 0 {
		t.Fatalf("no calls timed between scrapes (count %v → %v)", before.LatencyCount, after.LatencyCount)
	}
	return (after.LatencySum - before.LatencySum) / calls, calls
}

// TestEdgeLatencyShowsInjectedDelay runs gateway → orders → proxy → ledger
// as real processes over loopback, slows the orders→ledger hop by 200 ms in
// the proxy, and checks that the orders process's own client histogram for
// upstream="ledger" (as the kit scrapes and parses it) moves with it.
func TestEdgeLatencyShowsInjectedDelay(t *testing.T) {
	const injected = 200 * time.Millisecond
	led := startLedger(t, "cas")
	proxy := newDelayProxy(t, led.App)
	ord := start(t, "orders", "--cache=mutex", "--ledger-url="+proxy.URL)
	gw := start(t, "gateway", "--mode=bounded", "--orders-url="+ord.App, "--timeout=5s", "--retries=0")
	sc := observe.NewScraper()
	defer sc.CloseIdleConnections()

	payN := func(prefix string, n int) {
		for i := 0; i < n; i++ {
			if code, body := pay(context.Background(), gw.App, fmt.Sprintf("%s-%d", prefix, i), 100); code != http.StatusOK {
				t.Fatalf("pay %s-%d: %d %s", prefix, i, code, body)
			}
		}
	}
	payN("warm", 5) // connections pooled before the baseline
	l0, g0 := edge(t, sc, ord, "orders", "ledger"), edge(t, sc, gw, "gateway", "orders")
	payN("base", 20)
	l1, g1 := edge(t, sc, ord, "orders", "ledger"), edge(t, sc, gw, "gateway", "orders")
	proxy.delay.Store(int64(injected))
	payN("slow", 10)
	l2, g2 := edge(t, sc, ord, "orders", "ledger"), edge(t, sc, gw, "gateway", "orders")

	base, nb := windowMean(t, l0, l1)
	slow, ns := windowMean(t, l1, l2)
	gBase, _ := windowMean(t, g0, g1)
	gSlow, _ := windowMean(t, g1, g2)
	t.Logf("orders→ledger mean: %.2f ms over %v calls before, %.2f ms over %v calls with %v injected (+%.2f ms)",
		base*1e3, nb, slow*1e3, ns, injected, (slow-base)*1e3)
	t.Logf("gateway→orders mean: %.2f ms before, %.2f ms after", gBase*1e3, gSlow*1e3)
	if slow-base < (100 * time.Millisecond).Seconds() {
		t.Errorf("orders→ledger mean rose by %.2f ms with %v injected, want ≥ 100 ms", (slow-base)*1e3, injected)
	}
	if l2.Requests["200"]-l0.Requests["200"] < 30 || l2.Requests[observe.CodeError] != 0 {
		t.Errorf("orders→ledger requests %v → %v, want 30 more 200s and no errors", l0.Requests, l2.Requests)
	}
}

// TestEdgeRefusedCountsError points a gateway at a port nobody listens on:
// each try is a transport error on the edge, code="error".
func TestEdgeRefusedCountsError(t *testing.T) {
	dead := freePort(t)
	if c, err := net.DialTimeout("tcp", dead, time.Second); err == nil {
		c.Close()
		t.Skipf("%s is taken", dead)
	}
	gw := start(t, "gateway", "--mode=bounded", "--orders-url=http://"+dead, "--timeout=2s", "--retries=1")
	if code, body := pay(context.Background(), gw.App, "refused-1", 100); code != http.StatusBadGateway {
		t.Fatalf("pay with orders refused: %d %s, want 502", code, body)
	}
	sc := observe.NewScraper()
	defer sc.CloseIdleConnections()
	e := edge(t, sc, gw, "gateway", "orders")
	if e.Requests[observe.CodeError] != 2 || len(e.Requests) != 1 {
		t.Errorf("gateway→orders requests %v, want 2 (a try and its retry) with code=%q", e.Requests, observe.CodeError)
	}
	if e.LatencyCount != 2 {
		t.Errorf("gateway→orders latency count %v, want 2", e.LatencyCount)
	}
}
