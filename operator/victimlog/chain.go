package victimlog

import (
	"fmt"
	"slices"

	"github.com/cascadelab/cascadelab/victim/events"
)

// paid is the order status of a successful charge.
const paid = "PAID"

// reconstruct orders one double-charged order's records and names the
// window the second charge came through. recs may hold crashes of any
// process; only those of the replicas involved, inside the chain's time
// span, are kept.
func reconstruct(orderID string, recs []Record) Chain {
	ch := Chain{OrderID: orderID, Window: WindowUnknown}
	sortRecords(recs)
	dup := slices.IndexFunc(recs, func(r Record) bool { return r.Event.Event == events.DuplicateDeduct })
	if dup < 0 {
		ch.Explanation = "the duplicate deduction's own event was not collected"
		ch.Events = keepCrashes(recs, nil, 0, 0)
		return ch
	}
	d := recs[dup]
	// The first charge: the earliest charge attempt of another request
	// before the duplicate deduction (which of two charges ended first says
	// nothing: the ledger took the other one first); failing that, the same
	// request's first attempt, when it was tried more than once (a retry).
	isAttempt := func(r Record) bool { return r.Event.Event == events.ChargeAttempt && r.TS <= d.TS }
	first := slices.IndexFunc(recs, func(r Record) bool { return isAttempt(r) && r.RequestID != d.RequestID })
	if first < 0 {
		var own []int
		for i, r := range recs {
			if isAttempt(r) && r.RequestID == d.RequestID {
				own = append(own, i)
			}
		}
		if len(own) >= 2 {
			first = own[0]
		}
	}
	var a Record
	if first >= 0 {
		a = recs[first]
	}
	b := attemptOf(recs, d.RequestID, d.TS)
	replicas := map[string]bool{}
	for _, r := range recs {
		if r.Role == "orders" && (r.RequestID == a.RequestID || r.RequestID == d.RequestID) {
			replicas[r.Process] = true
		}
	}
	ch.Events = keepCrashes(recs, replicas, firstTS(recs), d.TS)
	if len(ch.Events) > MaxChainEvents {
		ch.Events = ch.Events[:MaxChainEvents]
	}
	if a.RequestID == "" || b.RequestID == "" {
		ch.Requests = nonEmpty(a.RequestID, d.RequestID)
		ch.Explanation = fmt.Sprintf("order %s was charged twice (the ledger's duplicate_deduct for request %s), but the first charge's or the second attempt's events were not collected", orderID, d.RequestID)
		return ch
	}
	ch.Requests = nonEmpty(a.RequestID, b.RequestID)
	markPaid := markedPaid(recs, a)
	switch {
	case a.RequestID == b.RequestID && a.TS < b.TS:
		ch.Window = WindowRetry
		ch.Explanation = fmt.Sprintf("request %s was charged on %s, and charged again by the gateway's retry on %s: the gateway had given up on the first attempt while its charge went on", a.RequestID, a.Process, b.Process)
	case markPaid == 0 || b.TS < markPaid:
		ch.Window = WindowCheckThenAct
		x, y := a, b // in the order they attempted
		if y.TS < x.TS {
			x, y = y, x
		}
		ch.Explanation = fmt.Sprintf("requests %s (%s) and %s (%s) both passed the check (the cache, then the ledger's status) before either was charged: their charge attempts %d µs apart", x.RequestID, x.Process, y.RequestID, y.Process, y.TS-x.TS)
	case a.Process != b.Process:
		ch.Window = WindowReplicas
		ch.Explanation = fmt.Sprintf("request %s was charged and cached PAID on %s; request %s went to %s, whose cache had never seen the order", a.RequestID, a.Process, b.RequestID, b.Process)
	case crashedBetween(recs, a.Process, markPaid, b.TS):
		ch.Window = WindowRestart
		ch.Explanation = fmt.Sprintf("request %s was charged and cached PAID on %s, which then crashed; after its restart request %s found an empty cache and was charged again", a.RequestID, a.Process, b.RequestID)
	default:
		ch.Window = WindowForgot
		ch.Explanation = fmt.Sprintf("request %s was cached PAID on %s; %d µs later request %s found no entry there (evicted by the cache's TTL) and was charged again", a.RequestID, a.Process, b.TS-markPaid, b.RequestID)
	}
	return ch
}

// sortRecords orders records by time; one process's records that share a
// microsecond keep their sequence order.
func sortRecords(recs []Record) {
	slices.SortStableFunc(recs, func(x, y Record) int {
		if x.TS != y.TS {
			return cmpInt(x.TS, y.TS)
		}
		if x.Process == y.Process {
			return cmpInt(int64(x.Seq), int64(y.Seq))
		}
		return 0
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// attemptOf is request id's last charge attempt at or before ts (its
// result's time when no attempt was collected).
func attemptOf(recs []Record, id string, ts int64) Record {
	var out Record
	for _, r := range recs {
		if r.RequestID == id && r.TS <= ts && (r.Event.Event == events.ChargeAttempt || out.TS == 0 && r.Role == "orders") {
			out = r
		}
	}
	return out
}

// markedPaid is when a's request cached the order PAID on a's process (0 if
// not seen). a is a charge attempt; the mark follows its result.
func markedPaid(recs []Record, a Record) int64 {
	for _, r := range recs {
		if r.Event.Event == events.CacheSet && r.Status == paid && r.RequestID == a.RequestID && r.Process == a.Process {
			return r.TS
		}
	}
	return 0
}

func crashedBetween(recs []Record, process string, from, to int64) bool {
	for _, r := range recs {
		if r.Event.Event == events.Crash && r.Process == process && r.TS >= from && r.TS <= to {
			return true
		}
	}
	return false
}

// keepCrashes drops crash records of processes not in replicas or outside
// [from, to]; every other record stays.
func keepCrashes(recs []Record, replicas map[string]bool, from, to int64) []Record {
	return slices.DeleteFunc(recs, func(r Record) bool {
		return r.Event.Event == events.Crash && (!replicas[r.Process] || r.TS < from || r.TS > to)
	})
}

func firstTS(recs []Record) int64 {
	for _, r := range recs {
		if r.Event.Event != events.Crash {
			return r.TS
		}
	}
	return 0
}

func nonEmpty(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
