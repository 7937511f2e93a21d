package events_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/cascadelab/cascadelab/victim/events"
)

func TestLogWritesOneObjectPerLine(t *testing.T) {
	var buf bytes.Buffer
	l := events.New(&buf, "orders", "orders-1")
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			l.Emit(events.Event{Event: events.ChargeAttempt, RequestID: "r", OrderID: "o", AmountCents: 5})
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	seen := map[uint64]bool{}
	for _, ln := range lines {
		var e events.Event
		if err := json.Unmarshal([]byte(ln), &e); err != nil {
			t.Fatalf("line %q: %v", ln, err)
		}
		if e.TS <= 0 || e.Role != "orders" || e.Replica != "orders-1" || e.Event != events.ChargeAttempt || e.AmountCents != 5 {
			t.Errorf("event %+v", e)
		}
		if seen[e.Seq] || e.Seq < 1 || e.Seq > 50 {
			t.Errorf("seq %d repeated or out of 1..50", e.Seq)
		}
		seen[e.Seq] = true
	}
	for _, key := range []string{`"ts":`, `"seq":`, `"event":`, `"request_id":`, `"order_id":`, `"amount_cents":`} {
		if !strings.Contains(lines[0], key) {
			t.Errorf("line %q lacks %s", lines[0], key)
		}
	}
	var nilLog *events.Log
	nilLog.Emit(events.Event{Event: "x"}) // must not panic
}

func TestNewRequestID(t *testing.T) {
	a, b := events.NewRequestID(), events.NewRequestID()
	if a == b || len(a) != 16 {
		t.Errorf("request IDs %q %q: want two different 16-digit IDs", a, b)
	}
}
