package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// targetPod is a running, ready pod of spec.target's selector.
func targetPod(name string, uid types.UID, created time.Time, restartCount int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "drill", Name: name, UID: uid, Labels: map[string]string{"app": "shop"},
			CreationTimestamp: metav1.NewTime(created)},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1",
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: restartCount}}},
	}
}

// targetExperiment drills spec.target's pods (app=shop) with no load Job.
func targetExperiment() *v1alpha1.Experiment {
	exp := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "drill", Name: "shop", UID: "exp-1", Finalizers: []string{Finalizer}},
		Spec: v1alpha1.ExperimentSpec{
			Target:          &v1alpha1.TargetSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}}},
			Duration:        metav1.Duration{Duration: 60 * time.Second},
			SteadyState:     metav1.Duration{Duration: 10 * time.Second},
			SteadyStateGate: v1alpha1.GateContinue,
		},
	}
	v1alpha1.SetDefaults(&exp.Spec)
	return exp
}

// TestVerdictIntegrity: what happened before the drill, and the manager's
// own transient errors, never change the drill's verdict or its schedule.
func TestVerdictIntegrity(t *testing.T) {
	ctx := context.Background()
	// A pod's restartCount sums its restarts since creation: a target pod
	// that restarted three times yesterday has not restarted in the drill.
	t.Run("restarts from before the load are not the drill's", func(t *testing.T) {
		start := time.Now()
		exp := targetExperiment()
		exp.Status.StartTime = &metav1.MicroTime{Time: start}
		old := targetPod("shop-old", "uid-old", start.Add(-24*time.Hour), 3)
		c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(old).Build()
		b := &clusterBackend{r: &ExperimentReconciler{Client: c}, d: &drill{exp: exp, now: start}}
		restartsOf := func(want int32, wantCrashes int) {
			t.Helper()
			procs, crashes, err := b.Targets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range procs {
				if p.Name == "shop-old" && p.Restarts != want {
					t.Errorf("%s: restarts %d, want %d (counted from the load's start)", p.Name, p.Restarts, want)
				}
			}
			if len(crashes) != wantCrashes {
				t.Errorf("crashes %+v, want %d", crashes, wantCrashes)
			}
		}
		restartsOf(0, 0)
		// It restarts once during the drill: one restart, one crash.
		old.Status.ContainerStatuses[0].RestartCount = 4
		if err := c.Status().Update(ctx, old); err != nil {
			t.Fatal(err)
		}
		restartsOf(1, 1)
		// A replacement created during the drill counts from zero.
		repl := targetPod("shop-new", "uid-new", start.Add(5*time.Second), 2)
		if err := c.Create(ctx, repl); err != nil {
			t.Fatal(err)
		}
		procs, _, _ := b.Targets(ctx)
		for _, p := range procs {
			if p.Name == "shop-new" && p.Restarts != 2 {
				t.Errorf("replacement: restarts %d, want 2", p.Restarts)
			}
		}
	})

	// A step that fails transiently must keep the drill's schedule: an
	// error returned to controller-runtime discards RequeueAfter and hands
	// the next reconcile to its exponential back-off.
	t.Run("transient step error keeps RequeueAfter", func(t *testing.T) {
		start := time.Now()
		now := start
		exp := targetExperiment()
		exp.Spec.Faults = []v1alpha1.Fault{{Name: "kill", After: metav1.Duration{Duration: 10 * time.Second},
			PodChaos: &chaosv1alpha1.PodChaosSpec{Action: chaosv1alpha1.PodKillAction, ContainerSelector: chaosv1alpha1.ContainerSelector{
				PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.OneMode, Selector: chaosv1alpha1.PodSelectorSpec{
					GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{"app": "shop"}}}}}}}}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "drill", Labels: map[string]string{LabelChaosOptIn: OptInValue}}}
		failList := false
		mapper := meta.NewDefaultRESTMapper(nil)
		for _, k := range []string{"PodChaos", "NetworkChaos"} {
			mapper.Add(chaosv1alpha1.SchemeGroupVersion.WithKind(k), meta.RESTScopeNamespace)
		}
		c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithRESTMapper(mapper).
			WithObjects(ns, exp, targetPod("shop-0", "uid-0", start.Add(-time.Hour), 0)).
			WithStatusSubresource(&v1alpha1.Experiment{}).
			WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
				if _, pods := l.(*corev1.PodList); pods && failList {
					return errors.New("etcdserver: request timed out")
				}
				return c.List(ctx, l, opts...)
			}, Create: allowAccessReviews}).Build()
		r := &ExperimentReconciler{Client: c, Now: func() time.Time { return now }}
		req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "drill", Name: "shop"}}
		// Start the drill: the victim is ready, the load is the target's own.
		for i := 0; i < 3; i++ {
			if _, err := r.Reconcile(ctx, req); err != nil {
				t.Fatal(err)
			}
			now = now.Add(100 * time.Millisecond)
		}
		var got v1alpha1.Experiment
		if err := c.Get(ctx, req.NamespacedName, &got); err != nil || got.Status.StartTime == nil {
			t.Fatalf("drill not started: %v %+v", err, got.Status)
		}
		// 9.5 s in, the fault is due in 0.5 s; listing the pods fails.
		now = got.Status.StartTime.Time.Add(9500 * time.Millisecond)
		failList = true
		res, err := r.Reconcile(ctx, req)
		if err != nil {
			t.Errorf("Reconcile returned %v: controller-runtime's back-off replaces RequeueAfter", err)
		}
		// (status keeps the start time to the microsecond)
		if res.RequeueAfter <= 0 || res.RequeueAfter > 501*time.Millisecond {
			t.Errorf("RequeueAfter %s, want (0, 500ms]: the fault is due in 500ms", res.RequeueAfter)
		}
		if err := c.Get(ctx, req.NamespacedName, &got); err != nil {
			t.Fatal(err)
		}
		cond := findCondition(got.Status.Conditions, v1alpha1.ConditionStepError)
		if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != ReasonTransientError {
			t.Errorf("conditions %+v, want %s True %s", got.Status.Conditions, v1alpha1.ConditionStepError, ReasonTransientError)
		}
		// The next step succeeds: the condition clears.
		failList = false
		now = now.Add(500 * time.Millisecond)
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
		_ = c.Get(ctx, req.NamespacedName, &got)
		if cond := findCondition(got.Status.Conditions, v1alpha1.ConditionStepError); cond == nil || cond.Status != metav1.ConditionFalse {
			t.Errorf("conditions %+v, want %s False after a clean step", got.Status.Conditions, v1alpha1.ConditionStepError)
		}
	})

	// Status lists findings in time order: one added when the drill is
	// judged, with an early time, is not at the end of the list. Each
	// finding gets one Event, whatever its time, and a reconcile that
	// starts again from a status without it (a failed patch, a stale
	// cache) does not send it twice.
	t.Run("one Event per finding whatever its time", func(t *testing.T) {
		rec := &countingRecorder{}
		exp := targetExperiment()
		exp.UID = "exp-events"
		a := v1alpha1.Finding{Type: v1alpha1.FindingErrorRatioExceeded, Target: "loadgen-0", At: metav1.Duration{Duration: 30 * time.Second}, Message: "a"}
		late := v1alpha1.Finding{Type: v1alpha1.FindingObservationGap, Target: "hypothesis.maxLeakedGoroutines", At: metav1.Duration{Duration: 5 * time.Second}, Message: "not judged"}
		before := exp.DeepCopy()
		before.Status.Findings = []v1alpha1.Finding{a}
		exp.Status.Findings = []v1alpha1.Finding{late, a}
		d := &drill{r: &ExperimentReconciler{Recorder: rec}, exp: exp}
		d.emitEvents(before)
		d.emitEvents(before) // the patch failed: the next reconcile starts from before again
		if rec.reasons[string(late.Type)] != 1 || rec.reasons[string(a.Type)] != 0 {
			t.Errorf("events by reason %v, want one %s and none for the finding already sent", rec.reasons, late.Type)
		}
	})

	// A failed write of the final report is kept and retried on the
	// drill's own schedule (RequeueAfter), not logged and forgotten.
	t.Run("final report write failure is retried", func(t *testing.T) {
		exp := targetExperiment()
		exp.UID = "exp-report"
		exp.Finalizers = []string{Finalizer}
		exp.Status.Phase, exp.Status.Verdict = v1alpha1.PhaseCompleted, v1alpha1.VerdictHeld
		fail := true
		c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(exp).WithStatusSubresource(&v1alpha1.Experiment{}).
			WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
				if _, cm := o.(*corev1.ConfigMap); cm && fail {
					return errors.New("etcdserver: request timed out")
				}
				return c.Create(ctx, o, opts...)
			}}).Build()
		r := &ExperimentReconciler{Client: c}
		d := &drill{r: r, exp: exp}
		if err := d.storeReport(ctx, []byte(`{"name":"shop"}`)); err == nil {
			t.Fatal("the write did not fail")
		}
		res, pending := r.retryPendingReport(ctx, exp)
		if !pending || res.RequeueAfter <= 0 {
			t.Fatalf("after a failed final write: pending %v, result %+v; want a requeue", pending, res)
		}
		// The terminal drill's next reconcile writes it.
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(exp)})
		if err != nil || res.RequeueAfter <= 0 {
			t.Fatalf("reconcile while the write still fails: %+v %v; want a requeue", res, err)
		}
		fail = false
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(exp)}); err != nil {
			t.Fatal(err)
		}
		var cm corev1.ConfigMap
		if err := c.Get(ctx, types.NamespacedName{Namespace: "drill", Name: ReportName("shop")}, &cm); err != nil || cm.Data[ReportKey] == "" {
			t.Errorf("report ConfigMap after the reconcile: %v %v", err, cm.Data)
		}
		if _, pending := r.retryPendingReport(ctx, exp); pending {
			t.Error("still pending after a successful write")
		}
		var got v1alpha1.Experiment
		if err := c.Get(ctx, types.NamespacedName{Namespace: "drill", Name: "shop"}, &got); err != nil || got.Status.ReportRef == nil {
			t.Errorf("reportRef not set after the retry: %v %+v", err, got.Status.ReportRef)
		}
	})

	// A manager whose wall clock runs an hour ahead of the API server's
	// sees every deletionTimestamp an hour old: Chaos Mesh's finalizer is
	// not stripped at once. The time terminating is the manager's own from
	// its first sight; once forced, the recovery is booked unverified.
	t.Run("finalizer forced only after the manager's own 2x timeout, and booked unverified", func(t *testing.T) {
		exp := targetExperiment()
		exp.UID = "exp-forced"
		deleted := metav1.NewTime(time.Now().Add(-time.Hour)) // the API server's clock, an hour behind
		nc := &chaosv1alpha1.NetworkChaos{ObjectMeta: metav1.ObjectMeta{Namespace: "drill", Name: ChaosName("shop", "slow"), UID: "nc-1",
			DeletionTimestamp: &deleted, Finalizers: []string{chaosMeshRecordsFinalizer},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Experiment", Name: "shop", UID: exp.UID, Controller: ptrTo(true)}}}}
		c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(nc).Build()
		timeout := 10 * time.Second
		now := time.Now()
		for _, step := range []time.Duration{0, timeout, timeout + 5*time.Second} {
			var cur chaosv1alpha1.NetworkChaos
			if err := c.Get(ctx, client.ObjectKeyFromObject(nc), &cur); err != nil {
				t.Fatal(err)
			}
			if _, err := forceChaosGone(ctx, c, &cur, now.Add(step), timeout); err != nil {
				t.Fatal(err)
			}
			if err := c.Get(ctx, client.ObjectKeyFromObject(nc), &cur); err != nil || len(cur.Finalizers) == 0 {
				if step < 2*timeout {
					t.Fatalf("finalizer stripped %s after the manager first saw the deletion (timeout %s): %v", step, timeout, err)
				}
			}
		}
		var cur chaosv1alpha1.NetworkChaos
		if err := c.Get(ctx, client.ObjectKeyFromObject(nc), &cur); err != nil {
			t.Fatal(err)
		}
		if _, err := forceChaosGone(ctx, c, &cur, now.Add(2*timeout), timeout); err != nil {
			t.Fatal(err)
		}
		if note := chaosSeen.forcedOf(exp.UID)[nc.Name]; !strings.Contains(note, "finalizer removed") {
			t.Errorf("forced recovery not booked unverified: %q", note)
		}
	})

	// A crash 0.4s after a fault injected at 10s (manager's clock) on a
	// node whose clock is 0.7s behind: finishedAt reads 9s (whole seconds,
	// node's clock), "before any fault". The log's last timestamped line,
	// mapped through the API server's clock, puts it at 10.4s; a mapping
	// uncertain by more than 100ms says so in the crash's headline.
	t.Run("crash time from the log's last line on the drill's clock", func(t *testing.T) {
		start := metav1.NewMicroTime(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
		node := func(d time.Duration) time.Time { return start.Add(d - 700*time.Millisecond) } // node clock behind
		crashed := node(10400 * time.Millisecond)
		term := corev1.ContainerStateTerminated{ExitCode: 2, Message: "fatal error: concurrent map writes\n",
			FinishedAt: metav1.NewTime(crashed.Truncate(time.Second))}
		lastLine := func(context.Context, string, string, time.Time) (time.Time, error) {
			return crashed.Add(-time.Millisecond), nil
		}
		none := func(string, observe.Crash) string { return "" }
		for _, c := range []struct {
			name  string
			clock serverClock
			note  bool
		}{
			{"fine clock", serverClock{offset: 700 * time.Millisecond, uncertainty: 20 * time.Millisecond, known: true}, false},
			{"Date header clock", clockSample(start.Add(time.Second), start.Add(time.Second+40*time.Millisecond), node(time.Second).Add(-200*time.Millisecond).Truncate(time.Second), time.Second), true},
		} {
			tr := crashTracker{lastLine: lastLine, clock: c.clock}
			tr.crashes(ctx, []corev1.Pod{exited("orders-a", 0, corev1.ContainerStateTerminated{})}, 5*time.Second, &start, none, nil)
			got := tr.crashes(ctx, []corev1.Pod{exited("orders-a", 1, term)}, 12*time.Second, &start, none, nil)
			if len(got) != 1 {
				t.Fatalf("%s: crashes %+v", c.name, got)
			}
			if c.note != strings.Contains(got[0].Headline, "±") {
				t.Errorf("%s: headline %q, uncertainty note wanted %v", c.name, got[0].Headline, c.note)
			}
			if !c.note && (got[0].At < 10390*time.Millisecond || got[0].At > 10400*time.Millisecond) {
				t.Errorf("%s: crash at %s, want 10.4s (0.4s after the fault at 10s); finishedAt says %s", c.name, got[0].At, term.FinishedAt.Sub(start.Time))
			}
			if c.note && got[0].At < 10*time.Second {
				t.Errorf("%s: crash at %s reads before the fault at 10s", c.name, got[0].At)
			}
		}
	})
}

// countingRecorder counts Events by reason.
type countingRecorder struct{ reasons map[string]int }

func (r *countingRecorder) Eventf(_ runtime.Object, _ runtime.Object, _, reason, _, _ string, _ ...interface{}) {
	if r.reasons == nil {
		r.reasons = map[string]int{}
	}
	r.reasons[reason]++
}

func findCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// allowAccessReviews answers the manager's SelfSubjectAccessReviews
// allowed (the fake client has no authorizer) and creates anything else.
func allowAccessReviews(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
	if r, ok := o.(*authorizationv1.SelfSubjectAccessReview); ok {
		r.Status.Allowed = true
		return nil
	}
	return c.Create(ctx, o, opts...)
}
