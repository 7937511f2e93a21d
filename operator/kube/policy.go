package kube

import (
	"context"
	"fmt"
)

// ReasonPolicyViolation: the Experiment goes beyond the manager's policy
// (victim image not allowed, load rate over the cap, a loadURL that is not
// a Service of the namespace); nothing was created (Ready=False), or, for a
// drill already running (a manager restarted with a stricter policy, a
// Service changed since admission), the drill was stopped, its faults
// recovered. The webhook refuses such Experiments at admission; this
// catches the ones admitted while it was off or under another policy.
const ReasonPolicyViolation = "PolicyViolation"

// checkPolicy checks the drill against the reconciler's Policy at every
// reconcile of a running drill, not only before the first: a drill that
// goes beyond it is refused before anything is created, or failed through
// its driver (every fault removed, everything stopped) once it runs.
// Before the first create it also checks the manager's rights in the
// namespace (checkRights).
func (d *drill) checkPolicy(ctx context.Context) (bool, error) {
	if d.exp.Status.Phase == "" {
		if done, err := d.checkRights(ctx); done || err != nil {
			return done, err
		}
	}
	p := d.r.Policy
	if p == nil {
		return false, nil
	}
	if d.exp.Status.Phase != "" {
		return d.checkRunningPolicy(ctx)
	}
	if errs := p.CheckCluster(ctx, d.r.reader(), d.exp); len(errs) > 0 {
		d.refuse(ReasonPolicyViolation, fmt.Sprintf("refused by the manager's policy; nothing was created: %s", errs.ToAggregate()))
		return true, nil
	}
	return false, nil
}

// checkRunningPolicy checks a running drill against the policy's own
// limits (image, load rate, loadURL's form; the loadURL's Service is read
// where the load Job is created): a manager restarted with a stricter
// policy stops the drills it resumes that go beyond it.
func (d *drill) checkRunningPolicy(ctx context.Context) (bool, error) {
	errs := d.r.Policy.Check(d.exp)
	if len(errs) == 0 {
		return false, nil
	}
	if _, err := d.loadDriver(ctx); err != nil || d.run == nil {
		return true, err
	}
	if e := d.run.drv.Engine(); e.Stopping() || e.Phase().Terminal() {
		_, err := d.step(ctx) // already ending: go on removing faults
		return true, err
	}
	return true, d.fail(ctx, ReasonPolicyViolation, fmt.Sprintf("stopped by the manager's policy: %s", errs.ToAggregate()))
}
