package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// podFaultGrace is how long after a pod fault on a process ends a missed
// sample of that process is still the fault's doing (the replacement or
// the restarted container coming up), not an observation gap.
const podFaultGrace = 30 * time.Second

// record is what one observation saw, kept for the evidence checks made
// when the drill is judged: which processes answered, which process
// instance served, and what each edge between roles did.
type record struct {
	at       time.Duration
	targets  map[string]targetObs
	edges    map[edgeKey]edgeObs
	requests float64 // the load generator's requests in the interval
	served   float64 // the edge's (or all servers') requests in the interval
	loadgen  bool    // a load generator was among the processes
}

// targetObs is one process in one observation.
type targetObs struct {
	role     string
	up       bool
	instance string
	restarts int32
	served   float64 // server requests in the interval
}

// edgeKey is an edge between roles, as measured by its callers.
type edgeKey struct{ caller, upstream string }

// edgeObs is what the callers of an edge saw in one interval.
// n counts the intervals summed.
type edgeObs struct{ total, errors, latSum, latCount, n float64 }

func (a edgeObs) add(b edgeObs) edgeObs {
	return edgeObs{a.total + b.total, a.errors + b.errors, a.latSum + b.latSum, a.latCount + b.latCount, a.n + b.n}
}

// mean is the mean latency in seconds, ok false without calls.
func (a edgeObs) mean() (float64, bool) {
	if a.latCount <= 0 {
		return 0, false
	}
	return a.latSum / a.latCount, true
}

// errRatio is the share of failed calls, ok false without calls.
func (a edgeObs) errRatio() (float64, bool) {
	if a.total <= 0 {
		return 0, false
	}
	return a.errors / a.total, true
}

// edgeDelta is the growth of one caller's counters for one upstream
// between two scrapes (a reset counts from zero).
func edgeDelta(prev, cur observe.EdgeStats) edgeObs {
	reqs := observe.CounterDeltas(prev.Requests, cur.Requests)
	o := edgeObs{n: 1}
	for code, v := range reqs {
		o.total += v
		if isClientError(code) {
			o.errors += v
		}
	}
	if cur.LatencyCount < prev.LatencyCount || cur.LatencySum < prev.LatencySum {
		o.latSum, o.latCount = cur.LatencySum, cur.LatencyCount
	} else {
		o.latSum, o.latCount = cur.LatencySum-prev.LatencySum, cur.LatencyCount-prev.LatencyCount
	}
	return o
}

// excused reports whether a missed sample of target at at is the doing of
// a pod fault on that very process.
func (e *Engine) excused(target string, at time.Duration) bool {
	for _, f := range e.faults {
		if !f.podFault || f.injectedAt == nil || at < *f.injectedAt {
			continue
		}
		end := e.duration
		if f.recoveredAt != nil {
			end = *f.recoveredAt
		}
		if at > end+podFaultGrace {
			continue
		}
		for _, t := range f.targets {
			if t == target {
				return true
			}
		}
	}
	return false
}

// judgeEvidence adds the findings that say what a HypothesisHeld verdict
// would lack: faults not injected or not recovered, effects not seen,
// processes observed too rarely, load not running. It runs once, at Finish,
// for a drill that ran to its end.
func (j *judge) judgeEvidence(end time.Duration) {
	e := j.e
	for _, f := range e.faults {
		switch {
		case f.state == v1alpha1.FaultFailed:
			j.find(v1alpha1.FindingFaultNotInjected, f.name, end, fmt.Sprintf("%s (%s) was not injected: %s", f.name, f.kind, orText(f.message, "refused")))
		case f.injectedAt == nil:
			j.find(v1alpha1.FindingFaultNotInjected, f.name, end, fmt.Sprintf("%s (%s) was not injected: %s", f.name, f.kind, orText(f.message, "never acknowledged by the backend")))
		case len(f.targets) == 0:
			j.find(v1alpha1.FindingFaultNotInjected, f.name, *f.injectedAt, fmt.Sprintf("%s (%s) selected no pod: nothing was injected", f.name, f.kind))
		case f.state != v1alpha1.FaultRecovered:
			j.find(v1alpha1.FindingObservationGap, f.name, end, fmt.Sprintf("%s (%s) was not acknowledged recovered by the end of the drill", f.name, f.kind))
		case f.effect != v1alpha1.EffectConfirmed:
			j.find(v1alpha1.FindingFaultEffectNotObserved, f.name, *f.injectedAt, fmt.Sprintf("%s (%s) effect %s: %s", f.name, f.kind, f.effect, f.effectDetail))
		}
	}
	j.judgeCoverage(end)
	j.judgeLoad(end)
}

// judgeCoverage finds processes observed in fewer than the minimum share of
// their samples, not counting samples missed while a pod fault was on that
// very process, and a drill observed less often than its interval says.
func (j *judge) judgeCoverage(end time.Duration) {
	e := j.e
	if len(j.hist) == 0 {
		j.find(v1alpha1.FindingObservationGap, "", end, "no observation was made: nothing was seen of the victim")
		return
	}
	if iv := e.opts.sampleInterval; iv > 0 {
		// A restored engine counts from its own first observation: the
		// time before is its status's, the time away an ObservationGap.
		from, what := time.Duration(0), ""
		if j.restored && j.resumedAt != nil {
			from, what = *j.resumedAt, fmt.Sprintf(" since the manager resumed at %s", secs(*j.resumedAt))
		}
		want := int((min(end, e.duration)-from)/iv) - 1
		if want > 0 && float64(len(j.hist)) < e.opts.minCoverage*float64(want) {
			j.find(v1alpha1.FindingObservationGap, "", end, fmt.Sprintf("%d observations of %d expected at one per %s%s", len(j.hist), want, iv, what))
		}
	}
	// A process that appeared during the drill (a replacement pod) is not
	// counted until it first answered: its start-up is not a gap.
	type count struct {
		n, up, seen int
		late        bool
	}
	counts := map[string]*count{}
	var names []string
	for k, r := range j.hist {
		for name, t := range r.targets {
			c := counts[name]
			if c == nil {
				c = &count{late: k > 0}
				counts[name] = c
				names = append(names, name)
			}
			c.seen++
			switch {
			case t.up:
				c.n, c.up, c.late = c.n+1, c.up+1, false
			case c.late:
			case !e.excused(name, r.at):
				c.n++
			}
		}
	}
	sort.Strings(names)
	for _, name := range names {
		c := counts[name]
		if c.n == 0 {
			if c.late && c.seen >= 3 {
				j.find(v1alpha1.FindingObservationGap, name, end, fmt.Sprintf("appeared during the drill and never answered in %d samples", c.seen))
			}
			continue
		}
		if share := float64(c.up) / float64(c.n); share < e.opts.minCoverage {
			j.find(v1alpha1.FindingObservationGap, name, end, fmt.Sprintf("observed in %d of %d samples (%.0f%% < %.0f%%; samples missed under a pod fault on it not counted)",
				c.up, c.n, 100*share, 100*e.opts.minCoverage))
		}
	}
}

// judgeLoad finds a load that did not run for the planned duration: the
// share of observation intervals in which requests were sent.
func (j *judge) judgeLoad(end time.Duration) {
	e := j.e
	client := false // judged on the load generator once one was seen
	for _, r := range j.hist {
		client = client || r.loadgen
	}
	// Intervals much shorter than the sample interval (a last look right
	// after a tick) hold too few requests to tell anything.
	minGap := 100 * time.Millisecond
	if e.opts.sampleInterval > 0 {
		minGap = e.opts.sampleInterval / 2
	}
	n, with := 0, 0
	var last time.Duration
	var none []string
	for i, r := range j.hist {
		if i == 0 || r.at-j.hist[i-1].at < minGap {
			continue // the first interval has no predecessor to count from
		}
		n++
		if (client && r.requests > 0) || (!client && r.served > 0) {
			with++
			last = r.at
		} else if len(none) < 5 {
			none = append(none, secs(r.at))
		}
	}
	if n == 0 {
		j.find(v1alpha1.FindingLoadNotRunning, "", end, "no load was observed")
		return
	}
	if share := float64(with) / float64(n); share < e.opts.minCoverage {
		j.find(v1alpha1.FindingLoadNotRunning, "", end, fmt.Sprintf("requests seen in %d of %d intervals (%.0f%% < %.0f%%; none in those ending at %s); last at %s of %s",
			with, n, 100*share, 100*e.opts.minCoverage, strings.Join(none, ", "), secs(last), secs(e.duration)))
	}
}

// isEvidence reports whether a finding type is about missing evidence
// rather than a breach of the hypothesis.
func isEvidence(t v1alpha1.FindingType) bool {
	switch t {
	case v1alpha1.FindingFaultNotInjected, v1alpha1.FindingFaultEffectNotObserved,
		v1alpha1.FindingObservationGap, v1alpha1.FindingLoadNotRunning, v1alpha1.FindingSteadyStateNotMet,
		v1alpha1.FindingRecoveryUnverified:
		return true
	}
	return isSignalUnavailable(t)
}

func orText(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
