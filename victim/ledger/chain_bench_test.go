package ledger_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/victim/admin"
	"github.com/cascadelab/cascadelab/victim/cache"
	"github.com/cascadelab/cascadelab/victim/events"
	"github.com/cascadelab/cascadelab/victim/ledger"
	"github.com/cascadelab/cascadelab/victim/orders"
)

// chainParallelism × GOMAXPROCS clients send at once, as in victim's
// BenchmarkPayVsBare.
const chainParallelism = 4

// BenchmarkChain compares, over loopback HTTP and in-process, requests/s
// and process CPU time per request of
//
//   - bare1: client → a bare net/http handler (one hop);
//   - bare2: client → a bare proxy handler → a bare handler (two hops: the
//     physical limit of orders→ledger);
//   - ledger: client → the ledger (cas, group commit), one hop;
//   - orders-bare: client → orders → a bare handler in the ledger's place
//     (what the orders service costs on its own);
//   - orders-ledger: client → orders → ledger (cas, group commit);
//   - orders-ledger-serial: the same with ledger.Serial() (one transaction
//     per charge, the ledger before group commit);
//   - orders-ledger-quiet: orders-ledger with no log events (what the
//     events cost, side by side).
//
// orders runs the sharded cache; orders and the ledger are instrumented as
// the victim binary runs them in a drill (request metrics on both,
// per-edge client metrics on orders) and write their log events (--events,
// on in drills) into a pipe drained by a goroutine, as the local runner
// reads a victim's stdout. Every request pays a new order.
// cpu-µs/req is the whole process's user+system CPU (clients and servers)
// per request: on a shared machine it moves less than req/s. batch is the
// mean number of charges per group-commit transaction.
// hack/measure/ledger.sh runs the variants interleaved and prints ratios.
func BenchmarkChain(b *testing.B) {
	pay := func(base string) func(id string) (string, string) {
		return func(id string) (string, string) {
			return base + "/orders/" + id + "/pay", `{"amount_cents": 1234}`
		}
	}
	b.Run("bare1", func(b *testing.B) {
		srv := httptest.NewServer(bareHandler())
		defer srv.Close()
		runChain(b, pay(srv.URL))
	})
	b.Run("bare2", func(b *testing.B) {
		back := httptest.NewServer(bareHandler())
		defer back.Close()
		client := orders.NewClient(0)
		defer client.CloseIdleConnections()
		front := httptest.NewServer(bareProxy(client, back.URL))
		defer front.Close()
		runChain(b, pay(front.URL))
	})
	b.Run("ledger", func(b *testing.B) {
		store, url := startLedger(b, true)
		runChain(b, func(id string) (string, string) {
			return url + "/charges", `{"order_id":"` + id + `","amount_cents":1234}`
		})
		reportBatches(b, store)
	})
	b.Run("orders-bare", func(b *testing.B) {
		back := httptest.NewServer(bareHandler())
		defer back.Close()
		runChain(b, pay(startOrders(b, back.URL, true)))
	})
	b.Run("orders-ledger", func(b *testing.B) {
		store, url := startLedger(b, true)
		runChain(b, pay(startOrders(b, url, true)))
		reportBatches(b, store)
	})
	b.Run("orders-ledger-serial", func(b *testing.B) {
		_, url := startLedger(b, true, ledger.Serial())
		runChain(b, pay(startOrders(b, url, true)))
	})
	b.Run("orders-ledger-quiet", func(b *testing.B) {
		store, url := startLedger(b, false)
		runChain(b, pay(startOrders(b, url, false)))
		reportBatches(b, store)
	})
}

// startLedger serves a cas ledger on a fresh database until b ends, with
// its log events (eventPipe) when withEvents.
func startLedger(b *testing.B, withEvents bool, opts ...ledger.Option) (*ledger.Store, string) {
	store, err := ledger.Open(b.TempDir(), ledger.ModeCAS, ledger.DefaultWindow, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	m := admin.NewMetrics()
	var so []ledger.ServerOption
	if withEvents {
		so = append(so, ledger.WithEvents(events.New(eventPipe(b), "ledger", "ledger-0")))
	}
	ls, err := ledger.NewServer(context.Background(), store, m.Registry, m.Instrument, so...)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(ls)
	b.Cleanup(srv.Close)
	return store, srv.URL
}

// startOrders serves orders (sharded cache) calling the ledger at ledgerURL
// until b ends, with its log events (eventPipe) when withEvents.
func startOrders(b *testing.B, ledgerURL string, withEvents bool) string {
	c, err := cache.New(cache.Sharded)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	m := admin.NewMetrics()
	oc := orders.NewClient(0)
	b.Cleanup(oc.CloseIdleConnections)
	opts := []orders.Option{orders.WithClient(oc),
		orders.WithInstrument(m.Instrument), orders.WithClientInstrument(m.InstrumentClient)}
	if withEvents {
		opts = append(opts, orders.WithEvents(events.New(eventPipe(b), "orders", "orders-0")))
	}
	srv := httptest.NewServer(orders.NewServer(c, ledgerURL, opts...))
	b.Cleanup(srv.Close)
	return srv.URL
}

// eventPipe returns the write end of a pipe whose read end a goroutine
// drains until b ends: a victim's stdout as the local runner reads it.
func eventPipe(b *testing.B) io.Writer {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, r)
	}()
	b.Cleanup(func() {
		w.Close()
		<-done
		r.Close()
	})
	return w
}

func reportBatches(b *testing.B, store *ledger.Store) {
	if txs, charges := store.BatchStats(); txs > 0 {
		b.ReportMetric(float64(charges)/float64(txs), "batch")
	}
}

// cpuTime is the CPU time (user + system) the process has used: every
// server and client of a chain runs in it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareHandler answers with a fixed order, reading the body.
func bareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"x","amount_cents":1234,"status":"PAID"}` + "\n"))
	})
}

// bareProxy forwards the request body to next and copies its answer back:
// one more loopback hop and nothing else.
func bareProxy(client *http.Client, next string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, next+"/charges", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		rb, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(rb)
	})
}

// runChain sends one request per new order ID (req gives its URL and
// body) from parallel clients and reports req/s and CPU per request.
func runChain(b *testing.B, req func(id string) (url, body string)) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	c := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	prefix := fmt.Sprintf("c%d-", b.N)
	var n atomic.Int64
	b.SetParallelism(chainParallelism)
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			url, body := req(fmt.Sprint(prefix, n.Add(1)))
			resp, err := c.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/req")
}
