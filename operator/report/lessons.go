package report

import (
	"fmt"
	"strings"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// lesson is a short explanation of what a drill's findings show. Text may
// hold `code` spans in backquotes, rendered by both writers.
type lesson struct {
	Title, Text string
}

// lessons explains what the drill ran and found, most fundamental first.
// Each lesson is keyed on what this drill actually had: a finding it made,
// a fault it injected, a mode of the kit's victim it ran. A `target` drill
// (no spec.victim) gets no word about the kit's gateway, orders or ledger.
// Every claim must hold for Go 1.26 (see FACTS.md).
func (r *Report) lessons() []lesson {
	var ls []lesson
	n, v := r.findingCounts(), r.Spec.Victim
	racy := v != nil && v.Orders.Cache == v1alpha1.CacheRacy

	mapCrash := false
	for _, f := range r.Findings {
		if f.Type == v1alpha1.FindingProcessCrashed && strings.Contains(f.Message, "concurrent map") {
			mapCrash = true
			break
		}
	}
	switch {
	case mapCrash:
		text := "`fatal error: concurrent map writes` (and its siblings `concurrent map read and map write` and " +
			"`concurrent map iteration and map write`) is a fatal throw in Go 1.26, not a panic: `recover()` " +
			"cannot catch it, no deferred function runs, net/http's per-connection recover is bypassed, and the " +
			"process exits with status 2 (134 with `GOTRACEBACK=crash`), printing only the crashing goroutine's " +
			"stack by default. The runtime's check only fires when two map operations overlap in time, so it " +
			"finds some races, not all. `go vet` has no map or data-race analyzer and reports nothing here; " +
			"`go test -race` does. "
		if racy {
			text += "Here the orders cache ran `racy`: a plain map written by every request and ranged over by a " +
				"janitor. The fix is synchronisation: a `sync.Mutex`, RWMutex shards, `sync.Map`, or one goroutine " +
				"owning each order (cache strategies `mutex`, `sharded`, `syncmap`, `serialized`)."
		} else {
			text += "The fix is synchronisation: a `sync.Mutex`, RWMutex shards, `sync.Map`, or one goroutine " +
				"owning each key."
		}
		ls = append(ls, lesson{"A concurrent map write is a fatal error, not a panic", text})
	case n[v1alpha1.FindingProcessCrashed] > 0:
		ls = append(ls, lesson{"A process crashed",
			"A process exited during the drill without an injected fault to explain it; its crash text is in the findings above."})
	case racy:
		ls = append(ls, lesson{"The racy cache did not crash this time",
			"The orders cache ran `racy` (a plain map, unsynchronised) and no process died of it in this drill. " +
				"That proves nothing: the runtime's check fires only when two map operations overlap in time. " +
				"`go test -race` finds the race on every run that exercises it."})
	}

	if n[v1alpha1.FindingDuplicateCharges] > 0 {
		ls = append(ls, r.duplicateLesson())
	}
	if n[v1alpha1.FindingGoroutineGrowth]+n[v1alpha1.FindingGoroutineLeak] > 0 {
		text := "A goroutine that sends its result on an unbuffered channel blocks forever once its caller has " +
			"timed out and stopped listening; under latency such goroutines pile up with the request rate. "
		if v != nil && v.Gateway.Mode == v1alpha1.GatewayLeaky {
			text += "That is the gateway's `leaky` mode. Give each try a context with a deadline and let nothing " +
				"outlive the request (mode `bounded`), or make the channel buffered. "
		} else {
			text += "Give each call a context with a deadline and let nothing outlive the request, or make the " +
				"channel buffered. "
		}
		text += "`go.uber.org/goleak` finds such goroutines in tests; Go 1.26's experimental `goroutineleak` " +
			"profile (`GOEXPERIMENT=goroutineleakprofile`) reports goroutines blocked on channels nothing else can reach."
		ls = append(ls, lesson{"Goroutines that wait forever leak", text})
	}
	if n[v1alpha1.FindingErrorRatioExceeded] > 0 {
		text := "A crashed or slowed service shows up at the edge as timeouts and 5xx."
		if v != nil && v.Gateway.Retries != nil && *v.Gateway.Retries > 0 {
			text += fmt.Sprintf(" The gateway retries each call up to %d times and every retry re-sends the same "+
				"order: retries add load on the survivors", *v.Gateway.Retries)
			if v.Ledger.Idempotency == v1alpha1.IdempotencyNone {
				text += " and, with the ledger's idempotency `none`, more chances to charge twice"
			}
			text += "."
		}
		ls = append(ls, lesson{"Failures travel upstream", text})
	}
	if n[v1alpha1.FindingRestarts] > 0 {
		text := "The supervisor (a kubelet in a cluster) brings the process back, but its in-memory state is gone"
		if v != nil {
			text += ": the orders cache starts empty"
		}
		text += ". To keep the `fatal error:` headline in a pod, leave the termination log empty and set " +
			"`terminationMessagePolicy: FallbackToLogsOnError` with the default `GOTRACEBACK`."
		ls = append(ls, lesson{"A restart hides a crash and loses what was in memory", text})
	}
	ls = append(ls, r.faultLessons()...)
	if n[v1alpha1.FindingAborted] > 0 {
		ls = append(ls, lesson{"The abort guard stopped the drill",
			"The error ratio stayed above the guard's bound, so every fault was recovered at once and the drill ended early."})
	}
	if r.Verdict == v1alpha1.VerdictHeld {
		ls = append(ls, lesson{"The hypothesis held",
			"Under this chaos the system kept its steady state, and the kit saw every fault's effect. That is " +
				"evidence, not proof: the runtime's map check only fires when two operations overlap in time, so " +
				"keep `go test -race` in CI as well."})
	}
	return ls
}

// duplicateLesson explains duplicate charges in the terms of what ran: the
// kit's ledger and its idempotency mode, or a target's own service.
func (r *Report) duplicateLesson() lesson {
	text := fmt.Sprintf("%d orders were charged more than once (%s in all). Two requests for the same order — "+
		"a duplicate sent at the same moment, or a retry of a try that timed out — can both pass a "+
		"check-then-act, on different replicas or after a restart emptied a cache. ",
		r.Summary.DuplicateCharges, cents(r.Summary.DuplicateChargedCents))
	v, title := r.Spec.Victim, "The cache is a mirror, not the truth"
	if v == nil {
		title = "A check-then-act lets a duplicate through"
	}
	switch {
	case v != nil && v.Ledger.Idempotency == v1alpha1.IdempotencyNone:
		text += "Locking the cache stops the crash, not the double charge. Only a compare-and-set in the ledger " +
			"(PREPARE→PAID in one transaction, idempotency `cas`) makes the second charge fail."
	case v != nil:
		text += "The ledger ran idempotency `cas`, whose compare-and-set should make the second charge fail: " +
			"a duplicate under `cas` means that guard failed, worth a report with this drill's files."
	default:
		text += "Only an atomic compare-and-set where the payment is recorded (one transaction from pending to " +
			"paid, keyed by the order) makes the second charge fail; a lock in front of a cache does not."
	}
	return lesson{title, text}
}
