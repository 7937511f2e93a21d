package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Timeline event kinds.
const (
	KindFaultInjected     = "FaultInjected"
	KindFaultRecovered    = "FaultRecovered"
	KindFaultFailed       = "FaultFailed"
	KindProcessKilled     = "ProcessKilled"
	KindProcessCrashed    = "ProcessCrashed"
	KindUpstream5xx       = "Upstream5xx"
	KindErrorRatio        = "ErrorRatioExceeded"
	KindGoroutineGrowth   = "GoroutineGrowth"
	KindGoroutineLeak     = "GoroutineLeak"
	KindDuplicateCharges  = "DuplicateCharges"
	KindRestarts          = "Restarts"
	KindAborted           = "Aborted"
	KindStopped           = "Stopped"
	KindFailed            = "Failed"
	KindSteadyStateNotMet = "SteadyStateNotMet"
)

type findingKey struct {
	typ    v1alpha1.FindingType
	target string
}

// targetState is what the engine remembers about one target.
type targetState struct {
	name, role string
	last       observe.Sample
	lastAt     time.Duration
	haveLast   bool

	baseSum, baseN   float64 // samples in the second half of the steady state
	earlySum, earlyN float64 // samples in the first half
	goroutines       float64
	peakGrowth       float64
	peakGoroutines   float64
	peakGrowthAt     time.Duration
	// settled* track the samples taken once the faults were over.
	settledMin, settledBase float64
	settledN                int
	settledFrom, settledTo  time.Duration

	restarts        int32
	injectedCrashes int
	injectedTimes   []time.Duration // when each injected crash was reported
	organicCrashes  int
	headline        string
	firstCrash      time.Duration

	leaked     int64
	peakLeaked int64
	leakGroups []observe.LeakGroup
	leakAge    time.Duration // how old the leaked figure was when sampled
	leakOldest int           // minutes the oldest leaked goroutine was blocked

	dup, dupCents float64
}

// baseline is the target's steady-state goroutine count, 0 when unknown.
func (t *targetState) baseline() float64 {
	switch {
	case t.baseN > 0:
		return t.baseSum / t.baseN
	case t.earlyN > 0:
		return t.earlySum / t.earlyN
	}
	return 0
}

// judge holds the derived signals, findings, series and timeline.
type judge struct {
	e            *Engine
	targets      map[string]*targetState
	order        []string
	podFaultHits map[string]int

	findings []v1alpha1.Finding
	index    map[findingKey]int
	hist     []record // one per observation, for the evidence checks
	timeline []TimelineEvent
	seen     map[findingKey]bool // timeline firsts
	series   []Point

	requests        float64
	peakRatio       float64
	peakRatioAt     time.Duration
	firstBreach     float64
	peakRoles       string
	baselineTotal   float64
	peakTotal       float64
	restoredBase    float64
	restored        bool // rebuilt by Restore: counters seen before are in summary
	abortSince      *time.Duration
	upstreamTrigger string // what the next Upstream5xx event follows
	restartsTotal   int32
	organic         int // crashes not caused by injected faults
	dup, dupCents   float64
	dupTarget       string
	restartTarget   string
	peakLeaked      int64
	// signals: when the judge last read what the hypothesis rows need.
	signals seenSignals
	// rows are the hypothesis rows, judged at Finish (or restored).
	rows []v1alpha1.HypothesisRow
	// lastObs is the offset of the last observation (restored from status).
	lastObs *time.Duration
	// resumedAt is a restored engine's first observation.
	resumedAt *time.Duration
	// injected are the injected crashes reported to this engine.
	injected []injectedCrash
}

func (j *judge) init(e *Engine) {
	j.e = e
	j.targets = map[string]*targetState{}
	j.podFaultHits = map[string]int{}
	j.index = map[findingKey]int{}
	j.seen = map[findingKey]bool{}
}

func (j *judge) target(name, role string) *targetState {
	t := j.targets[name]
	if t == nil {
		t = &targetState{name: name, leaked: -1}
		j.targets[name] = t
		j.order = append(j.order, name)
	}
	if role != "" {
		t.role = role
	}
	return t
}

// find records a finding once per (type, target); a later call for the
// same key updates the evidence and keeps the time of the first breach.
func (j *judge) find(typ v1alpha1.FindingType, target string, at time.Duration, msg string) {
	k := findingKey{typ, target}
	msg = truncate(msg, 1024)
	if i, ok := j.index[k]; ok {
		j.findings[i].Message = msg
		return
	}
	limit := j.e.opts.maxFindings
	if typ != v1alpha1.FindingAborted {
		limit-- // one slot stays free for Aborted
	}
	if len(j.findings) >= limit {
		return
	}
	j.index[k] = len(j.findings)
	j.findings = append(j.findings, v1alpha1.Finding{Type: typ, At: metav1.Duration{Duration: at}, Target: target, Message: msg})
}

func (j *judge) sortedFindings() []v1alpha1.Finding {
	out := append([]v1alpha1.Finding(nil), j.findings...)
	sort.SliceStable(out, func(a, b int) bool { return out[a].At.Duration < out[b].At.Duration })
	return out
}

// event appends a timeline event.
func (j *judge) event(at time.Duration, kind, target, detail string) {
	if len(j.timeline) >= j.e.opts.maxTimeline {
		return
	}
	j.timeline = append(j.timeline, TimelineEvent{At: at, Kind: kind, Target: target, Detail: detail})
}

// first appends a timeline event the first time (kind, target) happens.
func (j *judge) first(at time.Duration, kind, target, detail string) {
	k := findingKey{v1alpha1.FindingType(kind), target}
	if j.seen[k] {
		return
	}
	j.seen[k] = true
	j.event(at, kind, target, detail)
}

func (j *judge) summary() v1alpha1.Summary {
	return v1alpha1.Summary{
		Requests:              int64(j.requests + 0.5),
		PeakErrorRatio:        observe.FormatRatio(j.peakRatio),
		BaselineGoroutines:    int64(j.baselineTotal + 0.5),
		PeakGoroutines:        int64(j.peakTotal + 0.5),
		Restarts:              j.restartsTotal,
		DuplicateCharges:      int64(j.dup + 0.5),
		DuplicateChargedCents: int64(j.dupCents + 0.5),
		LeakedGoroutines:      j.peakLeaked,
	}
}

func joinTargets(ts []string) string {
	if len(ts) > 4 {
		return strings.Join(ts[:4], ",") + fmt.Sprintf(",+%d", len(ts)-4)
	}
	return strings.Join(ts, ",")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func ratio(v float64) string { return observe.FormatRatio(v) }

func secs(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }
