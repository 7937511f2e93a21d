package engine

import (
	"strconv"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// Restore rebuilds an engine from a status written by an earlier one, so a
// restarted driver resumes the drill: the phase, fault states (injected
// faults are not injected again; injected faults not yet recovered are
// recovered when due, at once if overdue), findings (not found twice) and
// summary figures carry over.
//
// What status does not hold is lost: the per-process goroutine baselines
// (growth is then judged on the total against summary.baselineGoroutines),
// the abort guard's window, and whether a drill restored in Judging was
// stopped by a user (it is judged as a normal end unless it has an Aborted
// finding).
func Restore(spec v1alpha1.ExperimentSpec, status v1alpha1.ExperimentStatus, opts ...Option) (*Engine, error) {
	e, err := New(spec, opts...)
	if err != nil {
		return nil, err
	}
	if status.Phase != "" {
		e.phase = status.Phase
	}
	e.verdict = status.Verdict
	if status.StartTime != nil {
		st := *status.StartTime
		e.start = &st
		if status.CompletionTime != nil {
			end := status.CompletionTime.Sub(st.Time)
			e.endAt = &end
		}
	}
	byName := map[string]v1alpha1.FaultStatus{}
	for _, fs := range status.Faults {
		byName[fs.Name] = fs
	}
	j := &e.judge
	j.restored = true
	for _, f := range e.faults {
		fs, ok := byName[f.name]
		if !ok || fs.State == "" {
			continue
		}
		f.state, f.message = fs.State, fs.Message
		f.effect, f.effectDetail = fs.Effect, fs.EffectDetail
		f.effectRestored = fs.Effect != ""
		f.targets = append([]string(nil), fs.Targets...)
		if fs.InjectedAt != nil {
			d := fs.InjectedAt.Duration
			f.injectedAt = &d
		}
		if fs.RecoveredAt != nil {
			d := fs.RecoveredAt.Duration
			f.recoveredAt = &d
		}
		switch f.state {
		case v1alpha1.FaultInjected:
			f.injectAsked = true
			if f.injectedAt == nil {
				zero := f.after
				f.injectedAt = &zero
			}
			if f.instant {
				f.state, f.recoverAsked, f.recoveredAt = v1alpha1.FaultRecovered, true, f.injectedAt
			}
		case v1alpha1.FaultRecovered, v1alpha1.FaultFailed:
			f.injectAsked, f.recoverAsked = true, true
		}
		if f.podFault && f.injectedAt != nil {
			for _, t := range f.targets {
				j.podFaultHits[t]++
			}
		}
		j.restoreInjected(f, fs.InjectedCrashes)
	}
	for _, f := range status.Findings {
		k := findingKey{f.Type, f.Target}
		if _, dup := j.index[k]; dup {
			continue
		}
		j.index[k] = len(j.findings)
		f.Cause = nil // derived again from the faults
		j.findings = append(j.findings, f)
		switch f.Type {
		case v1alpha1.FindingAborted:
			e.outcome, e.reason = outcomeAborted, f.Message
		case v1alpha1.FindingSteadyStateNotMet:
			e.gateChecked = true
			if e.gate() == v1alpha1.GateEnforce {
				e.outcome, e.reason = outcomeGated, "steady state not met: no fault injected"
			}
		case v1alpha1.FindingDuplicateCharges:
			j.dupTarget = f.Target
		case v1alpha1.FindingRestarts:
			j.restartTarget = f.Target
		}
	}
	if lo := status.LastObservation; lo != nil {
		d := lo.Duration
		j.lastObs = &d
	}
	j.rows = append(j.rows, status.Hypothesis...)
	s := status.Summary
	j.requests = float64(s.Requests)
	if r, err := strconv.ParseFloat(s.PeakErrorRatio, 64); err == nil {
		j.peakRatio, j.firstBreach = r, r
	}
	j.baselineTotal, j.restoredBase = float64(s.BaselineGoroutines), float64(s.BaselineGoroutines)
	j.peakTotal = float64(s.PeakGoroutines)
	j.restartsTotal = s.Restarts
	j.dup, j.dupCents = float64(s.DuplicateCharges), float64(s.DuplicateChargedCents)
	j.peakLeaked = s.LeakedGoroutines
	if e.phase == v1alpha1.PhaseJudging || e.phase.Terminal() {
		e.stopped = true
	}
	e.advance()
	return e, nil
}
