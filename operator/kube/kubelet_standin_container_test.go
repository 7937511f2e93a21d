package kube_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cascadelab/cascadelab/operator/kube"
)

// minGrace is the kubelet's minimumGracePeriodInSeconds: however short the
// pod's or the deletion's grace period, a container gets 2 s between
// SIGTERM and SIGKILL (pkg/kubelet/kuberuntime).
const minGrace = 2 * time.Second

// kubeletGrace is the time the kubelet leaves between SIGTERM and SIGKILL
// for a grace period of sec seconds.
func kubeletGrace(sec int64) time.Duration { return max(time.Duration(sec)*time.Second, minGrace) }

// podProc supervises one pod's container as a kubelet does.
type podProc struct {
	pod, role, owner    string
	ports               [2]string // app, admin
	restart             corev1.RestartPolicy
	firstImage          string   // the image the pod was created with: the victim
	args, env           []string // the victim's
	grace               time.Duration
	fallbackToLogs      bool
	readiness, liveness *probe
	loop                *crashLoop

	mu        sync.Mutex
	image     string // the container's image in the pod spec now
	stopped   bool
	stopGrace time.Duration
	cur       *container   // the running container, nil between two
	recent    []*container // the last few containers, newest last, for their logs
	restarts  int32
	wake      chan struct{} // image changed or pod stopped
	done      chan struct{} // closed when supervise returns
}

// container is one run of a pod's container: one process.
type container struct {
	image     string
	pause     bool // the pause stand-in: any image but the pod's first
	id        string
	cmd       *exec.Cmd
	logs      *tailBuffer
	started   time.Time
	exitedAt  time.Time
	exited    chan struct{} // closed once the process is reaped
	unhealthy chan struct{} // closed when liveness fails
}

// run starts supervising the pod's container.
func (k *KubeletStandIn) run(p *corev1.Pod, args []string) {
	ctr := p.Spec.Containers[0]
	pp := &podProc{
		pod: p.Name, role: p.Labels[kube.LabelComponent], restart: p.Spec.RestartPolicy,
		firstImage: ctr.Image, image: ctr.Image, args: args,
		ports:          [2]string{p.Annotations[annotationAppPort], p.Annotations[kube.AnnotationAdminPort]},
		grace:          kubeletGrace(ptr.Deref(p.Spec.TerminationGracePeriodSeconds, 30)),
		fallbackToLogs: ctr.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError,
		loop:           newCrashLoop(k.opts.Backoff),
		wake:           make(chan struct{}, 1), done: make(chan struct{}),
	}
	pp.readiness = k.newProbe(pp, &ctr, ctr.ReadinessProbe, "readiness")
	pp.liveness = k.newProbe(pp, &ctr, ctr.LivenessProbe, "liveness")
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			pp.env = append(pp.env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			pp.env = append(pp.env, e.Name+"="+p.Name) // the downward API, as a kubelet resolves it
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			pp.env = append(pp.env, e.Name+"="+p.Namespace)
		}
	}
	if o := metav1.GetControllerOf(p); o != nil {
		pp.owner = o.Name
	}
	k.mu.Lock()
	k.procs[p.Name] = pp
	k.mu.Unlock()
	go k.supervise(pp)
}

// why a container stopped
type stopReason int

const (
	exitedItself stopReason = iota
	podStopped              // the pod is deleted
	imageChanged            // the kubelet replaces the container
	unhealthy               // liveness failed
)

// supervise runs the pod's container until the pod is stopped: starts it,
// waits for its exit (or stops it when its image changes or liveness
// fails), writes the status and restarts it under the crash-loop back-off.
func (k *KubeletStandIn) supervise(pp *podProc) {
	defer close(pp.done)
	var last *corev1.ContainerStateTerminated // the latest exit
	var from time.Time                        // the exit the next start's back-off counts from
	for {
		pp.mu.Lock()
		image, stopped := pp.image, pp.stopped
		pp.mu.Unlock()
		if stopped {
			return
		}
		if !from.IsZero() {
			if w := pp.loop.wait(image, from, time.Now()); w > 0 {
				k.setStatus(pp.pod, func(s *corev1.PodStatus) {
					cs := &s.ContainerStatuses[0]
					cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
						Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", w.Round(time.Millisecond), cs.Name, pp.pod)}}
					cs.LastTerminationState = corev1.ContainerState{Terminated: last}
					cs.Ready = false
					setReadyCond(s, false)
				})
				pp.sleep(w)
				continue
			}
			pp.loop.started(image, from, time.Now())
		}
		c, err := k.startContainer(pp, image)
		if err != nil {
			if !errors.Is(err, errPodStopped) {
				k.t.Logf("kubelet stand-in: start %s: %v", pp.pod, err)
			}
			return
		}
		pp.mu.Lock()
		if last != nil {
			pp.restarts++
		}
		n := pp.restarts
		pp.mu.Unlock()
		k.setStatus(pp.pod, func(s *corev1.PodStatus) {
			s.Phase = corev1.PodRunning
			cs := &s.ContainerStatuses[0]
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.started)}}
			cs.Image, cs.ContainerID, cs.Started, cs.Ready, cs.RestartCount = c.image, c.id, ptr.To(true), false, n
			if last != nil {
				cs.LastTerminationState = corev1.ContainerState{Terminated: last}
			}
			setReadyCond(s, false)
		})
		go k.probeContainer(pp, c)

		why := pp.await(c)
		switch why {
		case podStopped:
			pp.mu.Lock()
			grace := pp.stopGrace
			pp.mu.Unlock()
			k.stopContainer(pp, c, grace)
			k.terminated(pp, c) // the pod is gone: no status to write
			return
		case imageChanged, unhealthy:
			k.stopContainer(pp, c, pp.grace)
		}
		<-c.exited
		term := k.terminated(pp, c)
		done := pp.restart == corev1.RestartPolicyNever || (pp.restart == corev1.RestartPolicyOnFailure && term.ExitCode == 0)
		k.setStatus(pp.pod, func(s *corev1.PodStatus) {
			cs := &s.ContainerStatuses[0]
			cs.State = corev1.ContainerState{Terminated: term}
			cs.Ready = false
			setReadyCond(s, false)
			if done {
				s.Phase = corev1.PodSucceeded
				if term.ExitCode != 0 {
					s.Phase = corev1.PodFailed
				}
			}
		})
		if done {
			return
		}
		// A changed image is started at once in the same sync, its back-off
		// counted from the exit before (the kubelet's status snapshot).
		switch {
		case why != imageChanged:
			from = term.FinishedAt.Time
		case last != nil:
			from = last.FinishedAt.Time
		}
		last = term
	}
}

var errPodStopped = errors.New("pod stopped")

// startContainer starts the process for image: the victim for the pod's
// first image, the pause stand-in for any other.
func (k *KubeletStandIn) startContainer(pp *podProc, image string) (*container, error) {
	c := &container{image: image, pause: image != pp.firstImage, logs: &tailBuffer{},
		exited: make(chan struct{}), unhealthy: make(chan struct{})}
	if c.pause {
		c.cmd = exec.Command(k.pause)
		c.cmd.Env = append(os.Environ(), kubeletHelperEnv+"="+helperPause)
	} else {
		c.cmd = exec.Command(k.bin, pp.args...)
		c.cmd.Env = append(os.Environ(), pp.env...)
	}
	c.cmd.Stdout, c.cmd.Stderr = c.logs.stream(0), c.logs.stream(1)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pp.mu.Lock()
	if pp.stopped {
		pp.mu.Unlock()
		return nil, errPodStopped
	}
	if err := c.cmd.Start(); err != nil {
		pp.mu.Unlock()
		return nil, err
	}
	c.started = time.Now()
	c.id = fmt.Sprintf("standin://%s/%d", pp.pod, c.cmd.Process.Pid)
	pp.cur = c
	if pp.recent = append(pp.recent, c); len(pp.recent) > 3 {
		pp.recent = pp.recent[1:]
	}
	pp.mu.Unlock()
	k.event(pp, c, "started", 0)
	go func() {
		_ = c.cmd.Wait()
		c.logs.flush()
		c.exitedAt = time.Now()
		pp.mu.Lock()
		if pp.cur == c {
			pp.cur = nil
		}
		pp.mu.Unlock()
		close(c.exited)
	}()
	return c, nil
}

// await waits until the container exits or must be stopped.
func (pp *podProc) await(c *container) stopReason {
	for {
		select {
		case <-c.exited:
			return exitedItself
		case <-c.unhealthy:
			return unhealthy
		case <-pp.wake:
			pp.mu.Lock()
			stopped, image := pp.stopped, pp.image
			pp.mu.Unlock()
			if stopped {
				return podStopped
			}
			if image != c.image {
				return imageChanged
			}
		}
	}
}

// stopContainer stops c as the kubelet does: SIGTERM, then SIGKILL if it is
// still running after grace. It returns once the process is gone.
func (k *KubeletStandIn) stopContainer(pp *podProc, c *container, grace time.Duration) {
	select {
	case <-c.exited:
		return
	default:
	}
	k.event(pp, c, "SIGTERM", 0)
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		k.event(pp, c, "SIGKILL", 0)
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// terminated is the container's terminated state as the kubelet writes it.
func (k *KubeletStandIn) terminated(pp *podProc, c *container) *corev1.ContainerStateTerminated {
	st := c.cmd.ProcessState
	code := int32(st.ExitCode())
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int32(ws.Signal())
	}
	k.eventAt(pp, c, "exited", code, c.exitedAt)
	term := &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", ContainerID: c.id,
		StartedAt: metav1.NewTime(c.started), FinishedAt: metav1.NewTime(c.exitedAt)}
	if code == 0 {
		term.Reason = "Completed"
	} else if pp.fallbackToLogs {
		term.Message = c.logs.tail(2048, 80) // FallbackToLogsOnError
	}
	return term
}

// stop stops the pod's container with grace and waits for its supervisor.
func (pp *podProc) stop(grace time.Duration) {
	pp.mu.Lock()
	pp.stopped, pp.stopGrace = true, grace
	pp.mu.Unlock()
	pp.poke()
	<-pp.done
}

func (pp *podProc) poke() {
	select {
	case pp.wake <- struct{}{}:
	default:
	}
}

// sleep waits d or until poked.
func (pp *podProc) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-pp.wake: // the caller looks at what changed
	}
}
