package kube

import (
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions limits the manager's cache to what it drills: the informers
// of the kinds it watches (Pods, Deployments, Jobs and, with Chaos Mesh
// installed, PodChaos and NetworkChaos) select
// app.kubernetes.io/managed-by=cascadelab, so only the manager's own
// objects are cached, not every Pod of the cluster. Experiments and
// Namespaces are cached whole. chaosMesh says whether Chaos Mesh's CRDs are
// served (ChaosMeshInstalled): a selector for a kind the API server does
// not serve fails the manager's start.
func CacheOptions(chaosMesh bool) cache.Options {
	sel := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy})}
	by := map[client.Object]cache.ByObject{
		&corev1.Pod{}: sel, &appsv1.Deployment{}: sel, &batchv1.Job{}: sel,
	}
	if chaosMesh {
		by[&chaosv1alpha1.PodChaos{}] = sel
		by[&chaosv1alpha1.NetworkChaos{}] = sel
	}
	return cache.Options{ByObject: by}
}

// ClientOptions makes the manager's client read uncached what it must not
// cache: Pods (spec.target selects a team's own pods, which carry no
// managed-by label and are outside the cache), ConfigMaps, Services and
// PVCs (read by name, in one namespace at a time, with the namespace's
// rights: a cache of them would need list and watch on every namespace).
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{
		&corev1.Pod{}, &corev1.ConfigMap{}, &corev1.Service{}, &corev1.PersistentVolumeClaim{},
	}}}
}
