package admission

import (
	"context"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Permission is one right the author of an Experiment must hold: verb on
// group/resource in namespace.
type Permission struct {
	Verb, Group, Resource, Namespace string
}

// String names the permission as `kubectl auth can-i` takes it:
// "create podchaos.chaos-mesh.org in namespace drills".
func (p Permission) String() string {
	res := p.Resource
	if p.Group != "" {
		res += "." + p.Group
	}
	return fmt.Sprintf("%s %s in namespace %s", p.Verb, res, p.Namespace)
}

// RequiredPermissions lists what the manager creates for exp, so what its
// author must be allowed to create in exp's namespace: podchaos and
// networkchaos (chaos-mesh.org) for the kinds its faults use; deployments
// (apps), services and jobs (batch) for the kit's own victim and its load;
// jobs for the load of spec.target when it has a loadURL.
func RequiredPermissions(exp *v1alpha1.Experiment) []Permission {
	ns := exp.Namespace
	create := func(group, resource string) Permission {
		return Permission{Verb: "create", Group: group, Resource: resource, Namespace: ns}
	}
	var out []Permission
	var pod, net bool
	for _, f := range exp.Spec.Faults {
		pod = pod || f.PodChaos != nil
		net = net || f.NetworkChaos != nil
	}
	if pod {
		out = append(out, create("chaos-mesh.org", "podchaos"))
	}
	if net {
		out = append(out, create("chaos-mesh.org", "networkchaos"))
	}
	switch {
	case exp.Spec.Victim != nil:
		out = append(out, create("apps", "deployments"), create("", "services"), create("batch", "jobs"))
	case exp.Spec.Target != nil && exp.Spec.Target.LoadURL != "":
		out = append(out, create("batch", "jobs"))
	}
	return out
}

// MissingPermissions asks the API server, with one SubjectAccessReview per
// permission, which of perms the user lacks. c must be allowed to create
// subjectaccessreviews.
func MissingPermissions(ctx context.Context, c client.Client, user authenticationv1.UserInfo, perms []Permission) ([]Permission, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	var missing []Permission
	for _, p := range perms {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource,
			},
		}}
		if err := c.Create(ctx, sar); err != nil {
			return nil, fmt.Errorf("SubjectAccessReview for %s: %w", p, err)
		}
		if !sar.Status.Allowed || sar.Status.Denied {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// deniedMessage is the webhook's answer to a user who lacks permissions.
func deniedMessage(user string, missing []Permission) string {
	names := make([]string, len(missing))
	for i, p := range missing {
		names[i] = p.String()
	}
	return fmt.Sprintf("the cascadelab manager would create these objects on your behalf, but %s may not: missing permission: %s "+
		"(check with kubectl auth can-i; the ClusterRole cascadelab-experimenter grants them, see docs/security.md)",
		user, strings.Join(names, "; "))
}
