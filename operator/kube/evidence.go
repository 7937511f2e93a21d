package kube

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
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
