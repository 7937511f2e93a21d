package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"go.uber.org/goleak"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// TestReconcileNeverWaits checks that a target that never answers its
// metrics holds no reconcile worker: observation runs beside the reconciles.
func TestReconcileNeverWaits(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest drills")
	}
	cfg, c := testenv.Start(t)

	// Two drills whose target's /metrics hangs (under a 9 s delay fault, the
	// longest the kit waits for a scrape) and two reconcile workers: with
	// the scrapes inside Reconcile, both workers would sit in those scrapes
	// and a third drill's fault would wait for one to time out. It must be
	// created while the hanging scrapes are still in flight, and reconciles
	// must keep returning meanwhile; when the manager stops, no observer
	// goroutine is left.
	t.Run("HangingTargetsLeaveOtherDrillsOnSchedule", func(t *testing.T) {
		hang := newHangingTarget(t)
		fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			fmt.Fprint(w, "# TYPE go_goroutines gauge\ngo_goroutines 8\n")
		}))
		t.Cleanup(fast.Close)
		ignore := goleak.IgnoreCurrent()
		// Reconciles that returned while no hanging scrape had ended.
		var during atomic.Int64
		stop := startWorkersManager(t, cfg, 2, func(time.Duration) {
			if hang.finished.Load() == 0 {
				during.Add(1)
			}
		})
		ctx := context.Background()
		for i := range 2 {
			ns := atOnceTarget(t, c, hang.port)
			if err := c.Create(ctx, neverWaitsDrill(ns, fmt.Sprintf("hang-%d", i), "9s", 30*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 60*time.Second, "both hanging targets scraped", func() (bool, string) {
			return hang.inFlight.Load() >= 2, fmt.Sprintf("%d scrapes in flight", hang.inFlight.Load())
		})
		before := during.Load()
		ns := atOnceTarget(t, c, portOf(t, fast.URL))
		exp := neverWaitsDrill(ns, "on-time", "100ms", time.Second)
		if err := c.Create(ctx, exp); err != nil {
			t.Fatal(err)
		}
		key := client.ObjectKey{Namespace: ns, Name: kube.ChaosName(exp.Name, "delay")}
		waitFor(t, 60*time.Second, "the on-time drill's chaos object", func() (bool, string) {
			return c.Get(ctx, key, &chaosv1alpha1.NetworkChaos{}) == nil, "not created"
		})
		if n := hang.finished.Load(); n > 0 {
			t.Errorf("the on-time drill's fault was created only after %d hanging scrape(s) ended: reconciles waited on them", n)
		}
		if n := during.Load() - before; n < 3 {
			t.Errorf("%d reconciles returned while the hanging scrapes were in flight, want ≥ 3", n)
		}
		stop()
		hang.release()
		if err := goleak.Find(ignore); err != nil && strings.Contains(err.Error(), "(*observer)") {
			t.Errorf("observer goroutines left after the manager stopped:\n%v", err)
		}
	})
}

// hangingTarget is a metrics endpoint that never answers until released or
// the request is cancelled; it counts the reads in flight and ended.
type hangingTarget struct {
	port               string
	inFlight, finished atomic.Int64
	release            func()
}

func newHangingTarget(t *testing.T) *hangingTarget {
	h := &hangingTarget{}
	done := make(chan struct{})
	var once sync.Once
	h.release = func() { once.Do(func() { close(done) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		defer h.finished.Add(1)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { h.release(); srv.Close() })
	h.port = portOf(t, srv.URL)
	return h
}

func portOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// neverWaitsDrill is a drill of the stand-in pod in ns with a delay of
// latency due at after.
func neverWaitsDrill(ns, name, latency string, after time.Duration) *v1alpha1.Experiment {
	sel := chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{"app": "shop"}}}
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ExperimentSpec{
			Target:          &v1alpha1.TargetSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}}},
			Duration:        metav1.Duration{Duration: 60 * time.Second},
			SteadyState:     metav1.Duration{Duration: after},
			SteadyStateGate: v1alpha1.GateContinue,
			Faults: []v1alpha1.Fault{{Name: "delay", After: metav1.Duration{Duration: after}, NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
				PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode, Selector: sel},
				Action:      chaosv1alpha1.DelayAction,
				TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: latency}},
			}}},
		},
	}
}

// startWorkersManager runs a manager with n reconcile workers; hook is told
// each Reconcile's duration. stop ends it and waits.
func startWorkersManager(t *testing.T, cfg *rest.Config, n int, hook func(time.Duration)) (stop func()) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
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
		SampleInterval: time.Second, ReportInterval: 3 * time.Second, VictimTimeout: time.Minute,
		ChaosFinalizerTimeout:   2 * time.Second,
		MaxConcurrentReconciles: n,
	}
	kube.SetReconcileHook(r, hook)
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
