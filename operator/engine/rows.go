package engine

import (
	"fmt"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// Every bound of the hypothesis is a row, judged held, breached or not
// judged. A row is breached when a finding breaches it; it is held only
// when the drill saw what the row needs (below), else it is not judged and
// the row's ObservationGap finding (target "hypothesis.<name>") makes the
// drill Inconclusive, never HypothesisHeld.
//
//   - maxErrorRatio: an interval holding requests from the first
//     injection on (or at all, without faults).
//   - maxDuplicateCharges: the ledger's counter read from the last
//     injection on.
//   - maxGoroutineGrowth: a process sampled once the faults were over and
//     settled (judgeGrowthJudged).
//   - maxLeakedGoroutines: a goleak figure of a victim process read from
//     the first injection on.
//   - maxRestarts, processCrashes: a victim process observed from the last
//     injection on.

// Row names: spec.hypothesis's fields, and processCrashes.
const (
	RowMaxErrorRatio       = "maxErrorRatio"
	RowMaxDuplicateCharges = "maxDuplicateCharges"
	RowMaxGoroutineGrowth  = "maxGoroutineGrowth"
	RowMaxLeakedGoroutines = "maxLeakedGoroutines"
	RowMaxRestarts         = "maxRestarts"
	RowProcessCrashes      = "processCrashes"
)

// rowTarget is the target of a row's not-judged finding.
func rowTarget(name string) string { return "hypothesis." + name }

// seenSignals are the last offsets at which the judge read what the rows
// need (nil: never).
type seenSignals struct {
	validRatio *time.Duration // an interval with an error ratio
	ledgerUp   *time.Duration // a ledger process answered
	leakRead   *time.Duration // a victim process's goleak figure
	victimUp   *time.Duration // any victim process answered
}

func stamp(p **time.Duration, at time.Duration) {
	if *p == nil || at > **p {
		v := at
		*p = &v
	}
}

// noteSignals records what an observation could judge.
func (j *judge) noteSignals(obs Observation, iv *interval) {
	if iv.errValid {
		stamp(&j.signals.validRatio, obs.At)
	}
	for _, s := range obs.Samples {
		if !s.Up || s.Role == observe.RoleLoadgen {
			continue
		}
		stamp(&j.signals.victimUp, obs.At)
		if s.Role == observe.RoleLedger {
			stamp(&j.signals.ledgerUp, obs.At)
		}
		if s.Leaked >= 0 {
			stamp(&j.signals.leakRead, obs.At)
		}
	}
}

// injections are the first and last injection offsets (ok false: none).
func (e *Engine) injections() (first, last time.Duration, ok bool) {
	for _, f := range e.faults {
		if f.injectedAt == nil {
			continue
		}
		if !ok || *f.injectedAt < first {
			first = *f.injectedAt
		}
		if !ok || *f.injectedAt > last {
			last = *f.injectedAt
		}
		ok = true
	}
	return first, last, ok
}

// since says why a signal last read at seen does not cover from on ("" when
// it does).
func since(seen *time.Duration, from time.Duration, haveFrom bool, what, when string) string {
	switch {
	case seen == nil:
		return "no " + what + " in the whole drill"
	case haveFrom && *seen < from:
		return fmt.Sprintf("no %s %s (last at %s)", what, when, secs(*seen))
	}
	return ""
}

// judgeRows makes each row's result, adding the not-judged findings when
// add (a drill that ran to its end); notJudged is the reason every row
// not breached is not judged, when the drill did not run its course.
func (j *judge) judgeRows(end time.Duration, add bool, notJudged string) {
	e := j.e
	first, last, inj := e.injections()
	counts := map[v1alpha1.FindingType]int{}
	for _, f := range j.findings {
		counts[f.Type]++
	}
	organic := 0
	for _, t := range j.targets {
		inj := max(t.injectedCrashes, j.podFaultHits[t.name])
		organic += max(t.organicCrashes, int(t.restarts)-inj)
	}
	growth := "—"
	if j.baselineTotal > 0 {
		growth = fmt.Sprintf("%.2f× (total %.0f → peak %.0f)", j.peakTotal/j.baselineTotal, j.baselineTotal, j.peakTotal)
	}
	type def struct {
		name, label, bound, observed string
		breach                       v1alpha1.FindingType
		why                          string
	}
	defs := []def{
		{RowMaxErrorRatio, "the error ratio", fmtFloat(e.th.maxErrorRatio), "peak " + ratio(j.peakRatio), v1alpha1.FindingErrorRatioExceeded,
			since(j.signals.validRatio, first, inj, "interval holding requests", "from the first injection on")},
		{RowMaxDuplicateCharges, "duplicate charges", fmt.Sprint(e.th.maxDup), fmt.Sprintf("%.0f (%.0f cents charged twice)", j.dup, j.dupCents), v1alpha1.FindingDuplicateCharges,
			since(j.signals.ledgerUp, last, inj, "read of the ledger's duplicate-charge counter", "from the last injection on")},
		{RowMaxGoroutineGrowth, "goroutine growth after the faults", fmtFloat(e.th.maxGrowth) + "×", growth, v1alpha1.FindingGoroutineGrowth, j.growthNotJudged(end)},
		{RowMaxLeakedGoroutines, "leaked goroutines", fmt.Sprint(e.th.maxLeaked), fmt.Sprint(j.peakLeaked), v1alpha1.FindingGoroutineLeak,
			since(j.signals.leakRead, first, inj, "goleak figure of a victim process", "from the first injection on")},
		{RowMaxRestarts, "restarts", fmt.Sprint(e.th.maxRestarts), fmt.Sprintf("%d restarts in all, %d not caused by a fault", j.restartsTotal, organic), v1alpha1.FindingRestarts,
			since(j.signals.victimUp, last, inj, "victim process observed", "from the last injection on")},
		{RowProcessCrashes, "crashes", "none beyond maxRestarts " + fmt.Sprint(e.th.maxRestarts), fmt.Sprintf("%d crashes not caused by a fault", j.organic), v1alpha1.FindingProcessCrashed,
			since(j.signals.victimUp, last, inj, "victim process observed", "from the last injection on")},
	}
	j.rows = j.rows[:0]
	for _, d := range defs {
		if skipRow(e, d.name) {
			continue
		}
		row := v1alpha1.HypothesisRow{Name: d.name, Bound: d.bound, Observed: truncate(d.observed, 256)}
		switch {
		case counts[d.breach] > 0:
			row.Result, row.Why = v1alpha1.RowBreached, fmt.Sprintf("%d %s finding(s)", counts[d.breach], d.breach)
		case notJudged != "":
			row.Result, row.Why = v1alpha1.RowNotJudged, notJudged
		case d.why != "":
			row.Result, row.Why = v1alpha1.RowNotJudged, d.why
			if add {
				j.find(v1alpha1.FindingObservationGap, rowTarget(d.name), end,
					fmt.Sprintf("hypothesis row %s (bound %s): %s not judged: %s", d.name, d.bound, d.label, d.why))
			}
		default:
			row.Result, row.Why = v1alpha1.RowHeld, "judged on the drill's observations"
		}
		row.Why = truncate(row.Why, 512)
		j.rows = append(j.rows, row)
	}
}
