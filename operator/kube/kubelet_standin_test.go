package kube_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/rand"
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
// Pod's container as a real process on loopback (the victim binary for the
// image the pod was created with, per-pod ports recorded in the
// cascadelab.dev/admin-port annotation the reconciler honours, the
// container's env added to the test's), and is no kinder than a kubelet:
//
//   - it stops a container as the kubelet does: SIGTERM, then SIGKILL after
//     the grace period (terminationGracePeriodSeconds, or the deletion's;
//     never under the kubelet's 2 s minimum);
//   - a container whose image changes (Chaos Mesh's pod-failure swaps it for
//     the pause image) is stopped so, and the new image started at once;
//     any image but the pod's first runs a pause stand-in that serves
//     nothing and exits 0 on SIGTERM, as pause does;
//   - readiness and liveness probes (HTTP GET) run on the pod's period and
//     thresholds: Ready follows readiness, and a container failing liveness
//     is stopped and restarted;
//   - a container that exits is restarted with the kubelet's
//     CrashLoopBackOff (DefaultKubeletBackoff unless KubeletOptions.Backoff
//     names a shorter one);
//   - the Pod's status is written as the kubelet writes it: podIP
//     127.0.0.1; state terminated on exit (exitCode, 128+signal when
//     killed, reason "Completed" for 0 and "Error" otherwise, startedAt,
//     finishedAt, containerID and, as FallbackToLogsOnError does for a
//     failed container, the log tail), then waiting "CrashLoopBackOff"
//     while backed off; restartCount and lastState.terminated move on when
//     the next container starts.
//
// Pods whose owner is gone are stopped and deleted, as the garbage collector
// would. Every start, signal and exit is recorded (Events) so tests can
// check their order.
type KubeletStandIn struct {
	t       testing.TB
	c       client.Client
	ns, bin string
	dir     string
	// pause is the command of the pause stand-in: this test binary, which
	// init turns into pause under kubeletHelperEnv.
	pause string

	mu     sync.Mutex
	procs  map[string]*podProc // pod name → its container's supervisor
	jobs   map[string]bool     // Job UIDs whose pod was created
	events []ContainerEvent

	opts KubeletOptions
	// freed holds, per owner, the ports of pods deleted by chaos, reused by
	// their replacements (ReactToChaosMesh).
	freed map[string][][2]string
	// Deleted and Paused record what the real Chaos Mesh did
	// (ReactToChaosMesh): pods deleted while their owner lives (pod-kill),
	// pods whose image was swapped for another (pod-failure).
	Deleted []ChaosAction
	Paused  []ChaosAction
	// node is the Node the stand-in registers and binds its pods to; its
	// kubelet endpoint serves container logs (kubelet_standin_logs_test.go).
	node string
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
	// container stopped as the kubelet stops a force-deleted pod's (SIGTERM,
	// SIGKILL after the 2 s minimum grace), and a replacement Pod with a new
	// name comes up (restartCount 0, like any new pod; it reuses the deleted
	// pod's loopback ports, standing in for the Service's stable address).
	// (A changed image, pod-failure, is handled with or without it.)
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
	// Backoff replaces DefaultKubeletBackoff, the real kubelet's 10 s to
	// 5 min CrashLoopBackOff, for tests that need crashed containers back
	// sooner and say so.
	Backoff KubeletBackoff
}

// ChaosAction is a pod the real Chaos Mesh acted on, as the stand-in saw it.
type ChaosAction struct {
	Pod, Role string
	At        time.Time
}

// StartKubeletStandIn runs the stand-in for namespace ns until the test ends.
func StartKubeletStandIn(t testing.TB, c client.Client, ns, bin string) *KubeletStandIn {
	return StartKubeletStandInWith(t, c, ns, bin, KubeletOptions{})
}

// StartKubeletStandInWith is StartKubeletStandIn with options.
func StartKubeletStandInWith(t testing.TB, c client.Client, ns, bin string, opts KubeletOptions) *KubeletStandIn {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	k := &KubeletStandIn{t: t, c: c, ns: ns, bin: bin, dir: t.TempDir(), pause: self, procs: map[string]*podProc{}, jobs: map[string]bool{},
		opts: opts, freed: map[string][][2]string{}}
	if opts.ProxyEdges {
		k.proxies = newProxyEdges()
	}
	k.registerNode()
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
			p.stop(3 * time.Second)
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
		pp := k.procs[p.Name]
		k.mu.Unlock()
		switch {
		case pp != nil:
			k.setImage(pp, p.Spec.Containers[0].Image)
		default:
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
	pod.Spec.NodeName = k.node // bound at creation, as a scheduler would
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
