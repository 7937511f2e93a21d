package kube_test

import (
	"context"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// reactToChaos handles the pods the real Chaos Mesh deleted since the last
// sync (ReactToChaosMesh; pod-kill): their containers are stopped as the
// kubelet stops a force-deleted pod's (Chaos Mesh deletes with gracePeriod
// 0, which the kubelet raises to its 2 s minimum: SIGTERM, then SIGKILL),
// and their ports freed for the replacements. Swapped images (pod-failure)
// are handled by sync for every pod.
func (k *KubeletStandIn) reactToChaos(deps []appsv1.Deployment, pods []corev1.Pod) {
	live := map[string]bool{}
	for i := range deps {
		if deps[i].DeletionTimestamp == nil {
			live[deps[i].Name] = true
		}
	}
	byName := map[string]bool{}
	for i := range pods {
		if pods[i].DeletionTimestamp == nil {
			byName[pods[i].Name] = true
		}
	}
	k.mu.Lock()
	var gone []*podProc
	for name, pp := range k.procs {
		if !byName[name] && live[pp.owner] {
			gone = append(gone, pp)
			delete(k.procs, name)
		}
	}
	k.mu.Unlock()
	for _, pp := range gone {
		pp.stop(kubeletGrace(0))
		if k.proxies != nil {
			k.proxies.dropClient(pp.pod)
		}
		k.mu.Lock()
		k.freed[pp.owner] = append(k.freed[pp.owner], pp.ports)
		k.Deleted = append(k.Deleted, ChaosAction{Pod: pp.pod, Role: pp.role, At: time.Now()})
		k.mu.Unlock()
		k.t.Logf("kubelet stand-in: pod %s deleted (pod-kill): container stopped, replacement coming", pp.pod)
	}
}

// setImage records the image now in the pod's spec; a change stops the
// container and starts the new image.
func (k *KubeletStandIn) setImage(pp *podProc, image string) {
	pp.mu.Lock()
	if pp.image == image {
		pp.mu.Unlock()
		return
	}
	pp.image = image
	pp.mu.Unlock()
	pp.poke()
	if image != pp.firstImage {
		k.mu.Lock()
		k.Paused = append(k.Paused, ChaosAction{Pod: pp.pod, Role: pp.role, At: time.Now()})
		k.mu.Unlock()
		k.t.Logf("kubelet stand-in: pod %s image now %s (pod-failure): container stopped, pause started", pp.pod, image)
	} else {
		k.t.Logf("kubelet stand-in: pod %s image restored: pause stopped, container started", pp.pod)
	}
}

// Kill kills the pod's container process with SIGKILL, as container-kill
// (or a pod-kill stood in for by one) would; the stand-in then restarts it
// as a crashed container (restartCount+1, under the back-off).
func (k *KubeletStandIn) Kill(pod string) bool {
	k.mu.Lock()
	pp := k.procs[pod]
	k.mu.Unlock()
	if pp == nil {
		return false
	}
	pp.mu.Lock()
	c := pp.cur
	pp.mu.Unlock()
	if c == nil {
		return false
	}
	k.event(pp, c, "SIGKILL", 0)
	return c.cmd.Process.Kill() == nil
}

// Running returns the number of supervised pods.
func (k *KubeletStandIn) Running() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.procs)
}

// removePod stops the pod's container with the pod's grace (the deletion's
// grace period, else terminationGracePeriodSeconds) and deletes the Pod.
func (k *KubeletStandIn) removePod(ctx context.Context, p *corev1.Pod) {
	k.mu.Lock()
	pp := k.procs[p.Name]
	delete(k.procs, p.Name)
	k.mu.Unlock()
	if pp != nil {
		grace := pp.grace
		if g := p.DeletionGracePeriodSeconds; g != nil {
			grace = kubeletGrace(*g)
		}
		pp.stop(grace)
	}
	if k.proxies != nil {
		k.proxies.dropClient(p.Name)
	}
	_ = k.c.Delete(ctx, p, client.GracePeriodSeconds(0))
}

// setStatus updates the pod's status: podIP, a container status, then
// mutate.
func (k *KubeletStandIn) setStatus(pod string, mutate func(*corev1.PodStatus)) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p corev1.Pod
		if err := k.c.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: pod}, &p); err != nil {
			return err
		}
		s := &p.Status
		s.PodIP, s.HostIP = "127.0.0.1", "127.0.0.1"
		s.PodIPs = []corev1.PodIP{{IP: "127.0.0.1"}}
		if len(s.ContainerStatuses) == 0 {
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		}
		mutate(s)
		return k.c.Status().Update(context.Background(), &p)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		k.t.Logf("kubelet stand-in: status of %s: %v", pod, err)
	}
}

func setReadyCond(s *corev1.PodStatus, ready bool) {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	for i := range s.Conditions {
		if s.Conditions[i].Type == corev1.PodReady {
			if s.Conditions[i].Status != st {
				s.Conditions[i].Status, s.Conditions[i].LastTransitionTime = st, metav1.Now()
			}
			return
		}
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()})
}

// DeletedPods returns the pods the real Chaos Mesh deleted so far.
func (k *KubeletStandIn) DeletedPods() []ChaosAction {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]ChaosAction(nil), k.Deleted...)
}

// PausedPods returns the pods whose image Chaos Mesh swapped so far.
func (k *KubeletStandIn) PausedPods() []ChaosAction {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]ChaosAction(nil), k.Paused...)
}

// collectPodNetworkChaos deletes the PodNetworkChaos objects (which Chaos
// Mesh makes per pod for a NetworkChaos, owned by the pod) whose pod is
// gone, as the garbage collector would (ReactToChaosMesh).
func (k *KubeletStandIn) collectPodNetworkChaos(ctx context.Context, pods []corev1.Pod) {
	var pncs chaosv1alpha1.PodNetworkChaosList
	if err := k.c.List(ctx, &pncs, client.InNamespace(k.ns)); err != nil {
		return
	}
	live := map[string]bool{}
	for i := range pods {
		live[pods[i].Name] = true
	}
	for i := range pncs.Items {
		pnc := &pncs.Items[i]
		owner := pnc.Name
		for _, o := range pnc.OwnerReferences {
			if o.Kind == "Pod" {
				owner = o.Name
			}
		}
		if !live[owner] && pnc.DeletionTimestamp == nil {
			_ = k.c.Delete(ctx, pnc)
		}
	}
}
