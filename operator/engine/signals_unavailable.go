package engine

import (
	"fmt"
	"math"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// FindingSignalUnavailable: a signal the hypothesis needs is not served
// by the target (spec.target): its metrics path or goroutine dump answered
// 404, or its metrics have no go_goroutines. The rows that needed it are
// not judged, so the drill cannot be HypothesisHeld.
const FindingSignalUnavailable v1alpha1.FindingType = "SignalUnavailable"

// SignalUnavailable records that the target does not serve path, on the
// process named target, at offset at; needs names what cannot be judged
// without it (such as "leaked goroutines (maxLeakedGoroutines)") and why
// says what the target answered. One finding per path: the first process
// is named, the others are alike.
func (e *Engine) SignalUnavailable(at time.Duration, path, target, needs, why string) {
	j := &e.judge
	if j.hasFinding(FindingSignalUnavailable, path) {
		return
	}
	msg := fmt.Sprintf("%s does not serve %s (%s): %s not judged", target, path, why, needs)
	j.find(FindingSignalUnavailable, path, at, msg)
	j.event(at, string(FindingSignalUnavailable), target, msg)
}

// isSignalUnavailable reports whether t is FindingSignalUnavailable: missing
// evidence, not a breach of the hypothesis.
func isSignalUnavailable(t v1alpha1.FindingType) bool { return t == FindingSignalUnavailable }

// skipRow reports whether the hypothesis row name does not apply to the
// drill: duplicate charges are the kit's victim's ledger's; a target
// (spec.target) has no such counter, so the row is not a row there.
func skipRow(e *Engine, name string) bool {
	return e.spec.Target != nil && name == "maxDuplicateCharges"
}

// entryEdge records, in a drill of spec.target, the load generator's
// requests into the target as the edge loadgen → target, so that a network
// fault on the target's inbound edge is judged on the calls it slows: the
// target's own callers are not the kit's and report no per-edge metrics.
// The mean latency is estimated from the histogram's buckets (each at the
// middle of its bounds). t.last must still be the previous sample.
func (j *judge) entryEdge(rec *record, t *targetState, s observe.Sample) {
	if j.e.spec.Target == nil || t.role != observe.RoleLoadgen || !t.haveLast {
		return
	}
	o := edgeObs{n: 1}
	for code, v := range observe.CounterDeltas(t.last.ClientRequests, s.ClientRequests) {
		o.total += v
		if isClientError(code) {
			o.errors += v
		}
	}
	o.latSum, o.latCount = bucketMean(observe.BucketsDelta(t.last.ClientLatency, s.ClientLatency))
	k := edgeKey{caller: observe.RoleLoadgen, upstream: targetRole}
	rec.edges[k] = rec.edges[k].add(o)
}

// targetRole is the role of spec.target's processes (pods).
const targetRole = "target"

// bucketMean estimates a histogram's sum and count from its cumulative
// buckets: each observation at the middle of its bucket's bounds (the
// lower bound for the +Inf bucket).
func bucketMean(bs []observe.Bucket) (sum, count float64) {
	lo, prev := 0.0, 0.0
	for _, b := range bs {
		n := b.Count - prev
		mid := lo
		if !math.IsInf(b.UpperBound, 1) {
			mid = (lo + b.UpperBound) / 2
			lo = b.UpperBound
		}
		if n > 0 {
			sum += n * mid
			count += n
		}
		prev = b.Count
	}
	return sum, count
}
