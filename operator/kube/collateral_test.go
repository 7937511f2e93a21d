package kube_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

type runtimeObject = runtime.Object

// racer makes a team's object appear between the manager's check of a
// name and its create of that name: a create by the manager of an object
// with the racer's name in the racer's namespace first creates the
// team's object (with the test's own client), then goes to the API
// server, which answers AlreadyExists.
type racer struct {
	mu    sync.Mutex
	byKey map[string]client.Object // "ns/name" → the team's object
	c     client.Client
}

func (r *racer) add(obj client.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[obj.GetNamespace()+"/"+obj.GetName()] = obj
}

func (r *racer) take(obj client.Object) client.Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := obj.GetNamespace() + "/" + obj.GetName()
	team := r.byKey[k]
	if team == nil || fmt.Sprintf("%T", team) != fmt.Sprintf("%T", obj) {
		return nil
	}
	delete(r.byKey, k)
	return team
}

// racingClient is a client whose creates go through a racer.
type racingClient struct {
	client.Client
	rc *racer
}

func (c racingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if team := c.rc.take(obj); team != nil {
		if err := c.rc.c.Create(ctx, team); err != nil {
			return fmt.Errorf("racer: %w", err)
		}
	}
	return c.Client.Create(ctx, obj, opts...)
}

// startOwnershipManager runs a manager whose reconciler gives the ledger a
// PVC (LedgerStorage) and whose client's creates go through rc.
func (e *env) startOwnershipManager(t *testing.T, rc *racer) {
	t.Helper()
	mgr, err := ctrl.NewManager(e.cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := racingClient{mgr.GetClient(), rc}
	r := &kube.ExperimentReconciler{
		Client: c, APIReader: mgr.GetAPIReader(),
		Recorder:       mgr.GetEventRecorder(kube.ManagerName),
		SampleInterval: time.Second, ReportInterval: time.Second, VictimTimeout: 10 * time.Second,
		LedgerStorage: "1Gi",
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

// teamObjects are a team's objects named as Experiment "shop"'s would be:
// its victim's Deployment, Service and PVC, its report ConfigMap, the
// chaos object of its pod fault. None is the manager's (no owner).
func teamObjects(ns string) map[string]client.Object {
	om := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"team": "payments"}}
	}
	sel := map[string]string{"app": "orders", "team": "payments"}
	return map[string]client.Object{
		"Deployment": &appsv1.Deployment{ObjectMeta: om("shop-orders"), Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "orders", Image: "payments/orders:v7"}}}},
		}},
		"Service": &corev1.Service{ObjectMeta: om("shop-gateway"), Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "gateway", "team": "payments"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		}},
		"PersistentVolumeClaim": &corev1.PersistentVolumeClaim{ObjectMeta: om("shop-ledger-data"), Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}},
		}},
		"ConfigMap": &corev1.ConfigMap{ObjectMeta: om("shop-report"), Data: map[string]string{"quarterly.csv": "q1,1200\nq2,1350\n"}},
		"PodChaos": &chaosv1alpha1.PodChaos{ObjectMeta: om("shop-kill-one-orders"), Spec: chaosv1alpha1.PodChaosSpec{
			ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: chaosv1alpha1.PodSelector{
				Mode: chaosv1alpha1.OneMode, Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{
					Namespaces: []string{ns}, LabelSelectors: map[string]string{"app": "canary"}}}}},
			Action: chaosv1alpha1.PodFailureAction,
		}},
	}
}

// intact checks the team's object is still there, the same object (UID),
// never written to (resourceVersion), with no owner, and the same spec
// or data as created.
func (e *env) intact(t *testing.T, want client.Object, when string) {
	t.Helper()
	got := want.DeepCopyObject().(client.Object)
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(want), got); err != nil {
		t.Fatalf("%s: the team's %s: %v", when, want.GetName(), err)
	}
	switch {
	case got.GetUID() != want.GetUID():
		t.Fatalf("%s: the team's %s was replaced: UID %s, was %s", when, want.GetName(), got.GetUID(), want.GetUID())
	case got.GetDeletionTimestamp() != nil:
		t.Fatalf("%s: the team's %s is being deleted", when, want.GetName())
	case len(got.GetOwnerReferences()) > 0:
		t.Fatalf("%s: the team's %s was adopted: owners %v", when, want.GetName(), got.GetOwnerReferences())
	case got.GetResourceVersion() != want.GetResourceVersion():
		t.Fatalf("%s: the team's %s was written to: resourceVersion %s, was %s (labels %v)", when, want.GetName(), got.GetResourceVersion(), want.GetResourceVersion(), got.GetLabels())
	}
	var same bool
	switch w := want.(type) {
	case *appsv1.Deployment:
		same = equality.Semantic.DeepEqual(w.Spec, got.(*appsv1.Deployment).Spec)
	case *corev1.Service:
		same = equality.Semantic.DeepEqual(w.Spec, got.(*corev1.Service).Spec)
	case *corev1.PersistentVolumeClaim:
		same = equality.Semantic.DeepEqual(w.Spec, got.(*corev1.PersistentVolumeClaim).Spec)
	case *corev1.ConfigMap:
		same = equality.Semantic.DeepEqual(w.Data, got.(*corev1.ConfigMap).Data)
	case *chaosv1alpha1.PodChaos:
		same = equality.Semantic.DeepEqual(w.Spec, got.(*chaosv1alpha1.PodChaos).Spec)
	}
	if !same {
		t.Fatalf("%s: the team's %s changed: %+v", when, want.GetName(), got)
	}
}

// nothingOfShop checks that no object of the drill's own exists in ns
// (only the team's, named in keep): with a name conflict found before
// anything is created, nothing is.
func (e *env) nothingOfShop(t *testing.T, ns string, keep client.Object) {
	t.Helper()
	ctx := context.Background()
	lists := []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.PersistentVolumeClaimList{},
		&corev1.ConfigMapList{}, &chaosv1alpha1.PodChaosList{}, &chaosv1alpha1.NetworkChaosList{}}
	for _, l := range lists {
		if err := e.c.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		_ = apimeta.EachListItem(l, func(o runtimeObject) error {
			obj := o.(client.Object)
			if obj.GetUID() == keep.GetUID() || !strings.HasPrefix(obj.GetName(), "shop-") {
				return nil
			}
			t.Errorf("%T %s was created although the name %s was taken", obj, obj.GetName(), keep.GetName())
			return nil
		})
	}
}

// TestNoCollateralDamage: a team's objects that bear the names an
// Experiment's objects would have are never adopted, changed or deleted —
// not by the drill, its failure, later reconciles or the Experiment's
// deletion. The drill fails at once with NameConflict naming the object,
// having created nothing; a name taken between the check and the create
// (AlreadyExists) fails it the same way.
func TestNoCollateralDamage(t *testing.T) {
	e := startEnv(t)
	rc := &racer{byKey: map[string]client.Object{}, c: e.c}
	e.startOwnershipManager(t, rc)
	ctx := context.Background()

	run := func(t *testing.T, kind string, race bool) {
		ns := e.namespace(t, true)
		team := teamObjects(ns)[kind]
		if race {
			rc.add(team)
		} else if err := e.c.Create(ctx, team); err != nil {
			t.Fatal(err)
		}
		exp := drill(ns, "shop", v1alpha1.CacheRacy, v1alpha1.IdempotencyNone, v1alpha1.GatewayLeaky)
		if err := e.c.Create(ctx, exp); err != nil {
			t.Fatal(err)
		}
		got := e.waitPhase(t, ns, "shop", 40*time.Second, v1alpha1.PhaseFailed, v1alpha1.PhaseCompleted, v1alpha1.PhaseAborted)
		if race { // the team's object now exists: read what it is
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(team), team); err != nil {
				t.Fatalf("the racing object: %v", err)
			}
		}
		want := kind + "/" + team.GetName()
		c := apimeta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
		if got.Status.Phase != v1alpha1.PhaseFailed || c == nil || c.Reason != kube.ReasonNameConflict || !strings.Contains(c.Message, want) {
			t.Errorf("phase %s, Ready %+v; want Failed, reason %s naming %s", got.Status.Phase, c, kube.ReasonNameConflict, want)
		}
		if c != nil {
			t.Logf("Ready %s: %s", c.Reason, c.Message)
		}
		e.intact(t, team, "after the drill failed")
		if !race {
			e.nothingOfShop(t, ns, team)
		}

		// Later reconciles of the failed drill (each metadata change is
		// one, besides the reconciler's own requeues).
		for i := range 3 {
			base := got.DeepCopy()
			got.Annotations = map[string]string{"poke": fmt.Sprint(i)}
			if err := e.c.Patch(ctx, got, client.MergeFrom(base)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(700 * time.Millisecond)
		}
		e.intact(t, team, "after later reconciles")

		if err := e.c.Delete(ctx, got); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "the Experiment gone", func() (bool, string) {
			err := e.c.Get(ctx, client.ObjectKeyFromObject(got), &v1alpha1.Experiment{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		time.Sleep(time.Second)
		e.intact(t, team, "after the Experiment was deleted")
		if race {
			e.ownGone(t, ns, team)
		}
	}
	for _, kind := range []string{"Deployment", "Service", "PersistentVolumeClaim", "ConfigMap", "PodChaos"} {
		t.Run(kind, func(t *testing.T) { run(t, kind, false) })
	}
	// The team's Service appears after the check, before the create: the
	// victim objects created before it are the drill's and go.
	t.Run("AlreadyExistsAtCreate", func(t *testing.T) { run(t, "Service", true) })

	// Without a conflict, what the manager creates is marked as its own
	// and goes with the Experiment.
	t.Run("OwnObjectsMarked", func(t *testing.T) {
		ns := e.namespace(t, true)
		exp := drill(ns, "shop", v1alpha1.CacheRacy, v1alpha1.IdempotencyNone, v1alpha1.GatewayLeaky)
		if err := e.c.Create(ctx, exp); err != nil {
			t.Fatal(err)
		}
		exp = e.get(t, ns, "shop")
		var objs []client.Object
		waitFor(t, 20*time.Second, "the victim's objects", func() (bool, string) {
			objs = e.shopObjects(t, ns)
			return len(objs) == 7, fmt.Sprintf("%d objects", len(objs))
		})
		for _, o := range objs {
			ref := metav1.GetControllerOf(o)
			if ref == nil || ref.UID != exp.UID || ref.Kind != "Experiment" {
				t.Errorf("%T %s: controller %+v, want Experiment shop (%s)", o, o.GetName(), ref, exp.UID)
			}
			if v := o.GetLabels()["app.kubernetes.io/managed-by"]; v != "cascadelab" {
				t.Errorf("%T %s: app.kubernetes.io/managed-by %q, want cascadelab", o, o.GetName(), v)
			}
		}
		if err := e.c.Delete(ctx, exp); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "the Experiment gone", func() (bool, string) {
			err := e.c.Get(ctx, client.ObjectKeyFromObject(exp), &v1alpha1.Experiment{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		e.ownGone(t, ns, nil)
	})
}

// shopObjects lists the victim's Deployments, Services and PVC in ns.
func (e *env) shopObjects(t *testing.T, ns string) []client.Object {
	t.Helper()
	var out []client.Object
	for _, l := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.PersistentVolumeClaimList{}} {
		if err := e.c.List(context.Background(), l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		_ = apimeta.EachListItem(l, func(o runtimeObject) error {
			if obj := o.(client.Object); strings.HasPrefix(obj.GetName(), "shop-") {
				out = append(out, obj)
			}
			return nil
		})
	}
	return out
}

// ownGone checks every shop- object in ns but the team's is gone or going
// (a PVC keeps its protection finalizer without a controller-manager).
func (e *env) ownGone(t *testing.T, ns string, team client.Object) {
	t.Helper()
	for _, o := range e.shopObjects(t, ns) {
		if team != nil && o.GetUID() == team.GetUID() {
			continue
		}
		if o.GetDeletionTimestamp() == nil {
			t.Errorf("%T %s left behind", o, o.GetName())
		}
	}
}
