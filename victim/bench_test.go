package victim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cascadelab/cascadelab/victim/cache"
	"github.com/cascadelab/cascadelab/victim/ledger"
	"github.com/cascadelab/cascadelab/victim/orders"
)

// BenchmarkPayVsBare compares requests/s of a pay through orders (sharded)
// to the ledger (cas, SQLite) over loopback, in-process, with a bare net/http
// handler that answers the same request. Compare the two ns/op: the ratio is
// bare/pay. Parallel clients: 4×GOMAXPROCS.
func BenchmarkPayVsBare(b *testing.B) {
	body := `{"amount_cents": 1234}`
	run := func(b *testing.B, url func(i int64) string) {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		defer c.CloseIdleConnections()
		var n atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := c.Post(url(n.Add(1)), "application/json", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
	b.Run("bare", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"x","amount_cents":1234,"status":"PAID"}` + "\n"))
		}))
		defer srv.Close()
		run(b, func(i int64) string { return fmt.Sprintf("%s/orders/b-%d/pay", srv.URL, i) })
	})
	b.Run("orders-ledger", func(b *testing.B) {
		store, err := ledger.Open(b.TempDir(), ledger.ModeCAS, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		ls, _ := ledger.NewServer(context.Background(), store, nil, nil)
		led := httptest.NewServer(ls)
		defer led.Close()
		c, _ := cache.New(cache.Sharded)
		oc := orders.NewClient(0)
		defer oc.CloseIdleConnections()
		srv := httptest.NewServer(orders.NewServer(c, led.URL, orders.WithClient(oc)))
		defer srv.Close()
		prefix := fmt.Sprintf("p%d", b.N)
		run(b, func(i int64) string { return fmt.Sprintf("%s/orders/%s-%d/pay", srv.URL, prefix, i) })
	})
}
