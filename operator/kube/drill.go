package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
)

// run is what the reconciler keeps in memory for a running drill: the
// engine (with its time series) and the restart counts already reported.
// When it is lost (a restarted manager) it is rebuilt with engine.Restore.
type run struct {
	eng        *engine.Engine
	crashes    crashTracker
	lastSample time.Time
	lastReport time.Time
	// stopped is set once the engine asked to stop; finished once the stop
	// was carried out in full and the engine judged. A stop that fails half
	// way (API errors) is retried by the next reconcile.
	stopped, finished bool
	lastObserved      bool
	// podKills are the pod faults created, to tell kills from crashes.
	podKills []podKill
	// gone[i] is true once fault i's chaos object is known deleted.
	gone map[int]bool
}

// podKill is one pod fault: when its chaos object was created and the pods
// Chaos Mesh recorded (nil until it confirmed).
type podKill struct {
	fault   int
	at      time.Time
	targets []string
}

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

// fail ends a drill through the engine when there is one, so every active
// fault is recovered first.
func (d *drill) fail(ctx context.Context, reason, msg string) error {
	d.failReason, d.failMsg = reason, msg
	if d.run == nil {
		d.refuse(reason, msg)
		return nil
	}
	d.event(corev1.EventTypeWarning, reason, "%s", msg)
	return d.do(ctx, d.run.eng.Fail(d.offset(), msg))
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
	if _, err := d.loadEngine(ctx); err != nil {
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

// loadEngine finds the drill's engine in memory or restores it from status.
func (d *drill) loadEngine(ctx context.Context) (bool, error) {
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
		return false, nil
	}
	var e *engine.Engine
	var err error
	if d.exp.Status.Phase == "" {
		e, err = engine.New(d.exp.Spec)
	} else {
		e, err = engine.Restore(d.exp.Spec, d.exp.Status)
		d.log.Info("resuming drill from status", "phase", d.exp.Status.Phase)
		if err == nil && d.exp.Status.StartTime != nil {
			e.SetStartTime(d.exp.Status.StartTime.Time)
		}
	}
	if err != nil {
		d.refuse(ReasonFailed, "invalid experiment: "+err.Error())
		return true, nil
	}
	d.run = &run{eng: e}
	d.r.runs[d.exp.UID] = d.run
	return false, nil
}

// drive moves the drill on: start, wait for the victim, observe, tick.
func (d *drill) drive(ctx context.Context) (bool, error) {
	e := d.run.eng
	if d.exp.Status.Phase == "" {
		if err := d.do(ctx, e.Start()); err != nil {
			return true, err
		}
	}
	if d.exp.Status.StartTime == nil && !d.run.stopped {
		ready, msg, err := d.victimReady(ctx)
		if err != nil {
			return true, err
		}
		switch {
		case ready:
			d.exp.Status.StartTime = &metav1.Time{Time: d.now}
			e.SetStartTime(d.now)
			if err := d.do(ctx, e.VictimReady()); err != nil {
				return true, err
			}
		case d.now.Sub(d.exp.CreationTimestamp.Time) > d.r.victimTimeout():
			d.failReason, d.failMsg = ReasonVictimNotReady, msg
			return true, d.do(ctx, e.Stop(0, "victim not ready: "+msg))
		default:
			d.requeue = 500 * time.Millisecond
			return true, nil
		}
	}
	// A stop asked for but not carried out in full (an API error half way,
	// or a manager restarted in Judging) is finished here.
	if e.Phase() == v1alpha1.PhaseJudging {
		return true, d.stop(ctx, "drill over")
	}
	off := d.offset()
	if err := d.syncFaults(ctx); err != nil {
		return true, err
	}
	if d.now.Sub(d.run.lastSample) >= d.r.sampleInterval()*4/5 {
		obs, err := d.observe(ctx, off)
		if err != nil {
			return true, err
		}
		if err := d.do(ctx, e.Observe(obs)); err != nil {
			return true, err
		}
	}
	if err := d.do(ctx, e.Tick(off)); err != nil {
		return true, err
	}
	next := e.NextDue(off)
	wait := d.r.sampleInterval() - d.now.Sub(d.run.lastSample)
	if next <= 0 || wait < next {
		next = wait
	}
	d.requeue = max(next, 50*time.Millisecond)
	return false, nil
}

// do carries out the engine's actions in order.
func (d *drill) do(ctx context.Context, acts []engine.Action) error {
	var errs []error
	for _, a := range acts {
		if err := d.act(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.Type, err))
		}
	}
	return errors.Join(errs...)
}

func (d *drill) act(ctx context.Context, a engine.Action) error {
	e, exp, off := d.run.eng, d.exp, d.offset()
	switch a.Type {
	case engine.ActionStartVictim:
		if exp.Spec.Victim == nil {
			return nil
		}
		return d.createAll(ctx, victimObjects(exp, d.image(), d.r.LedgerStorage))
	case engine.ActionStartLoad:
		target := ""
		if exp.Spec.Victim != nil {
			target = fmt.Sprintf("http://%s:%d", ObjectName(exp.Name, RoleGateway), AppPort)
		} else if exp.Spec.Target != nil {
			target = exp.Spec.Target.LoadURL
		}
		if target == "" {
			return nil
		}
		return d.createAll(ctx, []clientObject{loadJob(exp, d.image(), target)})
	case engine.ActionInject:
		f := exp.Spec.Faults[a.Fault]
		err := createChaos(ctx, d.r.Client, exp, a.Fault)
		switch {
		case errors.Is(err, ErrChaosMeshMissing):
			return d.fail(ctx, ReasonChaosMeshMissing, err.Error())
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || isValidation(err) || isWebhookDenial(err):
			e.FaultFailed(a.Fault, off, err)
			setCondition(exp, v1alpha1.ConditionChaosActive, metav1.ConditionFalse, ReasonChaosRejected, err.Error())
			d.event(corev1.EventTypeWarning, ReasonChaosRejected, "fault %s: %v", f.Name, err)
			return nil
		case err != nil:
			return err
		}
		if f.PodChaos != nil {
			d.run.podKills = append(d.run.podKills, podKill{fault: a.Fault, at: d.now})
		}
		setFaultActive(exp.Name, f.Name, FaultKind(f), true)
		d.event(corev1.EventTypeNormal, "FaultCreated", "%s %s created at %s", FaultKind(f), ChaosName(exp.Name, f.Name), off.Round(time.Millisecond))
		// The engine hears of the injection when Chaos Mesh confirms it (syncFaults).
		return d.syncFault(ctx, a.Fault)
	case engine.ActionRecover:
		f := exp.Spec.Faults[a.Fault]
		if err := deleteChaos(ctx, d.r.Client, exp, a.Fault); err != nil {
			return err
		}
		d.markGone(a.Fault)
		e.FaultRecovered(a.Fault, off)
		setFaultActive(exp.Name, f.Name, FaultKind(f), false)
		d.event(corev1.EventTypeNormal, "FaultRecovered", "%s %s deleted at %s", FaultKind(f), ChaosName(exp.Name, f.Name), off.Round(time.Millisecond))
	case engine.ActionStop:
		return d.stop(ctx, a.Reason)
	}
	return nil
}

// stop ends the drill: every chaos object and the load go, a last
// observation is taken, the victim goes, and the engine judges.
func (d *drill) stop(ctx context.Context, reason string) error {
	if d.run.finished {
		return nil
	}
	d.run.stopped = true
	exp, off := d.exp, d.offset()
	if _, err := deleteAllChaos(ctx, d.r.Client, d.r.reader(), exp); err != nil {
		return err
	}
	if err := d.r.deleteWorkloads(ctx, exp, false); err != nil {
		return err
	}
	if exp.Status.StartTime != nil && !d.run.lastObserved {
		obs, err := d.observe(ctx, off)
		if err == nil {
			d.run.eng.Observe(obs) // the drill is stopping: further actions are moot
			d.run.lastObserved = true
		}
	}
	if err := d.r.deleteWorkloads(ctx, exp, exp.Spec.Victim != nil); err != nil {
		return err
	}
	setCondition(exp, v1alpha1.ConditionVictimReady, metav1.ConditionFalse, ReasonStopped, "stopped: "+reason)
	d.run.eng.Finish(off)
	d.run.finished = true
	return nil
}

// observe lists the pods, scrapes them and collects crashes.
func (d *drill) observe(ctx context.Context, off time.Duration) (engine.Observation, error) {
	pods, err := listPods(ctx, d.r.Client, d.exp)
	if err != nil {
		return engine.Observation{}, err
	}
	d.run.lastSample = d.now
	samples := d.r.scraper().ScrapeAll(ctx, off, Targets(pods, d.exp))
	byName := map[string]int32{}
	for i := range pods {
		byName[pods[i].Name] = restarts(&pods[i])
	}
	for i := range samples {
		samples[i].Restarts = byName[samples[i].Target]
	}
	crashes := d.run.crashes.crashes(pods, off, d.exp.Status.StartTime, d.podKilled)
	for _, c := range crashes {
		if !c.Injected {
			d.event(corev1.EventTypeWarning, "ProcessCrashed", "%s exited %d: %s", c.Target, c.ExitCode, c.Headline)
		}
	}
	return engine.Observation{At: off, Samples: samples, Crashes: crashes}, nil
}

// podKilled reports whether a pod fault created in the last 30 s hit pod
// (or may have: Chaos Mesh has not said which pods yet).
func (d *drill) podKilled(pod string) bool {
	for _, k := range d.run.podKills {
		if d.now.Sub(k.at) > 30*time.Second {
			continue
		}
		if k.targets == nil {
			return true
		}
		for _, t := range k.targets {
			if t == pod {
				return true
			}
		}
	}
	return false
}

// victimReady reports whether every expected victim pod is ready.
func (d *drill) victimReady(ctx context.Context) (bool, string, error) {
	pods, err := listPods(ctx, d.r.Client, d.exp)
	if err != nil {
		return false, "", err
	}
	want := map[string]int{}
	if v := d.exp.Spec.Victim; v != nil {
		want = map[string]int{RoleGateway: 1, RoleOrders: int(max(v.Orders.Replicas, 1)), RoleLedger: 1}
	} else {
		want["target"] = 1
	}
	have := map[string]int{}
	for i := range pods {
		if podReady(&pods[i]) && pods[i].DeletionTimestamp == nil {
			have[podRole(&pods[i])]++
		}
	}
	ok, msg := true, ""
	for role, n := range want {
		if have[role] < n {
			ok = false
			msg += fmt.Sprintf("%s %d/%d ready; ", role, have[role], n)
		}
	}
	if ok {
		setCondition(d.exp, v1alpha1.ConditionVictimReady, metav1.ConditionTrue, ReasonPodsReady, "all victim pods ready")
	} else {
		setCondition(d.exp, v1alpha1.ConditionVictimReady, metav1.ConditionFalse, ReasonPodsNotReady, msg)
	}
	return ok, msg, nil
}

func (d *drill) image() string {
	if v := d.exp.Spec.Victim; v != nil && v.Image != "" {
		return v.Image
	}
	return orDefault(d.r.VictimImage, DefaultVictimImage)
}
