package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"

	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// TestPolicyOnRunningDrill: a drill started by a manager without a policy
// is stopped, with reason PolicyViolation, by a manager restarted with a
// policy its load rate goes beyond — the check is not skipped once
// status.phase is set.
func TestPolicyOnRunningDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest")
	}
	e := startEnv(t)
	ns := e.namespace(t, true)
	stop := startManagerAs(t, e.cfg, nil)
	if err := e.c.Create(context.Background(), drill(ns, "shop", v1alpha1.CacheRacy, v1alpha1.IdempotencyNone, v1alpha1.GatewayLeaky)); err != nil {
		t.Fatal(err)
	}
	e.waitPhase(t, ns, "shop", 30*time.Second, v1alpha1.PhasePending, v1alpha1.PhaseSteadyState)
	stop()
	strict, err := admission.NewPolicy(admission.WithMaxLoadRate(100)) // the drill sends 150/s
	if err != nil {
		t.Fatal(err)
	}
	startManagerAs(t, e.cfg, strict)
	exp := e.waitPhase(t, ns, "shop", 30*time.Second, v1alpha1.PhaseFailed)
	c := apimeta.FindStatusCondition(exp.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil || c.Reason != kube.ReasonPolicyViolation || !strings.Contains(c.Message, "--max-load-rate of 100") {
		t.Errorf("Ready condition %+v, want reason %s naming the load rate cap", c, kube.ReasonPolicyViolation)
	}
}
