package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/ptr"
)

// One clock for attribution. A crash's time comes from the node
// (lastState.terminated.finishedAt, whole seconds; the container log's
// last line, stamped by the runtime in nanoseconds), a fault's from the
// manager's clock. The log's last timestamped line is the closest to the
// exit and the finest; it is mapped to the drill's clock through the API
// server's time (its clock stands for the node's), and the mapping's
// uncertainty is said in the finding when it exceeds CrashClockSlack.

// CrashClockSlack is the uncertainty of a crash's time below which the
// finding does not mention it.
const CrashClockSlack = 100 * time.Millisecond

// serverClock is the API server's clock against the manager's: a server
// time equals the manager's time minus offset, within ±uncertainty.
type serverClock struct {
	offset      time.Duration
	uncertainty time.Duration
	known       bool
}

// clockSample estimates the server clock from one exchange: the manager's
// clock just before and just after a request, and the server's time in the
// answer at its resolution (a Date header or a creationTimestamp: whole
// seconds, res 1s). The server's instant lies in [server, server+res) and
// in [before, after] on the manager's clock.
func clockSample(before, after, server time.Time, res time.Duration) serverClock {
	mid := before.Add(after.Sub(before) / 2)
	srv := server.Add(res / 2)
	return serverClock{offset: mid.Sub(srv), uncertainty: after.Sub(before)/2 + res/2, known: true}
}

// toManager maps a server (node) time to the manager's clock.
func (c serverClock) toManager(t time.Time) time.Time {
	if !c.known {
		return t
	}
	return t.Add(c.offset)
}

// crashAt is a crash's offset on the drill's clock (start is the manager's
// time of the load's start) and its uncertainty: from the log's last
// timestamped line when there is one that belongs to the instance that
// exited (not after finished's second plus instanceSlack), else from
// finished (whole seconds: up to a second more).
func crashAt(finished, logLast, start time.Time, clock serverClock) (at, uncertainty time.Duration, fromLog bool) {
	uncertainty = clock.uncertainty
	if !clock.known {
		uncertainty = 0 // the manager's own wall clock against the node's: unknown skew
	}
	t := finished
	switch {
	case !logLast.IsZero() && (finished.IsZero() || logLast.Before(finished.Truncate(time.Second).Add(time.Second+instanceSlack))):
		t, fromLog = logLast, true
	case !finished.IsZero():
		uncertainty += time.Second
	default:
		return 0, 0, false
	}
	return max(clock.toManager(t).Sub(start), 0), uncertainty, fromLog
}

// clockNote is what a crash finding says of its time when the mapping is
// uncertain by more than CrashClockSlack ("" otherwise).
func clockNote(uncertainty time.Duration, fromLog bool) string {
	if uncertainty <= CrashClockSlack {
		return ""
	}
	src := "its container's finishedAt (whole seconds)"
	if fromLog {
		src = "its log's last line"
	}
	return fmt.Sprintf(" [time from %s, ±%s mapping to the drill's clock]", src, uncertainty.Round(10*time.Millisecond))
}

// lastLineFunc reads the runtime's timestamp of the last line the
// container instance of pod that exited at finished wrote (zero when
// there is none).
type lastLineFunc func(ctx context.Context, pod, container string, finished time.Time) (time.Time, error)

// lastLogLine reads the runtime's timestamp of the last line of pod's
// container instance that exited at finished (the previous instance, one
// line, timestamps=true), bounded by 2 s; zero when there is none or it is
// another instance's. A backend sets it as crashTracker.lastLine.
func lastLogLine(pods typedcorev1.PodInterface) lastLineFunc {
	return func(ctx context.Context, pod, container string, finished time.Time) (time.Time, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		log, err := pods.GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: true, Timestamps: true,
			TailLines: ptr.To(int64(1)), LimitBytes: ptr.To(int64(64 << 10))}).DoRaw(ctx)
		if err != nil {
			return time.Time{}, err
		}
		_, last, ok := stripTimestamps(log)
		if !ok || last.IsZero() {
			return time.Time{}, nil
		}
		return last, nil
	}
}

// clockFromWrite estimates the API server's clock from a write the manager
// made between before and after (its own clock): the time the server
// stamped on obj's managedFields entry of that write (whole seconds), the
// latest entry of manager. ok is false without one.
func clockFromWrite(before, after time.Time, obj metav1.Object, manager string) (serverClock, bool) {
	var latest time.Time
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == manager && mf.Time != nil && mf.Time.After(latest) {
			latest = mf.Time.Time
		}
	}
	if latest.IsZero() {
		return serverClock{}, false
	}
	return clockSample(before, after, latest, time.Second), true
}
