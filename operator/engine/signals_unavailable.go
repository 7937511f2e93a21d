package engine

import (
	"fmt"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
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
