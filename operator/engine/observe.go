package engine

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// interval is what one Observe derived from its samples.
type interval struct {
	at               time.Duration
	clientTotal      float64
	clientErrors     float64
	errRatio         float64
	errValid         bool
	serverTotal      map[string]float64
	server5xx        map[string]float64
	loadgen          string
	goroutinesTotal  float64
	haveGoroutines   bool
	upstreamErrors   bool
	upstreamEvidence string
}

// Observe takes one observation, updates the series and the findings, and
// returns the actions the abort guard asks for: RecoverFault for every
// active fault, then Stop. Observations before VictimReady or after the end
// are ignored; one made while Judging is judged but cannot abort.
func (e *Engine) Observe(obs Observation) []Action {
	switch e.phase {
	case v1alpha1.PhaseSteadyState, v1alpha1.PhaseInjecting, v1alpha1.PhaseRecovering, v1alpha1.PhaseJudging:
	default:
		return nil
	}
	j := &e.judge
	j.resumeGap(obs.At)
	for _, c := range obs.Crashes {
		if c.At == 0 {
			c.At = obs.At
		}
		j.crash(c)
	}
	p, iv, rec := j.derive(obs)
	j.noteSignals(obs, &iv)
	if len(j.hist) < e.opts.maxSeriesPoints {
		j.hist = append(j.hist, rec)
		if n := len(j.hist); n > 1 && j.hist[n-2].at > rec.at {
			sort.SliceStable(j.hist, func(a, b int) bool { return j.hist[a].at < j.hist[b].at })
		}
	}
	j.judgeErrors(&iv)
	j.judgeGoroutines(iv.at, iv.goroutinesTotal)
	j.judgeLeaks(iv.at)
	j.judgeDuplicates(iv.at)
	j.judgeRestarts(iv.at)
	j.judgeDueEffects(iv.at)
	p.Restarts, p.DuplicateCharges, p.DuplicateChargedCents = j.restartsTotal, j.dup, j.dupCents
	if len(j.series) < e.opts.maxSeriesPoints {
		j.series = append(j.series, p)
	}
	if e.phase == v1alpha1.PhaseJudging {
		return nil
	}
	if e.gate() == v1alpha1.GateEnforce {
		if stop := e.checkGate(iv.at); stop != nil {
			return stop
		}
	}
	return j.guard(&iv)
}

// derive turns the samples into a Point, the interval's figures and the
// record kept for the evidence checks.
func (j *judge) derive(obs Observation) (Point, interval, record) {
	e := j.e
	at := obs.At
	p := Point{At: at, Phase: e.phase, Goroutines: map[string]float64{}, Server5xxRatio: map[string]float64{}, Leaked: map[string]int64{},
		Targets: map[string]TargetPoint{}}
	iv := interval{at: at, serverTotal: map[string]float64{}, server5xx: map[string]float64{}}
	var lat []observe.Bucket
	hasLoadgen := false
	rec := record{at: at, targets: map[string]targetObs{}, edges: map[edgeKey]edgeObs{}}
	for _, s := range obs.Samples {
		t := j.target(s.Target, s.Role)
		t.restarts = max(t.restarts, s.Restarts)
		if t.role == observe.RoleLoadgen {
			hasLoadgen = true
		}
		to := targetObs{role: t.role, up: s.Up, instance: s.Instance, restarts: s.Restarts}
		tp := TargetPoint{Role: t.role, Up: s.Up, Restarts: s.Restarts}
		if !s.Up {
			rec.targets[t.name] = to
			p.Targets[t.name] = tp
			continue
		}
		if t.haveLast {
			for u, cur := range s.Upstream {
				k := edgeKey{caller: t.role, upstream: u}
				d := edgeDelta(t.last.Upstream[u], cur)
				rec.edges[k] = rec.edges[k].add(d)
				p.Edges = append(p.Edges, edgePoint(t.name, u, d, observe.BucketsDelta(t.last.Upstream[u].Latency, cur.Latency), at-t.lastAt))
			}
		}
		j.entryEdge(&rec, t, s)
		var cd, sd map[string]float64
		var ld []observe.Bucket
		var dt time.Duration
		switch {
		case t.haveLast:
			cd = observe.CounterDeltas(t.last.ClientRequests, s.ClientRequests)
			ld = observe.BucketsDelta(t.last.ClientLatency, s.ClientLatency)
			sd = observe.CounterDeltas(t.last.ServerRequests, s.ServerRequests)
			dt = at - t.lastAt
		case t.role == observe.RoleLoadgen && !j.restored: // started with the drill: counts from zero
			cd, ld, dt = s.ClientRequests, s.ClientLatency, at
		}
		var n, nErr float64
		for code, v := range cd {
			n += v
			if isClientError(code) {
				nErr += v
			}
		}
		iv.clientErrors += nErr
		iv.clientTotal += n
		if dt > 0 {
			p.RequestRate += n / dt.Seconds()
		}
		lat = observe.AddBuckets(lat, ld)
		var served5xx float64
		for code, v := range sd {
			to.served += v
			iv.serverTotal[t.role] += v
			if is5xx(code) {
				iv.server5xx[t.role] += v
				served5xx += v
			}
		}
		switch {
		case t.role == observe.RoleLoadgen && n > 0:
			tp.ErrorRatio = nErr / n
		case to.served > 0:
			tp.ErrorRatio = served5xx / to.served
		}
		if dt > 0 {
			tp.RequestRate = (n + to.served) / dt.Seconds()
			if t.role == observe.RoleLoadgen && (cd != nil || n > 0) {
				ep := EdgePoint{From: t.name, To: EdgeEntry, Rate: n / dt.Seconds(), ErrorRatio: tp.ErrorRatio}
				if q := observe.HistogramQuantile(0.99, ld); n > 0 && finite(q) {
					ep.P99 = q
				}
				p.Edges = append(p.Edges, ep)
			}
		}
		p.Targets[t.name] = tp
		if t.role == observe.RoleLoadgen && iv.loadgen == "" {
			iv.loadgen = t.name
		}
		t.goroutines = s.Goroutines
		p.Goroutines[t.name] = s.Goroutines
		if t.role != observe.RoleLoadgen {
			iv.goroutinesTotal += s.Goroutines
			iv.haveGoroutines = true
			j.baselineSample(t, at)
		}
		if s.Leaked >= 0 {
			t.leaked, t.leakGroups, t.leakAge, t.leakOldest = s.Leaked, s.LeakGroups, s.LeakAge, s.LeakOldestBlockedMinutes
		}
		t.dup, t.dupCents = max(t.dup, s.DuplicateCharges), max(t.dupCents, s.DuplicateChargedCents)
		t.last, t.lastAt, t.haveLast = s, at, true
		rec.targets[t.name] = to
	}
	if iv.haveGoroutines {
		p.Goroutines["total"] = iv.goroutinesTotal
		j.peakTotal = max(j.peakTotal, iv.goroutinesTotal)
		if at < e.steady || (e.steady == 0 && j.baselineTotal == 0) {
			j.baselineTotal = iv.goroutinesTotal
		}
	}
	for role, n := range iv.serverTotal {
		if n > 0 {
			p.Server5xxRatio[role] = iv.server5xx[role] / n
		}
	}
	switch {
	case iv.clientTotal >= e.opts.minRequests && iv.clientTotal > 0:
		iv.errRatio, iv.errValid = iv.clientErrors/iv.clientTotal, true
	case !hasLoadgen: // no load generator observed: the edge's 5xx share
		tot, bad := iv.serverTotal[observe.RoleGateway], iv.server5xx[observe.RoleGateway]
		if tot == 0 {
			for r, n := range iv.serverTotal {
				tot, bad = tot+n, bad+iv.server5xx[r]
			}
		}
		if tot >= e.opts.minRequests && tot > 0 {
			iv.errRatio, iv.errValid = bad/tot, true
		}
	}
	p.ErrorRatio = iv.errRatio
	sort.Slice(p.Edges, func(a, b int) bool {
		if p.Edges[a].From != p.Edges[b].From {
			return p.Edges[a].From < p.Edges[b].From
		}
		return p.Edges[a].To < p.Edges[b].To
	})
	if q := observe.HistogramQuantile(0.99, lat); !math.IsNaN(q) && !math.IsInf(q, 0) {
		p.P99 = q
	}
	j.requests += iv.clientTotal
	for _, name := range j.order {
		if t := j.targets[name]; t.leaked >= 0 {
			p.Leaked[name] = t.leaked
		}
	}
	for _, f := range e.faults {
		if f.state == v1alpha1.FaultInjected {
			p.ActiveFaults = append(p.ActiveFaults, f.name)
		}
	}
	// One interval per record, however many replicas called the edge: the
	// call rate's denominator (edgeObs.n) counts intervals, so that the
	// load spreading over more callers (a pod-kill's replacement) is not
	// read as fewer calls.
	for k, o := range rec.edges {
		o.n = 1
		rec.edges[k] = o
	}
	rec.requests, rec.loadgen = iv.clientTotal, hasLoadgen
	rec.served = iv.serverTotal[observe.RoleGateway]
	if rec.served == 0 {
		for _, n := range iv.serverTotal {
			rec.served += n
		}
	}
	iv.upstreamErrors = iv.server5xx[observe.RoleGateway] > 0 || iv.clientErrors > 0
	iv.upstreamEvidence = fmt.Sprintf("gateway 5xx ratio %s, client error ratio %s",
		ratio(p.Server5xxRatio[observe.RoleGateway]), ratio(iv.errRatio))
	return p, iv, rec
}

// baselineSample adds a goroutine count to the target's steady-state
// baseline: the mean of the second half of the window (the first half is
// warm-up), or of the first half when that is all there is.
func (j *judge) baselineSample(t *targetState, at time.Duration) {
	steady := j.e.steady
	switch {
	case steady == 0 && t.baseN == 0 && t.earlyN == 0:
		t.baseSum, t.baseN = t.goroutines, 1
	case at >= steady:
	case at >= steady/2:
		t.baseSum, t.baseN = t.baseSum+t.goroutines, t.baseN+1
	default:
		t.earlySum, t.earlyN = t.earlySum+t.goroutines, t.earlyN+1
	}
}

func isClientError(code string) bool { return code == "error" || is5xx(code) }

func is5xx(code string) bool { return len(code) == 3 && code[0] == '5' }

// crash records a process exit.
func (j *judge) crash(c observe.Crash) {
	t := j.target(c.Target, "")
	if c.Injected {
		t.injectedCrashes++
		if len(t.injectedTimes) < 1024 {
			t.injectedTimes = append(t.injectedTimes, c.At)
			j.injected = append(j.injected, injectedCrash{c.Target, c.At})
		}
		j.event(c.At, KindProcessKilled, c.Target, orText(c.Cause, "killed by an injected fault"))
		return
	}
	t.organicCrashes++
	head := c.Headline
	switch {
	case head != "":
	case c.Signal != "":
		head = "killed by signal " + c.Signal
	default:
		head = fmt.Sprintf("exited with code %d", c.ExitCode)
	}
	if t.headline == "" {
		t.headline, t.firstCrash = head, c.At
	}
	j.organic++
	j.event(c.At, KindProcessCrashed, c.Target, head)
	j.crashFindings()
	if !j.seen[findingKey{"trigger", "crash"}] {
		j.seen[findingKey{"trigger", "crash"}] = true
		j.upstreamTrigger = "crash of " + c.Target
	}
}

// crashFindings makes every crashed process a ProcessCrashed finding once
// the crashes not caused by injected faults exceed hypothesis.maxRestarts;
// below it they are only in the timeline.
func (j *judge) crashFindings() {
	if j.organic <= int(j.e.th.maxRestarts) {
		return
	}
	for _, name := range j.order {
		t := j.targets[name]
		if t.organicCrashes == 0 {
			continue
		}
		msg := t.headline
		if t.organicCrashes > 1 {
			msg = fmt.Sprintf("%s (%d crashes)", msg, t.organicCrashes)
		}
		j.find(v1alpha1.FindingProcessCrashed, name, t.firstCrash, msg)
	}
}

// judgeErrors tracks the peak error ratio, its finding and the first
// upstream 5xx after a crash or the first fault.
func (j *judge) judgeErrors(iv *interval) {
	e := j.e
	if !j.seen[findingKey{"trigger", "fault"}] && iv.at >= 0 {
		for _, f := range e.faults {
			if f.injectedAt != nil && *f.injectedAt <= iv.at {
				j.seen[findingKey{"trigger", "fault"}] = true
				if j.upstreamTrigger == "" {
					j.upstreamTrigger = "fault " + f.name
				}
				break
			}
		}
	}
	if iv.upstreamErrors && j.upstreamTrigger != "" {
		j.event(iv.at, KindUpstream5xx, observe.RoleGateway, "first upstream errors after "+j.upstreamTrigger+": "+iv.upstreamEvidence)
		j.upstreamTrigger = ""
	}
	if !iv.errValid {
		return
	}
	if iv.errRatio > j.peakRatio {
		j.peakRatio, j.peakRatioAt = iv.errRatio, iv.at
	}
	if iv.errRatio <= e.th.maxErrorRatio {
		return
	}
	target := iv.loadgen
	if _, ok := j.index[findingKey{v1alpha1.FindingErrorRatioExceeded, target}]; !ok {
		j.firstBreach = iv.errRatio
		j.first(iv.at, KindErrorRatio, target, fmt.Sprintf("error ratio %s > %s", ratio(iv.errRatio), fmtFloat(e.th.maxErrorRatio)))
	}
	if iv.at == j.peakRatioAt {
		var roles []string
		for _, r := range []string{observe.RoleGateway, observe.RoleOrders, observe.RoleLedger} {
			if iv.serverTotal[r] > 0 {
				roles = append(roles, fmt.Sprintf("%s %s", r, ratio(iv.server5xx[r]/iv.serverTotal[r])))
			}
		}
		j.peakRoles = strings.Join(roles, ", ")
	}
	msg := fmt.Sprintf("error ratio %s > %s (client: 5xx and transport errors); peak %s at %s",
		ratio(j.firstBreach), fmtFloat(e.th.maxErrorRatio), ratio(j.peakRatio), secs(j.peakRatioAt))
	if j.peakRoles != "" {
		msg += "; server 5xx at peak: " + j.peakRoles
	}
	j.find(v1alpha1.FindingErrorRatioExceeded, target, iv.at, msg)
}

func fmtFloat(v float64) string { return fmt.Sprintf("%g", v) }

// edgePoint is one caller's calls into upstream over an interval of dt,
// from the counters' growth d and the latency buckets' growth lat.
func edgePoint(caller, upstream string, d edgeObs, lat []observe.Bucket, dt time.Duration) EdgePoint {
	ep := EdgePoint{From: caller, To: upstream}
	if dt > 0 {
		ep.Rate = d.total / dt.Seconds()
	}
	if r, ok := d.errRatio(); ok {
		ep.ErrorRatio = r
	}
	if m, ok := d.mean(); ok && finite(m) {
		ep.Mean = m
	}
	if q := observe.HistogramQuantile(0.99, lat); d.latCount > 0 && finite(q) {
		ep.P99 = q
	}
	return ep
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
