package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// roleBaseline is the mean baseline of the role's targets that have one,
// for a process that appeared after the steady state (a replacement pod).
func (j *judge) roleBaseline(role string) float64 {
	var sum, n float64
	for _, t := range j.targets {
		if t.role == role {
			if b := t.baseline(); b > 0 {
				sum, n = sum+b, n+1
			}
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// judgeGoroutines compares each process's goroutines with its baseline
// once the steady state is over. The load generator is not judged.
//
// Growth goes into the cascade timeline as it happens, but it is a finding
// only when it stays: judgeSettledGrowth, at the end, takes the lowest count
// of each process once the faults were over and the settle time had passed.
// While a fault slows the system, in-flight work rises with latency
// (Little's law) even in a correct service, and pools drain after it;
// leaked goroutines never come back down.
func (j *judge) judgeGoroutines(at time.Duration, total float64) {
	e := j.e
	if at < e.steady || (e.steady == 0 && len(j.series) == 0) {
		return
	}
	settled := e.settled(at)
	known := false
	for _, name := range j.order {
		t := j.targets[name]
		if t.role == observe.RoleLoadgen || !t.haveLast || t.lastAt != at {
			continue
		}
		base := t.baseline()
		if base <= 0 {
			base = j.roleBaseline(t.role)
		}
		if base <= 0 {
			continue
		}
		known = true
		g := t.goroutines
		if settled {
			if t.settledN == 0 || g < t.settledMin {
				t.settledMin = g
			}
			if t.settledN == 0 {
				t.settledFrom = at
			}
			t.settledN++
			t.settledBase, t.settledTo = base, at
		}
		growth := g / base
		if growth <= e.th.maxGrowth || g-base < e.opts.goroutineFloor {
			continue
		}
		if growth > t.peakGrowth {
			t.peakGrowth, t.peakGoroutines, t.peakGrowthAt = growth, g, at
		}
		j.first(at, KindGoroutineGrowth, name, fmt.Sprintf("goroutines %.0f = %.1f× baseline %.1f", g, growth, base))
	}
	// A restored engine has lost the per-process baselines: judge the total
	// against the baseline kept in status.
	if !known && settled && j.restoredBase > 0 && total > 0 {
		t := j.target("total", "")
		if t.settledN == 0 || total < t.settledMin {
			t.settledMin = total
		}
		if t.settledN == 0 {
			t.settledFrom = at
		}
		t.settledN++
		t.settledBase, t.settledTo = j.restoredBase, at
	}
}

// judgeSettledGrowth finds the processes whose goroutines stayed above the
// bound through every sample taken once the faults were over and settled.
func (j *judge) judgeSettledGrowth() {
	e := j.e
	for _, name := range j.order {
		t := j.targets[name]
		if t.settledN == 0 || t.settledBase <= 0 {
			continue
		}
		g, base := t.settledMin, t.settledBase
		if growth := g / base; growth > e.th.maxGrowth && g-base >= e.opts.goroutineFloor {
			msg := fmt.Sprintf("goroutines stayed at ≥ %.0f = %.1f× baseline %.1f > %s× from %s to %s after the faults",
				g, growth, base, fmtFloat(e.th.maxGrowth), secs(t.settledFrom), secs(t.settledTo))
			if t.peakGrowth > 0 {
				msg += fmt.Sprintf("; peak %.0f (%.1f×) at %s", t.peakGoroutines, t.peakGrowth, secs(t.peakGrowthAt))
			}
			j.find(v1alpha1.FindingGoroutineGrowth, name, t.settledTo, msg)
		}
	}
}

// judgeLeaks finds processes whose goleak count exceeds the bound.
func (j *judge) judgeLeaks(at time.Duration) {
	e := j.e
	for _, name := range j.order {
		t := j.targets[name]
		if t.leaked < 0 {
			continue
		}
		j.peakLeaked = max(j.peakLeaked, t.leaked)
		if t.leaked > 0 {
			j.first(at, KindGoroutineLeak, name, fmt.Sprintf("%d leaked goroutines%s", t.leaked, topLeak(t.leakGroups)))
		}
		if t.leaked <= e.th.maxLeaked {
			continue
		}
		if t.leaked > t.peakLeaked || !j.hasFinding(v1alpha1.FindingGoroutineLeak, name) {
			t.peakLeaked = max(t.peakLeaked, t.leaked)
			j.find(v1alpha1.FindingGoroutineLeak, name, at, fmt.Sprintf("%d leaked goroutines > %d%s%s",
				t.peakLeaked, e.th.maxLeaked, topLeak(t.leakGroups), leakAgeText(t.leakAge, t.leakOldest)))
		}
	}
}

// leakAgeText says how old a leak figure was when sampled, and how long the
// oldest leaked goroutine had been blocked when the runtime says (whole
// minutes, from 1).
func leakAgeText(age time.Duration, oldestMin int) string {
	out := ""
	if age > 0 {
		out = fmt.Sprintf("; figure %s old when sampled", age.Round(100*time.Millisecond))
	}
	if oldestMin > 0 {
		out += fmt.Sprintf("; oldest blocked ≥ %d min", oldestMin)
	}
	return out
}

// topLeak names the function where most leaked goroutines block.
func topLeak(gs []observe.LeakGroup) string {
	var top *observe.LeakGroup
	for i := range gs {
		if top == nil || gs[i].Count > top.Count {
			top = &gs[i]
		}
	}
	if top == nil {
		return ""
	}
	return fmt.Sprintf(", most in %s (%d)", top.Function, top.Count)
}

func (j *judge) hasFinding(typ v1alpha1.FindingType, target string) bool {
	_, ok := j.index[findingKey{typ, target}]
	return ok
}

// judgeDuplicates reads the ledger's duplicate charges. The ledger restores
// its counters from its store when it restarts, so the figure is the
// highest any process reported, not a sum of increases.
func (j *judge) judgeDuplicates(at time.Duration) {
	e := j.e
	ledger := ""
	for _, name := range j.order {
		t := j.targets[name]
		if t.dup > j.dup || (t.dup > 0 && ledger == "") {
			ledger = name
		}
		j.dup, j.dupCents = max(j.dup, t.dup), max(j.dupCents, t.dupCents)
	}
	if j.dup <= 0 {
		return
	}
	if j.dupTarget == "" {
		j.dupTarget = ledger // the finding stays on the first ledger seen
	}
	detail := fmt.Sprintf("%.0f duplicate charges (%.0f cents charged twice)", j.dup, j.dupCents)
	j.first(at, KindDuplicateCharges, "", detail)
	if int64(j.dup) > e.th.maxDup {
		j.find(v1alpha1.FindingDuplicateCharges, j.dupTarget, at, fmt.Sprintf("%s > %d", detail, e.th.maxDup))
	}
}

// judgeRestarts counts restarts, and those not caused by injected faults:
// per process, the larger of its organic crashes and its restart count less
// the kills injected into it (by crash reports or by fault targets).
func (j *judge) judgeRestarts(at time.Duration) {
	e := j.e
	var all int32
	organic := 0
	var who []string
	first := ""
	for _, name := range j.order {
		t := j.targets[name]
		all += max(t.restarts, int32(t.organicCrashes+t.injectedCrashes))
		inj := max(t.injectedCrashes, j.podFaultHits[name])
		if o := max(t.organicCrashes, int(t.restarts)-inj); o > 0 {
			organic += o
			if first == "" {
				first = name
			}
			who = append(who, fmt.Sprintf("%s: %d", name, o))
		}
	}
	j.restartsTotal = max(j.restartsTotal, all)
	if organic > int(e.th.maxRestarts) {
		msg := fmt.Sprintf("%d restarts not caused by injected faults > %d (%s)", organic, e.th.maxRestarts, strings.Join(who, ", "))
		if j.restartTarget == "" {
			j.restartTarget = first // the finding stays on the first process
		}
		j.first(at, KindRestarts, j.restartTarget, msg)
		j.find(v1alpha1.FindingRestarts, j.restartTarget, at, msg)
	}
}

// guard runs the abort guard: the client error ratio above the bound in
// every observation for the guard's duration trips it.
func (j *judge) guard(iv *interval) []Action {
	e := j.e
	if !e.th.abort || !iv.errValid {
		return nil
	}
	if iv.errRatio <= e.th.abortAbove {
		j.abortSince = nil
		return nil
	}
	if j.abortSince == nil {
		since := iv.at
		j.abortSince = &since
	}
	if iv.at-*j.abortSince < e.th.abortFor {
		return nil
	}
	reason := fmt.Sprintf("abort guard tripped: error ratio %s > %s for %s (since %s)",
		ratio(iv.errRatio), fmtFloat(e.th.abortAbove), secs(iv.at-*j.abortSince), secs(*j.abortSince))
	j.find(v1alpha1.FindingAborted, "", iv.at, reason)
	j.event(iv.at, KindAborted, "", reason)
	e.outcome, e.reason = outcomeAborted, reason
	return e.toJudging(iv.at, reason)
}

// settled reports whether, at offset at, the faults are over: none active,
// asked for or still to come, and the last recovery (or, for an instant
// fault, its injection) at least the settle time in the past. The gaps
// between faults are not settled: a later fault is still to come.
func (e *Engine) settled(at time.Duration) bool {
	for _, f := range e.faults {
		switch {
		case f.state == v1alpha1.FaultInjected:
			return false
		case f.state == v1alpha1.FaultPending && f.injectAsked && !f.recoverAsked:
			return false
		case f.state == v1alpha1.FaultPending && !f.injectAsked && f.after < e.duration:
			return false
		case f.recoveredAt != nil && at-*f.recoveredAt < e.opts.settle:
			return false
		}
	}
	return true
}
