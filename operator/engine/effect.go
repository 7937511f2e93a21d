package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

// The fault effect check: did the kit's own observation see what the fault
// should do? It reads the records kept per observation, never Chaos Mesh's
// status ("the experiment says Running and nothing happened").
//
//   - pod-kill, container-kill: every target's process was replaced within
//     podFaultGrace (another instance, a higher restart count, an injected
//     crash report, or a new process of the same role in place of one that
//     is gone).
//   - pod-failure: every target stopped serving during the window (scrape
//     down, absent, or no request served).
//   - delay: the mean latency of calls on an edge the fault acts on (one
//     touching the targets' roles; with networkChaos.target, one between
//     them and the target's role), as its callers measured it, rose by at least half the injected
//     latency during the window — or the edge's error ratio rose by 0.2
//     (calls slower than the caller's timeout fail instead) — and fell back
//     after the recovery.
//   - loss, partition: such an edge's error ratio rose (by at least 0.01),
//     or its mean latency doubled plus 20 ms (TCP retransmits).
//   - bandwidth: such an edge's mean latency doubled plus 5 ms, or its call
//     rate fell by a fifth.
//   - other actions: Inconclusive (no check).
//
// The baseline is every interval before the first injection of any fault;
// its latency is the median of those intervals' means (steadyEdges).
//
// Effects are the fault's own: a kill is confirmed only by its own
// targets' replacement or injected crash within its window, and a network
// fault only on the intervals in which no other fault that could move the
// same edge was active (overlap.go).

// effectSettle is how long after a network fault's recovery its edge is
// expected to be back near the baseline.
const effectSettle = 2 * time.Second

// judgeEffect decides fault f's effect from the records, if it was
// injected. A restored engine lost the records from before its restart: it
// keeps an effect already decided.
func (j *judge) judgeEffect(f *faultRun) {
	if f.injectedAt == nil || f.effectRestored {
		return
	}
	var eff v1alpha1.FaultEffect
	var detail string
	switch {
	case len(f.targets) == 0:
		eff, detail = v1alpha1.EffectInconclusive, "no pod was selected"
	case f.kind == string(chaosv1alpha1.PodKillAction) || f.kind == string(chaosv1alpha1.ContainerKillAction):
		eff, detail = j.killEffect(f)
	case f.kind == string(chaosv1alpha1.PodFailureAction):
		eff, detail = j.failureEffect(f)
	default:
		eff, detail = j.networkEffect(f)
	}
	f.effect, f.effectDetail = eff, truncate(detail, 512)
}

// judgeDueEffects decides, once, the effect of each fault whose effect
// window is over at at, so that status carries it (and a restarted driver
// keeps it); Finish decides again with every record.
func (j *judge) judgeDueEffects(at time.Duration) {
	for _, f := range j.e.faults {
		if f.injectedAt == nil || f.effect != "" {
			continue
		}
		if f.instant {
			// A kill is confirmed as soon as the replacement is seen, so
			// that status keeps it across a restarted driver.
			if j.judgeEffect(f); f.effect != v1alpha1.EffectConfirmed && at < *f.injectedAt+podFaultGrace {
				f.effect, f.effectDetail = "", ""
			}
			continue
		}
		if f.recoveredAt != nil && at >= *f.recoveredAt+effectSettle {
			j.judgeEffect(f)
		}
	}
}

// window returns the records with at in (from, to].
func (j *judge) window(from, to time.Duration) []record {
	if to <= from {
		return nil
	}
	lo := sort.Search(len(j.hist), func(i int) bool { return j.hist[i].at > from })
	hi := sort.Search(len(j.hist), func(i int) bool { return j.hist[i].at > to })
	return j.hist[lo:max(lo, hi)]
}

func (e *Engine) faultEnd(f *faultRun) time.Duration {
	if f.recoveredAt != nil {
		return *f.recoveredAt
	}
	return e.duration
}

// killEffect: was every target's process replaced?
func (j *judge) killEffect(f *faultRun) (v1alpha1.FaultEffect, string) {
	at := *f.injectedAt
	before := j.window(-1<<62, at)
	after := j.window(at, at+podFaultGrace)
	var replaced, unchanged, unknown []string
	for _, name := range f.targets {
		switch j.replaced(f, name, before, after) {
		case 1:
			replaced = append(replaced, name)
		case 0:
			unknown = append(unknown, name)
		default:
			unchanged = append(unchanged, name)
		}
	}
	switch {
	case len(unchanged) > 0:
		return v1alpha1.EffectNotObserved, fmt.Sprintf("%s still the same process %s after the kill", strings.Join(unchanged, ", "), secs(podFaultGrace))
	case len(unknown) > 0:
		return v1alpha1.EffectInconclusive, fmt.Sprintf("%s not observed after the kill", strings.Join(unknown, ", "))
	}
	return v1alpha1.EffectConfirmed, fmt.Sprintf("%s replaced within %s", strings.Join(replaced, ", "), secs(podFaultGrace))
}

// killLead is how long before a kill's stamped injection a crash report
// of its target may be that kill's (the stamp lags the kill: Chaos Mesh's
// status and the next poll come after it).
const killLead = 5 * time.Second

// ownCrash reports whether the backend reported an injected crash of
// target within kill f's window: from killLead before its injection (but
// after any earlier pod fault on that target) to podFaultGrace after it.
func (j *judge) ownCrash(f *faultRun, name string) bool {
	t := j.targets[name]
	if t == nil {
		return false
	}
	at := *f.injectedAt
	from := at - killLead
	for _, g := range j.e.faults {
		if g == f || !g.podFault || g.injectedAt == nil || *g.injectedAt >= at {
			continue
		}
		for _, tg := range g.targets {
			if tg == name {
				from = max(from, *g.injectedAt)
			}
		}
	}
	for _, c := range t.injectedTimes {
		if c > from && c <= at+podFaultGrace || c == at {
			return true
		}
	}
	return false
}

// replaced is 1 when target's process was replaced in after (or the
// backend reported kill f's crash of it), -1 when it was seen serving
// unchanged, 0 when it cannot tell.
func (j *judge) replaced(f *faultRun, name string, before, after []record) int {
	if j.ownCrash(f, name) {
		return 1
	}
	var last targetObs
	var had bool
	lastUp := 0 // records of before up to the last one that saw the target up
	for i, r := range before {
		if o, ok := r.targets[name]; ok && o.up {
			last, had, lastUp = o, true, i+1
		}
	}
	seenAfter, sameUp := false, false
	for _, r := range after {
		o, ok := r.targets[name]
		if !ok {
			continue
		}
		seenAfter = true
		if !o.up {
			continue
		}
		if had && (o.restarts > last.restarts || (o.instance != "" && last.instance != "" && o.instance != last.instance)) {
			return 1
		}
		sameUp = true
	}
	if !seenAfter && had {
		// Gone: replaced if a new process of its role showed up: one not
		// seen while the target still was. The replacement can be seen
		// before the fault's injection is stamped (Chaos Mesh's status and
		// the next poll lag the kill; a pod-kill's replacement is ready in
		// about a second on a real node), so records after the target's
		// last sighting do not make it known.
		known := map[string]bool{}
		for _, r := range before[:lastUp] {
			for n := range r.targets {
				known[n] = true
			}
		}
		for _, r := range after {
			for n, o := range r.targets {
				if !known[n] && o.role == last.role && o.up {
					return 1
				}
			}
		}
	}
	if sameUp && had {
		return -1
	}
	return 0
}

// failureEffect: did every target stop serving during the window?
func (j *judge) failureEffect(f *faultRun) (v1alpha1.FaultEffect, string) {
	win := j.window(*f.injectedAt, j.e.faultEnd(f))
	if len(win) == 0 {
		return v1alpha1.EffectInconclusive, "no observation during the fault"
	}
	var parts []string
	var served []string
	for _, name := range f.targets {
		down := 0
		for _, r := range win {
			o, ok := r.targets[name]
			if !ok || !o.up || (o.served == 0 && o.role != "loadgen") {
				down++
			}
		}
		if down == 0 {
			served = append(served, name)
		}
		parts = append(parts, fmt.Sprintf("%s not serving in %d of %d samples", name, down, len(win)))
	}
	if len(served) > 0 {
		return v1alpha1.EffectNotObserved, strings.Join(parts, "; ")
	}
	return v1alpha1.EffectConfirmed, strings.Join(parts, "; ")
}

// networkEffect compares the edges the fault acts on (ownEdge) before,
// during and after the fault. During the fault, an edge is judged on the
// intervals in which no other fault that could explain its movement was
// active (overlapping); a movement seen only in the other intervals is not
// this fault's own evidence: the effect is Inconclusive, naming the fault
// that overlaps.
func (j *judge) networkEffect(f *faultRun) (v1alpha1.FaultEffect, string) {
	roles := j.faultRoles(f)
	first := j.e.duration
	for _, g := range j.e.faults {
		if g.injectedAt != nil {
			first = min(first, *g.injectedAt)
		}
	}
	end := j.e.faultEnd(f)
	own := func(k edgeKey) bool { return ownEdge(roles, f.peers, k) }
	base := j.steadyEdges(j.window(-1<<62, first), own)
	win := j.window(*f.injectedAt, end)
	during := j.edgeSums(win, own)
	after := j.edgeSums(j.window(end+effectSettle, j.e.duration), own)
	if len(during) == 0 {
		return v1alpha1.EffectInconclusive, "no per-edge client metrics for the calls touching " + joinSet(roles)
	}
	down := j.downstream()
	var notes []string
	keys := make([]edgeKey, 0, len(during))
	for k := range during {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].caller+keys[a].upstream < keys[b].caller+keys[b].upstream })
	verdict := v1alpha1.EffectNotObserved
	for _, k := range keys {
		name := k.caller + "→" + k.upstream
		mine, shared, others := j.splitOverlap(f, k, win, down)
		ref, fallback := base[k], false
		if ref.latCount <= 0 && ref.total <= 0 {
			// No baseline (a driver restarted during the fault lost it):
			// the edge after the recovery is the reference instead.
			ref, fallback = after[k], true
			if ref.latCount <= 0 && ref.total <= 0 {
				notes = append(notes, name+": no calls outside the fault to compare with")
				verdict = v1alpha1.EffectInconclusive
				continue
			}
		}
		ok, note := f.edgeMoved(ref, mine)
		if !ok {
			if moved, snote := f.edgeMoved(ref, shared); moved && len(others) > 0 {
				notes = append(notes, fmt.Sprintf("%s: moved only while %s was active too, which could explain it (%s); alone: %s",
					name, strings.Join(others, ", "), snote, note))
				verdict = v1alpha1.EffectInconclusive
				continue
			}
			notes = append(notes, name+": "+note)
			continue
		}
		if fallback {
			return v1alpha1.EffectConfirmed, name + ": " + note + " (against the edge after the recovery: no baseline)"
		}
		if a, have := after[k]; have && a.total > 0 {
			if still, _ := f.edgeMoved(base[k], a); still {
				notes = append(notes, name+": "+note+", and still after the recovery")
				verdict = v1alpha1.EffectInconclusive
				continue
			}
			note += ", back after the recovery"
		}
		if len(others) > 0 {
			note += fmt.Sprintf(" (judged without the intervals %s overlapped)", strings.Join(others, ", "))
		}
		return v1alpha1.EffectConfirmed, name + ": " + note
	}
	return verdict, strings.Join(notes, "; ")
}

// steadyEdges is the baseline of each edge touching roles: the sums of the
// intervals in recs, with the latency of a typical one — the median of the
// intervals' means, when there are three or more — so that the victim's
// first calls (new connections, cold caches: a mean of 20 ms where the
// steady state's median was 1-4 ms, on the node lab with the scrapes
// through the API server's proxy) do not set the bar a fault's effect must
// clear.
func (j *judge) steadyEdges(recs []record, keep func(edgeKey) bool) map[edgeKey]edgeObs {
	out := j.edgeSums(recs, keep)
	for k, sum := range out {
		var means []float64
		for _, r := range recs {
			if o, ok := r.edges[k]; ok {
				if m, ok := o.mean(); ok {
					means = append(means, m)
				}
			}
		}
		if len(means) < 3 {
			continue
		}
		sort.Float64s(means)
		sum.latSum = means[len(means)/2] * sum.latCount
		out[k] = sum
	}
	return out
}

// edgeSums adds up, per edge kept, the intervals in recs.
func (j *judge) edgeSums(recs []record, keep func(edgeKey) bool) map[edgeKey]edgeObs {
	out := map[edgeKey]edgeObs{}
	for _, r := range recs {
		for k, o := range r.edges {
			if keep(k) {
				out[k] = out[k].add(o)
			}
		}
	}
	return out
}

// edgeMoved reports whether an edge in cur differs from base the way the
// fault should make it, with the figures.
func (f *faultRun) edgeMoved(base, cur edgeObs) (bool, string) {
	bm, _ := base.mean()
	cm, haveCur := cur.mean()
	be, _ := base.errRatio()
	ce, _ := cur.errRatio()
	lat := fmt.Sprintf("mean latency %s → %s", ms(bm), ms(cm))
	errs := fmt.Sprintf("error ratio %s → %s", ratio(be), ratio(ce))
	if !haveCur && cur.total == 0 {
		return false, "no calls"
	}
	switch f.kind {
	case string(chaosv1alpha1.DelayAction):
		msg := fmt.Sprintf("%s (injected %s), %s", lat, f.latency, errs)
		return cm-bm >= f.latency.Seconds()/2 || ce-be >= 0.2, msg
	case string(chaosv1alpha1.LossAction), string(chaosv1alpha1.PartitionAction):
		return ce-be >= 0.01 || cm >= 2*bm+0.020, errs + ", " + lat
	case string(chaosv1alpha1.BandwidthAction):
		slower := cm >= 2*bm+0.005
		fewer := base.n > 0 && cur.n > 0 && cur.total/cur.n < 0.8*base.total/base.n
		return slower || fewer, lat
	}
	return false, "no effect check for action " + f.kind
}

func ms(sec float64) string { return fmt.Sprintf("%.1fms", sec*1000) }

func joinSet(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "the selected pods"
	}
	return strings.Join(out, ", ")
}
