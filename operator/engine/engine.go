package engine

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Never is what NextDue returns when nothing is scheduled: a timer set to
// it does not fire within the life of a drill.
const Never time.Duration = math.MaxInt64

// MaxFindings is the most findings status holds (the CRD's MaxItems).
const MaxFindings = 64

// Hypothesis defaults, used when a spec reaches the engine without the
// API server's defaults applied.
const (
	DefaultMaxErrorRatio      = 0.01
	DefaultMaxGoroutineGrowth = 2.0
	DefaultAbortFor           = 10 * time.Second
)

// outcome is how a drill that reached Judging is to be finished.
type outcome int

const (
	outcomeNormal outcome = iota
	outcomeStopped
	outcomeAborted
	outcomeGated // the steady-state gate stopped the drill before any fault
)

// Engine is one drill's state machine and judge. It is not safe for
// concurrent use: a driver calls it from one goroutine.
type Engine struct {
	spec     v1alpha1.ExperimentSpec
	opts     options
	th       thresholds
	duration time.Duration
	steady   time.Duration

	phase   v1alpha1.Phase
	verdict v1alpha1.Verdict
	outcome outcome
	reason  string
	stopped bool // a Stop action was issued
	// gateChecked: the steady-state gate found the hypothesis violated
	// (once per drill).
	gateChecked bool
	endAt       *time.Duration
	start       *metav1.MicroTime

	faults []*faultRun
	judge  judge
}

// New returns an engine for spec (with the API's defaults applied; empty
// thresholds get the same defaults). It fails on a spec it cannot run:
// a non-positive duration or a malformed decimal or fault duration.
func New(spec v1alpha1.ExperimentSpec, opts ...Option) (*Engine, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	th, err := parseThresholds(spec)
	if err != nil {
		return nil, err
	}
	if spec.Duration.Duration <= 0 {
		return nil, fmt.Errorf("spec.duration: must be positive, got %s", spec.Duration.Duration)
	}
	faults, err := schedule(spec)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		spec: spec, opts: o, th: th,
		duration: spec.Duration.Duration, steady: spec.SteadyState.Duration,
		phase:  v1alpha1.PhasePending,
		faults: faults,
	}
	e.judge.init(e)
	return e, nil
}

// Start begins the drill: the backend must start the victim. Phase Pending.
func (e *Engine) Start() []Action {
	if e.phase != v1alpha1.PhasePending {
		return nil
	}
	return []Action{{Type: ActionStartVictim, Reason: "start the victim"}}
}

// VictimReady is called once every victim process is ready: the backend
// must start the load, and offset 0 of the drill is now. Phase SteadyState.
func (e *Engine) VictimReady() []Action {
	if e.phase != v1alpha1.PhasePending {
		return nil
	}
	e.phase = v1alpha1.PhaseSteadyState
	return []Action{{Type: ActionStartLoad, Reason: "victim ready"}}
}

// SetStartTime records the wall-clock time the load started, for
// status.startTime and status.completionTime (optional).
func (e *Engine) SetStartTime(t time.Time) {
	mt := metav1.NewMicroTime(t)
	e.start = &mt
}

// Stop ends the drill early without judging it (a user stop, or the victim
// never came up): every active fault is recovered and the backend stops.
// After Finish the phase is Completed with verdict Inconclusive.
func (e *Engine) Stop(now time.Duration, reason string) []Action {
	if e.phase.Terminal() || e.phase == v1alpha1.PhaseJudging {
		return nil
	}
	e.outcome, e.reason = outcomeStopped, reason
	e.judge.event(now, KindStopped, "", reason)
	return e.toJudging(now, reason)
}

// Fail ends the drill on a backend failure: every active fault is
// recovered, the backend stops, and the phase is Failed with verdict
// Inconclusive at once.
func (e *Engine) Fail(now time.Duration, reason string) []Action {
	if e.phase.Terminal() {
		return nil
	}
	acts := e.recoverAll(reason)
	if !e.stopped {
		acts = append(acts, Action{Type: ActionStop, Reason: reason})
		e.stopped = true
	}
	e.reason = reason
	e.judge.event(now, KindFailed, "", reason)
	e.judge.judgeRows(now, false, "the drill failed: "+reason)
	e.phase, e.verdict = v1alpha1.PhaseFailed, v1alpha1.VerdictInconclusive
	e.setEnd(now)
	return acts
}

// Finish judges the drill once the Stop action was carried out and a last
// observation was made: Judging → Completed (or Aborted) with a verdict.
// Called before the drill reached Judging, it is a Stop then a Finish.
func (e *Engine) Finish(now time.Duration) {
	if e.phase.Terminal() {
		return
	}
	if e.phase != v1alpha1.PhaseJudging {
		e.Stop(now, "finished before the drill was over")
	}
	if e.outcome == outcomeGated {
		e.judge.judgeRows(now, false, "no fault injected: the steady state did not meet the hypothesis")
		e.phase, e.verdict = v1alpha1.PhaseCompleted, v1alpha1.VerdictInconclusive
		e.setEnd(now)
		return
	}
	e.judge.judgeSettledGrowth()
	for _, f := range e.faults {
		e.judge.judgeEffect(f)
	}
	switch e.outcome {
	case outcomeAborted:
		e.judge.judgeRows(now, false, "the drill was aborted before it ran its course: "+e.reason)
		e.phase, e.verdict = v1alpha1.PhaseAborted, v1alpha1.VerdictViolated
	case outcomeStopped:
		e.judge.judgeRows(now, false, "the drill was stopped before it ran its course: "+e.reason)
		e.phase, e.verdict = v1alpha1.PhaseCompleted, v1alpha1.VerdictInconclusive
	default:
		e.judge.judgeEvidence(now)
		late := e.lateGate(now)
		e.judge.judgeRows(now, true, "")
		e.phase, e.verdict = v1alpha1.PhaseCompleted, e.judge.verdict()
		if late {
			e.verdict = v1alpha1.VerdictInconclusive
		}
	}
	e.setEnd(now)
}

// verdict of a drill that ran to its end: Violated on any breach of the
// hypothesis (a crash is a crash, whatever evidence is missing), else
// Inconclusive when evidence is missing, else Held.
func (j *judge) verdict() v1alpha1.Verdict {
	missing := false
	for _, f := range j.findings {
		if !isEvidence(f.Type) {
			return v1alpha1.VerdictViolated
		}
		missing = true
	}
	if missing {
		return v1alpha1.VerdictInconclusive
	}
	return v1alpha1.VerdictHeld
}

func (e *Engine) setEnd(now time.Duration) {
	if e.endAt == nil {
		e.endAt = &now
	}
}

// toJudging recovers every active fault, asks for Stop and enters Judging.
func (e *Engine) toJudging(now time.Duration, reason string) []Action {
	acts := e.recoverAll(reason)
	if !e.stopped {
		acts = append(acts, Action{Type: ActionStop, Reason: reason})
		e.stopped = true
	}
	e.phase = v1alpha1.PhaseJudging
	return acts
}

// Phase is where the drill is.
func (e *Engine) Phase() v1alpha1.Phase { return e.phase }

// Verdict is the drill's verdict, empty until it reaches a terminal phase.
func (e *Engine) Verdict() v1alpha1.Verdict { return e.verdict }

// Reason explains an early end (stop, failure or abort), if any.
func (e *Engine) Reason() string { return e.reason }

// Hypothesis returns the hypothesis rows, judged once the drill is over
// (nil before).
func (e *Engine) Hypothesis() []v1alpha1.HypothesisRow {
	return append([]v1alpha1.HypothesisRow(nil), e.judge.rows...)
}

// Findings returns the findings so far, in time order.
// Each breach carries its cause: the fault it followed, if any.
func (e *Engine) Findings() []v1alpha1.Finding { return e.attribute(e.judge.sortedFindings()) }

// Series returns the drill's time series, one Point per Observe.
func (e *Engine) Series() []Point { return append([]Point(nil), e.judge.series...) }

// Timeline returns the cascade's steps in time order.
func (e *Engine) Timeline() []TimelineEvent {
	out := append([]TimelineEvent(nil), e.judge.timeline...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// Status returns phase, verdict, fault states, summary and findings.
// Drivers add conditions, observedGeneration and reportRef.
func (e *Engine) Status() v1alpha1.ExperimentStatus {
	st := v1alpha1.ExperimentStatus{
		Phase:    e.phase,
		Verdict:  e.verdict,
		Summary:  e.judge.summary(),
		Findings: e.attribute(e.judge.sortedFindings()),
	}
	if e.start != nil {
		s := *e.start
		st.StartTime = &s
		if e.endAt != nil && e.phase.Terminal() {
			c := metav1.NewTime(s.Time.Add(*e.endAt))
			st.CompletionTime = &c
		}
	}
	counts := e.injectedCounts()
	for _, f := range e.faults {
		fs := f.status()
		fs.InjectedCrashes = counts[f]
		st.Faults = append(st.Faults, fs)
	}
	if e.phase.Terminal() && len(e.judge.rows) > 0 {
		st.Hypothesis = append([]v1alpha1.HypothesisRow(nil), e.judge.rows...)
	}
	if n := len(e.judge.hist); n > 0 {
		st.LastObservation = &metav1.Duration{Duration: e.judge.hist[n-1].at}
	} else if e.judge.lastObs != nil {
		st.LastObservation = &metav1.Duration{Duration: *e.judge.lastObs}
	}
	return st
}

// thresholds are the parsed hypothesis and abort guard.
type thresholds struct {
	maxErrorRatio float64
	maxDup        int64
	maxGrowth     float64
	maxLeaked     int64
	maxRestarts   int32
	abort         bool
	abortAbove    float64
	abortFor      time.Duration
}

func parseThresholds(spec v1alpha1.ExperimentSpec) (thresholds, error) {
	h := spec.Hypothesis
	th := thresholds{maxErrorRatio: DefaultMaxErrorRatio, maxGrowth: DefaultMaxGoroutineGrowth}
	var err error
	if th.maxErrorRatio, err = decimal("spec.hypothesis.maxErrorRatio", h.MaxErrorRatio, DefaultMaxErrorRatio); err != nil {
		return th, err
	}
	if th.maxGrowth, err = decimal("spec.hypothesis.maxGoroutineGrowth", h.MaxGoroutineGrowth, DefaultMaxGoroutineGrowth); err != nil {
		return th, err
	}
	if h.MaxDuplicateCharges != nil {
		th.maxDup = *h.MaxDuplicateCharges
	}
	if h.MaxLeakedGoroutines != nil {
		th.maxLeaked = *h.MaxLeakedGoroutines
	}
	if h.MaxRestarts != nil {
		th.maxRestarts = *h.MaxRestarts
	}
	if a := spec.Abort; a != nil {
		th.abort = true
		if th.abortAbove, err = decimal("spec.abort.errorRatioAbove", a.ErrorRatioAbove, -1); err != nil {
			return th, err
		}
		if th.abortAbove < 0 {
			return th, fmt.Errorf("spec.abort.errorRatioAbove: required")
		}
		th.abortFor = a.For.Duration
		if th.abortFor < 0 {
			return th, fmt.Errorf("spec.abort.for: must not be negative")
		}
		if th.abortFor == 0 {
			th.abortFor = DefaultAbortFor
		}
	}
	return th, nil
}

func decimal(field, s string, def float64) (float64, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative decimal", field, s)
	}
	return v, nil
}
