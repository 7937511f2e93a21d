package events

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// sameAsMarshal fails t when appendJSON(e) differs from json.Marshal(e).
func sameAsMarshal(t *testing.T, e Event) {
	t.Helper()
	want, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendJSON([]byte("x"), &e); !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Errorf("appendJSON(%+v)\n got %s\nwant x%s", e, got, want)
	}
}

// TestAppendJSONLikeMarshal: the hand-written encoder writes what
// json.Marshal writes, for every field set or empty, the integers' extremes
// and strings that need escaping (quotes, control characters, HTML
// characters, non-ASCII, invalid UTF-8, U+2028).
func TestAppendJSONLikeMarshal(t *testing.T) {
	full := Event{TS: 1795813291460000, Seq: 42, Event: ChargeResult, Role: "orders", Replica: "orders-1",
		RequestID: "1a2b3c4d5e6f7a8b", OrderID: "o-17", Status: "PAID", AmountCents: 1234, Attempt: 2,
		Code: 502, Error: `ledger: Post "http://127.0.0.1:8003/charges": context deadline exceeded`}
	sameAsMarshal(t, full)
	sameAsMarshal(t, Event{})
	sameAsMarshal(t, Event{TS: math.MinInt64, Seq: math.MaxUint64, AmountCents: math.MaxInt64, Attempt: -1, Code: math.MinInt32})
	for _, s := range []string{"", "a", `"`, `\`, "<b>&amp;</b>", "tab\there", "nl\n", "\x00\x1f\x7f", "café", "日本",
		"\xff\xfe", "line\u2028sep\u2029", "emoji 😀", "a\"b\\c/d"} {
		e := full
		e.Event, e.Role, e.Replica, e.RequestID, e.OrderID, e.Status, e.Error = s, s, s, s, s, s, s
		sameAsMarshal(t, e)
	}
}

// FuzzAppendJSON holds appendJSON to json.Marshal for any strings and
// integers (the seeds run as a test; go test -fuzz FuzzAppendJSON explores).
func FuzzAppendJSON(f *testing.F) {
	f.Add(int64(1), uint64(2), "charge_attempt", "orders", "o-1", "<&>", int64(5), 0, "")
	f.Add(int64(-1), uint64(0), "", "\xff", "\u2028", "\"\\", int64(-7), 3, "err\n")
	f.Fuzz(func(t *testing.T, ts int64, seq uint64, event, role, order, status string, amount int64, code int, errText string) {
		sameAsMarshal(t, Event{TS: ts, Seq: seq, Event: event, Role: role, Replica: role, RequestID: order,
			OrderID: order, Status: status, AmountCents: amount, Attempt: code / 2, Code: code, Error: errText})
	})
}

// BenchmarkEncode compares json.Marshal of a pay-flow event with appendJSON.
//
//	go test -run '^$' -bench Encode ./victim/events/
func BenchmarkEncode(b *testing.B) {
	e := Event{TS: 1795813291460000, Seq: 42, Event: ChargeResult, Role: "orders", Replica: "orders-1",
		RequestID: "1a2b3c4d5e6f7a8b", OrderID: "c8-12345", Status: "PAID", AmountCents: 1234}
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = appendJSON(buf[:0], &e)
		}
	})
}
