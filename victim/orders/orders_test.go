package orders_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cascadelab/cascadelab/victim/cache"
	"github.com/cascadelab/cascadelab/victim/ledger"
	"github.com/cascadelab/cascadelab/victim/orders"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stack is a ledger and n orders replicas in-process on real loopback sockets.
type stack struct {
	store    *ledger.Store
	replicas []*httptest.Server
	client   *http.Client
}

func newStack(t testing.TB, strategy, mode string, replicas int) *stack {
	t.Helper()
	store, err := ledger.Open(t.TempDir(), mode, ledger.DefaultWindow)
	if err != nil {
		t.Fatal(err)
	}
	lsrv, err := ledger.NewServer(context.Background(), store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	led := httptest.NewServer(lsrv)
	s := &stack{store: store, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
	var clients []*http.Client
	for range replicas {
		c, err := cache.New(strategy)
		if err != nil {
			t.Fatal(err)
		}
		oc := orders.NewClient(0)
		clients = append(clients, oc)
		s.replicas = append(s.replicas, httptest.NewServer(orders.NewServer(c, led.URL, orders.WithClient(oc))))
		t.Cleanup(c.Close)
	}
	t.Cleanup(func() {
		for _, r := range s.replicas {
			r.Close()
		}
		for _, c := range clients {
			c.CloseIdleConnections()
		}
		s.client.CloseIdleConnections()
		led.Close()
		store.Close()
	})
	return s
}

func (s *stack) pay(t testing.TB, replica int, id string, cents int64) int {
	resp, err := s.client.Post(s.replicas[replica].URL+"/orders/"+id+"/pay", "application/json",
		strings.NewReader(fmt.Sprintf(`{"amount_cents": %d}`, cents)))
	if err != nil {
		t.Error(err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// storm pays each of n orders `ways` times concurrently, spreading the
// requests for one order over the replicas round-robin.
func (s *stack) storm(t testing.TB, n, ways int) {
	var wg sync.WaitGroup
	for o := range n {
		id := fmt.Sprintf("order-%d", o)
		for w := range ways {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code := s.pay(t, w%len(s.replicas), id, 1000+int64(o)); code != http.StatusOK {
					t.Errorf("pay %s: status %d", id, code)
				}
			}()
		}
	}
	wg.Wait()
}

var fixed = []string{cache.Mutex, cache.Sharded, cache.SyncMap, cache.Serialized}

// TestFixedStrategiesWithCAS: every fixed strategy with the cas ledger,
// under 64-way concurrent duplicate payments: zero duplicate charges and
// balanced books, on one replica and on two.
func TestFixedStrategiesWithCAS(t *testing.T) {
	for _, strategy := range fixed {
		for _, replicas := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/replicas=%d", strategy, replicas), func(t *testing.T) {
				s := newStack(t, strategy, ledger.ModeCAS, replicas)
				s.storm(t, 4, 64)
				tot, err := s.store.Totals(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if tot.DuplicateCharges != 0 || !tot.Balanced || tot.PaidOrders != 4 || tot.Charges != 4 {
					t.Errorf("totals %+v: want 4 charges, 4 paid orders, no duplicates, balanced", tot)
				}
			})
		}
	}
}

// TestMatrixWithNone is the seed's last line as a test: with a ledger that
// does not check idempotently, the fixed caches stop the crash but not the
// double charge (the check and the act straddle the ledger call), except
// serialized within one replica; across two replicas serialized fails too.
func TestMatrixWithNone(t *testing.T) {
	cases := []struct {
		strategy string
		replicas int
		safe     bool
	}{
		{cache.Mutex, 1, false},
		{cache.Sharded, 1, false},
		{cache.SyncMap, 1, false},
		{cache.Serialized, 1, true},
		{cache.Serialized, 2, false},
		{cache.Mutex, 2, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/replicas=%d", c.strategy, c.replicas), func(t *testing.T) {
			s := newStack(t, c.strategy, ledger.ModeNone, c.replicas)
			s.storm(t, 32, 8)
			tot, err := s.store.Totals(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("totals %+v", tot)
			if tot.PaidOrders != 32 {
				t.Errorf("paid orders %d, want 32", tot.PaidOrders)
			}
			if c.safe && (tot.DuplicateCharges != 0 || !tot.Balanced) {
				t.Errorf("want no duplicates and balanced books")
			}
			if !c.safe && tot.DuplicateCharges == 0 {
				t.Errorf("want duplicate charges: 32 orders paid 8 ways at once")
			}
			if tot.ChargedCents != tot.PaidCents+tot.DuplicateCents {
				t.Errorf("charged %d != paid %d + duplicates %d", tot.ChargedCents, tot.PaidCents, tot.DuplicateCents)
			}
		})
	}
}

// panicCache panics on use, to show the handler's recover for real panics.
type panicCache struct{ cache.Cache }

func (panicCache) Do(_ string, fn func())                      { fn() }
func (panicCache) LoadOrStore(cache.Entry) (cache.Entry, bool) { panic("boom") }

// TestRecoverCatchesPanics: the pay handler's recover turns a panic into a
// 500 and the server lives on. (It cannot do that for the racy cache's fatal
// map error; the victim package's crash test shows that.)
func TestRecoverCatchesPanics(t *testing.T) {
	var logs strings.Builder
	srv := httptest.NewServer(orders.NewServer(panicCache{}, "http://127.0.0.1:1", orders.WithLogger(log.New(&logs, "", 0))))
	defer srv.Close()
	for range 2 {
		resp, err := http.Post(srv.URL+"/orders/x/pay", "application/json", strings.NewReader(`{"amount_cents": 1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", resp.StatusCode)
		}
	}
	if !strings.Contains(logs.String(), "recovered panic") {
		t.Errorf("log %q lacks the recovered panic", logs.String())
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestBadInput: bad requests get a 4xx JSON error and never reach the ledger.
func TestBadInput(t *testing.T) {
	s := newStack(t, cache.Mutex, ledger.ModeCAS, 1)
	for _, c := range []struct{ path, body string }{
		{"/orders/a/pay", `{`},
		{"/orders/a/pay", `{"amount_cents": -1}`},
		{"/orders/a/pay", `{"amount_cents": 0}`},
		{"/orders/a/pay", `{"amount_cents": 1, "currency": "CNY"}`},
		{"/orders/a/pay", `{"amount_cents": 999999999999}`},
		{"/orders/a%20b/pay", `{"amount_cents": 1}`},
		{"/orders/a/pay", strings.Repeat(" ", 10000)},
	} {
		resp, err := s.client.Post(s.replicas[0].URL+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode > 499 || !strings.Contains(string(b), `"error"`) {
			t.Errorf("%s %q: %d %s, want 4xx with a JSON error", c.path, c.body, resp.StatusCode, b)
		}
	}
	if tot, _ := s.store.Totals(context.Background()); tot.Charges != 0 {
		t.Errorf("bad input reached the ledger: %+v", tot)
	}
}

// countingCache counts Touches on a mutex cache.
type countingCache struct {
	cache.Cache
	mu      sync.Mutex
	touches int
}

func (c *countingCache) Touch(id string, at time.Time) {
	c.mu.Lock()
	c.touches++
	c.mu.Unlock()
	c.Cache.Touch(id, at)
}

func (c *countingCache) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.touches }

// TestPendingPaymentKeepsEntryFresh: a payment the ledger answers slowly
// touches its cache entry every touch interval while it waits (status check
// and charge), and nothing touches it once it is answered; a payment the
// ledger answers at once touches nothing.
func TestPendingPaymentKeepsEntryFresh(t *testing.T) {
	for _, c := range []struct {
		name     string
		delay    time.Duration
		min, max int
	}{{"slow ledger", 150 * time.Millisecond, 8, 40}, {"fast ledger", 0, 0, 0}} {
		t.Run(c.name, func(t *testing.T) {
			store, err := ledger.Open(t.TempDir(), ledger.ModeNone, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			lsrv, err := ledger.NewServer(context.Background(), store, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			led := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(c.delay) // each of the two calls
				lsrv.ServeHTTP(w, r)
			}))
			defer led.Close()
			mc, _ := cache.New(cache.Mutex)
			cc := &countingCache{Cache: mc}
			oc := orders.NewClient(0)
			defer oc.CloseIdleConnections()
			srv := httptest.NewServer(orders.NewServer(cc, led.URL, orders.WithClient(oc), orders.WithTouchInterval(20*time.Millisecond)))
			defer srv.Close()
			resp, err := http.Post(srv.URL+"/orders/f1/pay", "application/json", strings.NewReader(`{"amount_cents": 10}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			n := cc.count()
			time.Sleep(100 * time.Millisecond) // five intervals: nothing more may come
			if cc.count() != n {
				t.Errorf("%d touches after the payment was answered", cc.count()-n)
			}
			if n < c.min || n > c.max {
				t.Errorf("%d touches, want %d–%d", n, c.min, c.max)
			}
			if e, ok := mc.Get("f1"); !ok || e.Status != "PAID" {
				t.Errorf("entry after payment: %+v %v, want PAID", e, ok)
			}
		})
	}
}
