package kube

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
)

// ReasonForbidden: the API server refused to create one of the drill's
// objects although the manager holds the rights for it (a ResourceQuota
// exceeded, an admission webhook's denial); the message names the object
// and quotes the refusal (Ready=False). What the drill had created is
// deleted. A refusal for want of rights is NamespaceNotOptedIn.
const ReasonForbidden = "Forbidden"

// DrillRole is the ClusterRole with the rights the manager needs in a
// namespace it drills (manifests/rbac/drill_role.yaml), granted there
// only, by a RoleBinding of that name (manifests/opt-in, make opt-in).
const DrillRole = "cascadelab-manager-drills"

// DrillRights lists what the manager does in exp's namespace for a drill
// of exp: verbs on group/resource. Each one must come from the namespace's
// RoleBinding to DrillRole; none is granted cluster-wide.
func DrillRights(exp *v1alpha1.Experiment, ledgerStorage string) []admission.Permission {
	ns := exp.Namespace
	var out []admission.Permission
	add := func(group, resource string, verbs ...string) {
		for _, v := range verbs {
			out = append(out, admission.Permission{Verb: v, Group: group, Resource: resource, Namespace: ns})
		}
	}
	var pod, net bool
	for _, f := range exp.Spec.Faults {
		pod = pod || f.PodChaos != nil
		net = net || f.NetworkChaos != nil
	}
	// createChaos, readChaos, deleteAllChaos (a List), forceChaosGone.
	if pod {
		add("chaos-mesh.org", "podchaos", "create", "get", "list", "delete", "patch", "update")
	}
	if net {
		add("chaos-mesh.org", "networkchaos", "create", "get", "list", "delete", "patch", "update")
	}
	if exp.Spec.Victim != nil {
		add("apps", "deployments", "create", "get", "delete")
		add("", "services", "create", "get", "delete")
		if ledgerStorage != "" {
			add("", "persistentvolumeclaims", "create", "get", "delete")
		}
	}
	if exp.Spec.Victim != nil || (exp.Spec.Target != nil && exp.Spec.Target.LoadURL != "") {
		add("batch", "jobs", "create", "get", "delete")
	}
	if exp.Spec.Target != nil && exp.Spec.Target.LoadURL != "" {
		add("", "services", "get") // the loadURL's Service (policy.go)
	}
	add("", "configmaps", "create", "get", "update", "delete") // the report
	add("", "pods/log", "get")                                 // a crashed container's log
	return out
}

// missingRights asks the API server, with SelfSubjectAccessReviews (which
// every authenticated user may create), which of perms the manager lacks.
func missingRights(ctx context.Context, c client.Client, perms []admission.Permission) ([]admission.Permission, error) {
	var missing []admission.Permission
	for _, p := range perms {
		res, sub, _ := strings.Cut(p.Resource, "/")
		r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: res, Subresource: sub,
			},
		}}
		if err := c.Create(ctx, r); err != nil {
			return nil, fmt.Errorf("asking whether the manager may %s: %w", p, err)
		}
		if !r.Status.Allowed {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// rightsMessage says which rights the manager lacks in ns and how a
// cluster admin grants them; then says what became of the drill's objects.
func rightsMessage(ns string, missing []admission.Permission, then string) string {
	var names []string
	for _, p := range missing {
		res := p.Resource
		if p.Group != "" {
			res += "." + p.Group
		}
		names = append(names, p.Verb+" "+res)
	}
	return fmt.Sprintf("the manager may not %s in namespace %s: the namespace is not opted in "+
		"(no RoleBinding of ClusterRole %s to the manager's ServiceAccount there; a cluster admin grants it with make opt-in NS=%s, docs/security.md); %s",
		strings.Join(names, ", "), ns, DrillRole, ns, then)
}

// checkRights refuses, before anything is created, a drill in a namespace
// where the manager lacks a right the drill needs (the namespace's
// RoleBinding missing or changed): phase Failed, reason
// NamespaceNotOptedIn naming the namespace and every missing right.
func (d *drill) checkRights(ctx context.Context) (bool, error) {
	missing, err := missingRights(ctx, d.r.Client, DrillRights(d.exp, d.r.LedgerStorage))
	if err != nil {
		return true, err
	}
	if len(missing) == 0 {
		return false, nil
	}
	d.refuse(ReasonNamespaceNotOptedIn, rightsMessage(d.exp.Namespace, missing, "nothing was created"))
	return true, nil
}

// failForbidden ends the drill on a Forbidden create of obj, which no
// retry can change: NamespaceNotOptedIn naming the missing rights when the
// manager lacks some (the namespace's RoleBinding removed or changed
// during the drill), else Forbidden quoting the API server. Every fault is
// recovered and what the drill created deleted by the following steps. It
// returns err as Permanent, for the driver.
func (b *clusterBackend) failForbidden(ctx context.Context, obj client.Object, err error) error {
	d, exp := b.d, b.exp()
	then := "nothing was created"
	if b.created {
		then = "the objects the drill had created are deleted"
	}
	reason := ReasonForbidden
	msg := fmt.Sprintf("the API server refused to create %s/%s in namespace %s: %v; %s", kindOf(obj), obj.GetName(), exp.Namespace, err, then)
	if missing, merr := missingRights(ctx, b.r.Client, DrillRights(exp, b.r.LedgerStorage)); merr == nil && len(missing) > 0 {
		reason, msg = ReasonNamespaceNotOptedIn, rightsMessage(exp.Namespace, missing, then)
	}
	if d.failReason == "" {
		d.failReason, d.failMsg = reason, msg
		d.event(corev1.EventTypeWarning, reason, "%s", msg)
	}
	if d.run != nil {
		d.run.drv.Fail(d.now, msg)
	}
	return drive.Permanent(err)
}
