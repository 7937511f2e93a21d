package admission

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// Path is where the manager's webhook server serves the Validator; the
// ValidatingWebhookConfiguration in manifests/webhook points at it.
const Path = "/validate-cascadelab-dev-v1alpha1-experiment"

// Validator is the validating admission webhook for Experiments. On create
// it applies the Policy and checks the requesting user's rights
// (RequiredPermissions) with SubjectAccessReviews; on update it checks the
// rights again, and the Policy when the spec changed, except for an
// Experiment being deleted (so its finalizer can always be removed).
type Validator struct {
	client      client.Client
	decoder     cradmission.Decoder
	policy      *Policy
	checkRights bool
}

// ValidatorOption configures a Validator.
type ValidatorOption func(*Validator)

// WithPolicy sets the Policy the Validator applies (default: NewPolicy()
// with no options, which refuses every spec.victim.image).
func WithPolicy(p *Policy) ValidatorOption { return func(v *Validator) { v.policy = p } }

// WithCreatorRightsCheck turns the SubjectAccessReviews on (the default) or
// off. Off, anyone allowed to create an Experiment has the manager create
// chaos and workloads for them: the manager's --webhook-check-creator-rights
// flag, logged at start.
func WithCreatorRightsCheck(on bool) ValidatorOption {
	return func(v *Validator) { v.checkRights = on }
}

// NewValidator returns a Validator that creates SubjectAccessReviews with c
// and decodes Experiments with scheme.
func NewValidator(c client.Client, scheme *runtime.Scheme, opts ...ValidatorOption) *Validator {
	v := &Validator{client: c, decoder: cradmission.NewDecoder(scheme), checkRights: true}
	for _, o := range opts {
		o(v)
	}
	if v.policy == nil {
		v.policy, _ = NewPolicy()
	}
	return v
}

// Register serves v at Path on srv.
func (v *Validator) Register(srv webhook.Server) {
	srv.Register(Path, &webhook.Admission{Handler: v})
}

// Handle answers one admission request.
func (v *Validator) Handle(ctx context.Context, req cradmission.Request) cradmission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return cradmission.Allowed("")
	}
	exp := &v1alpha1.Experiment{}
	if err := v.decoder.Decode(req, exp); err != nil {
		return cradmission.Errored(http.StatusBadRequest, err)
	}
	if exp.Namespace == "" {
		exp.Namespace = req.Namespace
	}
	checkPolicy := true
	if req.Operation == admissionv1.Update {
		old := &v1alpha1.Experiment{}
		if err := v.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return cradmission.Errored(http.StatusBadRequest, err)
		}
		if !exp.DeletionTimestamp.IsZero() {
			return cradmission.Allowed("being deleted")
		}
		checkPolicy = !equality.Semantic.DeepEqual(old.Spec, exp.Spec)
	}
	if checkPolicy {
		if errs := v.policy.Check(exp); len(errs) > 0 {
			return cradmission.Denied(fmt.Sprintf("refused by the cascadelab manager's policy: %s", errs.ToAggregate()))
		}
	}
	if !v.checkRights {
		return cradmission.Allowed("creator's rights not checked (--webhook-check-creator-rights=false)")
	}
	missing, err := MissingPermissions(ctx, v.client, req.UserInfo, RequiredPermissions(exp))
	if err != nil {
		logf.FromContext(ctx).Error(err, "checking the creator's rights", "user", req.UserInfo.Username)
		return cradmission.Errored(http.StatusInternalServerError, err)
	}
	if len(missing) > 0 {
		return cradmission.Denied(deniedMessage(req.UserInfo.Username, missing))
	}
	return cradmission.Allowed("")
}
