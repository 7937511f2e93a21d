package kube_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// managerSA is the manager's ServiceAccount as the API server names it.
const managerSA = "system:serviceaccount:cascadelab-system:cascadelab-manager"

// asManager is cfg impersonating the manager's ServiceAccount: every
// request is authorized by RBAC with the rights the manifests give it.
func asManager(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: managerSA,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:cascadelab-system", "system:authenticated"}}
	return cfg
}

// drillObjects are the objects a drill of exp creates: the victim (with a
// PVC), the load Job, one chaos object per fault and a report ConfigMap.
func drillObjects(t *testing.T, exp *v1alpha1.Experiment) []client.Object {
	t.Helper()
	objs := kube.VictimObjects(exp, "victim:test", "1Gi")
	objs = append(objs, kube.LoadJob(exp, "victim:test", "http://shop-gateway:8080"),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: exp.Namespace, Name: kube.ReportName(exp.Name)}})
	for i := range exp.Spec.Faults {
		c, err := kube.BuildChaos(context.Background(), exp, i)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, c)
	}
	return objs
}

// testRBACOnAPIServer: manifests/rbac applied to a fresh API server, one
// namespace opted in with manifests/opt-in's RoleBinding and one only
// labelled; the manager's ServiceAccount (impersonated) may create every
// object of a drill in the first and none in the second, and a manager
// running with those rights only drills the first and refuses the second
// with NamespaceNotOptedIn, naming the namespace and the missing rights.
func testRBACOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest")
	}
	e := startEnv(t)
	ctx := context.Background()
	apply := func(u *unstructured.Unstructured) {
		t.Helper()
		if err := e.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.ForceOwnership, client.FieldOwner("rbac-test")); err != nil {
			t.Fatalf("apply %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	for _, o := range renderKustomization(t, "rbac") { // in order, as kubectl apply -k on a fresh cluster
		apply(o)
	}
	optedIn, notBound := e.namespace(t, true), e.namespace(t, true)
	for _, o := range renderKustomization(t, "opt-in") {
		if o.GetKind() == "RoleBinding" {
			o.SetNamespace(optedIn)
			apply(o)
		}
	}
	cfg := asManager(e.cfg)
	sa, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("creates-only-where-bound", func(t *testing.T) {
		for _, ns := range []string{optedIn, notBound, "kube-system"} {
			exp := drill(ns, "shop", v1alpha1.CacheRacy, v1alpha1.IdempotencyNone, v1alpha1.GatewayLeaky)
			exp.UID = "00000000-0000-0000-0000-000000000001"
			for _, o := range drillObjects(t, exp) {
				err := sa.Create(ctx, o, client.DryRunAll)
				switch {
				case ns == optedIn && err != nil:
					t.Errorf("create %T %s in the opted-in namespace: %v", o, o.GetName(), err)
				case ns != optedIn && !apierrors.IsForbidden(err):
					t.Errorf("create %T %s in %s (no RoleBinding): %v, want Forbidden", o, o.GetName(), ns, err)
				}
			}
		}
	})
	t.Run("reads-cluster-wide-writes-nothing", func(t *testing.T) {
		var pods corev1.PodList
		if err := sa.List(ctx, &pods); err != nil {
			t.Errorf("list pods cluster-wide (the manager's informers): %v", err)
		}
		var cms corev1.ConfigMapList
		if err := sa.List(ctx, &cms); !apierrors.IsForbidden(err) {
			t.Errorf("list ConfigMaps cluster-wide: %v, want Forbidden", err)
		}
		var secrets corev1.SecretList
		if err := sa.List(ctx, &secrets, client.InNamespace(optedIn)); !apierrors.IsForbidden(err) {
			t.Errorf("list Secrets in the opted-in namespace: %v, want Forbidden", err)
		}
	})
	t.Run("manager-drills-only-where-bound", func(t *testing.T) {
		startManagerAs(t, cfg, nil)
		for _, ns := range []string{optedIn, notBound} {
			if err := e.c.Create(ctx, drill(ns, "shop", v1alpha1.CacheRacy, v1alpha1.IdempotencyNone, v1alpha1.GatewayLeaky)); err != nil {
				t.Fatal(err)
			}
		}
		exp := e.waitPhase(t, notBound, "shop", 30*time.Second, v1alpha1.PhaseFailed)
		c := apimeta.FindStatusCondition(exp.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil || c.Reason != kube.ReasonNamespaceNotOptedIn {
			t.Fatalf("Ready condition %+v, want reason %s", c, kube.ReasonNamespaceNotOptedIn)
		}
		for _, want := range []string{"namespace " + notBound, "create deployments.apps", "create podchaos.chaos-mesh.org", kube.DrillRole, "make opt-in NS=" + notBound} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("message %q does not say %q", c.Message, want)
			}
		}
		deployments := func(ns string) (int, error) {
			var l appsv1.DeploymentList
			err := e.c.List(ctx, &l, client.InNamespace(ns))
			return len(l.Items), err
		}
		waitFor(t, 30*time.Second, "the victim's Deployments in the opted-in namespace", func() (bool, string) {
			n, err := deployments(optedIn)
			return err == nil && n == 3, fmt.Sprintf("%d Deployments (%v)", n, err)
		})
		if n, err := deployments(notBound); err != nil || n != 0 {
			t.Errorf("%d Deployments in the namespace without RoleBinding (%v)", n, err)
		}
	})
}

// startManagerAs runs the reconciler as cmd/manager wires it (its cache
// and client options) with cfg's rights.
func startManagerAs(t *testing.T, cfg *rest.Config, policy *admission.Policy) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Cache:                  kube.CacheOptions(true),
		Client:                 kube.ClientOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true), CacheSyncTimeout: 20 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &kube.ExperimentReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder:       mgr.GetEventRecorder(kube.ManagerName),
		SampleInterval: time.Second, VictimTimeout: time.Minute, Policy: policy,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}
