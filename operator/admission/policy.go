package admission

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// Policy is the manager operator's limits on Experiments: which victim
// images may run, how much load a drill may send, and where. Build it with
// NewPolicy; its zero value allows no spec.victim.image and caps nothing.
type Policy struct {
	images        []string
	maxLoadRate   int32
	clusterDomain string
}

// PolicyOption configures a Policy.
type PolicyOption func(*Policy)

// WithAllowedImages sets the patterns spec.victim.image must match (see
// ImageAllowed). An empty spec.victim.image (the manager's --victim-image)
// is always allowed.
func WithAllowedImages(patterns ...string) PolicyOption {
	return func(p *Policy) { p.images = append(p.images, patterns...) }
}

// WithMaxLoadRate caps spec.load.rate (requests/s); 0 leaves only the
// schema's own cap.
func WithMaxLoadRate(n int32) PolicyOption {
	return func(p *Policy) { p.maxLoadRate = n }
}

// WithClusterDomain sets the cluster's DNS domain accepted in a loadURL
// (default DefaultClusterDomain).
func WithClusterDomain(domain string) PolicyOption {
	return func(p *Policy) { p.clusterDomain = strings.Trim(domain, ".") }
}

// NewPolicy returns a Policy with the options applied, or an error for an
// invalid image pattern or a negative rate cap.
func NewPolicy(opts ...PolicyOption) (*Policy, error) {
	p := &Policy{clusterDomain: DefaultClusterDomain}
	for _, o := range opts {
		o(p)
	}
	for _, pat := range p.images {
		if err := ValidateImagePattern(pat); err != nil {
			return nil, err
		}
	}
	if p.maxLoadRate < 0 {
		return nil, fmt.Errorf("max load rate %d: must be 0 (no cap) or more", p.maxLoadRate)
	}
	if p.clusterDomain == "" {
		p.clusterDomain = DefaultClusterDomain
	}
	return p, nil
}

// AllowedImages returns the image patterns.
func (p *Policy) AllowedImages() []string { return append([]string(nil), p.images...) }

// MaxLoadRate returns the cap on spec.load.rate (0: none).
func (p *Policy) MaxLoadRate() int32 { return p.maxLoadRate }

// ClusterDomain returns the cluster's DNS domain used for loadURLs.
func (p *Policy) ClusterDomain() string { return p.clusterDomain }

// String describes the policy for the manager's start-up log.
func (p *Policy) String() string {
	rate := "no cap beyond the schema's"
	if p.maxLoadRate > 0 {
		rate = fmt.Sprintf("%d/s", p.maxLoadRate)
	}
	return fmt.Sprintf("victim images %s; max load rate %s; loadURL: Services of the experiment's namespace (cluster domain %s)",
		strings.Join(p.images, ","), rate, p.clusterDomain)
}

// Check returns every way exp goes beyond the policy, each with its field
// path; none means allowed. It needs nothing but the Experiment, so the
// webhook and the reconciler give the same answer.
func (p *Policy) Check(exp *v1alpha1.Experiment) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if v := exp.Spec.Victim; v != nil && v.Image != "" && !ImageAllowed(v.Image, p.images) {
		errs = append(errs, field.Forbidden(spec.Child("victim", "image"), fmt.Sprintf(
			"image %q is not an allowed victim image: the manager runs only images matching --allowed-victim-images (%s)",
			v.Image, strings.Join(p.images, ","))))
	}
	if r := exp.Spec.Load.Rate; p.maxLoadRate > 0 && r > p.maxLoadRate {
		errs = append(errs, field.Invalid(spec.Child("load", "rate"), r,
			fmt.Sprintf("over the manager's --max-load-rate of %d requests/s", p.maxLoadRate)))
	}
	if t := exp.Spec.Target; t != nil && t.LoadURL != "" {
		if _, err := LoadService(t.LoadURL, exp.Namespace, p.clusterDomain); err != nil {
			errs = append(errs, field.Invalid(spec.Child("target", "loadURL"), t.LoadURL, err.Error()))
		}
	}
	return errs
}

// CheckCluster is Check plus what needs the API server: the Service a
// loadURL names must exist and not be an ExternalName (ResolveLoadService).
// The reconciler runs it before a drill creates anything.
func (p *Policy) CheckCluster(ctx context.Context, r client.Reader, exp *v1alpha1.Experiment) field.ErrorList {
	errs := p.Check(exp)
	if len(errs) > 0 {
		return errs
	}
	if t := exp.Spec.Target; t != nil && t.LoadURL != "" {
		if err := ResolveLoadService(ctx, r, t.LoadURL, exp.Namespace, p.clusterDomain); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "target", "loadURL"), t.LoadURL, err.Error()))
		}
	}
	return errs
}
