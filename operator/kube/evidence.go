package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cascadelab/cascadelab/operator/victimlog"
)

// EvidenceLogBytes is the most bytes read of one container log for the
// race reconstruction, from its start: the first double charges are near
// the start, and a drill's logs stay well under the kubelet's 10 MiB
// rotation.
const EvidenceLogBytes = 4 << 20

// readEvidence reads the victim's pod logs through the API server (the
// previous container's of a restarted pod first, then the current one's),
// once, before the victim is deleted, and reconstructs the first double
// charges and the crash contexts from them. A log that cannot be read is
// left out (logged); the evidence is then what the others show.
func (b *clusterBackend) readEvidence(ctx context.Context) {
	col := victimlog.NewCollector()
	for _, cc := range b.crashContexts {
		col.AddCrash(cc)
	}
	ev := col.Evidence()
	b.evidence = &ev // even when nothing can be read: once
	if b.r.Pods == nil {
		return
	}
	pods, err := listPods(ctx, b.r.Client, b.exp())
	if err != nil {
		logf.FromContext(ctx).Info("listing the victim's pods for their logs", "error", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// The ledger's log last: its duplicate charges are matched with the
	// other processes' events already read.
	for _, ledger := range []bool{false, true} {
		for i := range pods {
			if p := &pods[i]; (podRole(p) == RoleLedger) == ledger {
				col.Feed(p.Name, b.podLogs(ctx, p))
			}
		}
	}
	ev = col.Evidence()
	b.evidence = &ev
}

// podLogs is the victim container's log of p, the previous container's
// first (when it restarted), each at most EvidenceLogBytes from its start;
// a log that cannot be read is left out (logged at V(1)).
func (b *clusterBackend) podLogs(ctx context.Context, p *corev1.Pod) []byte {
	var out []byte
	for _, previous := range []bool{true, false} {
		if previous && restarts(p) == 0 {
			continue
		}
		log, err := b.r.Pods.Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
			Container: "victim", Previous: previous, LimitBytes: ptr.To(int64(EvidenceLogBytes)),
		}).DoRaw(ctx)
		if err != nil {
			logf.FromContext(ctx).V(1).Info("reading a victim log", "pod", p.Name, "previous", previous, "error", err.Error())
			continue
		}
		out = append(out, log...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	return out
}

// errOtherInstance is instanceLog's refusal: the log read is another
// container instance's.
var errOtherInstance = errors.New("the container restarted again: the previous log is another instance's")

// instanceLog reads the last tail lines of the log of pod's container
// instance id (its lastState.terminated.containerID when the caller read
// the pod). pods/log with previous=true serves the latest terminated
// instance, which is a newer one than id if the container restarted again
// since the caller's read (a stale cache, a manager that fell behind), so
// the pod is read again, uncached, after the log: the log is id's only when
// lastState still names id. An empty id is not checked.
func instanceLog(ctx context.Context, pods typedcorev1.PodInterface, pod, container, id string, tail int64) ([]byte, error) {
	log, err := pods.GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: true, TailLines: ptr.To(tail)}).DoRaw(ctx)
	if err != nil || id == "" {
		return log, err
	}
	p, err := pods.Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == container {
			if t := cs.LastTerminationState.Terminated; t != nil && t.ContainerID == id {
				return log, nil
			}
		}
	}
	return nil, fmt.Errorf("pod %s container %s: %w", pod, container, errOtherInstance)
}
