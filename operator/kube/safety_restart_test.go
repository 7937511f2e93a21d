package kube_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	krand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// shortDrill is a ~5 s drill against the stand-in pods labelled app=<app>:
// a NetworkChaos delay at 1 s for 2 s and a PodChaos pod-kill at 2.5 s.
func shortDrill(ns, name, app string) *v1alpha1.Experiment {
	sel := chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{"app": app}}}
	two := "2s"
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ExperimentSpec{
			Target:      &v1alpha1.TargetSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
			Duration:    metav1.Duration{Duration: 5 * time.Second},
			SteadyState: metav1.Duration{Duration: time.Second},
			Faults: []v1alpha1.Fault{
				{Name: "delay", After: metav1.Duration{Duration: time.Second}, NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
					PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode, Selector: sel},
					Action:      chaosv1alpha1.DelayAction,
					TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "100ms"}},
					Duration:    &two,
				}},
				{Name: "kill", After: metav1.Duration{Duration: 2500 * time.Millisecond}, PodChaos: &chaosv1alpha1.PodChaosSpec{
					ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.OneMode, Selector: sel}},
					Action:            chaosv1alpha1.PodKillAction,
				}},
			},
		},
	}
}

// safetyPlan is what one run does to the manager and the experiment.
type safetyPlan struct {
	restarts   []time.Duration // when the manager is stopped, after the experiment's creation
	downtime   []time.Duration // how long it stays down each time
	deleteAt   time.Duration   // when the experiment is deleted (deleted only)
	deleted    bool
	apiErrors  bool
	errFrom    time.Duration
	errFor     time.Duration
	errP       float64
	errCode    int
	deleteDown bool // deleted while the manager is down
}

func newSafetyPlan(rng *rand.Rand) safetyPlan {
	var p safetyPlan
	n := 1
	if rng.IntN(10) < 3 {
		n = 2
	}
	for range n {
		p.restarts = append(p.restarts, time.Duration(rng.Int64N(int64(6500*time.Millisecond))))
		p.downtime = append(p.downtime, time.Duration(rng.Int64N(int64(1500*time.Millisecond))))
	}
	sort.Slice(p.restarts, func(i, j int) bool { return p.restarts[i] < p.restarts[j] })
	if rng.IntN(4) == 0 {
		p.deleted = true
		p.deleteDown = rng.IntN(2) == 0
		p.deleteAt = time.Duration(rng.Int64N(int64(6 * time.Second)))
	}
	if rng.IntN(100) < 35 {
		p.apiErrors = true
		p.errFrom = time.Duration(rng.Int64N(int64(4 * time.Second)))
		p.errFor = 500*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond)))
		p.errP = []float64{1, 0.5}[rng.IntN(2)]
		p.errCode = []int{http.StatusServiceUnavailable, http.StatusInternalServerError}[rng.IntN(2)]
	}
	return p
}

func (p safetyPlan) String() string {
	var b strings.Builder
	for i := range p.restarts {
		fmt.Fprintf(&b, "stop at %s for %s; ", p.restarts[i].Round(time.Millisecond), p.downtime[i].Round(time.Millisecond))
	}
	if p.deleted {
		fmt.Fprintf(&b, "delete at %s (while down: %v); ", p.deleteAt.Round(time.Millisecond), p.deleteDown)
	}
	if p.apiErrors {
		fmt.Fprintf(&b, "API errors %d p=%.1f from %s for %s", p.errCode, p.errP, p.errFrom.Round(time.Millisecond), p.errFor.Round(time.Millisecond))
	}
	return b.String()
}

// safetyResult is what one run saw.
type safetyResult struct {
	plan       safetyPlan
	restarts   int
	injected   int64 // API errors returned to the reconciler
	phase      v1alpha1.Phase
	gone       bool
	leftovers  int  // chaos objects left at the end
	atTerminal int  // chaos objects present when the terminal phase was first seen
	chaosSeen  bool // chaos objects existed when the manager was stopped
	created    int  // chaos objects seen by the Chaos Mesh stand-in
	took       time.Duration
	err        error
}

// TestSafetyManagerRestarts runs many short drills on envtest, each with its
// manager stopped at random points and started again (a new manager and a
// new reconciler: the in-memory engines are lost), some with the experiment
// deleted, some with the reconciler's client failing for a while (503 or
// 500 from a wrapper). Every run must end in a terminal phase (or with the
// experiment gone, when deleted) with no PodChaos or NetworkChaos left.
//
// No Chaos Mesh controller runs here (the stand-in only marks objects
// injected), so no Chaos Mesh finalizer holds a deleted chaos object: a
// leftover is the operator's.
//
// SAFETY_RUNS (default 60), SAFETY_PARALLEL (default 6) and SAFETY_SEED
// override the run count, the concurrency and the random seed.
func TestSafetyManagerRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest safety runs (a few minutes)")
	}
	runs, par := envInt("SAFETY_RUNS", 60), envInt("SAFETY_PARALLEL", 6)
	seed := uint64(envInt("SAFETY_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("seed %d (SAFETY_SEED=%d reproduces the plans), %d runs, %d at a time", seed, seed, runs, par)
	e := startEnv(t)
	admin := newFakeAdmin()
	defer admin.srv.Close()

	start := time.Now()
	results := make([]safetyResult, runs)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range runs {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		plan := newSafetyPlan(rng)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = safetyRun(t, e, admin, i, seed, plan)
		}()
	}
	wg.Wait()

	var restarts, deletions, windows, leftovers, atTerminal, failed, created, stoppedWithChaos int
	var injected int64
	phases := map[string]int{}
	var took []time.Duration
	for i, r := range results {
		restarts += r.restarts
		injected += r.injected
		leftovers += r.leftovers
		atTerminal += r.atTerminal
		created += r.created
		if r.chaosSeen {
			stoppedWithChaos++
		}
		took = append(took, r.took)
		if r.plan.deleted {
			deletions++
		}
		if r.plan.apiErrors {
			windows++
		}
		switch {
		case r.gone:
			phases["deleted"]++
		default:
			phases[string(r.phase)]++
		}
		if r.err != nil {
			failed++
			t.Errorf("run %d (%s): %v", i, r.plan, r.err)
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("SAFETY: %d runs, %d manager restarts, %d deletions, %d API-error windows (%d errors returned to the reconciler), "+
		"%d chaos objects created (%d runs stopped with chaos live), outcomes %v, %d chaos objects left (%d present when the terminal phase was first seen, deleted after), %d runs failed; "+
		"run time p50 %s max %s, wall %s",
		runs, restarts, deletions, windows, injected, created, stoppedWithChaos, phases, leftovers, atTerminal, failed,
		took[len(took)/2].Round(100*time.Millisecond), took[len(took)-1].Round(100*time.Millisecond), time.Since(start).Round(time.Second))
	if runs >= 50 && restarts < 50 {
		t.Errorf("only %d restarts", restarts)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// safetyRun runs one drill under its plan and checks its end.
func safetyRun(t *testing.T, e *env, admin *fakeAdmin, i int, seed uint64, plan safetyPlan) (res safetyResult) {
	res.plan = plan
	began := time.Now()
	defer func() { res.took = time.Since(began) }()
	ctx := context.Background()
	ns := "safety-" + krand.String(6)
	if err := e.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{kube.LabelChaosOptIn: kube.OptInValue}}}); err != nil {
		res.err = err
		return
	}
	if err := readyTargetPod(ctx, e.c, ns, "shop", admin.port()); err != nil {
		res.err = err
		return
	}
	tb := &localTB{TB: t}
	defer tb.cleanup()
	daemon := StartChaosDaemonStandIn(tb, e.c, ns, nil) // marks chaos injected; kills nothing
	defer func() {
		daemon.mu.Lock()
		res.created = len(daemon.Created)
		daemon.mu.Unlock()
	}()

	faults := &apiFaults{}
	m := &nsManager{cfg: e.cfg, ns: ns, faults: faults, sample: time.Second}
	if err := m.start(); err != nil {
		res.err = err
		return
	}
	var errs []error
	defer func() {
		if err := m.stop(); err != nil {
			errs = append(errs, fmt.Errorf("manager: %w", err))
		}
		res.injected = faults.injected.Load()
		res.err = errors.Join(append(errs, res.err)...)
	}()

	exp := shortDrill(ns, fmt.Sprintf("run-%d", i), "shop")
	if err := e.c.Create(ctx, exp); err != nil {
		res.err = err
		return
	}
	created := time.Now()
	if plan.apiErrors {
		faults.set(created.Add(plan.errFrom), created.Add(plan.errFrom+plan.errFor), plan.errP, plan.errCode, seed^uint64(i))
	}
	sleepUntil := func(d time.Duration) { time.Sleep(time.Until(created.Add(d))) }
	del := func() {
		if err := e.c.Delete(ctx, exp); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting: %w", err))
		}
	}
	deletePending := plan.deleted
	for k, at := range plan.restarts {
		if deletePending && !plan.deleteDown && plan.deleteAt < at {
			sleepUntil(plan.deleteAt)
			del()
			deletePending = false
		}
		sleepUntil(at)
		if err := m.stop(); err != nil {
			errs = append(errs, fmt.Errorf("manager: %w", err))
		}
		res.chaosSeen = res.chaosSeen || countChaos(ctx, e.c, ns) > 0
		if deletePending && plan.deleteDown {
			del()
			deletePending = false
		}
		time.Sleep(plan.downtime[k])
		res.restarts++
		if err := m.start(); err != nil {
			res.err = err
			return
		}
	}
	if deletePending {
		sleepUntil(plan.deleteAt)
		del()
	}

	if plan.deleted {
		deadline := time.Now().Add(60 * time.Second)
		for {
			err := e.c.Get(ctx, client.ObjectKeyFromObject(exp), &v1alpha1.Experiment{})
			if apierrors.IsNotFound(err) {
				res.gone = true
				break
			}
			if time.Now().After(deadline) {
				res.err = fmt.Errorf("experiment not gone 60s after deletion (get: %v)", err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The finalizer lets the experiment go only once its chaos is gone.
		res.leftovers = countChaos(ctx, e.c, ns)
		if res.leftovers > 0 && res.err == nil {
			res.err = fmt.Errorf("%d chaos objects left after the experiment was deleted", res.leftovers)
		}
		return
	}

	deadline := time.Now().Add(60 * time.Second)
	got := &v1alpha1.Experiment{}
	for {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(exp), got)
		if err == nil && got.Status.Phase.Terminal() {
			res.phase = got.Status.Phase
			res.atTerminal = countChaos(ctx, e.c, ns)
			break
		}
		if time.Now().After(deadline) {
			res.err = fmt.Errorf("no terminal phase after 60s: phase %q, conditions %v (get: %v)", got.Status.Phase, got.Status.Conditions, err)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The reconciler deletes the chaos before it writes the terminal phase and
	// requeues to verify; give a late-retried delete a few seconds.
	for wait := time.Now().Add(10 * time.Second); ; {
		res.leftovers = countChaos(ctx, e.c, ns)
		if res.leftovers == 0 || time.Now().After(wait) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res.leftovers > 0 && res.err == nil {
		res.err = fmt.Errorf("%d chaos objects left 10s after phase %s", res.leftovers, res.phase)
	}
	return
}

// countChaos counts the PodChaos and NetworkChaos objects in ns (1 when
// they cannot be listed, which counts as one left).
func countChaos(ctx context.Context, c client.Client, ns string) int {
	var pcs chaosv1alpha1.PodChaosList
	var ncs chaosv1alpha1.NetworkChaosList
	if err := c.List(ctx, &pcs, client.InNamespace(ns)); err != nil {
		return 1
	}
	if err := c.List(ctx, &ncs, client.InNamespace(ns)); err != nil {
		return 1
	}
	return len(pcs.Items) + len(ncs.Items)
}
