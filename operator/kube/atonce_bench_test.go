package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cascadelab/cascadelab/internal/procstat"
	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// Shape of each drill of BenchmarkExperimentsAtOnce.
const (
	atOnceSteady   = 2 * time.Second
	atOnceAfter    = 2 * time.Second
	atOnceWindow   = 4 * time.Second // the pod-failure's duration
	atOnceDuration = 10 * time.Second
)

// BenchmarkExperimentsAtOnce applies n Experiments at once, one per
// namespace, on envtest with Chaos Mesh's real chaos-controller-manager.
// Each drill targets one stand-in pod (spec.target; a Pod object marked
// running and ready, scraped at a shared in-process server whose metrics
// cost nothing), so what is measured is the operator's own lag, not a
// victim's. Each drill has a 2 s steady state and one pod-failure fault due
// at 2 s for 4 s, executed by Chaos Mesh. Reported:
//   - late-drills: drills whose fault was not acknowledged injected before
//     its window ended (no injectedAt, or a FaultNotInjected finding);
//   - p99-lateness-s: fault due (status startTime + after) → chaos object
//     created (seen by a watch of this process), p99 over the drills;
//   - p99-created-to-injected-s: chaos object created → Chaos Mesh's
//     AllInjected condition (seen by the same watch): Chaos Mesh's share;
//   - p99-reconcile-ms: the p99 of every Reconcile's duration meanwhile;
//   - heap-MiB: this process's peak heap (the manager and the test).
//
// The manager runs with its defaults; Chaos Mesh with QPS 300 and burst 600
// (CHAOS_MESH_QPS and CHAOS_MESH_BURST change them).
//
//	go test -run '^$' -bench ExperimentsAtOnce -benchtime 1x ./operator/kube/
func BenchmarkExperimentsAtOnce(b *testing.B) {
	// Chaos Mesh's controller at its default client rate limit (QPS 30,
	// burst 50) takes seconds to acknowledge twenty PodChaos at once: what
	// its own rate limit costs, not the kit. It is raised here (its QPS
	// and BURST environment variables) so that the kit's share shows.
	b.Setenv("QPS", orEnv("CHAOS_MESH_QPS", "300"))
	b.Setenv("BURST", orEnv("CHAOS_MESH_BURST", "600"))
	cfg, _, _ := testenv.StartWithChaosMesh(b)
	cfg = rest.CopyConfig(cfg)
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE go_goroutines gauge\ngo_goroutines 8\n")
	}))
	b.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	rec := &reconcileTimes{}
	reqs := &requestCounter{n: map[string]int{}}
	mcfg := rest.CopyConfig(cfg)
	mcfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { reqs.next = rt; return reqs })
	startAtOnceManager(b, mcfg, rec)
	for _, n := range []int{1, 20, 50} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for range b.N {
				measureExperimentsAtOnce(b, c, u.Port(), rec, reqs, n)
			}
		})
	}
}

// orEnv is the environment variable name's value, or def when unset.
func orEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// reconcileTimes collects Reconcile durations.
type reconcileTimes struct {
	mu sync.Mutex
	d  []time.Duration
}

func (r *reconcileTimes) add(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

func (r *reconcileTimes) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.d
	r.d = nil
	return out
}

// startAtOnceManager runs the manager with operator/cmd/manager's defaults
// (sample interval 2 s, report every 10 s, 4 workers).
func startAtOnceManager(b *testing.B, cfg *rest.Config, rec *reconcileTimes) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := &kube.ExperimentReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder(kube.ManagerName),
		VictimTimeout: time.Minute, ChaosFinalizerTimeout: 2 * time.Second,
	}
	kube.SetReconcileHook(r, rec.add)
	if err := r.SetupWithManager(mgr); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("manager: %v", err)
		}
	})
}

// atOnceTarget creates a namespace opted in to chaos with one stand-in pod
// whose admin port is port on 127.0.0.1.
func atOnceTarget(b testing.TB, c client.Client, port string) string {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "atonce-", Labels: map[string]string{kube.LabelChaosOptIn: kube.OptInValue}}}
	if err := c.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "shop-0", Labels: map[string]string{"app": "shop"},
			Annotations: map[string]string{kube.AnnotationAdminPort: port}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "shop", Image: "shop"}}},
	}
	if err := c.Create(ctx, pod); err != nil {
		b.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if err := c.Status().Update(ctx, pod); err != nil {
		b.Fatal(err)
	}
	return ns.Name
}

// atOnceDrill is the benchmark's drill in ns: a pod-failure of the stand-in
// pod due at atOnceAfter for atOnceWindow.
func atOnceDrill(ns string) *v1alpha1.Experiment {
	sel := chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{"app": "shop"}}}
	window := atOnceWindow.String()
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "atonce"},
		Spec: v1alpha1.ExperimentSpec{
			Target:          &v1alpha1.TargetSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}}},
			Duration:        metav1.Duration{Duration: atOnceDuration},
			SteadyState:     metav1.Duration{Duration: atOnceSteady},
			SteadyStateGate: v1alpha1.GateContinue,
			Faults: []v1alpha1.Fault{{Name: "fail", After: metav1.Duration{Duration: atOnceAfter}, PodChaos: &chaosv1alpha1.PodChaosSpec{
				ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.OneMode, Selector: sel}},
				Action:            chaosv1alpha1.PodFailureAction,
				Duration:          &window,
			}}},
		},
	}
}

func measureExperimentsAtOnce(b *testing.B, c client.WithWatch, port string, rec *reconcileTimes, reqs *requestCounter, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nss := make([]string, n)
	for i := range nss {
		nss[i] = atOnceTarget(b, c, port)
	}
	seen := watchChaosCreated(ctx, b, c)
	rec.take()
	reqs.take()
	var peakHeap uint64
	wall0 := time.Now()
	for _, ns := range nss {
		if err := c.Create(ctx, atOnceDrill(ns)); err != nil {
			b.Fatal(err)
		}
	}
	exps := make([]*v1alpha1.Experiment, n)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapAlloc)
		done := 0
		for i, ns := range nss {
			exp := &v1alpha1.Experiment{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "atonce"}, exp); err == nil {
				exps[i] = exp
				if exp.Status.Phase.Terminal() {
					done++
				}
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			b.Errorf("%d of %d drills finished within 3 min (the figures are of what ran)", done, n)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	wall := time.Since(wall0)
	late, lateness, injected, outcomes := 0, []time.Duration{}, []time.Duration{}, map[string]int{}
	for i, exp := range exps {
		if exp == nil {
			late++
			continue
		}
		outcomes[string(exp.Status.Phase)+"/"+string(exp.Status.Verdict)]++
		f := exp.Status.Faults
		notInjected := slices.ContainsFunc(exp.Status.Findings, func(f v1alpha1.Finding) bool { return f.Type == v1alpha1.FindingFaultNotInjected })
		if len(f) == 0 || f[0].InjectedAt == nil || f[0].InjectedAt.Duration > atOnceAfter+atOnceWindow || notInjected {
			if late++; late == 1 {
				b.Logf("a late drill (%s): faults %+v; findings %+v", exp.Namespace, f, exp.Status.Findings)
			}
		}
		at, inj := seen.at(nss[i])
		if exp.Status.StartTime == nil || at.IsZero() {
			lateness = append(lateness, wall) // never created: as late as the run
			continue
		}
		due := exp.Status.StartTime.Add(atOnceAfter)
		lateness = append(lateness, at.Sub(due))
		if !inj.IsZero() {
			injected = append(injected, inj.Sub(at))
		}
	}
	recs := rec.take()
	nreq, top := reqs.take()
	b.ReportMetric(float64(late), "late-drills")
	b.ReportMetric(p99(lateness).Seconds(), "p99-lateness-s")
	b.ReportMetric(float64(p99(recs).Microseconds())/1000, "p99-reconcile-ms")
	b.ReportMetric(float64(peakHeap)/(1<<20), "heap-MiB")
	b.ReportMetric(p99(injected).Seconds(), "p99-created-to-injected-s")
	b.Logf("n=%d: %d late; due → created p50 %s p99 %s max %s; created → Chaos Mesh's AllInjected (%d seen) p50 %s p99 %s; %d reconciles, p50 %s p99 %s max %s; %d API requests from the manager (%.1f a reconcile; %s); peak heap %.0f MiB; %s for all; outcomes %v; load %s",
		n, late, pct(lateness, 0.5), pct(lateness, 0.99), pct(lateness, 1), len(injected), pct(injected, 0.5), pct(injected, 0.99),
		len(recs), pct(recs, 0.5), pct(recs, 0.99), pct(recs, 1), nreq, float64(nreq)/float64(max(len(recs), 1)), top,
		float64(peakHeap)/(1<<20), wall.Round(time.Second), outcomes, procstat.LoadAverage())
}

func p99(d []time.Duration) time.Duration { return pct(d, 0.99) }

// pct is the p-quantile of d (nearest rank; 0 for none).
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s)-1)+0.5))].Round(time.Millisecond)
}
