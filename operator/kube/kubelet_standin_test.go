package kube_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/internal/freeport"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// annotationAppPort is where the kubelet stand-in records a pod's app port.
const annotationAppPort = "kubelet-standin.cascadelab.dev/app-port"

// KubeletStandIn stands in for the controller-manager and the kubelet,
// which envtest does not have. Like a ReplicaSet or Job controller it creates
// the Pods of the namespace's Deployments and Jobs; like a kubelet it runs each
// Pod's container as a real victim process on loopback (per-pod ports, recorded
// in the cascadelab.dev/admin-port annotation the reconciler honours), writes
// the Pod's status (podIP 127.0.0.1, Ready, restartCount,
// lastState.terminated with the exit code and, as FallbackToLogsOnError
// does, the log tail) and restarts crashed containers. Pods whose owner is
// gone are stopped and deleted, as the garbage collector would.
type KubeletStandIn struct {
	t       testing.TB
	c       client.Client
	ns, bin string
	dir     string

	mu    sync.Mutex
	procs map[string]*podProc // pod name → process
	jobs  map[string]bool     // Job UIDs whose pod was created

	opts KubeletOptions
	// freed holds, per owner, the ports of pods deleted by chaos, reused by
	// their replacements (ReactToChaosMesh).
	freed map[string][][2]string
	// Deleted and Paused record what the real Chaos Mesh did
	// (ReactToChaosMesh): pods deleted while their owner lives (pod-kill),
	// pods whose image was swapped for another (pod-failure).
	Deleted []ChaosAction
	Paused  []ChaosAction
	// proxies routes service-to-service traffic through toxiproxy
	// (ProxyEdges); nil without it.
	proxies *proxyEdges
}

// KubeletOptions are the kubelet stand-in's options; the zero value is the
// behaviour of StartKubeletStandIn.
type KubeletOptions struct {
	// ReactToChaosMesh makes the stand-in react to what Chaos Mesh's real
	// controller-manager does to Pod objects, as a ReplicaSet and a kubelet
	// would: a Pod deleted while its Deployment lives (pod-kill) has its
	// process killed (SIGKILL, as with gracePeriod 0) and a replacement Pod
	// with a new name comes up (restartCount 0, like any new pod; it reuses
	// the deleted pod's loopback ports, standing in for the Service's
	// stable address); a Pod whose container image was changed
	// (pod-failure swaps it for the pause image) has its process killed
	// (restartCount+1, exit 137) and kept stopped until the image is
	// restored.
	ReactToChaosMesh bool
	// KeepPodNetworkChaos turns off the stand-in's garbage collection of
	// the PodNetworkChaos objects of deleted pods (ReactToChaosMesh), so
	// that a NetworkChaos stays stuck behind Chaos Mesh's finalizer.
	KeepPodNetworkChaos bool
	// ProxyEdges routes every service-to-service connection (loadgen →
	// gateway, gateway → each orders pod, orders → ledger) through its own
	// in-process toxiproxy proxy, one per client pod and server pod, as the
	// local backend does, so that the NetworkChaosStandIn can apply a
	// NetworkChaos's faults to them. Off: containers get the server pods'
	// loopback addresses directly.
	ProxyEdges bool
}

// ChaosAction is a pod the real Chaos Mesh acted on, as the stand-in saw it.
type ChaosAction struct {
	Pod, Role string
	At        time.Time
}

type podProc struct {
	pod, role     string
	owner, image  string
	ports         [2]string // app, admin
	paused        bool      // image swapped (pod-failure): stay stopped
	restartAlways bool
	mu            sync.Mutex
	cmd           *exec.Cmd
	restarts      int32
	stopped       bool
	exited        chan struct{}
}

// StartKubeletStandIn runs the stand-in for namespace ns until the test ends.
func StartKubeletStandIn(t testing.TB, c client.Client, ns, bin string) *KubeletStandIn {
	return StartKubeletStandInWith(t, c, ns, bin, KubeletOptions{})
}

// StartKubeletStandInWith is StartKubeletStandIn with options.
func StartKubeletStandInWith(t testing.TB, c client.Client, ns, bin string, opts KubeletOptions) *KubeletStandIn {
	k := &KubeletStandIn{t: t, c: c, ns: ns, bin: bin, dir: t.TempDir(), procs: map[string]*podProc{}, jobs: map[string]bool{},
		opts: opts, freed: map[string][][2]string{}}
	if opts.ProxyEdges {
		k.proxies = newProxyEdges()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := k.sync(ctx); err != nil && ctx.Err() == nil {
				t.Logf("kubelet stand-in: %v", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		k.mu.Lock()
		procs := k.procs
		k.mu.Unlock()
		for _, p := range procs {
			p.stop()
		}
		if k.proxies != nil {
			k.proxies.close()
		}
	})
	return k
}

func (k *KubeletStandIn) sync(ctx context.Context) error {
	var deps appsv1.DeploymentList
	var jobs batchv1.JobList
	var pods corev1.PodList
	if err := k.c.List(ctx, &deps, client.InNamespace(k.ns)); err != nil {
		return err
	}
	if err := k.c.List(ctx, &jobs, client.InNamespace(k.ns)); err != nil {
		return err
	}
	if err := k.c.List(ctx, &pods, client.InNamespace(k.ns)); err != nil {
		return err
	}
	if k.opts.ReactToChaosMesh {
		k.reactToChaos(deps.Items, pods.Items)
		if !k.opts.KeepPodNetworkChaos {
			k.collectPodNetworkChaos(ctx, pods.Items)
		}
	}
	owners := map[string]bool{}
	byOwner := map[string]int{}
	for _, p := range pods.Items {
		if o := metav1.GetControllerOf(&p); o != nil {
			byOwner[o.Name]++
		}
	}
	for i := range deps.Items {
		d := &deps.Items[i]
		owners[d.Name] = true
		for n := byOwner[d.Name]; n < int(ptr.Deref(d.Spec.Replicas, 1)); n++ {
			if err := k.createPod(ctx, d, "Deployment", d.Spec.Template); err != nil {
				return err
			}
		}
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		owners[j.Name] = true
		if byOwner[j.Name] == 0 && !k.jobs[string(j.UID)] {
			if err := k.createPod(ctx, j, "Job", j.Spec.Template); err != nil {
				return err
			}
			k.jobs[string(j.UID)] = true
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		o := metav1.GetControllerOf(p)
		if o == nil || !owners[o.Name] || p.DeletionTimestamp != nil {
			if o != nil { // the garbage collector's part
				k.removePod(ctx, p)
			}
			continue
		}
		k.mu.Lock()
		_, running := k.procs[p.Name]
		k.mu.Unlock()
		if !running {
			if args, ok := k.resolveArgs(ctx, p); ok {
				k.run(p, args)
			}
		}
	}
	return nil
}

func (k *KubeletStandIn) createPod(ctx context.Context, owner client.Object, kind string, tmpl corev1.PodTemplateSpec) error {
	app, admin := strconv.Itoa(freePort()), strconv.Itoa(freePort())
	k.mu.Lock()
	if f := k.freed[owner.GetName()]; len(f) > 0 {
		app, admin = f[0][0], f[0][1]
		k.freed[owner.GetName()] = f[1:]
	}
	k.mu.Unlock()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: owner.GetName() + "-" + rand.String(5), Namespace: k.ns, Labels: tmpl.Labels,
			Annotations: map[string]string{kube.AnnotationAdminPort: admin, annotationAppPort: app},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: map[string]string{"Deployment": "apps/v1", "Job": "batch/v1"}[kind], Kind: kind,
				Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true),
			}},
		},
		Spec: tmpl.Spec,
	}
	return k.c.Create(ctx, pod)
}

// resolveArgs maps the container's cluster addresses to loopback: listen
// ports to the pod's ports, Service URLs to the ports of the Service's pods,
// /data to a directory that survives restarts.
func (k *KubeletStandIn) resolveArgs(ctx context.Context, p *corev1.Pod) ([]string, bool) {
	var out []string
	for _, a := range p.Spec.Containers[0].Args {
		name, val, _ := strings.Cut(a, "=")
		switch {
		case name == "--listen":
			val = "127.0.0.1:" + p.Annotations[annotationAppPort]
		case name == "--admin-listen":
			val = "127.0.0.1:" + p.Annotations[kube.AnnotationAdminPort]
		case name == "--data-dir":
			owner := metav1.GetControllerOf(p).Name
			val = filepath.Join(k.dir, owner)
			_ = os.MkdirAll(val, 0o755)
		case strings.HasPrefix(val, "http://"):
			urls, ok := k.serviceURLs(ctx, val)
			if !ok {
				return nil, false
			}
			if name != "--orders-url" {
				urls = urls[:1]
			}
			if k.proxies != nil {
				urls = k.proxies.route(p, k.serviceRole(ctx, val), urls)
			}
			val = strings.Join(urls, ",")
		}
		out = append(out, name+"="+val)
	}
	return out, true
}

func (k *KubeletStandIn) serviceURLs(ctx context.Context, u string) ([]string, bool) {
	host := strings.TrimPrefix(u, "http://")
	host, _, _ = strings.Cut(host, ":")
	var svc corev1.Service
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: host}, &svc); err != nil {
		return nil, false
	}
	var pods corev1.PodList
	if err := k.c.List(ctx, &pods, client.InNamespace(k.ns), client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(svc.Spec.Selector)}); err != nil {
		return nil, false
	}
	var urls []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			urls = append(urls, "http://127.0.0.1:"+p.Annotations[annotationAppPort])
		}
	}
	return urls, len(urls) > 0
}

// run starts the pod's process and supervises it like a kubelet.
func (k *KubeletStandIn) run(p *corev1.Pod, args []string) {
	pp := &podProc{pod: p.Name, role: p.Labels[kube.LabelComponent], restartAlways: p.Spec.RestartPolicy != corev1.RestartPolicyNever,
		image: p.Spec.Containers[0].Image, ports: [2]string{p.Annotations[annotationAppPort], p.Annotations[kube.AnnotationAdminPort]}}
	if o := metav1.GetControllerOf(p); o != nil {
		pp.owner = o.Name
	}
	k.mu.Lock()
	k.procs[p.Name] = pp
	k.mu.Unlock()
	admin := p.Annotations[kube.AnnotationAdminPort]
	go func() {
		for {
			var logs tailBuffer
			cmd := exec.Command(k.bin, args...)
			cmd.Stdout, cmd.Stderr = &logs, &logs
			pp.mu.Lock()
			if pp.stopped {
				pp.mu.Unlock()
				return
			}
			err := cmd.Start()
			pp.cmd, pp.exited = cmd, make(chan struct{})
			pp.mu.Unlock()
			if err != nil {
				k.t.Logf("kubelet stand-in: start %s: %v", p.Name, err)
				return
			}
			k.setStatus(p.Name, func(s *corev1.PodStatus) { s.Phase = corev1.PodRunning })
			go k.probe(pp, cmd, admin)
			err = cmd.Wait()
			close(pp.exited)
			pp.mu.Lock()
			stopped := pp.stopped
			pp.mu.Unlock()
			if stopped {
				return
			}
			code := cmd.ProcessState.ExitCode()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
			term := &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: "Error", FinishedAt: metav1.Now()}
			if code == 0 {
				term.Reason = "Completed"
			} else {
				term.Message = logs.tail(2048, 80) // FallbackToLogsOnError
			}
			_ = err
			if !pp.restartAlways {
				k.setStatus(p.Name, func(s *corev1.PodStatus) {
					s.Phase = corev1.PodSucceeded
					if code != 0 {
						s.Phase = corev1.PodFailed
					}
					s.ContainerStatuses[0].State = corev1.ContainerState{Terminated: term}
					setReadyCond(s, false)
				})
				return
			}
			pp.restarts++
			n := pp.restarts
			k.setStatus(p.Name, func(s *corev1.PodStatus) {
				s.ContainerStatuses[0].RestartCount = n
				s.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: term}
				s.ContainerStatuses[0].Ready = false
				setReadyCond(s, false)
			})
			time.Sleep(200 * time.Millisecond) // the kubelet's (much longer) back-off
			if !pp.waitUnpaused() {
				return
			}
		}
	}()
}

// probe marks the pod Ready once /readyz answers, as a readiness probe would.
func (k *KubeletStandIn) probe(pp *podProc, cmd *exec.Cmd, admin string) {
	for i := 0; i < 200; i++ {
		select {
		case <-pp.exited:
			return
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get("http://127.0.0.1:" + admin + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			k.setStatus(pp.pod, func(s *corev1.PodStatus) {
				s.ContainerStatuses[0].Ready = true
				setReadyCond(s, true)
			})
			return
		}
	}
}

// Kill kills the pod's process with SIGKILL, as a pod or container kill
// would; the stand-in then restarts it (restartCount+1).
func (k *KubeletStandIn) Kill(pod string) bool {
	k.mu.Lock()
	pp := k.procs[pod]
	k.mu.Unlock()
	if pp == nil {
		return false
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.cmd == nil || pp.cmd.Process == nil {
		return false
	}
	return pp.cmd.Process.Kill() == nil
}

// Running returns the number of supervised processes.
func (k *KubeletStandIn) Running() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.procs)
}

func (p *podProc) stop() {
	p.mu.Lock()
	p.stopped = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
}

func (k *KubeletStandIn) removePod(ctx context.Context, p *corev1.Pod) {
	k.mu.Lock()
	pp := k.procs[p.Name]
	delete(k.procs, p.Name)
	k.mu.Unlock()
	if pp != nil {
		pp.stop()
	}
	if k.proxies != nil {
		k.proxies.dropClient(p.Name)
	}
	_ = k.c.Delete(ctx, p, client.GracePeriodSeconds(0))
}

func (k *KubeletStandIn) setStatus(pod string, mutate func(*corev1.PodStatus)) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p corev1.Pod
		if err := k.c.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: pod}, &p); err != nil {
			return err
		}
		s := &p.Status
		s.PodIP, s.HostIP = "127.0.0.1", "127.0.0.1"
		s.PodIPs = []corev1.PodIP{{IP: "127.0.0.1"}}
		if len(s.ContainerStatuses) == 0 {
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image}}
		}
		s.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
		s.ContainerStatuses[0].Started = ptr.To(true)
		mutate(s)
		return k.c.Status().Update(context.Background(), &p)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		k.t.Logf("kubelet stand-in: status of %s: %v", pod, err)
	}
}

func setReadyCond(s *corev1.PodStatus, ready bool) {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	for i := range s.Conditions {
		if s.Conditions[i].Type == corev1.PodReady {
			s.Conditions[i].Status = st
			return
		}
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()})
}

// tailBuffer keeps the last 64 KiB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 64<<10 {
		t.b = t.b[len(t.b)-64<<10:]
	}
	return len(p), nil
}

// tail returns the last maxLines lines, at most maxBytes, as the kubelet's
// FallbackToLogsOnError does.
func (t *tailBuffer) tail(maxBytes, maxLines int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := bytes.TrimRight(t.b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	out := bytes.Join(lines, []byte("\n"))
	if len(out) > maxBytes {
		out = out[len(out)-maxBytes:]
	}
	return string(out)
}

// freePort picks a port outside the ephemeral range (internal/freeport):
// under load an outgoing connection could otherwise take it before the
// stand-in's process binds it, and the pod would never become ready.
func freePort() int {
	p, err := freeport.Port()
	if err != nil {
		panic(fmt.Sprintf("free port: %v", err))
	}
	return p
}

// reactToChaos handles what the real Chaos Mesh did to the Pod objects
// since the last sync (ReactToChaosMesh): deleted pods (pod-kill) and
// swapped or restored images (pod-failure).
func (k *KubeletStandIn) reactToChaos(deps []appsv1.Deployment, pods []corev1.Pod) {
	live := map[string]bool{}
	for i := range deps {
		if deps[i].DeletionTimestamp == nil {
			live[deps[i].Name] = true
		}
	}
	byName := map[string]*corev1.Pod{}
	for i := range pods {
		if pods[i].DeletionTimestamp == nil {
			byName[pods[i].Name] = &pods[i]
		}
	}
	k.mu.Lock()
	var gone []*podProc
	for name, pp := range k.procs {
		if byName[name] == nil && live[pp.owner] {
			gone = append(gone, pp)
			delete(k.procs, name)
		}
	}
	k.mu.Unlock()
	for _, pp := range gone {
		// gracePeriod 0: the kubelet kills the container at once.
		pp.kill()
		if k.proxies != nil {
			k.proxies.dropClient(pp.pod)
		}
		k.mu.Lock()
		k.freed[pp.owner] = append(k.freed[pp.owner], pp.ports)
		k.Deleted = append(k.Deleted, ChaosAction{Pod: pp.pod, Role: pp.role, At: time.Now()})
		k.mu.Unlock()
		k.t.Logf("kubelet stand-in: pod %s deleted (pod-kill): process killed, replacement coming", pp.pod)
	}
	k.mu.Lock()
	procs := make(map[string]*podProc, len(k.procs))
	for n, pp := range k.procs {
		procs[n] = pp
	}
	k.mu.Unlock()
	for name, pp := range procs {
		p := byName[name]
		if p == nil || len(p.Spec.Containers) == 0 {
			continue
		}
		swapped := p.Spec.Containers[0].Image != pp.image
		pp.mu.Lock()
		paused, cmd := pp.paused, pp.cmd
		switch {
		case swapped && !paused:
			pp.paused = true
			pp.mu.Unlock()
			k.mu.Lock()
			k.Paused = append(k.Paused, ChaosAction{Pod: name, Role: pp.role, At: time.Now()})
			k.mu.Unlock()
			k.t.Logf("kubelet stand-in: pod %s image now %s (pod-failure): process stopped", name, p.Spec.Containers[0].Image)
			if cmd != nil && cmd.Process != nil {
				_ = cmd.Process.Kill()
			}
		case !swapped && paused:
			pp.paused = false
			pp.mu.Unlock()
			k.t.Logf("kubelet stand-in: pod %s image restored: process restarting", name)
		default:
			pp.mu.Unlock()
		}
	}
}

// kill kills the process with SIGKILL and waits for it; it is not restarted.
func (p *podProc) kill() {
	p.mu.Lock()
	p.stopped = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Kill()
		<-exited
	}
}

// waitUnpaused blocks while the pod's image is swapped (pod-failure) and
// reports whether the process should run again.
func (p *podProc) waitUnpaused() bool {
	for {
		p.mu.Lock()
		paused, stopped := p.paused, p.stopped
		p.mu.Unlock()
		if stopped {
			return false
		}
		if !paused {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DeletedPods returns the pods the real Chaos Mesh deleted so far.
func (k *KubeletStandIn) DeletedPods() []ChaosAction {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]ChaosAction(nil), k.Deleted...)
}

// PausedPods returns the pods whose image Chaos Mesh swapped so far.
func (k *KubeletStandIn) PausedPods() []ChaosAction {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]ChaosAction(nil), k.Paused...)
}

// collectPodNetworkChaos deletes the PodNetworkChaos objects (which Chaos
// Mesh makes per pod for a NetworkChaos, owned by the pod) whose pod is
// gone, as the garbage collector would (ReactToChaosMesh).
func (k *KubeletStandIn) collectPodNetworkChaos(ctx context.Context, pods []corev1.Pod) {
	var pncs chaosv1alpha1.PodNetworkChaosList
	if err := k.c.List(ctx, &pncs, client.InNamespace(k.ns)); err != nil {
		return
	}
	live := map[string]bool{}
	for i := range pods {
		live[pods[i].Name] = true
	}
	for i := range pncs.Items {
		pnc := &pncs.Items[i]
		owner := pnc.Name
		for _, o := range pnc.OwnerReferences {
			if o.Kind == "Pod" {
				owner = o.Name
			}
		}
		if !live[owner] && pnc.DeletionTimestamp == nil {
			_ = k.c.Delete(ctx, pnc)
		}
	}
}
