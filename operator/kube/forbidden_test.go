package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// TestRBACForbiddenCreate: the API server refuses the victim's
// Deployments with 403 Forbidden although the manager holds its rights (a
// ResourceQuota of no Deployments): the drill fails at once with reason
// Forbidden naming the object and quoting the refusal, instead of retrying
// a create that cannot succeed.
func TestRBACForbiddenCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest")
	}
	e := startEnv(t)
	ctx := context.Background()
	ns := e.namespace(t, true)
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-deployments"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/deployments.apps": resource.MustParse("0")}}}
	if err := e.c.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	// No quota controller on envtest: set the status it would.
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{"count/deployments.apps": resource.MustParse("0")}}
	if err := e.c.Status().Update(ctx, q); err != nil {
		t.Fatal(err)
	}
	startManagerAs(t, e.cfg, nil)
	if err := e.c.Create(ctx, drill(ns, "shop", v1alpha1.CacheRacy, v1alpha1.IdempotencyNone, v1alpha1.GatewayLeaky)); err != nil {
		t.Fatal(err)
	}
	exp := e.waitPhase(t, ns, "shop", 30*time.Second, v1alpha1.PhaseFailed)
	c := apimeta.FindStatusCondition(exp.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil || c.Reason != kube.ReasonForbidden {
		t.Fatalf("Ready condition %+v, want reason %s", c, kube.ReasonForbidden)
	}
	for _, want := range []string{"refused to create Deployment/shop-", "namespace " + ns, "exceeded quota"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q does not say %q", c.Message, want)
		}
	}
	var deps appsv1.DeploymentList
	if err := e.c.List(ctx, &deps, client.InNamespace(ns)); err != nil || len(deps.Items) != 0 {
		t.Errorf("%d Deployments (%v)", len(deps.Items), err)
	}
}
