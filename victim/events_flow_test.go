package victim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/internal/syncbuf"
	"github.com/cascadelab/cascadelab/victim/cache"
	"github.com/cascadelab/cascadelab/victim/events"
	"github.com/cascadelab/cascadelab/victim/gateway"
	"github.com/cascadelab/cascadelab/victim/ledger"
	"github.com/cascadelab/cascadelab/victim/orders"
)

// parseEvents reads the victims' event lines.
func parseEvents(t *testing.T, log string) []events.Event {
	t.Helper()
	var out []events.Event
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not a JSON event: %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// TestPayFlowEvents pays one order twice at once through gateway → orders →
// ledger (idempotency none, a 300 ms check-then-act window), the gateway
// sending each request to another orders replica, so both pass the caches
// and the ledger's check: every event of a request carries its ID, from the
// gateway to the ledger's duplicate_deduct.
func TestPayFlowEvents(t *testing.T) {
	var out syncbuf.Buffer
	store, err := ledger.Open(t.TempDir(), ledger.ModeNone, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ls, err := ledger.NewServer(context.Background(), store, nil, nil, ledger.WithEvents(events.New(&out, "ledger", "ledger-0")))
	if err != nil {
		t.Fatal(err)
	}
	led := httptest.NewServer(ls)
	defer led.Close()
	var ordersURLs []string
	for _, name := range []string{"orders-0", "orders-1"} {
		c, err := cache.New(cache.Mutex)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := httptest.NewServer(orders.NewServer(c, led.URL, orders.WithEvents(events.New(&out, "orders", name))))
		defer o.Close()
		ordersURLs = append(ordersURLs, o.URL)
	}
	gw, err := gateway.New(gateway.ModeBounded, ordersURLs, 5*time.Second, 0, gateway.WithEvents(events.New(&out, "gateway", "gateway-0")))
	if err != nil {
		t.Fatal(err)
	}
	g := httptest.NewServer(gw)
	defer g.Close()
	var wg sync.WaitGroup
	for _, id := range []string{"req-one", ""} { // the second gets an ID from the gateway
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, g.URL+"/orders/ord-7/pay", strings.NewReader(`{"amount_cents": 1200}`))
			if id != "" {
				req.Header.Set(events.RequestIDHeader, id)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("pay: %s", resp.Status)
			}
		})
	}
	wg.Wait()
	evs := parseEvents(t, out.String())
	byReq := map[string][]string{}
	var dup *events.Event
	for i, e := range evs {
		if e.OrderID != "ord-7" || e.TS <= 0 || e.Seq == 0 {
			t.Errorf("event %+v: want order ord-7, ts and seq", e)
		}
		byReq[e.RequestID] = append(byReq[e.RequestID], e.Role+":"+e.Event+":"+e.Status)
		if e.Event == events.DuplicateDeduct {
			dup = &evs[i]
		}
	}
	if len(byReq) != 2 || byReq[""] != nil {
		t.Fatalf("events by request: %v, want 2 requests, each with an ID", byReq)
	}
	if dup == nil || dup.RequestID == "" || dup.AmountCents != 1200 || dup.Replica != "ledger-0" || dup.Role != "ledger" {
		t.Fatalf("duplicate_deduct = %+v, want one request's ID and 1200 cents from ledger-0", dup)
	}
	want := "orders:order_cache_set:PREPARE orders:charge_attempt: orders:charge_result:PAID orders:order_cache_set:PAID"
	for id, got := range byReq {
		if id == dup.RequestID {
			want += " ledger:duplicate_deduct:PAID"
		}
		// The ledger's event is written while orders waits for its answer.
		if g := strings.Join(got, " "); !sameEvents(g, want) {
			t.Errorf("request %s's events:\n got %s\nwant %s", id, g, want)
		}
		want = strings.TrimSuffix(want, " ledger:duplicate_deduct:PAID")
	}
}

// sameEvents compares two event lists, the ledger's event allowed anywhere
// after the charge attempt.
func sameEvents(got, want string) bool {
	const d = " ledger:duplicate_deduct:PAID"
	if strings.Contains(want, d) != strings.Contains(got, d) {
		return false
	}
	return strings.Replace(got, d, "", 1) == strings.Replace(want, d, "", 1)
}
