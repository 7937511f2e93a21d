package admission_test

import (
	"reflect"
	"testing"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

func names(ps []admission.Permission) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func TestRequiredPermissions(t *testing.T) {
	pod := v1alpha1.Fault{Name: "kill", PodChaos: &chaosv1alpha1.PodChaosSpec{}}
	net := v1alpha1.Fault{Name: "slow", NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{}}
	meta := metav1.ObjectMeta{Namespace: "team", Name: "x"}
	for _, c := range []struct {
		name string
		spec v1alpha1.ExperimentSpec
		want []string
	}{
		{"victim, both kinds", v1alpha1.ExperimentSpec{Victim: &v1alpha1.VictimSpec{}, Faults: []v1alpha1.Fault{pod, net, pod}}, []string{
			"create podchaos.chaos-mesh.org in namespace team", "create networkchaos.chaos-mesh.org in namespace team",
			"create deployments.apps in namespace team", "create services in namespace team", "create jobs.batch in namespace team"}},
		{"victim, pod chaos only", v1alpha1.ExperimentSpec{Victim: &v1alpha1.VictimSpec{}, Faults: []v1alpha1.Fault{pod}}, []string{
			"create podchaos.chaos-mesh.org in namespace team",
			"create deployments.apps in namespace team", "create services in namespace team", "create jobs.batch in namespace team"}},
		{"target with load, network chaos", v1alpha1.ExperimentSpec{Target: &v1alpha1.TargetSpec{LoadURL: "http://shop"}, Faults: []v1alpha1.Fault{net}}, []string{
			"create networkchaos.chaos-mesh.org in namespace team", "create jobs.batch in namespace team"}},
		{"target without load or faults", v1alpha1.ExperimentSpec{Target: &v1alpha1.TargetSpec{}}, nil},
	} {
		got := names(admission.RequiredPermissions(&v1alpha1.Experiment{ObjectMeta: meta, Spec: c.spec}))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
