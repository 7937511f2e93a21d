package kube

import (
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// Condition reasons. Ready is True once the drill is over with a verdict
// (Succeeded, Aborted) and False while it runs (Progressing) or when it
// failed (NamespaceNotOptedIn, ChaosMeshMissing, VictimNotReady, Failed).
// VictimReady and ChaosActive use the reasons noted on each.
const (
	// ReasonProgressing: the drill is running (Ready=False).
	ReasonProgressing = "Progressing"
	// ReasonSucceeded: the drill completed and has a verdict (Ready=True).
	ReasonSucceeded = "Succeeded"
	// ReasonAborted: the abort guard or a user stop ended the drill (Ready=True).
	ReasonAborted = "Aborted"
	// ReasonFailed: the backend failed; the verdict is Inconclusive (Ready=False).
	ReasonFailed = "Failed"
	// ReasonNamespaceNotOptedIn: the namespace lacks cascadelab.dev/chaos=enabled;
	// nothing was created (Ready=False).
	ReasonNamespaceNotOptedIn = "NamespaceNotOptedIn"
	// ReasonChaosMeshMissing: Chaos Mesh's CRDs are not installed (Ready=False).
	ReasonChaosMeshMissing = "ChaosMeshMissing"
	// ReasonChaosRejected: Chaos Mesh's validation or the API server refused a
	// fault (ChaosActive=False); the drill goes on without it.
	ReasonChaosRejected = "ChaosRejected"
	// ReasonVictimNotReady: the victim's pods did not become ready in time
	// (Ready=False, VictimReady=False).
	ReasonVictimNotReady = "VictimNotReady"
	// ReasonPodsReady / ReasonPodsNotReady: VictimReady True / False.
	ReasonPodsReady    = "PodsReady"
	ReasonPodsNotReady = "PodsNotReady"
	// ReasonStopped: the victim was stopped at the end of the drill (VictimReady=False).
	ReasonStopped = "Stopped"
	// ReasonTransientError / ReasonStepSucceeded: StepError True (the last
	// step failed; the drill goes on at its next step) / False.
	ReasonTransientError = "TransientError"
	ReasonStepSucceeded  = "StepSucceeded"
	// ReasonInjected / ReasonNoActiveFaults: ChaosActive True / False.
	ReasonInjected       = "Injected"
	ReasonNoActiveFaults = "NoActiveFaults"
)

// setCondition sets one condition on exp's status, stamped with its generation.
func setCondition(exp *v1alpha1.Experiment, typ string, status metav1.ConditionStatus, reason, msg string) {
	apimeta.SetStatusCondition(&exp.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: exp.Generation,
	})
}

// setReady sets the Ready condition from the phase, unless a failure reason
// was already recorded for a failed drill.
func setReady(exp *v1alpha1.Experiment, failReason, failMsg string) {
	switch exp.Status.Phase {
	case v1alpha1.PhaseCompleted:
		setCondition(exp, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonSucceeded, "verdict "+string(exp.Status.Verdict))
	case v1alpha1.PhaseAborted:
		setCondition(exp, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAborted, "verdict "+string(exp.Status.Verdict))
	case v1alpha1.PhaseFailed:
		if failReason == "" {
			if c := apimeta.FindStatusCondition(exp.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Reason != ReasonProgressing {
				return
			}
			failReason = ReasonFailed
		}
		setCondition(exp, v1alpha1.ConditionReady, metav1.ConditionFalse, failReason, failMsg)
	default:
		setCondition(exp, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonProgressing, "phase "+string(exp.Status.Phase))
	}
}

// hasCondition reports whether exp has a condition of type typ with status.
func hasCondition(exp *v1alpha1.Experiment, typ string, status metav1.ConditionStatus) bool {
	c := apimeta.FindStatusCondition(exp.Status.Conditions, typ)
	return c != nil && c.Status == status
}
