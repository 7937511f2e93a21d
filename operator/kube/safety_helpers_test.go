package kube_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// localTB runs a stand-in's cleanups when a run ends rather than when the
// whole test does, so that finished runs stop polling the API server.
type localTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (l *localTB) Cleanup(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanups = append(l.cleanups, f)
}

func (l *localTB) cleanup() {
	l.mu.Lock()
	fs := l.cleanups
	l.cleanups = nil
	l.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// fakeAdmin stands in for a target pod's admin server: a /metrics with a
// request counter that grows by 100 per scrape, answered 200 while healthy
// and 500 once failing is set. It records when it was scraped.
type fakeAdmin struct {
	srv     *httptest.Server
	mu      sync.Mutex
	ok, bad float64
	failing bool
	scrapes []time.Time
}

func newFakeAdmin() *fakeAdmin {
	a := &fakeAdmin{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		a.mu.Lock()
		if a.failing {
			a.bad += 100
		} else {
			a.ok += 100
		}
		a.scrapes = append(a.scrapes, time.Now())
		ok, bad := a.ok, a.bad
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines 10\n"+
			"# TYPE http_requests_total counter\n"+
			"http_requests_total{code=\"200\",handler=\"/pay\"} %g\nhttp_requests_total{code=\"500\",handler=\"/pay\"} %g\n", ok, bad)
	}))
	return a
}

func (a *fakeAdmin) port() int { return a.srv.Listener.Addr().(*net.TCPAddr).Port }

func (a *fakeAdmin) setFailing(v bool) {
	a.mu.Lock()
	a.failing = v
	a.mu.Unlock()
}

// lastScrapeBefore returns the last scrape at or before t.
func (a *fakeAdmin) lastScrapeBefore(t time.Time) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var last time.Time
	for _, s := range a.scrapes {
		if !s.After(t) {
			last = s
		}
	}
	return last, !last.IsZero()
}

// readyTargetPod creates a running, ready pod labelled app=<app> whose admin
// port is the fake admin server, as the figure test does: no process needed.
func readyTargetPod(ctx context.Context, c client.Client, ns, app string, adminPort int) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: app + "-0", Labels: map[string]string{"app": app},
			Annotations: map[string]string{kube.AnnotationAdminPort: strconv.Itoa(adminPort)}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: app}}},
	}
	if err := c.Create(ctx, pod); err != nil {
		return err
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	return c.Status().Update(ctx, pod)
}

// apiFaults makes a client fail for a window of time, as an API server that
// returns errors for a while would: each call in the window fails with
// probability p, with a 503 (ServiceUnavailable) or a 500 (InternalError).
type apiFaults struct {
	mu       sync.Mutex
	from, to time.Time
	p        float64
	code     int
	rng      *rand.Rand
	injected atomic.Int64
}

func (f *apiFaults) set(from, to time.Time, p float64, code int, seed uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.from, f.to, f.p, f.code = from, to, p, code
	f.rng = rand.New(rand.NewPCG(seed, 7))
}

func (f *apiFaults) err(verb string) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.rng == nil || now.Before(f.from) || !now.Before(f.to) || f.rng.Float64() >= f.p {
		return nil
	}
	f.injected.Add(1)
	if f.code == http.StatusInternalServerError {
		return apierrors.NewInternalError(errors.New("injected API error on " + verb))
	}
	return apierrors.NewServiceUnavailable("injected API error on " + verb)
}

// flakyClient is a client.Client whose calls fail while its apiFaults say so.
type flakyClient struct {
	client.Client
	f *apiFaults
}

func (c flakyClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.f.err("get"); err != nil {
		return err
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c flakyClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.f.err("list"); err != nil {
		return err
	}
	return c.Client.List(ctx, list, opts...)
}

func (c flakyClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.f.err("create"); err != nil {
		return err
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c flakyClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := c.f.err("update"); err != nil {
		return err
	}
	return c.Client.Update(ctx, obj, opts...)
}

func (c flakyClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := c.f.err("patch"); err != nil {
		return err
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c flakyClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := c.f.err("delete"); err != nil {
		return err
	}
	return c.Client.Delete(ctx, obj, opts...)
}

func (c flakyClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	if err := c.f.err("deletecollection"); err != nil {
		return err
	}
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

func (c flakyClient) Status() client.SubResourceWriter {
	return flakySubResource{c.Client.Status(), c.f, "status"}
}

// flakySubResource fails status writes likewise.
type flakySubResource struct {
	w    client.SubResourceWriter
	f    *apiFaults
	name string
}

func (s flakySubResource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	if err := s.f.err("create " + s.name); err != nil {
		return err
	}
	return s.w.Create(ctx, obj, sub, opts...)
}

func (s flakySubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := s.f.err("update " + s.name); err != nil {
		return err
	}
	return s.w.Update(ctx, obj, opts...)
}

func (s flakySubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := s.f.err("patch " + s.name); err != nil {
		return err
	}
	return s.w.Patch(ctx, obj, patch, opts...)
}

func (s flakySubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	if err := s.f.err("apply " + s.name); err != nil {
		return err
	}
	return s.w.Apply(ctx, obj, opts...)
}

// flakyReader is the uncached reader with the same faults.
type flakyReader struct {
	client.Reader
	f *apiFaults
}

func (r flakyReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := r.f.err("get (uncached)"); err != nil {
		return err
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

func (r flakyReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := r.f.err("list (uncached)"); err != nil {
		return err
	}
	return r.Reader.List(ctx, list, opts...)
}

// nsManager is a manager whose cache sees one namespace (plus cluster-scoped
// objects), so that several run side by side on one API server without
// reconciling each other's experiments. Each start is a new manager and a
// new reconciler: the in-memory engines are lost, as in a real restart.
type nsManager struct {
	cfg    *rest.Config
	ns     string
	faults *apiFaults
	sample time.Duration
	cancel context.CancelFunc
	done   chan error
}

func (m *nsManager) start() error {
	mgr, err := ctrl.NewManager(m.cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{m.ns: {}}},
	})
	if err != nil {
		return err
	}
	var c client.Client = mgr.GetClient()
	var rd client.Reader = mgr.GetAPIReader()
	if m.faults != nil {
		c, rd = flakyClient{c, m.faults}, flakyReader{rd, m.faults}
	}
	r := &kube.ExperimentReconciler{
		Client: c, APIReader: rd,
		Recorder:       mgr.GetEventRecorder(kube.ManagerName),
		SampleInterval: m.sample, ReportInterval: 3 * time.Second, VictimTimeout: time.Minute,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	go func() { m.done <- mgr.Start(ctx) }()
	return nil
}

// stop stops the manager and waits for it, as a crash or a rollout would
// (the process is gone; nothing of it runs on).
func (m *nsManager) stop() error {
	if m.cancel == nil {
		return nil
	}
	m.cancel()
	err := <-m.done
	m.cancel = nil
	return err
}
