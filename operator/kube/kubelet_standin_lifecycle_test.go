package kube_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/kube"
)

// The image the helper pods are created with, and the one Chaos Mesh's
// pod-failure puts in its place.
const (
	helperImage = "cascadelab/victim:test"
	pauseImage  = "gcr.io/google-containers/pause:latest"
)

// TestKubeletStandInIsNoKinder checks that the kubelet stand-in treats
// containers as a real kubelet does, by the order of what it did (no
// timing but lower bounds): pod-failure's image swap stops the container
// with SIGTERM and, for a process that ignores it, SIGKILL after the grace
// period; the pause stand-in runs, serves nothing and is never ready, and
// fails liveness; restoring the image stops pause and starts the container
// again, each change a restart; a crashing container is restarted under the
// crash-loop back-off; a deleted pod's container gets SIGTERM.
func TestKubeletStandInIsNoKinder(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest")
	}
	e := startEnv(t)
	ns := e.namespace(t, false)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bo := KubeletBackoff{Initial: 500 * time.Millisecond, Max: 2 * time.Second, Reset: time.Minute}
	k := StartKubeletStandInWith(t, e.c, ns, self, KubeletOptions{Backoff: bo, ReactToChaosMesh: true})
	for _, d := range []struct {
		name     string
		env      []string
		liveness bool
	}{
		{"good", nil, false},
		{"stubborn", []string{"KUBELET_STANDIN_IGNORE_TERM=1"}, false},
		{"live", nil, true},
		{"crash", []string{"KUBELET_STANDIN_CRASH_AFTER=300ms"}, false},
	} {
		env := append([]string{kubeletHelperEnv + "=" + helperVictim, "KUBELET_STANDIN_SIGNAL_LOG=" + filepath.Join(dir, d.name)}, d.env...)
		if err := e.c.Create(context.Background(), helperDeployment(ns, d.name, env, d.liveness)); err != nil {
			t.Fatal(err)
		}
	}
	pods := map[string]string{}
	for _, name := range []string{"good", "stubborn", "live"} {
		pods[name] = e.waitPod(t, ns, name, "ready", func(p *corev1.Pod) bool { return podIsReady(p) })
	}

	// pod-failure: the image becomes pause.
	for _, name := range []string{"good", "stubborn", "live"} {
		e.setImage(t, ns, pods[name], pauseImage)
	}
	for _, name := range []string{"good", "stubborn"} {
		e.waitPod(t, ns, name, "pause running", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return cs.Image == pauseImage && cs.State.Running != nil && cs.RestartCount == 1
		})
	}
	checkEvents(t, k, pods["good"], "victim started", "victim SIGTERM", "victim exited 0", "pause started")
	checkEvents(t, k, pods["stubborn"], "victim started", "victim SIGTERM", "victim SIGKILL", "victim exited 137", "pause started")
	checkGrace(t, k, pods["stubborn"], minGrace)
	for name, code := range map[string]int32{"good": 0, "stubborn": 137} {
		checkLastExit(t, e.pod(t, ns, pods[name]), code)
		if b, _ := os.ReadFile(filepath.Join(dir, name)); !strings.Contains(string(b), "terminated") {
			t.Errorf("%s: the process logged no SIGTERM: %q", name, b)
		}
	}
	// Nothing serves the readiness probe (period 1 s) while pause runs.
	time.Sleep(2500 * time.Millisecond)
	for _, name := range []string{"good", "stubborn", "live"} {
		if p := e.pod(t, ns, pods[name]); podIsReady(p) || p.Status.ContainerStatuses[0].Ready {
			t.Errorf("%s ready while its image is pause", name)
		}
	}
	// Liveness fails on pause too: it is stopped and restarted, under the
	// back-off.
	e.waitPod(t, ns, "live", "pause restarted by liveness twice", func(p *corev1.Pod) bool {
		return p.Status.ContainerStatuses[0].RestartCount >= 3
	})
	checkEvents(t, k, pods["live"], "victim started", "victim SIGTERM", "victim exited 0", "pause started",
		"pause SIGTERM", "pause exited 0", "pause started", "pause SIGTERM", "pause exited 0", "pause started")
	checkBackoff(t, k, pods["live"], true, bo)

	// Chaos Mesh restores the image: pause is stopped, the victim starts.
	for _, name := range []string{"good", "stubborn", "live"} {
		e.setImage(t, ns, pods[name], helperImage)
	}
	for _, name := range []string{"good", "stubborn"} {
		p := e.waitPod(t, ns, name, "victim ready again", func(p *corev1.Pod) bool {
			return podIsReady(p) && p.Status.ContainerStatuses[0].Image == helperImage
		})
		checkEventsEnd(t, k, p, "pause started", "pause SIGTERM", "pause exited 0", "victim started")
		if n := e.pod(t, ns, p).Status.ContainerStatuses[0].RestartCount; n != 2 {
			t.Errorf("%s: restartCount %d after pod-failure and recovery, want 2", name, n)
		}
		checkLastExit(t, e.pod(t, ns, p), 0) // pause's
	}
	e.waitPod(t, ns, "live", "victim ready again", func(p *corev1.Pod) bool { return podIsReady(p) })

	// A crashing container: restarted at once, then after 0.5 s, 1 s, 2 s.
	crash := e.waitPod(t, ns, "crash", "four restarts", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount >= 4
	})
	e.waitPod(t, ns, "crash", "waiting in CrashLoopBackOff", func(p *corev1.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
	checkBackoff(t, k, crash, false, bo)
	p := e.pod(t, ns, crash)
	checkLastExit(t, p, 2)
	if msg := p.Status.ContainerStatuses[0].LastTerminationState.Terminated.Message; !strings.Contains(msg, "fatal error: concurrent map writes") {
		t.Errorf("crash: termination message %q lacks the crash headline", msg)
	}
	// The crashed container's log, through the API server's pods/log as
	// from a kubelet: previous is the container lastState.terminated names.
	cs := kubernetes.NewForConfigOrDie(e.cfg)
	prev, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: p.Spec.Containers[0].Name, Previous: true, TailLines: ptr.To(int64(500))}).DoRaw(context.Background())
	if err != nil || !strings.HasPrefix(string(prev), "fatal error: concurrent map writes") {
		t.Errorf("pods/log previous=true: %v %.200q, want the crashed container's log from its headline", err, prev)
	}
	// The operator's read of one instance's log (timestamps=true against the
	// exit's finishedAt): the instance lastState names is read; read again
	// once the next instance has exited too, it is refused (previous=true
	// serves the newest exit).
	name := p.Spec.Containers[0].Name
	finished := p.Status.ContainerStatuses[0].LastTerminationState.Terminated.FinishedAt.Time
	if log, err := kube.InstanceLog(context.Background(), cs.CoreV1().Pods(ns), p.Name, name, finished, 500); err != nil || !strings.HasPrefix(string(log), "fatal error: concurrent map writes") {
		t.Errorf("instance that exited at %s: %v %.100q, want its log", finished, err, log)
	}
	e.waitPod(t, ns, "crash", "another exit", func(p *corev1.Pod) bool {
		last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		return last != nil && last.FinishedAt.After(finished)
	})
	if log, err := kube.InstanceLog(context.Background(), cs.CoreV1().Pods(ns), p.Name, name, finished, 500); !errors.Is(err, kube.ErrOtherInstance) {
		t.Errorf("instance that exited at %s, read after the next exit: %v %.100q, want ErrOtherInstance", finished, err, log)
	}

	// pod-kill: the pod deleted with grace 0; its container still gets
	// SIGTERM first, and a replacement pod starts from restartCount 0.
	if err := e.c.Delete(context.Background(), e.pod(t, ns, pods["good"]), client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, ns, "good", "a replacement ready", func(p *corev1.Pod) bool {
		return p.Name != pods["good"] && podIsReady(p) && p.Status.ContainerStatuses[0].RestartCount == 0
	})
	ev := k.Events(pods["good"])
	if n := len(ev); n < 2 || ev[n-2].String() != "victim SIGTERM" || ev[n-1].String() != "victim exited 0" {
		t.Errorf("deleted pod %s: events end %v, want [victim SIGTERM victim exited 0]", pods["good"], ev)
	}
}

func helperDeployment(ns, name string, env []string, liveness bool) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	probe := func(path string, delay, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("admin")}},
			InitialDelaySeconds: delay, PeriodSeconds: 1, FailureThreshold: failures,
		}
	}
	ctr := corev1.Container{
		Name: "victim", Image: helperImage, Args: []string{"--listen=:8080", "--admin-listen=:9090"},
		Ports:                    []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "admin", ContainerPort: 9090}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		ReadinessProbe:           probe("/readyz", 0, 1),
	}
	if liveness {
		// Time for the process to come up: 1 s, and two failures.
		ctr.LivenessProbe = probe("/healthz", 1, 2)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: k, Value: v})
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1), Containers: []corev1.Container{ctr}},
			},
		},
	}
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitPod waits until the pod of Deployment app satisfies cond and returns
// its name.
func (e *env) waitPod(t *testing.T, ns, app, what string, cond func(*corev1.Pod) bool) string {
	t.Helper()
	var name string
	waitFor(t, 60*time.Second, app+": "+what, func() (bool, string) {
		var l corev1.PodList
		if err := e.c.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return false, err.Error()
		}
		var seen []string
		for i := range l.Items {
			p := &l.Items[i]
			if p.DeletionTimestamp == nil && len(p.Status.ContainerStatuses) > 0 && cond(p) {
				name = p.Name
				return true, ""
			}
			seen = append(seen, fmt.Sprintf("%s %+v", p.Name, p.Status.ContainerStatuses))
		}
		return false, strings.Join(seen, "; ")
	})
	return name
}

func (e *env) pod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// setImage sets the pod's container image, as Chaos Mesh's pod-failure
// does.
func (e *env) setImage(t *testing.T, ns, pod, image string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := e.pod(t, ns, pod)
		p.Spec.Containers[0].Image = image
		return e.c.Update(context.Background(), p)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkEvents checks that the pod's container events begin with want.
func checkEvents(t *testing.T, k *KubeletStandIn, pod string, want ...string) {
	t.Helper()
	ev := k.Events(pod)
	ok := len(ev) >= len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = ev[i].String() == want[i]
	}
	if !ok {
		t.Errorf("pod %s: events %v, want them to begin %v", pod, ev, want)
	}
}

// checkEventsEnd checks that the pod's container events end with want.
func checkEventsEnd(t *testing.T, k *KubeletStandIn, pod string, want ...string) {
	t.Helper()
	ev := k.Events(pod)
	ok := len(ev) >= len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = ev[len(ev)-len(want)+i].String() == want[i]
	}
	if !ok {
		t.Errorf("pod %s: events %v, want them to end %v", pod, ev, want)
	}
}

// checkGrace checks that the pod's first SIGKILL came at least grace after
// its SIGTERM.
func checkGrace(t *testing.T, k *KubeletStandIn, pod string, grace time.Duration) {
	t.Helper()
	var term, kill time.Time
	for _, e := range k.Events(pod) {
		switch {
		case e.What == "SIGTERM" && term.IsZero():
			term = e.At
		case e.What == "SIGKILL" && kill.IsZero():
			kill = e.At
		}
	}
	if term.IsZero() || kill.IsZero() {
		t.Errorf("pod %s: events %v, want a SIGTERM and a SIGKILL", pod, k.Events(pod))
		return
	}
	if kill.Sub(term) < grace {
		t.Errorf("pod %s: SIGKILL %v after SIGTERM, want at least %v", pod, kill.Sub(term), grace)
	}
	t.Logf("pod %s: SIGKILL %v after SIGTERM (grace %v)", pod, kill.Sub(term).Round(time.Millisecond), grace)
}

// checkLastExit checks lastState.terminated as the kubelet writes it.
func checkLastExit(t *testing.T, p *corev1.Pod, code int32) {
	t.Helper()
	term := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
	reason := map[bool]string{true: "Completed", false: "Error"}[code == 0]
	if term == nil || term.ExitCode != code || term.Reason != reason || term.FinishedAt.IsZero() || term.FinishedAt.Before(&term.StartedAt) {
		t.Errorf("pod %s: lastState.terminated %+v, want exit %d, reason %s, startedAt ≤ finishedAt", p.Name, term, code, reason)
	}
}

// checkBackoff checks that the restarts of the pod's container (the pause
// stand-in's when pause, else the victim's) waited at least the crash-loop
// back-off: the first at once, then Initial, doubling up to Max.
func checkBackoff(t *testing.T, k *KubeletStandIn, pod string, pause bool, bo KubeletBackoff) {
	t.Helper()
	var gaps []time.Duration
	var exited time.Time
	for _, e := range k.Events(pod) {
		if e.Pause != pause {
			continue
		}
		switch e.What {
		case "exited":
			exited = e.At
		case "started":
			if !exited.IsZero() {
				gaps = append(gaps, e.At.Sub(exited))
			}
		}
	}
	want := time.Duration(0)
	for i, g := range gaps {
		if g < want {
			t.Errorf("pod %s: restart %d came %v after the exit, under the %v back-off (gaps %v)", pod, i+1, g, want, gaps)
		}
		want = min(max(2*want, bo.Initial), bo.Max)
	}
	t.Logf("pod %s: restart gaps %v", pod, gaps)
}
