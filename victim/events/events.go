// Package events writes the victim's structured log events: one JSON object
// per line, at the points of a payment that a postmortem needs (the cache
// write, the charge attempt and its result, a duplicate deduction in the
// ledger, a retry in the gateway).
//
// Each line carries ts (wall-clock microseconds since the Unix epoch), seq
// (a per-process sequence number, so that the order of one process's lines
// is exact even when two share a microsecond), event, role and replica, and
// request_id and order_id where they apply. Lines from different processes
// are ordered by ts only, which is as good as the clocks: on one machine
// that is one clock; across nodes it is NTP's skew.
//
// Every Emit is written with one Write call and no buffering, so the last
// events before a fatal runtime error (which runs no deferred function and
// flushes nothing) are on the output when the process dies. EmitAll writes
// several events, emitted at one point with nothing between them that could
// crash the process or be seen outside it, in one Write call: the same
// lines, one system call.
package events

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Event names, the contract between the victim and the report.
const (
	// CacheSet is a write of an order into the orders cache, with the
	// status written (PREPARE before the charge, PAID after it).
	CacheSet = "order_cache_set"
	// ChargeAttempt is the orders service asking the ledger to charge.
	ChargeAttempt = "charge_attempt"
	// ChargeResult is the ledger's answer to a charge attempt (status, or
	// code and error when it failed).
	ChargeResult = "charge_result"
	// DuplicateDeduct is the ledger charging an order a second time.
	DuplicateDeduct = "duplicate_deduct"
	// GatewayRetry is the gateway sending a request again after a failed
	// attempt (attempt is the number of the new attempt, from 2).
	GatewayRetry = "gateway_retry"
	// Crash is a process's fatal error headline; the victim cannot write
	// it (the runtime does, on stderr), so collectors add it.
	Crash = "crash"
)

// RequestIDHeader carries a request's ID from the gateway to orders and
// the ledger; the gateway sets it when the client did not.
const RequestIDHeader = "X-Request-Id"

// Event is one log line.
type Event struct {
	TS          int64  `json:"ts"`
	Seq         uint64 `json:"seq"`
	Event       string `json:"event"`
	Role        string `json:"role,omitempty"`
	Replica     string `json:"replica,omitempty"`
	RequestID   string `json:"request_id,omitempty"`
	OrderID     string `json:"order_id,omitempty"`
	Status      string `json:"status,omitempty"`
	AmountCents int64  `json:"amount_cents,omitempty"`
	Attempt     int    `json:"attempt,omitempty"`
	Code        int    `json:"code,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Log writes events for one process. A nil *Log writes nothing, so
// components take one optionally.
type Log struct {
	mu      sync.Mutex
	w       io.Writer
	seq     uint64
	role    string
	replica string
	buf     []byte
	now     func() time.Time
}

// New returns a Log writing to w for the given role and replica.
func New(w io.Writer, role, replica string) *Log {
	return &Log{w: w, role: role, replica: replica, now: time.Now}
}

// Emit writes e, filling in ts, seq, role and replica. Write errors are
// dropped: a full or closed output must not fail a payment.
func (l *Log) Emit(e Event) { l.EmitAll(e) }

// EmitAll writes es as Emit would write them one after another (one line
// each, consecutive seqs), in a single Write call. The caller must not
// need any of them on the output before a later one is emitted: use it
// for events of one moment, never across a step that can crash the
// process or make its effect visible (a cache write, a call out).
func (l *Log) EmitAll(es ...Event) {
	if l == nil || len(es) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = l.buf[:0]
	for _, e := range es {
		l.seq++
		e.TS, e.Seq, e.Role, e.Replica = l.now().UnixMicro(), l.seq, l.role, l.replica
		l.buf = append(appendJSON(l.buf, &e), '\n')
	}
	if len(l.buf) > 0 {
		_, _ = l.w.Write(l.buf)
	}
}

// appendJSON appends e as json.Marshal writes it, byte for byte (the
// fields in order, omitempty as tagged), without reflection: marshalling
// was half of what an event cost the orders service in BenchmarkChain.
// TestAppendJSONLikeMarshal and FuzzAppendJSON hold it to json.Marshal.
func appendJSON(b []byte, e *Event) []byte {
	b = strconv.AppendInt(append(b, `{"ts":`...), e.TS, 10)
	b = strconv.AppendUint(append(b, `,"seq":`...), e.Seq, 10)
	b = appendString(append(b, `,"event":`...), e.Event)
	for _, f := range [...]struct{ key, v string }{
		{`,"role":`, e.Role}, {`,"replica":`, e.Replica}, {`,"request_id":`, e.RequestID},
		{`,"order_id":`, e.OrderID}, {`,"status":`, e.Status},
	} {
		if f.v != "" {
			b = appendString(append(b, f.key...), f.v)
		}
	}
	for _, f := range [...]struct {
		key string
		v   int64
	}{{`,"amount_cents":`, e.AmountCents}, {`,"attempt":`, int64(e.Attempt)}, {`,"code":`, int64(e.Code)}} {
		if f.v != 0 {
			b = strconv.AppendInt(append(b, f.key...), f.v, 10)
		}
	}
	if e.Error != "" {
		b = appendString(append(b, `,"error":`...), e.Error)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string the way encoding/json does:
// printable ASCII other than the quote, backslash and the HTML characters
// it escapes (<, >, &) is copied; anything else is left to json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// NewRequestID returns a random request ID (16 hex digits).
func NewRequestID() string {
	return strconv.FormatUint(rand.Uint64()|1<<60, 16)
}
