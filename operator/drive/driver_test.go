package drive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/observe"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// flakyBackend is a scripted backend for the driver's own logic: every
// Ensure call fails with a transient error the first failures times for
// each item, the way an API server returns 500s or a conflict. Its
// processes are real HTTP servers on loopback whose /metrics moves with
// the faults (the orders → ledger calls slow down under the delay; the
// killed process comes back as another instance).
type flakyBackend struct {
	mu       sync.Mutex
	failures int
	calls    map[string]int
	active   map[int]bool
	delayed  bool
	instance int
	stopped  bool
	start    time.Time
	servers  map[string]*httptest.Server
	// edgeSum, edgeCount: the orders → ledger latency histogram so far.
	edgeSum, edgeCount float64
}

func newFlaky(t *testing.T, failures int) *flakyBackend {
	b := &flakyBackend{failures: failures, calls: map[string]int{}, active: map[int]bool{}, instance: 1, servers: map[string]*httptest.Server{}}
	for _, name := range []string{"gateway-0", "orders-0", "ledger-0", "loadgen-0"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/debug/goleak" { // the leak row needs a figure
				fmt.Fprint(w, `{"leaked":0}`)
				return
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			fmt.Fprint(w, b.metrics(name))
		}))
		t.Cleanup(srv.Close)
		b.servers[name] = srv
	}
	return b
}

// flake counts a call of key and fails it while it is among the first
// failures calls.
func (b *flakyBackend) flake(key string) error {
	b.calls[key]++
	if b.calls[key] <= b.failures {
		return fmt.Errorf("%s: the server is currently unable to handle the request (try %d)", key, b.calls[key])
	}
	return nil
}

func (b *flakyBackend) metrics(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	secs := 0.0
	if !b.start.IsZero() {
		secs = time.Since(b.start).Seconds()
	}
	n := float64(int(100 * secs)) // whole requests: a histogram count is an integer
	out := "# TYPE go_goroutines gauge\ngo_goroutines 20\n"
	switch {
	case strings.HasPrefix(name, "loadgen"):
		out += fmt.Sprintf("# TYPE loadgen_requests_total counter\nloadgen_requests_total{code=\"200\"} %g\n", n)
	case strings.HasPrefix(name, "gateway"):
		out += fmt.Sprintf("# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",method=\"post\",handler=\"pay\"} %g\n", n)
	case strings.HasPrefix(name, "orders"):
		lat := 0.002
		if b.delayed {
			lat += 0.2
		}
		// The sum grows with the latency of the calls made since the last
		// scrape: keep a running total.
		b.edgeSum += (n - b.edgeCount) * lat
		b.edgeCount = n
		out += fmt.Sprintf("# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",method=\"post\",handler=\"pay\"} %g\n", n)
		out += fmt.Sprintf("# TYPE http_client_requests_total counter\nhttp_client_requests_total{upstream=\"ledger\",code=\"200\",method=\"post\"} %g\n", n)
		out += fmt.Sprintf("# TYPE http_client_request_duration_seconds histogram\n"+
			"http_client_request_duration_seconds_bucket{upstream=\"ledger\",code=\"200\",method=\"post\",le=\"+Inf\"} %g\n"+
			"http_client_request_duration_seconds_sum{upstream=\"ledger\",code=\"200\",method=\"post\"} %g\n"+
			"http_client_request_duration_seconds_count{upstream=\"ledger\",code=\"200\",method=\"post\"} %g\n", n, b.edgeSum, n)
	}
	return out
}

func (b *flakyBackend) Name() string { return "flaky" }

func (b *flakyBackend) EnsureVictim(context.Context) (bool, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return true, "", b.flake("victim")
}

func (b *flakyBackend) EnsureLoad(context.Context) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.flake("load"); err != nil {
		return false, err
	}
	if b.start.IsZero() {
		b.start = time.Now()
	}
	return true, nil
}

func (b *flakyBackend) EnsureFault(_ context.Context, i int, active bool) (FaultAck, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.flake(fmt.Sprintf("fault/%d/%t", i, active)); err != nil {
		return FaultAck{}, err
	}
	if !active {
		delete(b.active, i)
		if i == 0 {
			b.delayed = false
		}
		return FaultAck{Done: true}, nil
	}
	if i == 0 {
		b.active[i], b.delayed = true, true
		return FaultAck{Done: true, Targets: []string{"ledger-0"}}, nil
	}
	if !b.active[i] {
		b.active[i] = true
		b.instance++ // pod-kill: orders-0 replaced
	}
	return FaultAck{Done: true, Targets: []string{"orders-0"}}, nil
}

func (b *flakyBackend) Targets(context.Context) ([]Process, []observe.Crash, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.flake("targets"); err != nil {
		return nil, nil, err
	}
	var out []Process
	for _, name := range []string{"gateway-0", "orders-0", "ledger-0", "loadgen-0"} {
		role, _, _ := strings.Cut(name, "-")
		inst := "1"
		if name == "orders-0" {
			inst = fmt.Sprint(b.instance)
		}
		out = append(out, Process{Target: observe.Target{Name: name, Role: role, AdminURL: b.servers[name].URL, Instance: inst}})
	}
	return out, nil, nil
}

func (b *flakyBackend) EnsureStopped(context.Context) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.flake("stop"); err != nil {
		return false, err
	}
	b.stopped = true
	return true, nil
}

func shortSpec() v1alpha1.ExperimentSpec {
	d := func(x time.Duration) metav1.Duration { return metav1.Duration{Duration: x} }
	ptr := func(s string) *string { return &s }
	sp := v1alpha1.ExperimentSpec{
		Victim: &v1alpha1.VictimSpec{}, Duration: d(8 * time.Second), SteadyState: d(2 * time.Second),
		Faults: []v1alpha1.Fault{
			{Name: "slow-ledger", After: d(2 * time.Second), NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
				Action: chaosv1alpha1.DelayAction, Duration: ptr("2s"),
				TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "200ms"}}}},
			{Name: "kill-orders", After: d(4500 * time.Millisecond), PodChaos: &chaosv1alpha1.PodChaosSpec{Action: chaosv1alpha1.PodKillAction}},
		},
	}
	v1alpha1.SetDefaults(&sp)
	return sp
}

// An API error at every create and delete (twice each) loses nothing: every
// fault is injected, recovered and judged, the drill is Held with its
// effects confirmed, and everything is stopped. On f214de6 each action was
// emitted once and a failed one was never tried again.
func TestEveryActionRetriedUntilAcknowledged(t *testing.T) {
	b := newFlaky(t, 2)
	drv, err := New(shortSpec(), b, WithInterval(200*time.Millisecond), WithRetry(20*time.Millisecond, 200*time.Millisecond),
		// Settle 1 s, not 6 s: in an 8 s drill the kill at 4.5 s leaves
		// no sample 6 s after it, and growth after the faults would not
		// be judged (Inconclusive).
		WithEngineOptions(engine.WithSettle(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs int
	for !drv.Done() && ctx.Err() == nil {
		next, err := drv.Step(ctx, time.Now())
		if err != nil {
			errs++
		}
		if !drv.Done() {
			time.Sleep(next)
		}
	}
	e := drv.Engine()
	st := e.Status()
	t.Logf("verdict %s, %d transient errors, calls %v", st.Verdict, errs, b.calls)
	for _, f := range st.Faults {
		t.Logf("fault %s %s effect %s: %s", f.Name, f.State, f.Effect, f.EffectDetail)
		if f.State != v1alpha1.FaultRecovered || f.Effect != v1alpha1.EffectConfirmed {
			t.Errorf("fault %s: state %s effect %s", f.Name, f.State, f.Effect)
		}
	}
	if st.Verdict != v1alpha1.VerdictHeld {
		t.Errorf("verdict %s findings %v", st.Verdict, st.Findings)
	}
	if len(b.active) != 0 || !b.stopped {
		t.Errorf("left behind: active faults %v, stopped %t", b.active, b.stopped)
	}
	for _, k := range []string{"victim", "load", "fault/0/true", "fault/0/false", "fault/1/true", "fault/1/false", "stop"} {
		if b.calls[k] <= b.failures {
			t.Errorf("%s tried %d times: never got past the injected errors", k, b.calls[k])
		}
	}
	if errs == 0 {
		t.Error("no transient error surfaced from Step")
	}
}

// A fault the backend refuses for good is not retried: the drill ends
// Inconclusive with FaultNotInjected.
func TestPermanentRefusalIsFaultNotInjected(t *testing.T) {
	b := newFlaky(t, 0)
	rb := &refusing{flakyBackend: b}
	drv, err := New(shortSpec(), rb, WithInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	for !drv.Done() {
		if next, _ := drv.Step(context.Background(), time.Now()); !drv.Done() {
			time.Sleep(next)
		}
	}
	st := drv.Engine().Status()
	if st.Verdict != v1alpha1.VerdictInconclusive || rb.tries != 1 {
		t.Errorf("verdict %s, refused fault tried %d times; findings %v", st.Verdict, rb.tries, st.Findings)
	}
	found := false
	for _, f := range st.Findings {
		found = found || (f.Type == v1alpha1.FindingFaultNotInjected && f.Target == "kill-orders" && strings.Contains(f.Message, "selects no pod"))
	}
	if !found {
		t.Errorf("no FaultNotInjected for kill-orders: %v", st.Findings)
	}
}

type refusing struct {
	*flakyBackend
	tries int
}

func (r *refusing) EnsureFault(ctx context.Context, i int, active bool) (FaultAck, error) {
	if i == 1 && active {
		r.tries++
		return FaultAck{}, Permanent(errors.New("the selector selects no pod"))
	}
	return r.flakyBackend.EnsureFault(ctx, i, active)
}

// slowLoad is a backend whose EnsureLoad returns only once the load flows,
// as the local one does, taking 300 ms of the clock.
type slowLoad struct {
	*flakyBackend
	clock *time.Time
}

func (s *slowLoad) EnsureLoad(ctx context.Context) (bool, error) {
	*s.clock = s.clock.Add(300 * time.Millisecond)
	return s.flakyBackend.EnsureLoad(ctx)
}

// WithClock: the drill's clock starts when the load was acknowledged
// running, not when the Step that asked for it began.
func TestClockStartsWhenLoadRuns(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := t0
	for _, withClock := range []bool{true, false} {
		clock = t0
		b := &slowLoad{flakyBackend: newFlaky(t, 0), clock: &clock}
		opts := []Option{WithInterval(200 * time.Millisecond)}
		if withClock {
			opts = append(opts, WithClock(func() time.Time { return clock }))
		}
		drv, err := New(shortSpec(), b, opts...)
		if err != nil {
			t.Fatal(err)
		}
		drv.Step(context.Background(), t0)
		want := t0
		if withClock {
			want = t0.Add(300 * time.Millisecond)
		}
		if got := drv.StartTime(); !got.Equal(want) {
			t.Errorf("WithClock %v: start %v, want %v", withClock, got.Sub(t0), want.Sub(t0))
		}
		if s := drv.Engine().Series(); len(s) > 0 && s[0].At < 0 {
			t.Errorf("WithClock %v: first observation at %v, before the clock started", withClock, s[0].At)
		}
		drv.Close()
	}
}

// silentLoad is a backend whose load generator never becomes ready: the
// victim never answers it.
type silentLoad struct{ *flakyBackend }

func (silentLoad) EnsureLoad(context.Context) (bool, error) { return false, nil }

// A load generator that never gets an answer ends the drill after the
// victim timeout, Inconclusive, with no fault injected — it does not wait
// for ever, and no steady state is judged without load.
func TestLoadNeverAnsweredStopsTheDrill(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	b := silentLoad{newFlaky(t, 0)}
	drv, err := New(shortSpec(), b, WithVictimTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	drv.Step(context.Background(), t0)
	drv.Step(context.Background(), t0.Add(30*time.Second))
	if e := drv.Engine(); e.Stopping() || e.Phase().Terminal() {
		t.Fatalf("stopped after 30s of a 1m timeout: %s", e.Reason())
	}
	for i := 0; i < 5 && !drv.Engine().Phase().Terminal(); i++ {
		drv.Step(context.Background(), t0.Add(61*time.Second+time.Duration(i)*time.Second))
	}
	e := drv.Engine()
	if !e.Phase().Terminal() || !strings.Contains(e.Reason(), "victim not ready") || !strings.Contains(e.Reason(), "load generator") {
		t.Fatalf("phase %s, reason %q: want the drill ended, victim not ready, the load generator named", e.Phase(), e.Reason())
	}
	if !drv.StartTime().IsZero() {
		t.Errorf("the drill's clock started without load")
	}
	for i := range shortSpec().Faults {
		if b.calls[fmt.Sprintf("fault/%d/true", i)] > 0 {
			t.Errorf("fault %d asked for without load", i)
		}
	}
}
