package victim

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/victim/cache"
	"github.com/cascadelab/cascadelab/victim/gateway"
	"github.com/cascadelab/cascadelab/victim/ledger"
	"github.com/cascadelab/cascadelab/victim/orders"
)

// FuzzAppEndpoints sends arbitrary order IDs and bodies to every role's app
// endpoint of the fixed victim (gateway bounded → orders mutex → ledger cas),
// in process over real loopback sockets: bad input gets a 4xx, never a 5xx
// or a crash. `make test` runs the seed corpus; explore with
//
//	go test -run '^$' -fuzz FuzzAppEndpoints -fuzztime 30s ./victim/
func FuzzAppEndpoints(f *testing.F) {
	for _, s := range []struct{ id, body string }{
		{"o-1", `{"amount_cents": 100}`}, {"o-1", `{"amount_cents": -1}`}, {"o-2", `{`},
		{"o-3", `[]`}, {"o-4", `null`}, {"o-5", `{"amount_cents": 1e3}`},
		{"o-6", `{"amount_cents": 99999999999999999999}`}, {"o-7", `{"amount_cents":1,"amount_cents":2}`},
		{"o-8", "\x00\xff"}, {"", `{"amount_cents": 1}`}, {"..", `{"amount_cents": 1}`},
		{"o%2F9", `{"amount_cents": 1}`}, {"o-10", `{"order_id":"x","amount_cents":5}`},
	} {
		f.Add(s.id, []byte(s.body))
	}
	ctx := context.Background()
	store, err := ledger.Open(f.TempDir(), "cas", 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	led, err := ledger.NewServer(ctx, store, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	ledgerSrv := httptest.NewServer(led)
	f.Cleanup(ledgerSrv.Close)
	c, err := cache.New("mutex")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.Close)
	oc := orders.NewClient(5 * time.Second)
	f.Cleanup(oc.CloseIdleConnections)
	ordersSrv := httptest.NewServer(orders.NewServer(c, ledgerSrv.URL, orders.WithClient(oc)))
	f.Cleanup(ordersSrv.Close)
	gw, err := gateway.New("bounded", []string{ordersSrv.URL}, 5*time.Second, 1)
	if err != nil {
		f.Fatal(err)
	}
	gatewaySrv := httptest.NewServer(gw)
	f.Cleanup(gatewaySrv.Close)
	hc := &http.Client{Timeout: 10 * time.Second}
	f.Cleanup(hc.CloseIdleConnections)

	f.Fuzz(func(t *testing.T, id string, body []byte) {
		targets := []string{
			gatewaySrv.URL + "/orders/" + url.PathEscape(id) + "/pay",
			ordersSrv.URL + "/orders/" + url.PathEscape(id) + "/pay",
			ledgerSrv.URL + "/charges",
		}
		for _, u := range targets {
			resp, err := hc.Post(u, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatalf("POST %s: %v", u, err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("POST %s body %q: status %d, want < 500", u, body, resp.StatusCode)
			}
		}
	})
}
