// Package victimlog collects the victim's structured log events from every
// process of a drill and reconstructs, from them, the evidence a postmortem
// needs: for the first double charges, the chain of events across processes
// that let the order be charged twice, and for each crash, the last events
// its process wrote before it died.
//
// It has no Kubernetes client and starts no process: the local runner feeds
// it its children's output as it is written; the operator feeds it pod logs
// (the previous container's included) read through the API server.
//
// Memory is bounded, whatever the drill's length: a ring of the last
// RingSize lines per process (a line longer than MaxLineBytes is cut), the
// events of at most MaxCandidates double-charged orders (MaxChainEvents
// each), of which the first MaxChains that can be reconstructed are
// reported, and at most MaxCrashes crash contexts of CrashContextEvents
// events each. An event is only found for a chain if it is still in its
// process's ring when the duplicate charge is seen, or arrives after it; at
// the victim's rates the ring holds several seconds of every process's
// events.
package victimlog

import (
	"encoding/json"

	"github.com/cascadelab/cascadelab/victim/events"
)

// Bounds of a Collector.
const (
	// RingSize is how many recent lines are kept per process.
	RingSize = 4096
	// MaxLineBytes is the longest line kept; longer lines are cut.
	MaxLineBytes = 1024
	// MaxChains is how many double charges are reported (the first).
	MaxChains = 5
	// MaxCandidates is how many double-charged orders' events are kept,
	// so that chains whose events were lost can give way to later ones.
	MaxCandidates = 4 * MaxChains
	// MaxChainEvents is the most events one chain keeps.
	MaxChainEvents = 64
	// MaxCrashes is how many crashes get a context (the first).
	MaxCrashes = 10
	// CrashContextEvents is how many events before a crash are kept.
	CrashContextEvents = 12
)

// Record is one line of one process: a victim event, or (Event empty) a
// line that was not one, kept verbatim in Raw.
type Record struct {
	events.Event
	// Process is the target that wrote the line (a pod or process name).
	Process string `json:"process"`
	// Raw is the line as written, when it was not a victim event.
	Raw string `json:"raw,omitempty"`
}

// Windows: how a double charge got through, as named in a Chain.
const (
	// WindowCheckThenAct: the second request passed the cache check before
	// the first marked the order PAID.
	WindowCheckThenAct = "check-then-act"
	// WindowRetry: the same request was charged twice, the gateway having
	// retried after its first attempt timed out while the charge went on.
	WindowRetry = "retry after a timeout"
	// WindowRestart: the replica that cached the order as PAID crashed,
	// and its restart came back with an empty cache.
	WindowRestart = "restart emptied the cache"
	// WindowReplicas: the second request went to another orders replica,
	// whose own cache had never seen the order.
	WindowReplicas = "another replica's cache"
	// WindowForgot: the same replica no longer had the order cached (its
	// TTL janitor evicted it) when the second request came.
	WindowForgot = "cache entry expired"
	// WindowUnknown: the events needed to tell were not all collected.
	WindowUnknown = "not reconstructed"
)

// Chain is the evidence of one double charge, in time order.
type Chain struct {
	// OrderID is the order charged twice.
	OrderID string `json:"orderId"`
	// Window names how the second charge got through (Window* constants).
	Window string `json:"window"`
	// Explanation says it in a sentence, naming requests and replicas.
	Explanation string `json:"explanation"`
	// Requests are the request IDs of the first and the duplicate charge
	// (one ID when a retry of the same request charged twice).
	Requests []string `json:"requests"`
	// Events are the order's events across processes, by time.
	Events []Record `json:"events"`
}

// CrashContext is what one process wrote last before it crashed.
type CrashContext struct {
	// Process is the process (pod) that crashed.
	Process string `json:"process"`
	// TS is when the crash was seen, microseconds since the Unix epoch.
	TS int64 `json:"ts"`
	// Headline is the fatal error's first line.
	Headline string `json:"headline"`
	// Before are the process's last events before the crash, by time.
	Before []Record `json:"before"`
}

// Evidence is everything a Collector reconstructed.
type Evidence struct {
	Races   []Chain        `json:"races,omitempty"`
	Crashes []CrashContext `json:"crashes,omitempty"`
}

// Parse reads one output line of process. A line that is not a JSON object
// with a ts and an event is returned verbatim as Raw; Parse never fails.
func Parse(process string, line []byte) Record {
	if len(line) > MaxLineBytes {
		line = line[:MaxLineBytes]
	}
	rec := Record{Process: process}
	if len(line) > 0 && line[0] == '{' {
		var e events.Event
		if json.Unmarshal(line, &e) == nil && e.TS > 0 && e.Event != "" {
			rec.Event = e
			return rec
		}
	}
	rec.Raw = string(line)
	return rec
}
