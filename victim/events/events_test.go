package events_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
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

// writes records each Write call apart.
type writes struct{ calls [][]byte }

func (w *writes) Write(p []byte) (int, error) {
	w.calls = append(w.calls, append([]byte(nil), p...))
	return len(p), nil
}

// TestEmitAllOneWrite: EmitAll writes its events in one Write call, the
// same lines Emit would write one call each (consecutive seqs, complete
// lines); Emit stays one Write per event, so an event is on the output
// when Emit returns.
func TestEmitAllOneWrite(t *testing.T) {
	var w writes
	l := events.New(&w, "orders", "orders-0")
	l.Emit(events.Event{Event: events.CacheSet, OrderID: "a", Status: "PREPARE"})
	l.EmitAll(events.Event{Event: events.CacheSet, OrderID: "b", Status: "PREPARE"},
		events.Event{Event: events.ChargeAttempt, OrderID: "b", AmountCents: 7})
	l.EmitAll()
	l.Emit(events.Event{Event: events.ChargeResult, OrderID: "b", Status: "PAID"})
	if len(w.calls) != 3 {
		t.Fatalf("%d Write calls, want 3 (Emit, EmitAll of two, Emit)", len(w.calls))
	}
	wantLines := []int{1, 2, 1}
	wantEvents := []string{events.CacheSet, events.CacheSet, events.ChargeAttempt, events.ChargeResult}
	seq := uint64(0)
	for i, call := range w.calls {
		if !bytes.HasSuffix(call, []byte("\n")) {
			t.Errorf("write %d %q does not end a line", i, call)
		}
		lines := strings.Split(strings.TrimSuffix(string(call), "\n"), "\n")
		if len(lines) != wantLines[i] {
			t.Errorf("write %d holds %d lines, want %d", i, len(lines), wantLines[i])
		}
		for _, ln := range lines {
			var e events.Event
			if err := json.Unmarshal([]byte(ln), &e); err != nil {
				t.Fatalf("line %q: %v", ln, err)
			}
			seq++
			if e.Seq != seq || e.Event != wantEvents[seq-1] || e.Role != "orders" || e.Replica != "orders-0" || e.TS <= 0 {
				t.Errorf("line %d: %+v, want seq %d event %s", seq, e, seq, wantEvents[seq-1])
			}
		}
	}
}

// BenchmarkEmitPair compares the pay flow's first two events (the cache
// write and the charge attempt) emitted one write each with one EmitAll,
// into a pipe drained by a goroutine as the local runner reads a victim's
// stdout.
//
//	go test -run '^$' -bench EmitPair ./victim/events/
func BenchmarkEmitPair(b *testing.B) {
	set := events.Event{Event: events.CacheSet, RequestID: "1234567890abcdef", OrderID: "c8-12345", Status: "PREPARE", AmountCents: 1234}
	attempt := events.Event{Event: events.ChargeAttempt, RequestID: "1234567890abcdef", OrderID: "c8-12345", AmountCents: 1234}
	for _, c := range []struct {
		name string
		emit func(*events.Log)
	}{
		{"two-writes", func(l *events.Log) { l.Emit(set); l.Emit(attempt) }},
		{"one-write", func(l *events.Log) { l.EmitAll(set, attempt) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); _, _ = io.Copy(io.Discard, r) }()
			l := events.New(w, "orders", "orders-0")
			for b.Loop() {
				c.emit(l)
			}
			w.Close()
			<-done
			r.Close()
		})
	}
}
