package engine

import (
	"fmt"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// What a restarted manager must not lose: which restarts were the faults'
// (the injected crash counts, per fault and target, kept in status), and
// the time it was away (status.lastObservation to its first observation),
// which is an ObservationGap: whatever the victim did then was not seen.

// TargetManager is the target of the ObservationGap that covers the time
// a restarted manager did not observe the drill.
const TargetManager = "manager"

// injectedCrash is a crash the backend reported as a fault's doing.
type injectedCrash struct {
	target string
	at     time.Duration
}

// crashFault is the pod fault an injected crash of target at at is
// counted against: the last one on that target injected by at (killLead
// allowed for a late stamp), else the first one on that target.
func (e *Engine) crashFault(target string, at time.Duration) *faultRun {
	var last, first *faultRun
	for _, f := range e.faults {
		if !f.podFault || f.injectedAt == nil || !hits(f, target) {
			continue
		}
		if *f.injectedAt <= at+killLead && (last == nil || *f.injectedAt >= *last.injectedAt) {
			last = f
		}
		if first == nil || *f.injectedAt < *first.injectedAt {
			first = f
		}
	}
	if last != nil {
		return last
	}
	return first
}

func hits(f *faultRun, target string) bool {
	for _, t := range f.targets {
		if t == target {
			return true
		}
	}
	return false
}

// injectedCounts is, per fault, the injected crashes of each target: those
// restored from status plus those reported since.
func (e *Engine) injectedCounts() map[*faultRun]map[string]int32 {
	out := map[*faultRun]map[string]int32{}
	add := func(f *faultRun, target string, n int32) {
		if out[f] == nil {
			out[f] = map[string]int32{}
		}
		out[f][target] += n
	}
	for _, f := range e.faults {
		for t, n := range f.injectedCrashes {
			add(f, t, n)
		}
	}
	for _, c := range e.judge.injected {
		if f := e.crashFault(c.target, c.at); f != nil {
			add(f, c.target, 1)
		}
	}
	return out
}

// restoreInjected gives each target back the injected crashes status
// counted against the faults, so that a restarted engine does not count
// them as the victim's own restarts.
func (j *judge) restoreInjected(f *faultRun, counts map[string]int32) {
	if len(counts) == 0 {
		return
	}
	f.injectedCrashes = map[string]int32{}
	for name, n := range counts {
		if n <= 0 {
			continue
		}
		f.injectedCrashes[name] = n
		j.target(name, "").injectedCrashes += int(n)
	}
}

// resumeGap records, at the first observation of a restored engine, the
// time since the last observation its status held as an ObservationGap
// (when longer than twice the sample interval, and at least 2 s).
func (j *judge) resumeGap(at time.Duration) {
	if !j.restored || len(j.hist) > 0 || j.lastObs == nil || j.resumedAt != nil {
		return
	}
	from := *j.lastObs
	first := at
	j.resumedAt = &first
	bound := max(2*j.e.opts.sampleInterval, 2*time.Second)
	if at-from <= bound {
		return
	}
	j.find(v1alpha1.FindingObservationGap, TargetManager, from, fmt.Sprintf(
		"the drill was not observed from %s to %s (%s): the manager was away (restarted); what the victim did then was not judged",
		secs(from), secs(at), secs(at-from)))
}

// RecoveryUnverified records that fault i's recovery was not confirmed
// (detail says why: its Chaos Mesh object removed by force, or its rules
// found still live in a victim pod): a RecoveryUnverified finding, an
// evidence finding, so the drill cannot be Held. Called once the drill is
// judged, it turns a HypothesisHeld verdict into Inconclusive.
func (e *Engine) RecoveryUnverified(i int, at time.Duration, detail string) {
	target := ""
	if i >= 0 && i < len(e.faults) {
		target = e.faults[i].name
	}
	if e.judge.hasFinding(v1alpha1.FindingRecoveryUnverified, target) {
		return
	}
	e.judge.find(v1alpha1.FindingRecoveryUnverified, target, at, truncate(detail, 1024))
	if e.phase.Terminal() && e.verdict == v1alpha1.VerdictHeld {
		e.verdict = v1alpha1.VerdictInconclusive
		for k := range e.judge.rows {
			if e.judge.rows[k].Result == v1alpha1.RowHeld {
				e.judge.rows[k].Why = "judged, but a fault's recovery was not verified: " + truncate(detail, 300)
			}
		}
	}
}
