package engine

import (
	"fmt"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// The checks here keep a hypothesis the drill never judged from reading as
// held: a check without the samples it needs is missing evidence, which
// makes an otherwise clean drill Inconclusive, never HypothesisHeld.

// growthNotJudged says why goroutine growth after the faults was not
// judged ("" when it was): no process was sampled once the faults were over
// and settled (the settle time after the last recovery): the last fault
// ran to the end of the drill, or ended less than the settle time before
// it, or no process had a goroutine baseline. Growth is only ever a
// finding on such samples (judgeSettledGrowth), so without them the
// hypothesis's maxGoroutineGrowth was not judged.
func (j *judge) growthNotJudged(end time.Duration) string {
	e := j.e
	for _, t := range j.targets {
		if t.settledN > 0 && t.settledBase > 0 {
			return ""
		}
	}
	var last *faultRun
	var lastAt time.Duration
	for _, f := range e.faults {
		at := f.recoveredAt
		if at == nil {
			at = f.injectedAt
		}
		if at != nil && (last == nil || *at >= lastAt) {
			last, lastAt = f, *at
		}
	}
	why := "no process had a goroutine baseline and a sample once the faults were over"
	if last != nil && lastAt+e.opts.settle > min(end, e.duration) {
		why = fmt.Sprintf("no sample %s after the last fault was over (%s over at %s; the drill ended at %s)",
			secs(e.opts.settle), last.name, secs(lastAt), secs(min(end, e.duration)))
	}
	return why
}

// steadyWithoutLoad describes a steady state that carried no load at all
// ("" when it did, or when the engine cannot tell: nothing answered, or a
// restarted engine): no request sent by the load generator, nor served by
// any process when there is none, in any observation up to now in which
// they answered. A hypothesis cannot be shown to hold under
// faults against a baseline that never saw a request.
func (j *judge) steadyWithoutLoad(now time.Duration) string {
	if j.restored && len(j.hist) == 0 {
		return "" // a restarted engine has not seen the steady state
	}
	client := false // as judgeLoad: the load generator's requests once one was seen
	for _, r := range j.hist {
		client = client || r.loadgen
	}
	seen := 0 // observations that could have counted a request
	for i, r := range j.hist {
		// The first observation is the counters' baseline: no interval
		// precedes it, so it counts no request whatever the load.
		if i == 0 || r.at > now || !countable(r, client) {
			continue
		}
		seen++
		if (client && r.requests > 0) || (!client && r.served > 0) {
			return ""
		}
	}
	if seen == 0 {
		return "" // nothing answered: the coverage checks say so
	}
	return fmt.Sprintf("no load: no request sent or served in the %d observations of the steady state up to %s", seen, secs(now))
}

// countable reports whether an observation could count requests: the load
// generator answered (client), or else any process did.
func countable(r record, client bool) bool {
	for _, t := range r.targets {
		if t.up && (!client || t.role == observe.RoleLoadgen) {
			return true
		}
	}
	return false
}
