package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/victim/admin"
	"github.com/cascadelab/cascadelab/victim/gateway"
)

// edgeCounts gathers http_client_requests_total{upstream="orders"} by code.
func edgeCounts(t *testing.T, m *admin.Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != admin.ClientRequestsName {
			continue
		}
		for _, s := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range s.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["upstream"] == gateway.Upstream && l["method"] == "post" {
				out[l["code"]] += s.GetCounter().GetValue()
			}
		}
	}
	return out
}

// Each try is one call on the gateway→orders edge: a try that timed out is
// code="error", the retry that answered is its status code.
func TestEdgeMetricsCountEachTry(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			select { // the first try hangs until the gateway gives up
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"o1","status":"PAID"}`))
	}))
	defer up.Close()
	defer close(release)

	m := admin.NewMetrics()
	given := &http.Transport{}
	c := &http.Client{Transport: given}
	defer c.CloseIdleConnections()
	g, err := gateway.New(gateway.ModeBounded, []string{up.URL}, 50*time.Millisecond, 1,
		gateway.WithClient(c), gateway.WithRegisterer(m.Registry), gateway.WithClientInstrument(m.InstrumentClient))
	if err != nil {
		t.Fatal(err)
	}
	if c.Transport != given {
		t.Fatal("WithClientInstrument changed the caller's client")
	}
	gw := httptest.NewServer(g)
	defer gw.Close()
	if code, body := post(t, gw.URL+"/orders/o1/pay", `{"amount_cents": 10}`); code != 200 {
		t.Fatalf("got %d %s", code, body)
	}
	got := edgeCounts(t, m)
	if got["error"] != 1 || got["200"] != 1 || len(got) != 2 {
		t.Errorf("edge counts %v, want one error (the timed-out try) and one 200", got)
	}
}
