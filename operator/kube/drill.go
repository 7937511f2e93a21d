package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// run is what the reconciler keeps in memory for a running drill: the
// shared driver (with the engine and its time series) and the cluster
// backend it steps. When it is lost (a restarted manager) it is rebuilt
// from status with drive.Resume.
type run struct {
	drv        *drive.Driver
	backend    *clusterBackend
	obs        *observer
	lastReport time.Time
}

// pollInterval is how often a step the cluster is still working on (a
// fault Chaos Mesh has not acknowledged, a victim not ready) is looked at
// again. What a drill waits on (its chaos objects, Deployments, pods and
// load Job) is watched, and a change reconciles at once: the poll is the
// fallback. Polling at the driver's default of 200 ms made fifty drills
// waiting on Chaos Mesh 250 reconciles a second.
const pollInterval = time.Second

// drill is one reconcile of one running Experiment.
type drill struct {
	r   *ExperimentReconciler
	exp *v1alpha1.Experiment
	now time.Time
	log logr.Logger
	run *run

	failReason, failMsg string
	requeue             time.Duration
	events              []event
}

type event struct{ typ, reason, note string }

func (d *drill) result() ctrl.Result {
	if d.exp.Status.Phase.Terminal() {
		return ctrl.Result{}
	}
	if d.requeue <= 0 {
		d.requeue = d.r.sampleInterval()
	}
	return ctrl.Result{RequeueAfter: d.requeue}
}

func (d *drill) event(typ, reason, format string, args ...any) {
	d.events = append(d.events, event{typ, reason, fmt.Sprintf(format, args...)})
}

// offset is the drill clock: time since the load started (0 before).
func (d *drill) offset() time.Duration {
	if d.run != nil {
		return d.run.drv.Offset(d.now)
	}
	if st := d.exp.Status.StartTime; st != nil {
		return d.now.Sub(st.Time)
	}
	return 0
}

// refuse ends a drill that never started: phase Failed, verdict Inconclusive.
func (d *drill) refuse(reason, msg string) {
	d.exp.Status.Phase = v1alpha1.PhaseFailed
	d.exp.Status.Verdict = v1alpha1.VerdictInconclusive
	d.failReason, d.failMsg = reason, msg
	d.event(corev1.EventTypeWarning, reason, "%s", msg)
}

// fail ends a drill through its driver when there is one, so every fault
// is still removed and everything stopped by the following steps.
func (d *drill) fail(ctx context.Context, reason, msg string) error {
	d.failReason, d.failMsg = reason, msg
	if d.run == nil {
		d.refuse(reason, msg)
		return nil
	}
	d.event(corev1.EventTypeWarning, reason, "%s", msg)
	d.run.drv.Fail(d.now, msg)
	_, err := d.step(ctx)
	return err
}

// checkOptIn refuses namespaces without cascadelab.dev/chaos=enabled, and
// stops a running drill whose namespace lost the label.
func (d *drill) checkOptIn(ctx context.Context) (bool, error) {
	ns := &corev1.Namespace{}
	if err := d.r.Get(ctx, ctrlKey("", d.exp.Namespace), ns); err != nil {
		return true, err
	}
	if ns.Labels[LabelChaosOptIn] == OptInValue {
		return false, nil
	}
	msg := fmt.Sprintf("namespace %s is not labelled %s=%s; nothing was created", d.exp.Namespace, LabelChaosOptIn, OptInValue)
	if d.exp.Status.Phase == "" {
		d.refuse(ReasonNamespaceNotOptedIn, msg)
		return true, nil
	}
	if _, err := d.loadDriver(ctx); err != nil || d.run == nil {
		return true, err
	}
	if d.run.drv.Engine().Phase().Terminal() {
		_, err := d.step(ctx) // already failing: go on removing faults
		return true, err
	}
	return true, d.fail(ctx, ReasonNamespaceNotOptedIn, "namespace opt-in label removed during the drill")
}

// checkChaosMesh refuses a drill with faults before anything is created
// when Chaos Mesh's CRDs are absent.
func (d *drill) checkChaosMesh(ctx context.Context) (bool, error) {
	if len(d.exp.Spec.Faults) == 0 || d.exp.Status.Phase != "" || ChaosMeshInstalled(d.r.RESTMapper()) {
		return false, nil
	}
	d.refuse(ReasonChaosMeshMissing, ErrChaosMeshMissing.Error())
	return true, nil
}

// loadDriver finds the drill's driver in memory or resumes it from status.
func (d *drill) loadDriver(ctx context.Context) (bool, error) {
	if d.run != nil {
		return false, nil
	}
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	if d.r.runs == nil {
		d.r.runs = map[typesUID]*run{}
	}
	if rn := d.r.runs[d.exp.UID]; rn != nil {
		d.run = rn
		d.run.backend.d = d
		return false, nil
	}
	b := &clusterBackend{r: d.r, d: d}
	rn := &run{backend: b}
	opts := []drive.Option{
		// The drill's processes are scraped by its observer, beside the
		// reconciles: a target that answers slowly or never (under a
		// NetworkChaos delay) never holds a reconcile worker.
		drive.WithSampler(func(s *observe.Scraper) drive.Sampler { return d.r.observe(rn, s) }),
		drive.WithInterval(d.r.sampleInterval()),
		drive.WithVictimTimeout(d.r.victimTimeout()),
		drive.WithMinStep(50 * time.Millisecond),
		drive.WithPollInterval(pollInterval),
		drive.WithScrapeOptions(d.r.ScrapeOptions...),
	}
	var drv *drive.Driver
	var err error
	if d.exp.Status.Phase == "" {
		drv, err = drive.New(d.exp.Spec, b, opts...)
	} else {
		d.log.Info("resuming drill from status", "phase", d.exp.Status.Phase)
		drv, err = drive.Resume(d.exp.Spec, d.exp.Status, b, opts...)
	}
	if err != nil {
		d.refuse(ReasonFailed, "invalid experiment: "+err.Error())
		return true, nil
	}
	rn.drv = drv
	d.run = rn
	d.r.runs[d.exp.UID] = d.run
	return false, nil
}

// step moves the drill on by one step of the shared driver: the victim,
// the load, each fault made what the engine wants, an observation when
// one is due, and at the end the removal of everything and the verdict.
func (d *drill) step(ctx context.Context) (bool, error) {
	drv := d.run.drv
	next, err := drv.Step(ctx, d.now)
	if r := drv.Engine().Reason(); d.failReason == "" && strings.HasPrefix(r, "victim not ready") {
		d.failReason, d.failMsg = ReasonVictimNotReady, r
	}
	if st := drv.Engine().Status().StartTime; st != nil && d.exp.Status.StartTime == nil {
		d.exp.Status.StartTime = st
	}
	d.requeue = min(max(next, 50*time.Millisecond), d.r.sampleInterval())
	if err == nil && hasCondition(d.exp, v1alpha1.ConditionStepError, metav1.ConditionTrue) {
		setCondition(d.exp, v1alpha1.ConditionStepError, metav1.ConditionFalse, ReasonStepSucceeded, "the last step succeeded")
	}
	return true, err
}

// transient records an error a later step may not meet (the API server
// busy, a pod list timing out): logged, counted, and set as the StepError
// condition. The drill's schedule stands: the driver has already scheduled
// its own retry with back-off, and Reconcile returns RequeueAfter, not the
// error, so controller-runtime's rate limiter never delays what is due.
func (d *drill) transient(err error) {
	d.log.Info("transient error; next step on the drill's schedule", "error", err.Error(), "requeueAfter", d.result().RequeueAfter)
	ReconcileErrors.Inc()
	setCondition(d.exp, v1alpha1.ConditionStepError, metav1.ConditionTrue, ReasonTransientError, truncateMsg(err.Error()))
}

// truncateMsg keeps a condition message within the API's 32 KiB limit.
func truncateMsg(s string) string {
	const limit = 4096
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

func (d *drill) image() string {
	if v := d.exp.Spec.Victim; v != nil && v.Image != "" {
		return v.Image
	}
	return orDefault(d.r.VictimImage, DefaultVictimImage)
}
