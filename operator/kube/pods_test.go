package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// exited is an orders pod whose container restarted n times, the last exit
// as given.
func exited(name string, n int32, term corev1.ContainerStateTerminated) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "victim", RestartCount: n,
			LastTerminationState: corev1.ContainerState{Terminated: &term},
		}}},
	}
}

// A pod-failure stops the victim with SIGTERM, and the victim exits 0: that
// exit is the fault's, not a crash. A Go fatal error during the same fault is
// the victim's own bug. Each crash is stamped with its finishedAt.
func TestCrashTrackerPodFaultAttribution(t *testing.T) {
	start := metav1.NewMicroTime(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	at := func(s int) metav1.Time { return metav1.NewTime(start.Add(time.Duration(s) * time.Second)) }
	faulted := func(pod string, _ observe.Crash) string {
		if pod == "orders-a" {
			return "pod-failure"
		}
		return ""
	}
	var tr crashTracker

	// The first call only records the counts.
	if got := tr.crashes(context.Background(), []corev1.Pod{exited("orders-a", 0, corev1.ContainerStateTerminated{})}, 5*time.Second, &start, faulted, nil); len(got) != 0 {
		t.Fatalf("first call reported %+v", got)
	}

	// The pod-failure's SIGTERM: exit 0, "Completed", at +9 s; sampled at +11 s.
	sigterm := corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: at(9)}
	got := tr.crashes(context.Background(), []corev1.Pod{exited("orders-a", 1, sigterm)}, 11*time.Second, &start, faulted, nil)
	if len(got) != 1 {
		t.Fatalf("crashes %+v, want one", got)
	}
	if c := got[0]; !c.Injected || c.Cause != "pod-failure" || c.ExitCode != 0 || c.Headline != "Completed" || c.At != 9*time.Second {
		t.Errorf("SIGTERM exit during pod-failure: %+v, want injected, exit 0, Completed, at 9s", c)
	}

	// During the same fault the victim dies of a concurrent map write.
	fatal := corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", FinishedAt: at(13),
		Message: "fatal error: concurrent map writes\n\ngoroutine 42 [running]:\nmain.main()\n"}
	got = tr.crashes(context.Background(), []corev1.Pod{exited("orders-a", 2, fatal)}, 14*time.Second, &start, faulted, nil)
	if len(got) != 1 {
		t.Fatalf("crashes %+v, want one", got)
	}
	if c := got[0]; c.Injected || c.Cause != "" || c.ExitCode != 2 || c.Headline != "fatal error: concurrent map writes" || c.At != 13*time.Second {
		t.Errorf("fatal error during pod-failure: %+v, want organic, exit 2, the headline, at 13s", c)
	}

	// A SIGKILL (137) of a pod no fault targets is organic; without
	// finishedAt the crash is at the sample time.
	kill := corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}
	got = tr.crashes(context.Background(), []corev1.Pod{exited("orders-b", 1, kill)}, 15*time.Second, &start, faulted, nil)
	if len(got) != 1 || got[0].Injected || got[0].At != 15*time.Second {
		t.Errorf("kill outside any fault: %+v, want one organic crash at the sample time 15s", got)
	}

	// No restart since: nothing new.
	if got := tr.crashes(context.Background(), []corev1.Pod{exited("orders-a", 2, fatal), exited("orders-b", 1, kill)}, 16*time.Second, &start, faulted, nil); len(got) != 0 {
		t.Errorf("reported again: %+v", got)
	}
}

// A kubelet keeps only the log's last 2 KiB / 80 lines as the termination
// message, so a Go crash with a long stack loses its headline there; the
// tracker reads it from the previous container's log, and the crash is the
// victim's own even under a pod fault.
func TestCrashTrackerHeadlineFromPreviousLog(t *testing.T) {
	start := metav1.NewMicroTime(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	stack := strings.Repeat("net/http.(*conn).serve(0xc000123456, {0x1234, 0xc000abcdef})\n\t/usr/local/go/src/net/http/server.go:2102 +0x625\n", 60)
	full := "fatal error: concurrent map writes\n\ngoroutine 42 [running]:\n" + stack
	tailOnly := full[len(full)-2048:]
	var asked []string
	crashedAt := metav1.NewTime(start.Add(time.Second))
	previousLog := func(_ context.Context, pod, container string, finished time.Time) ([]byte, error) {
		asked = append(asked, pod+"/"+container+"@"+finished.Format(time.TimeOnly))
		if !finished.Equal(crashedAt.Time) {
			return nil, errOtherInstance
		}
		return []byte(full), nil
	}
	faulted := func(string, observe.Crash) string { return "pod-failure" }
	var tr crashTracker
	tr.crashes(context.Background(), []corev1.Pod{exited("orders-a", 0, corev1.ContainerStateTerminated{})}, 0, &start, faulted, previousLog)
	got := tr.crashes(context.Background(), []corev1.Pod{exited("orders-a", 1, corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Message: tailOnly, FinishedAt: crashedAt})}, time.Second, &start, faulted, previousLog)
	if len(got) != 1 || got[0].Headline != "fatal error: concurrent map writes" || got[0].Injected {
		t.Fatalf("crashes %+v, want the headline from the previous log, organic", got)
	}
	if len(asked) != 1 || asked[0] != "orders-a/victim@12:00:01" {
		t.Errorf("previous logs read %v, want [orders-a/victim@12:00:01] (the instance that exited then)", asked)
	}
	if !tr.exited["orders-a"].Equal(crashedAt.Time) {
		t.Errorf("exited %v, want the exit's finishedAt kept for the crash context", tr.exited["orders-a"])
	}

	// When the log read is another instance's (the container restarted
	// again), the termination message's line stands: no headline borrowed.
	asked = nil
	got = tr.crashes(context.Background(), []corev1.Pod{exited("orders-a", 2, corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Message: tailOnly, FinishedAt: metav1.NewTime(start.Add(2 * time.Second))})}, 2*time.Second, &start, faulted, previousLog)
	if len(got) != 1 || goHeadline(got[0].Headline) || len(asked) != 1 {
		t.Errorf("crashes %+v after reading %v, want no Go headline from another instance's log", got, asked)
	}

	// A clean exit (0) reads no log.
	asked = nil
	tr.crashes(context.Background(), []corev1.Pod{exited("orders-a", 3, corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"})}, 3*time.Second, &start, faulted, previousLog)
	if len(asked) != 0 {
		t.Errorf("read %v for an exit 0", asked)
	}
}

// On a real node a partition or a bandwidth limit fails the kubelet's
// liveness probes (they pass through the pod's network) and the kubelet
// restarts the container: exit 0 after SIGTERM. That restart is the network
// fault's while it is on the pod and podFaultGrace after; a Go fatal error
// is never the fault's; a pod the fault did not select is not hit.
func TestNetworkFaultRestartsAreTheFaults(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	exp := &v1alpha1.Experiment{Spec: v1alpha1.ExperimentSpec{Faults: []v1alpha1.Fault{{
		Name:         "slow-ledger",
		NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{Action: chaosv1alpha1.BandwidthAction},
	}}}}
	b := &clusterBackend{d: &drill{exp: exp, now: now},
		podFaults: []podKill{{fault: 0, at: now.Add(-10 * time.Second), targets: []string{"ledger-a"}, network: true}}}
	sigterm := observe.Crash{Target: "ledger-a", ExitCode: 0, Headline: "Completed"}
	cause := b.podKilled("ledger-a", sigterm)
	if !strings.Contains(cause, "slow-ledger (NetworkChaos bandwidth)") || !strings.Contains(cause, "Completed, exit 0") || !strings.Contains(cause, "probes") {
		t.Errorf("cause %q, want the fault, its action, the exit and the probes", cause)
	}
	if c := b.podKilled("orders-a", sigterm); c != "" {
		t.Errorf("a pod the fault did not select: cause %q", c)
	}
	b.podFaults[0].until = now.Add(-podFaultGrace + time.Second)
	if b.podKilled("ledger-a", sigterm) == "" {
		t.Errorf("a restart within podFaultGrace of the recovery is still the fault's")
	}
	b.d.now = now.Add(2 * time.Second)
	if c := b.podKilled("ledger-a", sigterm); c != "" {
		t.Errorf("a restart later than podFaultGrace after the recovery: cause %q", c)
	}

	var tr crashTracker
	b.d.now = now
	b.podFaults[0].until = time.Time{}
	tr.crashes(context.Background(), []corev1.Pod{exited("ledger-a", 0, corev1.ContainerStateTerminated{})}, 0, nil, b.podKilled, nil)
	fatal := corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Message: "fatal error: concurrent map writes\n"}
	got := tr.crashes(context.Background(), []corev1.Pod{exited("ledger-a", 1, corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"})}, time.Second, nil, b.podKilled, nil)
	if len(got) != 1 || !got[0].Injected || !strings.Contains(got[0].Cause, "slow-ledger") {
		t.Errorf("liveness restart under a network fault: %+v, want injected by slow-ledger", got)
	}
	got = tr.crashes(context.Background(), []corev1.Pod{exited("ledger-a", 2, fatal)}, 2*time.Second, nil, b.podKilled, nil)
	if len(got) != 1 || got[0].Injected {
		t.Errorf("a fatal error under a network fault: %+v, want organic", got)
	}

	// An OOM kill under the same fault is the kernel's, organic, and says so
	// whatever the log's tail held.
	oom := corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", Message: "{\"event\":\"charge_attempt\"}\n"}
	got = tr.crashes(context.Background(), []corev1.Pod{exited("ledger-a", 3, oom)}, 3*time.Second, nil, b.podKilled, nil)
	if len(got) != 1 || got[0].Injected || got[0].Cause != "" || got[0].Headline != "OOMKilled" || got[0].ExitCode != 137 {
		t.Errorf("an OOM kill under a network fault: %+v, want organic, headline OOMKilled, exit 137", got)
	}
}

// A pod's instance changes with each container restart and with a
// replacement pod (new UID).
func TestTargetInstance(t *testing.T) {
	p := exited("orders-a", 3, corev1.ContainerStateTerminated{})
	if got := instance(&p); got != "uid-orders-a/3" {
		t.Errorf("instance %q, want uid-orders-a/3", got)
	}
}

// pods/log's timestamps=true lines: stripped, the last one's time kept; a
// line without one is kept as is and said.
func TestStripTimestamps(t *testing.T) {
	log := "2026-11-28T02:30:00.100000000Z fatal error: concurrent map writes\n" +
		"2026-11-28T02:30:00.100200000Z \n" +
		"2026-11-28T02:30:00.900000000Z goroutine 42 [running]:\n"
	text, last, ok := stripTimestamps([]byte(log))
	if !ok || string(text) != "fatal error: concurrent map writes\n\ngoroutine 42 [running]:\n" ||
		!last.Equal(time.Date(2026, 11, 28, 2, 30, 0, 900000000, time.UTC)) {
		t.Errorf("stripTimestamps = %q, %v, %v", text, last, ok)
	}
	if text, _, ok := stripTimestamps([]byte("no stamp here\n")); ok || string(text) != "no stamp here\n" {
		t.Errorf("a line without a timestamp: %q, ok %v", text, ok)
	}
}
