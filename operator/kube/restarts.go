package kube

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// restartBase holds each pod's restart count when the drill's load started,
// so that restarts are counted from then: a pod's restartCount sums every
// restart since the pod was created, and a target pod that restarted
// yesterday has not broken today's hypothesis.
//
// A pod is recorded the first time this manager sees it: one created before
// the load started (the kit's victim, spec.target's pods) at its count
// then, one created after (a replacement) at 0, as all its restarts are the
// drill's. The base lives in the manager's memory, as the crash tracker's
// counts do: a manager restarted mid-drill counts from when it resumed.
type restartBase map[types.UID]int32

// since returns the restarts of p since the drill's load started at start
// (nil before it started: nothing is recorded, every count is 0).
func (b restartBase) since(p *corev1.Pod, start *metav1.MicroTime) int32 {
	if start == nil || start.IsZero() {
		return 0
	}
	n := restarts(p)
	base, ok := b[p.UID]
	if !ok {
		if createdBefore(p, start) {
			base = n
		}
		b[p.UID] = base
	}
	return max(n-base, 0)
}

// createdBefore reports whether p existed before the drill's load started
// (creation timestamps are whole seconds, so a pod of the same second
// counts as before: its count then was its count at creation). A pod
// without a creation timestamp is taken as new.
func createdBefore(p *corev1.Pod, start *metav1.MicroTime) bool {
	return !p.CreationTimestamp.IsZero() && !p.CreationTimestamp.Time.After(start.Time)
}

// startTime is when the drill's load started: status.startTime, or the
// driver's clock zero in the reconcile that started it (status is written
// after the step); nil before.
func (b *clusterBackend) startTime() *metav1.MicroTime {
	if st := b.exp().Status.StartTime; st != nil {
		return st
	}
	if b.d.run != nil {
		if t := b.d.run.drv.StartTime(); !t.IsZero() {
			return &metav1.MicroTime{Time: t}
		}
	}
	return nil
}
