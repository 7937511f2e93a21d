package kube_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// TestFigureCreateToFirstChaos measures, over 20 runs on envtest, the time
// from creating an Experiment to its first chaos object existing. The drill
// targets an existing (stand-in) pod so that the figure is the operator's
// own latency, not a victim's start-up. It logs p50/p90/max; it asserts only
// a loose bound, the machine being shared.
func TestFigureCreateToFirstChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest figure")
	}
	e := startEnv(t)
	e.startManager(t)
	ns := e.namespace(t, true)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-0", Labels: map[string]string{"app": "shop"},
			Annotations: map[string]string{kube.AnnotationAdminPort: fmt.Sprint(freePort())}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "shop", Image: "shop"}}},
	}
	if err := e.c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if err := e.c.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	var took []time.Duration
	for i := 0; i < 20; i++ {
		exp := &v1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("fig-%d", i)},
			Spec: v1alpha1.ExperimentSpec{
				Target:      &v1alpha1.TargetSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}}},
				Duration:    metav1.Duration{Duration: 5 * time.Second},
				SteadyState: metav1.Duration{Duration: time.Millisecond},
				Faults: []v1alpha1.Fault{{Name: "delay", After: metav1.Duration{Duration: time.Millisecond}, NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
					PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode, Selector: chaosv1alpha1.PodSelectorSpec{
						GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{"app": "shop"}}}},
					Action:      chaosv1alpha1.DelayAction,
					TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "100ms"}},
				}}},
			},
		}
		start := time.Now()
		if err := e.c.Create(ctx, exp); err != nil {
			t.Fatal(err)
		}
		nc := &chaosv1alpha1.NetworkChaos{}
		key := client.ObjectKey{Namespace: ns, Name: kube.ChaosName(exp.Name, "delay")}
		for e.c.Get(ctx, key, nc) != nil {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("run %d: no chaos object after 30s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		took = append(took, time.Since(start))
		if err := e.c.Delete(ctx, exp); err != nil {
			t.Fatal(err)
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	p50, p90, mx := took[len(took)/2], took[len(took)*9/10], took[len(took)-1]
	t.Logf("create → first chaos object over %d runs: p50 %s, p90 %s, max %s", len(took),
		p50.Round(time.Millisecond), p90.Round(time.Millisecond), mx.Round(time.Millisecond))
	if p50 > 5*time.Second {
		t.Errorf("p50 %s, goal ≤ 1 s", p50)
	}
	e.waitNoChaos(t, ns)
}
