package kube

import (
	"context"
	"errors"
	"fmt"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"sync"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// ExperimentReconciler runs Experiments on a cluster by driving the engine.
// Fields left zero get the defaults noted on each.
type ExperimentReconciler struct {
	client.Client
	// APIReader reads uncached (chaos objects, whose CRDs may come and go).
	// Default: the Client.
	APIReader client.Reader
	// Recorder records Kubernetes Events; nil records none.
	Recorder events.EventRecorder
	// ScrapeOptions are added to each drill's own scraper (the driver's
	// defaults: concurrency 16, leak scan every other observation, timeout
	// above the drill's largest injected latency).
	ScrapeOptions []observe.ScrapeOption
	// PodProxy, when set, reaches the pods the manager scrapes through the
	// API server's pod proxy instead of their IPs (--scrape-via=apiserver,
	// a manager outside the cluster). The scraper's HTTP client must be
	// PodProxy.Client then (observe.WithHTTPClient in ScrapeOptions).
	PodProxy *PodProxy
	// Pods reads a crashed container's log (pods/log, previous=true) when
	// its termination message lacks the crash headline: a kubelet keeps
	// only the last 2 KiB / 80 lines of the log there, and a Go crash
	// prints its headline before the stacks. Default: a clientset for the
	// manager's config.
	Pods typedcorev1.PodsGetter
	// VictimImage is the image of the victim when spec.victim.image is empty.
	VictimImage string
	// LedgerStorage, when set (e.g. "1Gi"), gives the ledger a PVC of that
	// size instead of an emptyDir.
	LedgerStorage string
	// SampleInterval is the time between observations (default 2s).
	SampleInterval time.Duration
	// ReportInterval is the time between report ConfigMap writes while a
	// drill runs (default 10s); it is always written at the end.
	ReportInterval time.Duration
	// VictimTimeout bounds the wait for the victim's pods (default 3m).
	VictimTimeout time.Duration
	// ChaosFinalizerTimeout is how long a deleted chaos object may stay
	// terminating behind Chaos Mesh's finalizer (its recovery cannot finish:
	// chaos-daemon unreachable, Chaos Mesh gone) before the operator asks
	// Chaos Mesh for a forced clean (annotation
	// chaos-mesh.chaos-mesh.org/cleanFinalizer=forced); after twice as long
	// it removes Chaos Mesh's finalizer itself, with a Warning Event
	// (default 1m; negative never forces).
	ChaosFinalizerTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Policy is the manager's limits on Experiments (allowed victim images,
	// load rate cap, loadURL a Service of the namespace), checked before a
	// drill creates anything; nil checks none (the manager always sets one).
	Policy *admission.Policy
	// ChaosMeshNamespace is Chaos Mesh's namespace, the only one whose
	// chaos-daemon pods the residue check reads (default
	// DefaultChaosMeshNamespace; the manager's --chaos-mesh-namespace).
	ChaosMeshNamespace string
	// MaxConcurrentReconciles is how many Experiments are reconciled at
	// once (default DefaultMaxConcurrentReconciles). Reconciles never wait
	// on a target (observation runs beside them), so a worker is busy only
	// for its API server calls.
	MaxConcurrentReconciles int

	// onReconcile, when set, is told how long each Reconcile took (tests).
	onReconcile func(time.Duration)

	mu       sync.Mutex
	shutdown bool // the manager is stopping: observers stop
	runs     map[types.UID]*run
	// done holds the UIDs of drills this process finished, so that a
	// reconcile reading a stale (not yet terminal) copy from the cache does
	// not restore and rerun them.
	done map[types.UID]bool
	book phaseBook
}

// SetupWithManager registers the reconciler. Chaos objects are watched only
// when Chaos Mesh's CRDs are installed at start; without them the manager
// still runs and experiments with faults fail with ChaosMeshMissing.
func (r *ExperimentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Pods == nil {
		cs, err := kubernetes.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
		if err != nil {
			return fmt.Errorf("a client for pods/log: %w", err)
		}
		r.Pods = cs.CoreV1()
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Experiment{}, builder.WithPredicates(notStatusOnly)).
		Owns(&appsv1.Deployment{}).
		Owns(&batchv1.Job{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToExperiment)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.workers()})
	// The observers stop with the manager.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		r.stopObservers()
		return nil
	})); err != nil {
		return err
	}
	if ChaosMeshInstalled(mgr.GetRESTMapper()) {
		b = b.Owns(&chaosv1alpha1.PodChaos{}).Owns(&chaosv1alpha1.NetworkChaos{})
	} else {
		mgr.GetLogger().Info("Chaos Mesh CRDs not found; experiments with faults will fail with ChaosMeshMissing")
	}
	return b.Named("experiment").Complete(r)
}

// podToExperiment maps a victim pod to its Experiment.
func podToExperiment(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[LabelInstance]
	if name == "" || o.GetLabels()[LabelName] != NameVictim {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

func (r *ExperimentReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *ExperimentReconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// Reconcile runs one step of a drill: finalizer, opt-in check, Chaos Mesh
// check, engine actions and observation, then one status patch.
func (r *ExperimentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	began := time.Now()
	defer func() {
		if err != nil {
			ReconcileErrors.Inc()
		}
		if r.onReconcile != nil {
			r.onReconcile(time.Since(began))
		}
	}()
	exp := &v1alpha1.Experiment{}
	if err := r.Get(ctx, req.NamespacedName, exp); err != nil {
		if apierrors.IsNotFound(err) {
			r.book.set(req.NamespacedName, "", "", true)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !exp.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, exp)
	}
	if !controllerutil.ContainsFinalizer(exp, Finalizer) {
		// A patch of metadata only: an Update would send the spec back
		// re-encoded ("60s" as "1m0s"), which the immutable-spec rule
		// refuses as a change.
		base := exp.DeepCopy()
		controllerutil.AddFinalizer(exp, Finalizer)
		return ctrl.Result{}, r.Patch(ctx, exp, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	}
	if exp.Status.Phase.Terminal() {
		r.book.set(req.NamespacedName, exp.Status.Phase, exp.Status.Verdict, false)
		if res, pending := r.retryPendingReport(ctx, exp); pending {
			return res, nil // the final report is written before cleanup
		}
		return r.ensureCleanedUp(ctx, exp)
	}
	if r.finished(exp.UID) {
		// The cache has not seen our terminal status patch yet.
		return ctrl.Result{RequeueAfter: 500 * time.Millisecond}, nil
	}

	d := &drill{r: r, exp: exp, now: r.now(), log: log.FromContext(ctx)}
	base := exp.DeepCopy()
	defer func() {
		d.finishStatus(ctx)
		patched := true
		if perr := r.Status().Patch(ctx, exp, client.MergeFrom(base)); perr != nil {
			// Transient too: the next step patches again, on schedule.
			d.log.Error(perr, "patching status; retrying at the next step", "requeueAfter", res.RequeueAfter)
			ReconcileErrors.Inc()
			patched = false
		}
		d.emitEvents(base)
		r.book.set(req.NamespacedName, exp.Status.Phase, exp.Status.Verdict, false)
		if exp.Status.Phase.Terminal() && err == nil && patched {
			r.forget(exp.UID)
			r.mu.Lock()
			if r.done == nil {
				r.done = map[types.UID]bool{}
			}
			r.done[exp.UID] = true
			r.mu.Unlock()
			res = ctrl.Result{RequeueAfter: time.Second} // verify cleanup
		}
	}()
	// A transient error keeps the drill's own schedule (RequeueAfter, the
	// next action due): returned to controller-runtime it would discard
	// RequeueAfter for the rate limiter's back-off, seconds to minutes
	// after a few failures, and a recovery due now would wait. It is
	// logged, counted and set as the StepError condition instead.
	for _, step := range []func(context.Context) (bool, error){d.checkOptIn, d.checkPolicy, d.checkChaosMesh, d.loadDriver, d.step} {
		done, err := step(ctx)
		if err != nil {
			d.transient(err)
			return d.result(), nil
		}
		if done {
			return d.result(), nil
		}
	}
	return d.result(), nil
}

// finalize deletes the drill's chaos, load, victim and report, then lets the
// Experiment go.
func (r *ExperimentReconciler) finalize(ctx context.Context, exp *v1alpha1.Experiment) (ctrl.Result, error) {
	r.forget(exp.UID)
	r.mu.Lock()
	delete(r.done, exp.UID)
	r.mu.Unlock()
	r.book.set(types.NamespacedName{Namespace: exp.Namespace, Name: exp.Name}, "", "", true)
	if !controllerutil.ContainsFinalizer(exp, Finalizer) {
		return ctrl.Result{}, nil
	}
	res, err := r.ensureCleanedUp(ctx, exp)
	if err != nil || res.RequeueAfter > 0 {
		return res, err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: exp.Namespace, Name: ReportName(exp.Name)}}
	if err := deleteOwned(ctx, r.Client, r.reader(), exp, cm); err != nil {
		return ctrl.Result{}, err
	}
	base := exp.DeepCopy()
	controllerutil.RemoveFinalizer(exp, Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, exp, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// ensureCleanedUp deletes every chaos object of the experiment, its load and
// its victim. It is idempotent and requeues while chaos objects terminate.
func (r *ExperimentReconciler) ensureCleanedUp(ctx context.Context, exp *v1alpha1.Experiment) (ctrl.Result, error) {
	left, notes, err := deleteAllChaosForcing(ctx, r.Client, r.reader(), exp, r.now(), r.chaosFinalizerTimeout())
	for _, note := range notes {
		log.FromContext(ctx).Info("forcing a stuck chaos object away", "note", note)
		if r.Recorder != nil {
			r.Recorder.Eventf(exp, nil, corev1.EventTypeWarning, "ChaosFinalizerForced", "Cleanup", "%s", note)
		}
	}
	for _, f := range exp.Spec.Faults {
		setFaultActive(exp.Namespace, exp.Name, f.Name, FaultKind(f), false)
	}
	if err2 := r.deleteWorkloads(ctx, exp, true); err2 != nil {
		err = errors.Join(err, err2)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if left > 0 {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// deleteWorkloads deletes the load Job and, when victim is true, the
// victim's Deployments, Services and PVC (explicitly: owner references alone
// need a garbage collector) — each only if the Experiment is its controller
// (deleteOwned): an object of that name that is not the drill's is left.
func (r *ExperimentReconciler) deleteWorkloads(ctx context.Context, exp *v1alpha1.Experiment, victim bool) error {
	bg := client.PropagationPolicy(metav1.DeletePropagationBackground)
	om := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: exp.Namespace, Name: name} }
	objs := []client.Object{&batchv1.Job{ObjectMeta: om(ObjectName(exp.Name, "load"))}}
	if victim {
		for _, role := range []string{RoleGateway, RoleOrders, RoleLedger} {
			objs = append(objs, &appsv1.Deployment{ObjectMeta: om(ObjectName(exp.Name, role))},
				&corev1.Service{ObjectMeta: om(ObjectName(exp.Name, role))})
		}
		objs = append(objs, &corev1.PersistentVolumeClaim{ObjectMeta: om(ObjectName(exp.Name, RoleLedger) + "-data")})
	}
	var errs []error
	for _, o := range objs {
		if err := deleteOwned(ctx, r.Client, r.reader(), exp, o, bg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *ExperimentReconciler) chaosFinalizerTimeout() time.Duration {
	switch {
	case r.ChaosFinalizerTimeout < 0:
		return 0
	case r.ChaosFinalizerTimeout == 0:
		return time.Minute
	}
	return r.ChaosFinalizerTimeout
}

// forget drops a drill's run and stops its observer.
func (r *ExperimentReconciler) forget(uid types.UID) {
	r.mu.Lock()
	var obs *observer
	if rn := r.runs[uid]; rn != nil {
		obs = rn.obs
	}
	delete(r.runs, uid)
	r.mu.Unlock()
	if obs != nil {
		obs.stop()
	}
}

func (r *ExperimentReconciler) finished(uid types.UID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done[uid]
}
