package kube_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2/textlogger"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// victimBin is the victim binary built once by TestMain.
var victimBin, victimErr = "", error(nil)

func TestMain(m *testing.M) {
	flag.Parse()
	ctrl.SetLogger(textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(os.Stderr))))
	dir, err := os.MkdirTemp("", "cascadelab-kube-test")
	if err != nil {
		panic(err)
	}
	if !testing.Short() {
		victimBin = filepath.Join(dir, "victim")
		out, err := exec.Command("go", "build", "-o", victimBin, "github.com/cascadelab/cascadelab/victim/cmd/victim").CombinedOutput()
		if err != nil {
			victimErr = fmt.Errorf("building the victim: %v\n%s", err, out)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one API server shared by a test's subtests.
type env struct {
	cfg  *rest.Config
	c    client.Client
	stop func()
	// chaosFinalizerTimeout is the reconciler's ChaosFinalizerTimeout
	// (zero: its default).
	chaosFinalizerTimeout time.Duration
}

// stopManager stops the running manager, as a crash or a rollout would.
func (e *env) stopManager() {
	if e.stop != nil {
		e.stop()
	}
}

func startEnv(t testing.TB) *env {
	cfg, c := testenv.Start(t)
	return &env{cfg: cfg, c: c}
}

// namespace creates a fresh namespace, opted in to chaos or not (envtest has
// no namespace controller, so namespaces are never reused).
func (e *env) namespace(t testing.TB, optIn bool) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "drill-" + rand.String(6)}}
	if optIn {
		ns.Labels = map[string]string{kube.LabelChaosOptIn: kube.OptInValue}
	}
	if err := e.c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// startManager runs a manager with the reconciler; stop ends it and waits.
func (e *env) startManager(t testing.TB) (stop func()) {
	mgr, err := ctrl.NewManager(e.cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &kube.ExperimentReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder:       mgr.GetEventRecorder(kube.ManagerName),
		SampleInterval: time.Second, ReportInterval: 3 * time.Second, VictimTimeout: time.Minute,
		ChaosFinalizerTimeout: e.chaosFinalizerTimeout,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
	t.Cleanup(stop)
	e.stop = stop
	return stop
}

// standIns starts the kubelet and Chaos Mesh daemon stand-ins for ns.
func (e *env) standIns(t testing.TB, ns string) (*KubeletStandIn, *ChaosDaemonStandIn) {
	if victimErr != nil {
		t.Fatal(victimErr)
	}
	k := StartKubeletStandIn(t, e.c, ns, victimBin)
	return k, StartChaosDaemonStandIn(t, e.c, ns, k)
}

// drill returns a shortened cascade drill: a network delay on the ledger at
// 3 s for 5 s and a pod-kill of one orders replica at 7 s, 18 s in all (6 s after the last fault to judge growth, plus the lateness of a loaded machine).
//
// A racy drill runs with steadyStateGate Continue: its map (the victim's
// default janitor) and its duplicates break the steady state within a
// second, and these tests are about the cascade's detection, not the gate
// (TestOperator/SteadyStateGate is).
func drill(ns, name string, cache v1alpha1.CacheStrategy, idem v1alpha1.Idempotency, mode v1alpha1.GatewayMode) *v1alpha1.Experiment {
	d := func(s string) metav1.Duration { v, _ := time.ParseDuration(s); return metav1.Duration{Duration: v} }
	five := "5s"
	gate := v1alpha1.GateEnforce
	if cache == v1alpha1.CacheRacy {
		gate = v1alpha1.GateContinue
	}
	// A payment is two calls to the ledger (status, then charge): a bounded
	// gateway's tries are sized to two round trips under the 200ms ± 50ms
	// delay, as in experiments/fixed-under-chaos.yaml; the leaky one keeps
	// the incident's 500ms.
	timeout := "500ms"
	if mode == v1alpha1.GatewayBounded {
		timeout = "2s"
	}
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ExperimentSpec{
			Victim: &v1alpha1.VictimSpec{
				Orders:  v1alpha1.OrdersSpec{Replicas: 2, Cache: cache},
				Ledger:  v1alpha1.LedgerSpec{Idempotency: idem},
				Gateway: v1alpha1.GatewaySpec{Mode: mode, Timeout: d(timeout), Retries: ptr.To[int32](2)},
			},
			Load:            v1alpha1.LoadSpec{Rate: 150, DuplicateRatio: "0.1"},
			Duration:        d("18s"),
			SteadyState:     d("3s"),
			SteadyStateGate: gate,
			Faults: []v1alpha1.Fault{
				{Name: "slow-ledger", After: d("3s"), NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
					PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode, Selector: chaosv1alpha1.PodSelectorSpec{
						GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{kube.LabelComponent: kube.RoleLedger}}}},
					Action:      chaosv1alpha1.DelayAction,
					TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "200ms", Jitter: "50ms"}},
					Duration:    &five,
				}},
				{Name: "kill-one-orders", After: d("7s"), PodChaos: &chaosv1alpha1.PodChaosSpec{
					ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: chaosv1alpha1.PodSelector{
						Mode: chaosv1alpha1.OneMode, Selector: chaosv1alpha1.PodSelectorSpec{
							GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{kube.LabelComponent: kube.RoleOrders}}}}},
					Action: chaosv1alpha1.PodKillAction,
				}},
			},
		},
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
}

// get reads the experiment.
func (e *env) get(t *testing.T, ns, name string) *v1alpha1.Experiment {
	t.Helper()
	exp := &v1alpha1.Experiment{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, exp); err != nil {
		t.Fatal(err)
	}
	return exp
}

// waitPhase waits until the experiment reaches a phase in want.
func (e *env) waitPhase(t *testing.T, ns, name string, timeout time.Duration, want ...v1alpha1.Phase) *v1alpha1.Experiment {
	t.Helper()
	var exp *v1alpha1.Experiment
	waitFor(t, timeout, fmt.Sprintf("phase %v", want), func() (bool, string) {
		exp = &v1alpha1.Experiment{}
		if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, exp); err != nil {
			return false, err.Error()
		}
		for _, p := range want {
			if exp.Status.Phase == p {
				return true, ""
			}
		}
		return false, fmt.Sprintf("phase %q conditions %v%s", exp.Status.Phase, exp.Status.Conditions, e.podExits(ns))
	})
	return exp
}

// podExits lists the last exit of every container in ns that has one, so a
// timeout shows why a victim process never came up.
func (e *env) podExits(ns string) string {
	var pods corev1.PodList
	if err := e.c.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		return "; listing pods: " + err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if term := cs.LastTerminationState.Terminated; term != nil {
				fmt.Fprintf(&b, "; pod %s exited %d (restarts %d): %s", p.Name, term.ExitCode, cs.RestartCount, term.Message)
			}
		}
	}
	return b.String()
}

// chaosLeft counts the chaos objects in ns.
func (e *env) chaosLeft(t *testing.T, ns string) int {
	t.Helper()
	var pcs chaosv1alpha1.PodChaosList
	var ncs chaosv1alpha1.NetworkChaosList
	if err := e.c.List(context.Background(), &pcs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := e.c.List(context.Background(), &ncs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return len(pcs.Items) + len(ncs.Items)
}

// waitNoChaos waits until no chaos object is left in ns.
func (e *env) waitNoChaos(t *testing.T, ns string) {
	t.Helper()
	waitFor(t, 10*time.Second, "no chaos objects", func() (bool, string) {
		n := e.chaosLeft(t, ns)
		return n == 0, fmt.Sprintf("%d chaos objects", n)
	})
}
