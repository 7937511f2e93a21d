package kube

import (
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStateOfCarriesChaosMeshFailure: Chaos Mesh's own text for a failed
// injection (as its controller records it, per target) is read, the latest
// first; a recovery failure or a success is not taken for it.
func TestStateOfCarriesChaosMeshFailure(t *testing.T) {
	at := func(sec int) *metav1.Time { v := metav1.NewTime(time.Unix(int64(1_790_000_000+sec), 0)); return &v }
	nc := &chaosv1alpha1.NetworkChaos{}
	nc.Status.Conditions = []chaosv1alpha1.ChaosCondition{{Type: chaosv1alpha1.ConditionAllInjected, Status: corev1.ConditionFalse}}
	nc.Status.Experiment.Records = []*chaosv1alpha1.Record{
		nil,
		{Id: "drills/ledger-x", Phase: chaosv1alpha1.NotInjected, Events: []chaosv1alpha1.RecordEvent{
			{Type: chaosv1alpha1.TypeFailed, Operation: chaosv1alpha1.Apply, Message: "old failure", Timestamp: at(1)},
			{Type: chaosv1alpha1.TypeFailed, Operation: chaosv1alpha1.Apply, Message: "unable to set tcs: Specified qdisc kind is unknown", Timestamp: at(5)},
			{Type: chaosv1alpha1.TypeFailed, Operation: chaosv1alpha1.Recover, Message: "a recovery failure", Timestamp: at(9)},
		}},
		{Id: "drills/orders-y", Phase: chaosv1alpha1.Injected, Events: []chaosv1alpha1.RecordEvent{
			{Type: chaosv1alpha1.TypeSucceeded, Operation: chaosv1alpha1.Apply, Timestamp: at(7)},
		}},
	}
	st := stateOf(nc)
	if st.Injected || st.Failure != "drills/ledger-x: unable to set tcs: Specified qdisc kind is unknown" {
		t.Errorf("state %+v", st)
	}
	if len(st.Targets) != 2 || st.Targets[0] != "ledger-x" {
		t.Errorf("targets %v", st.Targets)
	}
	if got := stateOf(&chaosv1alpha1.PodChaos{}); got.Failure != "" || !got.Exists {
		t.Errorf("empty status: %+v", got)
	}
}
