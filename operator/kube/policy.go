package kube

import (
	"context"
	"fmt"
)

// ReasonPolicyViolation: the Experiment goes beyond the manager's policy
// (victim image not allowed, load rate over the cap, a loadURL that is not
// a Service of the namespace); nothing was created (Ready=False). The
// webhook refuses such Experiments at admission; this catches the ones
// admitted while it was off.
const ReasonPolicyViolation = "PolicyViolation"

// +kubebuilder:rbac:groups="",resources=services,verbs=get

// checkPolicy refuses, before anything is created, a drill that goes
// beyond the reconciler's Policy, naming every problem.
func (d *drill) checkPolicy(ctx context.Context) (bool, error) {
	p := d.r.Policy
	if p == nil || d.exp.Status.Phase != "" {
		return false, nil
	}
	errs := p.CheckCluster(ctx, d.r.reader(), d.exp)
	if len(errs) == 0 {
		return false, nil
	}
	d.refuse(ReasonPolicyViolation, fmt.Sprintf("refused by the manager's policy; nothing was created: %s", errs.ToAggregate()))
	return true, nil
}
