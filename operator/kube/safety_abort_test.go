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
	krand "k8s.io/apimachinery/pkg/util/rand"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// TestSafetyAbortGuard trips the abort guard of drills with two long faults
// active (a NetworkChaos delay and a PodChaos pod-failure) by turning the
// target's /metrics to 500s, and measures the time from the scrape that
// tripped the guard to every chaos object being gone, against the sample
// interval. The tripping scrape is the last one the fake admin server
// answered before the chaos objects went: the guard runs on the sample that
// was just scraped, and the deletions follow in the same reconcile.
func TestSafetyAbortGuard(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest abort runs")
	}
	const sample = time.Second
	runs := envInt("ABORT_RUNS", 5)
	e := startEnv(t)
	ctx := context.Background()
	var tripToGone, failToGone []time.Duration
	for i := range runs {
		admin := newFakeAdmin()
		ns := "abort-" + krand.String(6)
		if err := e.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{kube.LabelChaosOptIn: kube.OptInValue}}}); err != nil {
			t.Fatal(err)
		}
		if err := readyTargetPod(ctx, e.c, ns, "shop", admin.port()); err != nil {
			t.Fatal(err)
		}
		tb := &localTB{TB: t}
		StartChaosDaemonStandIn(tb, e.c, ns, nil)
		m := &nsManager{cfg: e.cfg, ns: ns, sample: sample}
		if err := m.start(); err != nil {
			t.Fatal(err)
		}
		exp := abortDrill(ns, fmt.Sprintf("abort-%d", i), "shop")
		if err := e.c.Create(ctx, exp); err != nil {
			t.Fatal(err)
		}
		// Both faults injected (as Chaos Mesh's stand-in reports it).
		waitFor(t, 30*time.Second, "both faults injected", func() (bool, string) {
			got := e.get(t, ns, exp.Name)
			n := 0
			for _, f := range got.Status.Faults {
				if f.State == v1alpha1.FaultInjected {
					n++
				}
			}
			return n == 2 && countChaos(ctx, e.c, ns) == 2, fmt.Sprintf("phase %s, %d injected", got.Status.Phase, n)
		})
		failing := time.Now()
		admin.setFailing(true)
		var gone time.Time
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			if countChaos(ctx, e.c, ns) == 0 {
				gone = time.Now()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: chaos objects still there 30s after the target started failing", i)
			}
		}
		trip, ok := admin.lastScrapeBefore(gone)
		if !ok || trip.Before(failing) {
			t.Fatalf("run %d: the chaos went before any failing sample was scraped", i)
		}
		got := e.waitPhase(t, ns, exp.Name, 30*time.Second, v1alpha1.PhaseAborted, v1alpha1.PhaseCompleted, v1alpha1.PhaseFailed)
		aborted := ""
		for _, f := range got.Status.Findings {
			if f.Type == v1alpha1.FindingAborted {
				aborted = f.Message
			}
		}
		if got.Status.Phase != v1alpha1.PhaseAborted || aborted == "" {
			t.Errorf("run %d: phase %s, findings %+v; want Aborted by the guard", i, got.Status.Phase, got.Status.Findings)
		}
		for _, f := range got.Status.Faults {
			if f.State != v1alpha1.FaultRecovered {
				t.Errorf("run %d: fault %s ended %s", i, f.Name, f.State)
			}
		}
		tripToGone = append(tripToGone, gone.Sub(trip))
		failToGone = append(failToGone, gone.Sub(failing))
		t.Logf("run %d: trip scrape → chaos gone %s; target failing → chaos gone %s; %s", i,
			gone.Sub(trip).Round(time.Millisecond), gone.Sub(failing).Round(time.Millisecond), aborted)
		if err := m.stop(); err != nil {
			t.Error(err)
		}
		tb.cleanup()
		admin.srv.Close()
	}
	sort.Slice(tripToGone, func(i, j int) bool { return tripToGone[i] < tripToGone[j] })
	sort.Slice(failToGone, func(i, j int) bool { return failToGone[i] < failToGone[j] })
	mx := tripToGone[len(tripToGone)-1]
	t.Logf("ABORT: guard trip → all chaos objects deleted over %d runs: p50 %s, max %s (sample interval %s, abort.for 1s); "+
		"target failing → deleted p50 %s, max %s",
		runs, tripToGone[len(tripToGone)/2].Round(time.Millisecond), mx.Round(time.Millisecond), sample,
		failToGone[len(failToGone)/2].Round(time.Millisecond), failToGone[len(failToGone)-1].Round(time.Millisecond))
	if mx >= sample {
		t.Errorf("guard trip → chaos deleted took %s, more than one sample interval (%s)", mx, sample)
	}
}

// abortDrill is a 30 s drill with two faults active from 1 s to 21 s and an
// abort guard at an error ratio above 0.5 for 1 s.
func abortDrill(ns, name, app string) *v1alpha1.Experiment {
	sel := chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{"app": app}}}
	twenty := "20s"
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ExperimentSpec{
			Target:      &v1alpha1.TargetSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
			Duration:    metav1.Duration{Duration: 30 * time.Second},
			SteadyState: metav1.Duration{Duration: time.Second},
			Abort:       &v1alpha1.AbortGuard{ErrorRatioAbove: "0.5", For: metav1.Duration{Duration: time.Second}},
			Faults: []v1alpha1.Fault{
				{Name: "delay", After: metav1.Duration{Duration: time.Second}, NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
					PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode, Selector: sel},
					Action:      chaosv1alpha1.DelayAction,
					TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "100ms"}},
					Duration:    &twenty,
				}},
				{Name: "fail", After: metav1.Duration{Duration: time.Second}, PodChaos: &chaosv1alpha1.PodChaosSpec{
					ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode, Selector: sel}},
					Action:            chaosv1alpha1.PodFailureAction,
					Duration:          &twenty,
				}},
			},
		},
	}
}
