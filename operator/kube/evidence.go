package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
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

// instanceSlack is how far past its exit's second (finishedAt, stored in
// whole seconds) the last line of an instance's log may be stamped: the
// runtime stamps a line when it copies it from the container's pipe, which
// can be a little after the exit. The next instance's lines come later
// than that: the kubelet restarts a crashed container after its back-off
// (2 s and more on the node lab, 10 s doubling after), and it runs before
// it writes.
const instanceSlack = 500 * time.Millisecond

// instanceLog reads the last tail lines of the log of pod's container
// instance that exited at finished (its lastState.terminated.finishedAt
// when the caller read the pod), without the timestamps it asks for.
// pods/log with previous=true serves the latest terminated instance, which
// is a newer one if the container restarted again since — the pod status
// lags the runtime (seen on the node lab with a container crashing every
// 2-3 s), or the caller's cache is stale: the log is that instance's only
// when its last line is stamped no later than finished's second plus
// instanceSlack. A zero finished is not checked.
func instanceLog(ctx context.Context, pods typedcorev1.PodInterface, pod, container string, finished time.Time, tail int64) ([]byte, error) {
	log, err := pods.GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: true, Timestamps: true, TailLines: ptr.To(tail)}).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	text, last, ok := stripTimestamps(log)
	switch {
	case finished.IsZero() || len(text) == 0:
		return text, nil
	case !ok:
		return nil, fmt.Errorf("pod %s container %s: log lines without timestamps", pod, container)
	case !last.Before(finished.Truncate(time.Second).Add(time.Second + instanceSlack)):
		return nil, fmt.Errorf("pod %s container %s: last line at %s, exit at %s: %w", pod, container,
			last.UTC().Format(time.RFC3339Nano), finished.UTC().Format(time.RFC3339), errOtherInstance)
	}
	return text, nil
}

// stripTimestamps removes the RFC 3339 time pods/log's timestamps=true puts
// before each line and returns the last line's; ok is false when a line
// has none.
func stripTimestamps(log []byte) (text []byte, last time.Time, ok bool) {
	ok = true
	for line := range bytes.Lines(log) {
		stamp, rest, found := bytes.Cut(line, []byte(" "))
		t, err := time.Parse(time.RFC3339Nano, string(stamp))
		if !found || err != nil {
			ok = false
			text = append(text, line...)
			continue
		}
		last = t
		text = append(text, rest...)
	}
	return text, last, ok
}
