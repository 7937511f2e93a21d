package victimlog

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/victim/events"
)

// feed writes the events as their processes would, through a Writer (so
// line splitting is exercised), in the order given.
func feed(t *testing.T, c *Collector, evs ...Record) {
	t.Helper()
	for _, r := range evs {
		b, err := json.Marshal(r.Event)
		if err != nil {
			t.Fatal(err)
		}
		w := c.Writer(r.Process)
		// Split the line across two writes.
		w.Write(b[:len(b)/2])
		w.Write(append(b[len(b)/2:], '\n'))
		w.Close()
	}
}

func ev(process, role string, ts int64, name, rid, order, status string) Record {
	return Record{Process: process, Event: events.Event{TS: ts, Seq: uint64(ts), Event: name, Role: role, Replica: process, RequestID: rid, OrderID: order, Status: status}}
}

const t0 = 1_790_000_000_000_000 // µs

func TestCheckThenActChain(t *testing.T) {
	c := NewCollector()
	feed(t, c,
		ev("orders-0", "orders", t0, events.CacheSet, "A", "o1", "PREPARE"),
		ev("orders-1", "orders", t0+900, events.CacheSet, "B", "o1", "PREPARE"),
		ev("orders-0", "orders", t0+10, events.ChargeAttempt, "A", "o1", ""),
		ev("orders-1", "orders", t0+910, events.ChargeAttempt, "B", "o1", ""),
		ev("orders-0", "orders", t0+5000, events.ChargeResult, "A", "o1", "PAID"),
		ev("orders-0", "orders", t0+5010, events.CacheSet, "A", "o1", "PAID"),
		ev("ledger-0", "ledger", t0+5800, events.DuplicateDeduct, "B", "o1", "PAID"),
		// after the duplicate is seen: still part of the chain
		ev("orders-1", "orders", t0+6000, events.ChargeResult, "B", "o1", "PAID"),
		ev("orders-1", "orders", t0+6010, events.CacheSet, "B", "o1", "PAID"),
		// another order: not in the chain
		ev("orders-1", "orders", t0+6020, events.CacheSet, "C", "o2", "PREPARE"),
	)
	got := c.Evidence()
	if len(got.Races) != 1 {
		t.Fatalf("races = %d, want 1", len(got.Races))
	}
	ch := got.Races[0]
	if ch.Window != WindowCheckThenAct || ch.OrderID != "o1" {
		t.Fatalf("window %q order %q, want %q o1; %s", ch.Window, ch.OrderID, WindowCheckThenAct, ch.Explanation)
	}
	if strings.Join(ch.Requests, ",") != "A,B" {
		t.Errorf("requests = %v, want A,B", ch.Requests)
	}
	if len(ch.Events) != 9 {
		t.Errorf("events = %d, want 9 (every o1 event, no o2)", len(ch.Events))
	}
	for i := 1; i < len(ch.Events); i++ {
		if ch.Events[i].TS < ch.Events[i-1].TS {
			t.Fatalf("events out of time order at %d", i)
		}
	}
	if !strings.Contains(ch.Explanation, "attempts 900 µs apart") {
		t.Errorf("explanation %q does not give the 900 µs between the attempts", ch.Explanation)
	}
	// The check is the cache and then the ledger's status, not the cache
	// alone: the explanation must not blame the cache's PAID mark.
	want := "requests A (orders-0) and B (orders-1) both passed the check (the cache, then the ledger's status) before either was charged: their charge attempts 900 µs apart"
	if ch.Explanation != want {
		t.Errorf("explanation\n got %q\nwant %q", ch.Explanation, want)
	}
}

func TestRetryAndRestartWindows(t *testing.T) {
	c := NewCollector()
	feed(t, c,
		// retry: request R charged on orders-0, the gateway retried R to orders-1
		ev("orders-0", "orders", t0, events.ChargeAttempt, "R", "r1", ""),
		ev("gateway-0", "gateway", t0+500_000, events.GatewayRetry, "R", "r1", ""),
		ev("orders-1", "orders", t0+500_100, events.ChargeAttempt, "R", "r1", ""),
		ev("orders-0", "orders", t0+700_000, events.ChargeResult, "R", "r1", "PAID"),
		ev("orders-0", "orders", t0+700_010, events.CacheSet, "R", "r1", "PAID"),
		ev("ledger-0", "ledger", t0+800_000, events.DuplicateDeduct, "R", "r1", "PAID"),
		// restart: X cached PAID on orders-0, orders-0 crashed, Y hit it again
		ev("orders-0", "orders", t0+1_000_000, events.ChargeAttempt, "X", "x1", ""),
		ev("orders-0", "orders", t0+1_001_000, events.ChargeResult, "X", "x1", "PAID"),
		ev("orders-0", "orders", t0+1_001_010, events.CacheSet, "X", "x1", "PAID"),
	)
	c.Crash("orders-0", time.UnixMicro(t0+2_000_000), "fatal error: concurrent map writes")
	c.Crash("orders-1", time.UnixMicro(t0+2_100_000), "fatal error: concurrent map read and map write")
	feed(t, c,
		ev("orders-0", "orders", t0+5_000_000, events.ChargeAttempt, "Y", "x1", ""),
		ev("ledger-0", "ledger", t0+5_001_000, events.DuplicateDeduct, "Y", "x1", "PAID"),
	)
	got := c.Evidence()
	if len(got.Races) != 2 {
		t.Fatalf("races = %d, want 2", len(got.Races))
	}
	if w := got.Races[0].Window; w != WindowRetry {
		t.Errorf("first chain window %q, want %q (%s)", w, WindowRetry, got.Races[0].Explanation)
	}
	r := got.Races[1]
	if r.Window != WindowRestart {
		t.Errorf("second chain window %q, want %q (%s)", r.Window, WindowRestart, r.Explanation)
	}
	var crashes []string
	for _, e := range r.Events {
		if e.Event.Event == events.Crash {
			crashes = append(crashes, e.Process)
		}
	}
	if fmt.Sprint(crashes) != "[orders-0]" {
		t.Errorf("crashes in the restart chain = %v, want only orders-0's", crashes)
	}
	if len(got.Crashes) != 2 || got.Crashes[0].Headline != "fatal error: concurrent map writes" {
		t.Fatalf("crash contexts = %+v", got.Crashes)
	}
	before := got.Crashes[0].Before
	if len(before) == 0 || before[len(before)-1].RequestID != "X" {
		t.Errorf("orders-0's last event before its crash = %+v, want request X's cache set", before)
	}
}

func TestRawLinesAndBounds(t *testing.T) {
	c := NewCollector()
	w := c.Writer("orders-0")
	fmt.Fprintf(w, "not json\n{\"broken\": \n%s\n", strings.Repeat("x", 3*MaxLineBytes))
	for i := range RingSize + 10 {
		fmt.Fprintf(w, `{"ts":%d,"seq":%d,"event":"charge_attempt","order_id":"o%d"}`+"\n", t0+i, i, i)
	}
	w.Close()
	r := c.rings["orders-0"]
	var n, raw int
	r.each(func(x Record) {
		n++
		if x.Raw != "" {
			raw++
		}
		if len(x.Raw) > MaxLineBytes {
			t.Errorf("kept a %d-byte line", len(x.Raw))
		}
	})
	if n != RingSize || raw != 0 {
		t.Errorf("ring holds %d records (%d raw), want %d events, the raw lines pushed out", n, raw, RingSize)
	}
	if got := Parse("p", []byte("not json")); got.Raw != "not json" || got.Event.Event != "" {
		t.Errorf("Parse(not json) = %+v", got)
	}
	if got := Parse("p", []byte(`{"ts":0,"event":"x"}`)); got.Raw == "" {
		t.Errorf("an event without ts was taken as an event: %+v", got)
	}
	// More duplicates than MaxChains: only the first are kept.
	for i := range MaxChains + 3 {
		c.Line("ledger-0", []byte(fmt.Sprintf(`{"ts":%d,"seq":1,"event":"duplicate_deduct","order_id":"d%d","request_id":"q"}`, t0+i, i)))
	}
	if got := len(c.Evidence().Races); got != MaxChains {
		t.Errorf("races = %d, want the first %d", got, MaxChains)
	}
}

// TestReconstructedChainsFirst: duplicates whose other events were lost
// give way to a later one that can be reconstructed.
func TestReconstructedChainsFirst(t *testing.T) {
	c := NewCollector()
	for i := range MaxChains {
		c.Line("ledger-0", []byte(fmt.Sprintf(`{"ts":%d,"seq":%d,"event":"duplicate_deduct","order_id":"lost%d","request_id":"q%d"}`, t0+i, i+1, i, i)))
	}
	feed(t, c,
		ev("orders-0", "orders", t0+100, events.ChargeAttempt, "A", "ok", ""),
		ev("orders-1", "orders", t0+200, events.ChargeAttempt, "B", "ok", ""),
		ev("orders-0", "orders", t0+300, events.ChargeResult, "A", "ok", "PAID"),
		ev("orders-0", "orders", t0+310, events.CacheSet, "A", "ok", "PAID"),
		ev("ledger-0", "ledger", t0+400, events.DuplicateDeduct, "B", "ok", "PAID"),
	)
	races := c.Evidence().Races
	if len(races) != MaxChains {
		t.Fatalf("%d races, want %d", len(races), MaxChains)
	}
	found := false
	for i, r := range races {
		if r.OrderID == "ok" {
			found = r.Window == WindowCheckThenAct
		}
		if i > 0 && dupTS(races[i-1]) > dupTS(r) {
			t.Errorf("races not in the order of their duplicate charges")
		}
	}
	if !found {
		t.Errorf("the reconstructable chain was not reported: %+v", races)
	}
}

// TestCheckThenActGapIsPositive: when the duplicate's attempt came first
// (its charge ended after the other's), the gap is still the time between
// the two attempts, not a negative number.
func TestCheckThenActGapIsPositive(t *testing.T) {
	c := NewCollector()
	feed(t, c,
		ev("orders-1", "orders", t0, events.ChargeAttempt, "B", "o1", ""),
		ev("orders-0", "orders", t0+337, events.ChargeAttempt, "A", "o1", ""),
		ev("orders-0", "orders", t0+2000, events.ChargeResult, "A", "o1", "PAID"),
		ev("orders-0", "orders", t0+2010, events.CacheSet, "A", "o1", "PAID"),
		ev("ledger-0", "ledger", t0+5000, events.DuplicateDeduct, "B", "o1", "PAID"),
	)
	ch := c.Evidence().Races[0]
	if ch.Window != WindowCheckThenAct || !strings.Contains(ch.Explanation, "requests B (orders-1) and A (orders-0)") || !strings.Contains(ch.Explanation, "337 µs apart") {
		t.Errorf("%s: %s", ch.Window, ch.Explanation)
	}
}

// TestCheckThenActNotARetry: the case a browser-test drill showed — two
// requests on one replica, the first's charge result written after the
// second's (and after the ledger's duplicate_deduct for the second): a
// check-then-act, not a retry of the second request.
func TestCheckThenActNotARetry(t *testing.T) {
	c := NewCollector()
	feed(t, c,
		ev("orders-1", "orders", t0, events.CacheSet, "R1", "o7", "PREPARE"),
		ev("orders-1", "orders", t0+538, events.ChargeAttempt, "R1", "o7", ""),
		ev("orders-1", "orders", t0+9673, events.ChargeAttempt, "R2", "o7", ""),
		ev("ledger-0", "ledger", t0+15404, events.DuplicateDeduct, "R2", "o7", "PAID"),
		ev("orders-1", "orders", t0+18080, events.ChargeResult, "R2", "o7", "PAID"),
		ev("orders-1", "orders", t0+18098, events.CacheSet, "R2", "o7", "PAID"),
		ev("orders-1", "orders", t0+18542, events.ChargeResult, "R1", "o7", "PAID"),
		ev("orders-1", "orders", t0+18547, events.CacheSet, "R1", "o7", "PAID"),
	)
	ch := c.Evidence().Races[0]
	if ch.Window != WindowCheckThenAct || strings.Join(ch.Requests, ",") != "R1,R2" || !strings.Contains(ch.Explanation, "9135 µs apart") {
		t.Errorf("%s %v: %s", ch.Window, ch.Requests, ch.Explanation)
	}
}
