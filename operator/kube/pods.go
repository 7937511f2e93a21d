package kube

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// listPods returns the pods of the drill: the victim's and the load
// generator's pods (by the instance label), or the pods of spec.target plus
// the load generator.
func listPods(ctx context.Context, c client.Reader, exp *v1alpha1.Experiment) ([]corev1.Pod, error) {
	var out []corev1.Pod
	var l corev1.PodList
	if err := c.List(ctx, &l, client.InNamespace(exp.Namespace),
		client.MatchingLabels{LabelInstance: exp.Name, LabelName: NameVictim}); err != nil {
		return nil, err
	}
	out = append(out, l.Items...)
	if t := exp.Spec.Target; t != nil {
		sel, err := metav1.LabelSelectorAsSelector(&t.Selector)
		if err != nil {
			return nil, fmt.Errorf("spec.target.selector: %w", err)
		}
		if sel.Empty() {
			sel = labels.Nothing()
		}
		var tl corev1.PodList
		if err := c.List(ctx, &tl, client.InNamespace(exp.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return nil, err
		}
		out = append(out, tl.Items...)
	}
	return out, nil
}

// podRole is the victim role of a pod (its component label), or "target".
func podRole(p *corev1.Pod) string {
	if r := p.Labels[LabelComponent]; r != "" {
		return r
	}
	return "target"
}

// adminPort resolves where a pod's admin server listens: the annotation
// cascadelab.dev/admin-port (tests, or pods that bind elsewhere), the
// container port named "admin", spec.target.adminPort, then 9090.
func adminPort(p *corev1.Pod, exp *v1alpha1.Experiment) int {
	if v, err := strconv.Atoi(p.Annotations[AnnotationAdminPort]); err == nil && v > 0 {
		return v
	}
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == "admin" {
				return int(port.ContainerPort)
			}
		}
	}
	if exp.Spec.Target != nil && exp.Spec.Target.AdminPort > 0 {
		return int(exp.Spec.Target.AdminPort)
	}
	return AdminPort
}

// podReady reports whether the pod's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Targets returns the scrape targets among pods: running, with an IP, not
// being deleted. Each target's Instance is instance(pod); its AdminURL is
// the pod's IP, or its URL through proxy when proxy is set.
func Targets(pods []corev1.Pod, exp *v1alpha1.Experiment, proxy *PodProxy) []observe.Target {
	var ts []observe.Target
	for i := range pods {
		p := &pods[i]
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		ts = append(ts, observe.Target{
			Name: p.Name, Role: podRole(p), Labels: p.Labels,
			AdminURL: podURL(proxy, p, adminPort(p, exp)),
			Instance: instance(p),
		})
	}
	return ts
}

// instance identifies the process behind a pod: "<pod UID>/<sum of its
// containers' restart counts>". It changes when a container restarts (a
// crash, container-kill, pod-failure's image swap) and when the pod is
// replaced by a new one (pod-kill: a new UID, restart count 0).
func instance(p *corev1.Pod) string {
	return string(p.UID) + "/" + strconv.Itoa(int(restarts(p)))
}

// restarts sums the restart counts of a pod's containers.
func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// crashTracker turns growing restart counts into observe.Crash values, with
// the crash headline read from lastState.terminated.message or, when that
// tail of the log lacks a Go crash headline, from the previous container's
// log.
type crashTracker struct {
	seen map[string]int32 // pod UID → restarts already reported
	// exited is when each pod's last reported exit happened, for reading
	// that instance's log again (crashContext).
	exited map[string]time.Time
	// lastLine, when set, reads the last timestamped line of the exited
	// instance's log, and clock maps the node's times to the manager's
	// (crashclock.go): a crash is then stamped from that line, to the
	// nanosecond, with the mapping's uncertainty in its headline when over
	// CrashClockSlack.
	lastLine lastLineFunc
	clock    serverClock
}

// crashes returns the crashes since the last call. On the first call after a
// (re)start it only records the counts: a restarted manager does not report
// old crashes twice.
//
// Each crash is stamped with the last timestamped line of the exited
// instance's log (t.lastLine, mapped through t.clock) or else its
// container's lastState.terminated.finishedAt, as an offset from start (the
// drill's start time), or with at (the sample's offset) when both are
// missing (crashclock.go).
//
// injected(pod, crash) names the fault that caused an exit of the pod ("" for
// none): a pod fault or a network fault that targets the pod. Every exit of
// such a pod is injected, whatever its code: pod-kill and container-kill end
// in SIGKILL (137) or, through the kubelet's SIGTERM, in the victim's clean
// exit 0; pod-failure stops the container with SIGTERM (exit 0,
// "Completed") and then the pause container; under a partition or a
// bandwidth limit the kubelet's liveness probes, which pass through the
// pod's network, fail and the kubelet restarts the container (SIGTERM, exit
// 0, seen on a real node; a loopback stand-in never shows it). The
// exceptions are a Go runtime crash (exit 2 with a "fatal error:" or
// "panic:" headline, such as "fatal error: concurrent map writes"), the
// victim's own bug even while a fault runs, and an OOM kill (reason
// OOMKilled, headline OOMKilled): the kernel's answer to the container's
// memory, which no pod or network fault of the kit causes; both are
// organic.
//
// previousLog, when not nil, reads the log of the container instance of a
// pod that exited at finished (lastState.terminated.finishedAt): a kubelet
// keeps at most the last 2 KiB / 80 lines of a log as the termination
// message (FallbackToLogsOnError), and a Go crash's headline comes before
// its stacks, which are often longer than that.
func (t *crashTracker) crashes(ctx context.Context, pods []corev1.Pod, at time.Duration, start *metav1.MicroTime, injected func(pod string, c observe.Crash) string, previousLog func(ctx context.Context, pod, container string, finished time.Time) ([]byte, error)) []observe.Crash {
	first := t.seen == nil
	if first {
		t.seen = map[string]int32{}
		t.exited = map[string]time.Time{}
	}
	var out []observe.Crash
	for i := range pods {
		p := &pods[i]
		n := restarts(p)
		prev, ok := t.seen[string(p.UID)]
		t.seen[string(p.UID)] = n
		// A pod first seen now that existed before the load started
		// brings restarts from before the drill: not crashes of it.
		if first || (ok && n <= prev) || (!ok && (n == 0 || (start != nil && !start.IsZero() && createdBefore(p, start)))) {
			continue
		}
		c := observe.Crash{Target: p.Name, At: at, ExitCode: -1}
		note := ""
		var term *corev1.ContainerStateTerminated
		var container string
		for _, cs := range p.Status.ContainerStatuses {
			if ts := cs.LastTerminationState.Terminated; ts != nil && (term == nil || ts.FinishedAt.After(term.FinishedAt.Time)) {
				term, container = ts, cs.Name // the latest exit among the pod's containers
			}
		}
		if term != nil {
			t.exited[p.Name] = term.FinishedAt.Time
			c.ExitCode = int(term.ExitCode)
			c.Headline = observe.CrashHeadline([]byte(term.Message))
			if term.ExitCode != 0 && !goHeadline(c.Headline) && previousLog != nil {
				if log, err := previousLog(ctx, p.Name, container, term.FinishedAt.Time); err == nil {
					if h := observe.CrashHeadline(log); goHeadline(h) {
						c.Headline = h
					}
				}
			}
			if c.Headline == "" || (term.Reason == oomKilled && !goHeadline(c.Headline)) {
				c.Headline = term.Reason
			}
			if term.Signal != 0 {
				c.Signal = strconv.Itoa(int(term.Signal))
			}
			if start != nil && !start.IsZero() && !term.FinishedAt.IsZero() {
				var last time.Time
				if t.lastLine != nil {
					last, _ = t.lastLine(ctx, p.Name, container, term.FinishedAt.Time)
				}
				var unc time.Duration
				var fromLog bool
				c.At, unc, fromLog = crashAt(term.FinishedAt.Time, last, start.Time, t.clock)
				if t.lastLine != nil || t.clock.known {
					note = clockNote(unc, fromLog)
				}
			}
		}
		if !goRuntimeCrash(c.ExitCode, c.Headline) && c.Headline != oomKilled {
			c.Cause = injected(p.Name, c)
			c.Injected = c.Cause != ""
		}
		c.Headline += note // after the classification, which reads the headline
		out = append(out, c)
	}
	return out
}

// oomKilled is the reason the runtime gives a container the kernel's OOM
// killer stopped.
const oomKilled = "OOMKilled"

// goRuntimeCrash reports whether an exit is a Go runtime crash: exit status 2
// with a "fatal error:" or "panic:" headline.
func goRuntimeCrash(code int, headline string) bool {
	return code == 2 && goHeadline(headline)
}

// goHeadline reports whether a headline is a Go crash's own.
func goHeadline(h string) bool {
	return strings.HasPrefix(h, "fatal error:") || strings.HasPrefix(h, "panic:")
}
