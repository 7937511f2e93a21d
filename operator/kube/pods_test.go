package kube

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	faulted := func(pod string) bool { return pod == "orders-a" }
	var tr crashTracker

	// The first call only records the counts.
	if got := tr.crashes([]corev1.Pod{exited("orders-a", 0, corev1.ContainerStateTerminated{})}, 5*time.Second, &start, faulted); len(got) != 0 {
		t.Fatalf("first call reported %+v", got)
	}

	// The pod-failure's SIGTERM: exit 0, "Completed", at +9 s; sampled at +11 s.
	sigterm := corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: at(9)}
	got := tr.crashes([]corev1.Pod{exited("orders-a", 1, sigterm)}, 11*time.Second, &start, faulted)
	if len(got) != 1 {
		t.Fatalf("crashes %+v, want one", got)
	}
	if c := got[0]; !c.Injected || c.ExitCode != 0 || c.Headline != "Completed" || c.At != 9*time.Second {
		t.Errorf("SIGTERM exit during pod-failure: %+v, want injected, exit 0, Completed, at 9s", c)
	}

	// During the same fault the victim dies of a concurrent map write.
	fatal := corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", FinishedAt: at(13),
		Message: "fatal error: concurrent map writes\n\ngoroutine 42 [running]:\nmain.main()\n"}
	got = tr.crashes([]corev1.Pod{exited("orders-a", 2, fatal)}, 14*time.Second, &start, faulted)
	if len(got) != 1 {
		t.Fatalf("crashes %+v, want one", got)
	}
	if c := got[0]; c.Injected || c.ExitCode != 2 || c.Headline != "fatal error: concurrent map writes" || c.At != 13*time.Second {
		t.Errorf("fatal error during pod-failure: %+v, want organic, exit 2, the headline, at 13s", c)
	}

	// A SIGKILL (137) of a pod no fault targets is organic; without
	// finishedAt the crash is at the sample time.
	kill := corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}
	got = tr.crashes([]corev1.Pod{exited("orders-b", 1, kill)}, 15*time.Second, &start, faulted)
	if len(got) != 1 || got[0].Injected || got[0].At != 15*time.Second {
		t.Errorf("kill outside any fault: %+v, want one organic crash at the sample time 15s", got)
	}

	// No restart since: nothing new.
	if got := tr.crashes([]corev1.Pod{exited("orders-a", 2, fatal), exited("orders-b", 1, kill)}, 16*time.Second, &start, faulted); len(got) != 0 {
		t.Errorf("reported again: %+v", got)
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
