package kube_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ChaosDaemonStandIn stands in for Chaos Mesh's controller-manager and
// chaos-daemon, which these tests do not run. For each PodChaos it sees it
// selects the pods the way Chaos Mesh does (namespaces, label selectors, mode
// one/all) and, for pod-kill and container-kill, kills their processes
// through the kubelet stand-in, which restarts them (restartCount+1, as a
// kubelet would for a killed container; the real pod-kill deletes the Pod and
// its ReplicaSet makes a new one). A NetworkChaos is only accepted and marked
// injected: the real network fault needs chaos-daemon's tc on the node, so
// its effect is not reproduced by this stand-in (the NetworkChaosStandIn,
// with the kubelet stand-in's KubeletOptions.ProxyEdges, applies it as the
// local backend's toxiproxy faults). Both get Chaos Mesh's status
// conditions (Selected, AllInjected) and container records.
type ChaosDaemonStandIn struct {
	c       client.Client
	ns      string
	kubelet *KubeletStandIn

	mu      sync.Mutex
	seen    map[string]bool
	Created map[string]time.Time // chaos object name → first seen
	Kills   []string             // pods killed
	Foreign []string             // selectors that reached outside ns (must stay empty)
}

// StartChaosDaemonStandIn runs the stand-in for namespace ns until the test ends.
func StartChaosDaemonStandIn(t testing.TB, c client.Client, ns string, k *KubeletStandIn) *ChaosDaemonStandIn {
	d := &ChaosDaemonStandIn{c: c, ns: ns, kubelet: k, seen: map[string]bool{}, Created: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			d.sync(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func (d *ChaosDaemonStandIn) sync(ctx context.Context) {
	var pcs chaosv1alpha1.PodChaosList
	var ncs chaosv1alpha1.NetworkChaosList
	if err := d.c.List(ctx, &pcs, client.InNamespace(d.ns)); err == nil {
		for i := range pcs.Items {
			pc := &pcs.Items[i]
			if d.first(pc) {
				pods := d.selectPods(ctx, pc.Spec.PodSelector)
				if pc.Spec.Action == chaosv1alpha1.PodKillAction || pc.Spec.Action == chaosv1alpha1.ContainerKillAction {
					for _, p := range pods {
						if d.kubelet != nil && d.kubelet.Kill(p) {
							d.mu.Lock()
							d.Kills = append(d.Kills, p)
							d.mu.Unlock()
						}
					}
				}
				pc.Status.ChaosStatus = injected(d.ns, pods)
				_ = d.c.Update(ctx, pc) // Chaos Mesh's CRDs have no status subresource
			}
		}
	}
	if err := d.c.List(ctx, &ncs, client.InNamespace(d.ns)); err == nil {
		for i := range ncs.Items {
			nc := &ncs.Items[i]
			if d.first(nc) {
				pods := d.selectPods(ctx, nc.Spec.PodSelector)
				nc.Status.ChaosStatus = injected(d.ns, pods)
				_ = d.c.Update(ctx, nc)
			}
		}
	}
}

func (d *ChaosDaemonStandIn) first(o client.Object) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[string(o.GetUID())] || o.GetDeletionTimestamp() != nil {
		return false
	}
	d.seen[string(o.GetUID())] = true
	d.Created[o.GetName()] = time.Now()
	return true
}

// selectPods selects running pods as Chaos Mesh's selector does.
func (d *ChaosDaemonStandIn) selectPods(ctx context.Context, s chaosv1alpha1.PodSelector) []string {
	d.mu.Lock()
	for _, ns := range s.Selector.Namespaces {
		if ns != d.ns {
			d.Foreign = append(d.Foreign, ns)
		}
	}
	if len(s.Selector.Namespaces) == 0 {
		d.Foreign = append(d.Foreign, "<all namespaces>")
	}
	d.mu.Unlock()
	var pods corev1.PodList
	if err := d.c.List(ctx, &pods, client.InNamespace(d.ns),
		client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(s.Selector.LabelSelectors)}); err != nil {
		return nil
	}
	var names []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	if s.Mode == chaosv1alpha1.OneMode && len(names) > 1 {
		names = names[:1]
	}
	return names
}

func injected(ns string, pods []string) chaosv1alpha1.ChaosStatus {
	st := chaosv1alpha1.ChaosStatus{
		Conditions: []chaosv1alpha1.ChaosCondition{
			{Type: chaosv1alpha1.ConditionSelected, Status: corev1.ConditionTrue},
			{Type: chaosv1alpha1.ConditionAllInjected, Status: corev1.ConditionTrue},
			{Type: chaosv1alpha1.ConditionAllRecovered, Status: corev1.ConditionFalse},
			{Type: chaosv1alpha1.ConditionPaused, Status: corev1.ConditionFalse},
		},
		Experiment: chaosv1alpha1.ExperimentStatus{DesiredPhase: chaosv1alpha1.RunningPhase},
	}
	now := metav1.Now()
	for _, p := range pods {
		st.Experiment.Records = append(st.Experiment.Records, &chaosv1alpha1.Record{
			Id: ns + "/" + p, SelectorKey: ".", Phase: chaosv1alpha1.Injected, InjectedCount: 1,
			Events: []chaosv1alpha1.RecordEvent{{Type: "Succeeded", Operation: "Apply", Timestamp: &now}},
		})
	}
	return st
}

// KillCount returns the number of pods killed so far.
func (d *ChaosDaemonStandIn) KillCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.Kills)
}
