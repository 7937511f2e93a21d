package observe

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/victim/admin"
	"github.com/cascadelab/cascadelab/victim/api"
	"github.com/cascadelab/cascadelab/victim/cache"
	"github.com/cascadelab/cascadelab/victim/gateway"
	"github.com/cascadelab/cascadelab/victim/leakreport"
	"github.com/cascadelab/cascadelab/victim/orders"
)

// victimEdges runs the victim's own gateway and orders code in process on
// one admin.Metrics registry, in front of a stand-in ledger, and makes
// paid calls through both edges plus one call to a refused orders URL. It
// returns the victim's /metrics handler.
func victimEdges(t *testing.T, paid int) http.Handler {
	t.Helper()
	ledger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.ChargeRequest
		json.NewDecoder(r.Body).Decode(&req)
		api.WriteJSON(w, http.StatusOK, api.Order{ID: req.OrderID, AmountCents: req.AmountCents, Status: api.StatusPaid})
	}))
	t.Cleanup(ledger.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	m := admin.NewMetrics()
	c, err := cache.New("mutex")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	o := httptest.NewServer(orders.NewServer(c, ledger.URL, orders.WithClient(&http.Client{Transport: tr}),
		orders.WithClientInstrument(m.InstrumentClient)))
	t.Cleanup(o.Close)
	newGW := func(upstream string) *httptest.Server {
		g, err := gateway.New(gateway.ModeBounded, []string{upstream}, 10*time.Second, 0,
			gateway.WithClient(&http.Client{Transport: tr}), gateway.WithClientInstrument(m.InstrumentClient))
		if err != nil {
			t.Fatal(err)
		}
		s := httptest.NewServer(g)
		t.Cleanup(s.Close)
		return s
	}
	gw, dead := newGW(o.URL), newGW(refused)
	pay := func(base, id string) int {
		resp, err := http.Post(base+"/orders/"+id+"/pay", "application/json", strings.NewReader(`{"amount_cents": 100}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < paid; i++ {
		if code := pay(gw.URL, fmt.Sprintf("o%d", i)); code != 200 {
			t.Fatalf("pay through gateway: %d", code)
		}
	}
	if code := pay(dead.URL, "x"); code != http.StatusBadGateway {
		t.Fatalf("pay to a refused orders: %d, want 502", code)
	}
	http.DefaultClient.CloseIdleConnections()
	return admin.Handler(m, &admin.Ready{}, leakreport.New())
}

// TestParseVictimEdges parses the exposition the victim's own registry
// writes, in each format a scraper may get.
func TestParseVictimEdges(t *testing.T) {
	const paid = 5
	srv := httptest.NewServer(victimEdges(t, paid))
	defer srv.Close()
	for _, accept := range []string{
		"text/plain;version=0.0.4",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"application/openmetrics-text;version=1.0.0",
	} {
		t.Run(accept, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
			req.Header.Set("Accept", accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			s, err := Parse(resp.Body, resp.Header.Get("Content-Type"))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Upstream) != 2 {
				t.Fatalf("upstreams %v, want orders and ledger", s.Upstream)
			}
			gw, led := s.Upstream[gateway.Upstream], s.Upstream[orders.Upstream]
			if gw.Requests["200"] != paid || gw.Requests[CodeError] != 1 || len(gw.Requests) != 2 {
				t.Errorf("gateway→orders requests %v, want %d×200 and 1 error", gw.Requests, paid)
			}
			if led.Requests["200"] != paid || len(led.Requests) != 1 {
				t.Errorf("orders→ledger requests %v, want %d×200", led.Requests, paid)
			}
			for name, e := range map[string]EdgeStats{"orders": gw, "ledger": led} {
				checkEdgeHistogram(t, name, e)
			}
			if gw.LatencyCount != paid+1 || led.LatencyCount != paid {
				t.Errorf("latency counts orders %v ledger %v", gw.LatencyCount, led.LatencyCount)
			}
		})
	}
}

// checkEdgeHistogram checks that e's buckets are the victim's, cumulative,
// ending in +Inf = LatencyCount, with a plausible mean.
func checkEdgeHistogram(t *testing.T, name string, e EdgeStats) {
	t.Helper()
	if len(e.Latency) != len(admin.ClientBuckets)+1 {
		t.Fatalf("%s: %d buckets, want %d: %v", name, len(e.Latency), len(admin.ClientBuckets)+1, e.Latency)
	}
	for i, b := range admin.ClientBuckets {
		if e.Latency[i].UpperBound != b || (i > 0 && e.Latency[i].Count < e.Latency[i-1].Count) {
			t.Errorf("%s: bucket %d = %v", name, i, e.Latency[i])
		}
	}
	last := e.Latency[len(e.Latency)-1]
	if !math.IsInf(last.UpperBound, 1) || last.Count != e.LatencyCount {
		t.Errorf("%s: last bucket %v, count %v", name, last, e.LatencyCount)
	}
	if mean, ok := e.MeanLatency(); !ok || mean <= 0 || mean > 5 {
		t.Errorf("%s: mean %v %v", name, mean, ok)
	}
}

// TestParseEdgesText sums an upstream's methods and codes, keeps upstreams
// apart and leaves server and loadgen fields alone.
func TestParseEdgesText(t *testing.T) {
	text := `# TYPE http_client_requests_total counter
http_client_requests_total{code="200",method="post",upstream="ledger"} 90
http_client_requests_total{code="200",method="get",upstream="ledger"} 4
http_client_requests_total{code="error",method="post",upstream="ledger"} 6
http_client_requests_total{code="503",method="post",upstream="orders"} 2
# TYPE http_client_request_duration_seconds histogram
http_client_request_duration_seconds_bucket{code="200",method="post",upstream="ledger",le="0.005"} 80
http_client_request_duration_seconds_bucket{code="200",method="post",upstream="ledger",le="0.25"} 90
http_client_request_duration_seconds_bucket{code="200",method="post",upstream="ledger",le="+Inf"} 90
http_client_request_duration_seconds_sum{code="200",method="post",upstream="ledger"} 2.5
http_client_request_duration_seconds_count{code="200",method="post",upstream="ledger"} 90
http_client_request_duration_seconds_bucket{code="error",method="post",upstream="ledger",le="0.005"} 0
http_client_request_duration_seconds_bucket{code="error",method="post",upstream="ledger",le="0.25"} 0
http_client_request_duration_seconds_bucket{code="error",method="post",upstream="ledger",le="+Inf"} 10
http_client_request_duration_seconds_sum{code="error",method="post",upstream="ledger"} 7.5
http_client_request_duration_seconds_count{code="error",method="post",upstream="ledger"} 10
`
	s, err := Parse(strings.NewReader(text), "")
	if err != nil {
		t.Fatal(err)
	}
	l := s.Upstream["ledger"]
	if l.Requests["200"] != 94 || l.Requests[CodeError] != 6 {
		t.Errorf("ledger requests %v", l.Requests)
	}
	if o := s.Upstream["orders"]; o.Requests["503"] != 2 || o.Latency != nil || o.LatencyCount != 0 {
		t.Errorf("orders %+v", o)
	}
	want := []Bucket{{.005, 80}, {.25, 90}, {math.Inf(1), 100}}
	if len(l.Latency) != len(want) {
		t.Fatalf("ledger latency %v", l.Latency)
	}
	for i := range want {
		if l.Latency[i] != want[i] {
			t.Errorf("bucket %d: %v want %v", i, l.Latency[i], want[i])
		}
	}
	if mean, ok := l.MeanLatency(); !ok || mean != 0.1 || l.LatencySum != 10 || l.LatencyCount != 100 {
		t.Errorf("mean %v (%v), sum %v count %v", mean, ok, l.LatencySum, l.LatencyCount)
	}
	if s.ServerRequests != nil || s.ClientRequests != nil || s.ServerLatency != nil {
		t.Errorf("edge metrics leaked into other fields: %+v", s)
	}
	if _, ok := (EdgeStats{}).MeanLatency(); ok {
		t.Error("mean of no calls")
	}
}
