package report

import (
	"fmt"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// findingSteadyStateNotMet is the steady-state gate's finding.
const findingSteadyStateNotMet = v1alpha1.FindingSteadyStateNotMet

// Cause says what a finding followed: "kill-one-orders +2.3s" (the fault
// and how long after its injection), "before any fault" for a breach before
// the first injection, "no fault window" for one between or after the
// faults' windows, and "—" for the evidence findings.
func (r *Report) Cause(f v1alpha1.Finding) string {
	if c := f.Cause; c != nil {
		return fmt.Sprintf("%s +%s", c.Fault, fmtDur(c.After.Duration))
	}
	if isEvidenceType(f.Type) {
		return "—"
	}
	for _, fs := range r.Faults {
		if fs.InjectedAt != nil && fs.InjectedAt.Duration <= f.At.Duration {
			return "no fault window"
		}
	}
	return "before any fault"
}

// GateSkipped is the steady-state gate's finding when the drill ran its
// faults anyway (steadyStateGate Continue) on a steady state that already
// broke the hypothesis; "" otherwise.
func (r *Report) GateSkipped() string {
	if r.Verdict == v1alpha1.VerdictInconclusive {
		return "" // the Inconclusive explanation lists it first
	}
	for _, f := range r.Findings {
		if f.Type == v1alpha1.FindingSteadyStateNotMet {
			return f.Message
		}
	}
	return ""
}

// isEvidenceType reports whether a finding says what evidence was missing
// rather than what broke.
func isEvidenceType(t v1alpha1.FindingType) bool {
	for _, e := range evidenceLabels {
		if e.Type == t {
			return true
		}
	}
	return false
}

// evidenceLabels are the finding types that say what a HypothesisHeld
// verdict lacked, with the words the Inconclusive explanation uses, in the
// order it lists them.
var evidenceLabels = []struct {
	Type  v1alpha1.FindingType
	Label string
}{
	{findingSteadyStateNotMet, "Steady state not met before any fault"},
	{v1alpha1.FindingFaultNotInjected, "Fault not injected"},
	{v1alpha1.FindingFaultEffectNotObserved, "Fault effect not seen"},
	{v1alpha1.FindingObservationGap, "Observation gap"},
	{v1alpha1.FindingLoadNotRunning, "Load not running"},
	{v1alpha1.FindingRecoveryUnverified, "Recovery not verified"},
}

// reason is one line of the Inconclusive explanation.
type reason struct {
	// Label says what was missing, such as "Fault not injected".
	Label string
	// Target is the fault, process or edge concerned, if any.
	Target string
	// At is the offset of the finding, if it came from one.
	At string
	// Message is the evidence.
	Message string
}

// whyInconclusive is what an Inconclusive report says before anything else.
type whyInconclusive struct {
	// Reasons are the evidence findings, then what the fault statuses show
	// that no finding covers.
	Reasons []reason
	// Load says whether the load ran, when no LoadNotRunning finding does.
	Load string
}

// whyIntro is the sentence that opens the explanation in both formats.
const whyIntro = "The drill could not judge its hypothesis. " +
	"A HypothesisHeld verdict needs every fault injected, recovered and its effect seen, " +
	"every process observed and the load running. What was missing:"

// Intro is the sentence that opens the explanation (for the template).
func (w *whyInconclusive) Intro() string { return whyIntro }

// why explains an Inconclusive verdict; it returns nil for any other.
func (r *Report) why() *whyInconclusive {
	if r.Verdict != v1alpha1.VerdictInconclusive {
		return nil
	}
	w := &whyInconclusive{}
	covered := map[string]bool{} // faults a finding already speaks of
	loadFinding := false
	for _, e := range evidenceLabels {
		for _, f := range r.Findings {
			if f.Type != e.Type {
				continue
			}
			w.Reasons = append(w.Reasons, reason{Label: e.Label, Target: f.Target, At: fmtDur(f.At.Duration), Message: f.Message})
			if f.Target != "" {
				covered[f.Target] = true
			}
			loadFinding = loadFinding || f.Type == v1alpha1.FindingLoadNotRunning
		}
	}
	for _, row := range r.faultRows() {
		if covered[row.Name] {
			continue
		}
		if rs, ok := faultReason(row); ok {
			w.Reasons = append(w.Reasons, rs)
		}
	}
	if len(w.Reasons) == 0 {
		w.Reasons = append(w.Reasons, reason{Label: "No evidence finding",
			Message: fmt.Sprintf("the drill ended in phase %s and the engine recorded no finding saying what was missing "+
				"(a drill stopped by hand, or a victim that never came up, ends like this)", orDefault(string(r.Phase), "unknown"))})
	}
	if !loadFinding {
		if r.Summary.Requests > 0 {
			w.Load = fmt.Sprintf("the load ran: %d requests sent", r.Summary.Requests)
		} else {
			w.Load = "no request was recorded as sent"
		}
	}
	return w
}

// faultReason is what a fault's status alone says is missing, for a fault
// no evidence finding names: never injected, never recovered, or an effect
// that was not confirmed.
func faultReason(row faultRow) (reason, bool) {
	rs := reason{Target: row.Name}
	switch {
	case row.Injected == "" || row.State == string(v1alpha1.FaultFailed) || row.State == string(v1alpha1.FaultPending):
		rs.Label = "Fault not injected"
		rs.Message = "state " + orDefault(row.State, "unknown")
		if row.Message != "" {
			rs.Message += ": " + row.Message
		}
	case row.Recovered == "" && row.Duration != "instant":
		rs.Label = "Fault not recovered"
		rs.Message = "injected at " + row.Injected + ", no recovery recorded"
	case row.Effect != string(v1alpha1.EffectConfirmed):
		rs.Label = "Fault effect not seen"
		rs.Message = "effect " + orDefault(row.Effect, "not judged")
		if row.EffectDetail != "" {
			rs.Message += ": " + row.EffectDetail
		}
	default:
		return reason{}, false
	}
	return rs, true
}
