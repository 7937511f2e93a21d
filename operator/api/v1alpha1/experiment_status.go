package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Phase is where a drill is in its life.
// +kubebuilder:validation:Enum=Pending;SteadyState;Injecting;Recovering;Judging;Completed;Aborted;Failed
type Phase string

// Phases of an experiment, in order; Completed, Aborted and Failed are terminal.
const (
	PhasePending     Phase = "Pending"
	PhaseSteadyState Phase = "SteadyState"
	PhaseInjecting   Phase = "Injecting"
	PhaseRecovering  Phase = "Recovering"
	PhaseJudging     Phase = "Judging"
	PhaseCompleted   Phase = "Completed"
	PhaseAborted     Phase = "Aborted"
	PhaseFailed      Phase = "Failed"
)

// Terminal reports whether the phase is final.
func (p Phase) Terminal() bool {
	return p == PhaseCompleted || p == PhaseAborted || p == PhaseFailed
}

// Verdict is the outcome of a drill.
// +kubebuilder:validation:Enum=HypothesisHeld;HypothesisViolated;Inconclusive
type Verdict string

// Verdicts.
const (
	VerdictHeld         Verdict = "HypothesisHeld"
	VerdictViolated     Verdict = "HypothesisViolated"
	VerdictInconclusive Verdict = "Inconclusive"
)

// FindingType names what was found.
type FindingType string

// Finding types.
const (
	FindingProcessCrashed     FindingType = "ProcessCrashed"
	FindingErrorRatioExceeded FindingType = "ErrorRatioExceeded"
	FindingDuplicateCharges   FindingType = "DuplicateCharges"
	FindingGoroutineGrowth    FindingType = "GoroutineGrowth"
	FindingGoroutineLeak      FindingType = "GoroutineLeak"
	FindingRestarts           FindingType = "Restarts"
	FindingAborted            FindingType = "Aborted"

	// Evidence findings: what a HypothesisHeld verdict lacked. Any of them
	// makes an otherwise clean drill Inconclusive; they never turn a
	// Violated verdict into anything else.

	// FindingFaultNotInjected: a fault was never injected as planned (no pod
	// selected, rejected, or still not acknowledged by the end of its window).
	FindingFaultNotInjected FindingType = "FaultNotInjected"
	// FindingFaultEffectNotObserved: a fault was injected but the kit's own
	// observation did not see its effect (or could not tell).
	FindingFaultEffectNotObserved FindingType = "FaultEffectNotObserved"
	// FindingObservationGap: a process was observed in fewer samples than
	// the drill needs (scrapes failed), or a fault was never recovered.
	FindingObservationGap FindingType = "ObservationGap"
	// FindingLoadNotRunning: the load did not run for the planned duration.
	FindingLoadNotRunning FindingType = "LoadNotRunning"
	// FindingSteadyStateNotMet: the hypothesis was already violated during
	// the steady state, before any fault (spec.steadyStateGate).
	FindingSteadyStateNotMet FindingType = "SteadyStateNotMet"
	// FindingRecoveryUnverified: a fault's recovery was not confirmed: its
	// Chaos Mesh object was removed by force (finalizer stripped), or the
	// residue check found its rules still live in a victim pod.
	FindingRecoveryUnverified FindingType = "RecoveryUnverified"
)

// HypothesisResult is how one row of the hypothesis was judged.
// +kubebuilder:validation:Enum=held;breached;notJudged
type HypothesisResult string

// Hypothesis row results.
const (
	// RowHeld: the drill judged the row and its bound held.
	RowHeld HypothesisResult = "held"
	// RowBreached: a finding breaches the row's bound.
	RowBreached HypothesisResult = "breached"
	// RowNotJudged: the drill lacked what the row needs (Why says what);
	// a row not judged makes HypothesisHeld impossible.
	RowNotJudged HypothesisResult = "notJudged"
)

// HypothesisRow is one bound of spec.hypothesis as the drill judged it.
type HypothesisRow struct {
	// Name is the bound's field in spec.hypothesis (maxErrorRatio,
	// maxDuplicateCharges, maxGoroutineGrowth, maxLeakedGoroutines,
	// maxRestarts), or processCrashes for crashes not caused by a fault.
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`
	// Bound is the bound as the spec sets it, such as "0.01".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Bound string `json:"bound,omitempty"`
	// Observed is the figure the drill saw.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Observed string `json:"observed,omitempty"`
	// Result is held, breached or notJudged.
	Result HypothesisResult `json:"result"`
	// Why says what decided the result; for notJudged, what was missing.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Why string `json:"why,omitempty"`
}

// FaultEffect is what the kit's own observation says of an injected fault.
// +kubebuilder:validation:Enum=Confirmed;NotObserved;Inconclusive
type FaultEffect string

// Fault effects.
const (
	// EffectConfirmed: the fault's effect was seen (a process replaced, a
	// target stopped serving, an edge slowed or failing).
	EffectConfirmed FaultEffect = "Confirmed"
	// EffectNotObserved: the kit observed the target throughout and the
	// effect did not show.
	EffectNotObserved FaultEffect = "NotObserved"
	// EffectInconclusive: the kit lacked the data to tell (no samples of the
	// edge, the fault never injected).
	EffectInconclusive FaultEffect = "Inconclusive"
)

// FaultState is where one fault is in its life.
// +kubebuilder:validation:Enum=Pending;Injected;Recovered;Failed
type FaultState string

// Fault states.
const (
	FaultPending   FaultState = "Pending"
	FaultInjected  FaultState = "Injected"
	FaultRecovered FaultState = "Recovered"
	FaultFailed    FaultState = "Failed"
)

// Condition types on an Experiment.
const (
	// ConditionReady is True when the drill reached a terminal phase with a verdict.
	ConditionReady = "Ready"
	// ConditionVictimReady is True when every victim process answers /readyz.
	ConditionVictimReady = "VictimReady"
	// ConditionChaosActive is True while at least one fault is injected.
	ConditionChaosActive = "ChaosActive"
	// ConditionStepError is True while the manager's last step of the drill
	// failed with a transient error (reason TransientError, the error as
	// message); the drill goes on at its next step, on its own schedule.
	ConditionStepError = "StepError"
)

// ExperimentStatus is what the drill did and found.
type ExperimentStatus struct {
	// ObservedGeneration is the generation this status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase is where the drill is.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// Verdict is set once the drill is over.
	// +optional
	Verdict Verdict `json:"verdict,omitempty"`
	// StartTime is when the load started: the drill's clock zero, with
	// microseconds, so that a restarted manager resumes on the same clock
	// (every offset in status and the report counts from it).
	// +optional
	StartTime *metav1.MicroTime `json:"startTime,omitempty"`
	// CompletionTime is when the drill reached a terminal phase.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Conditions are the latest observations of the drill's state.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Faults is the state of each fault, in spec order.
	// +optional
	Faults []FaultStatus `json:"faults,omitempty"`
	// Summary holds the headline figures.
	// +optional
	Summary Summary `json:"summary,omitempty"`
	// Findings are the hypothesis breaches, in time order.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Findings []Finding `json:"findings,omitempty"`
	// Hypothesis is each bound of spec.hypothesis judged, breached or not
	// judged, set once the drill is over.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Hypothesis []HypothesisRow `json:"hypothesis,omitempty"`
	// LastObservation is the offset of the last observation this status
	// includes: a restarted manager counts the time from it to its own
	// first observation as an observation gap.
	// +optional
	LastObservation *metav1.Duration `json:"lastObservation,omitempty"`
	// ReportRef points at the full report.
	// +optional
	ReportRef *ReportRef `json:"reportRef,omitempty"`
}

// FaultStatus is the state of one fault.
type FaultStatus struct {
	// Name is the fault's name in the spec.
	Name string `json:"name"`
	// State is where the fault is.
	State FaultState `json:"state"`
	// InjectedAt is the offset into the drill at which the fault was injected.
	// +optional
	InjectedAt *metav1.Duration `json:"injectedAt,omitempty"`
	// RecoveredAt is the offset at which it was recovered.
	// +optional
	RecoveredAt *metav1.Duration `json:"recoveredAt,omitempty"`
	// Targets are the pods (processes) the fault hit.
	// +optional
	Targets []string `json:"targets,omitempty"`
	// Message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
	// Effect is whether the kit saw the fault's effect, judged once the
	// drill is over from its own observation (not from Chaos Mesh's status).
	// +optional
	Effect FaultEffect `json:"effect,omitempty"`
	// EffectDetail is the figure that decided Effect, such as "ledger edge
	// mean latency 3ms → 212ms (injected 200ms)".
	// +optional
	// +kubebuilder:validation:MaxLength=512
	EffectDetail string `json:"effectDetail,omitempty"`
	// InjectedCrashes counts, per target, the process exits the backend
	// reported as this fault's doing, so that a restarted manager does not
	// count them as the victim's own restarts.
	// +optional
	InjectedCrashes map[string]int32 `json:"injectedCrashes,omitempty"`
}

// Summary holds a drill's headline figures.
type Summary struct {
	// Requests is the number of payment requests the load generator sent.
	// +optional
	Requests int64 `json:"requests,omitempty"`
	// PeakErrorRatio is the highest client-side error ratio of any sample (decimal string).
	// +optional
	PeakErrorRatio string `json:"peakErrorRatio,omitempty"`
	// BaselineGoroutines is the total goroutine count at the end of the steady state.
	// +optional
	BaselineGoroutines int64 `json:"baselineGoroutines,omitempty"`
	// PeakGoroutines is the highest total goroutine count observed.
	// +optional
	PeakGoroutines int64 `json:"peakGoroutines,omitempty"`
	// Restarts is the number of process restarts.
	// +optional
	Restarts int32 `json:"restarts,omitempty"`
	// DuplicateCharges is the number of orders charged more than once.
	// +optional
	DuplicateCharges int64 `json:"duplicateCharges,omitempty"`
	// DuplicateChargedCents is the money charged twice.
	// +optional
	DuplicateChargedCents int64 `json:"duplicateChargedCents,omitempty"`
	// LeakedGoroutines is the highest goleak count of any process.
	// +optional
	LeakedGoroutines int64 `json:"leakedGoroutines,omitempty"`
}

// Finding is one hypothesis breach or notable event.
type Finding struct {
	// Type names what was found.
	Type FindingType `json:"type"`
	// At is the offset into the drill, such as "23.4s".
	At metav1.Duration `json:"at"`
	// Target is the process (pod) or edge concerned, if any.
	// +optional
	Target string `json:"target,omitempty"`
	// Message is the evidence, such as a crash headline or a figure against its bound.
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
	// Cause is the fault the finding followed: the latest fault injected
	// at or before it (in effect, or recovered less than the settle time
	// before), and how long after its injection. Empty when the finding came
	// before any fault, or is not about the victim's behaviour (evidence).
	// +optional
	Cause *FindingCause `json:"cause,omitempty"`
}

// FindingCause is the fault a finding followed.
type FindingCause struct {
	// Fault is the fault's name.
	Fault string `json:"fault"`
	// After is how long after the fault's injection the finding came.
	After metav1.Duration `json:"after"`
}

// ReportRef points at the full report of a drill.
type ReportRef struct {
	// ConfigMap is the name of the ConfigMap holding report.json.
	// +optional
	ConfigMap string `json:"configMap,omitempty"`
}

// Experiment is one chaos drill against a payment service.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=exp;exps,categories=cascadelab;chaos
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.verdict`
// +kubebuilder:printcolumn:name="Findings",type=integer,JSONPath=`.status.findings.length()`,priority=1
// +kubebuilder:printcolumn:name="Restarts",type=integer,JSONPath=`.status.summary.restarts`,priority=1
// +kubebuilder:printcolumn:name="Duplicates",type=integer,JSONPath=`.status.summary.duplicateCharges`,priority=1
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.spec.duration`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the drill. It is immutable: a drill that changed while it ran
	// would inject one fault and judge another.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: delete the Experiment and create it again to change the drill"
	Spec ExperimentSpec `json:"spec"`
	// Status is what happened.
	// +optional
	Status ExperimentStatus `json:"status,omitempty"`
}

// ExperimentList is a list of Experiments.
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the experiments.
	Items []Experiment `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Experiment{}, &ExperimentList{})
}
