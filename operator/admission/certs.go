package admission

import (
	"fmt"
	"net/http"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// CertRotation describes the webhook's self-managed serving certificate:
// github.com/open-policy-agent/cert-controller keeps a CA and a serving
// certificate for Service.Namespace.svc in Secret, rotates them before they
// expire, and writes the CA into the ValidatingWebhookConfiguration's
// caBundle. The kubelet mounts the Secret at CertDir, where the webhook
// server reads (and re-reads) tls.crt and tls.key.
type CertRotation struct {
	// Namespace holds the Secret and the Service (the manager's namespace).
	Namespace string
	// Secret is the Secret holding the certificates; it must exist (the
	// manifests create it empty).
	Secret string
	// Service is the webhook's Service; the certificate is for its DNS names.
	Service string
	// WebhookConfiguration is the ValidatingWebhookConfiguration whose
	// caBundle is kept current.
	WebhookConfiguration string
	// CertDir is where the Secret is mounted.
	CertDir string
	// ControllerName names the rotator's controller (default
	// "cert-rotator"); controller names are unique in a process.
	ControllerName string
}

// SetupCertRotation adds the certificate rotator to mgr. The rotator
// watches its Secret by name (a metadata.name field selector on its list
// and watch of Secrets), so the manager needs rights on that one Secret
// only (resourceNames, manifests/webhook/cert_rbac.yaml), not on every
// Secret of its namespace. The returned
// channel is closed once certificates are in CertDir and the CA is in the
// webhook configuration: register the webhook after it (the webhook server
// cannot start without its certificate).
func SetupCertRotation(mgr manager.Manager, c CertRotation) (<-chan struct{}, error) {
	if c.Namespace == "" || c.Secret == "" || c.Service == "" || c.WebhookConfiguration == "" || c.CertDir == "" {
		return nil, fmt.Errorf("certificate rotation needs a namespace, a secret, a service, a webhook configuration and a directory: %+v", c)
	}
	ready := make(chan struct{})
	dns := fmt.Sprintf("%s.%s.svc", c.Service, c.Namespace)
	scoped := &secretScopedManager{Manager: mgr, cfg: secretScopedConfig(mgr.GetConfig(), c.Namespace, c.Secret)}
	err := rotator.AddRotator(scoped, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: c.Namespace, Name: c.Secret},
		CertDir:        c.CertDir,
		CAName:         "cascadelab-webhook-ca",
		CAOrganization: "cascadelab",
		DNSName:        dns,
		ExtraDNSNames:  []string{dns + "." + DefaultClusterDomain, c.Service + "." + c.Namespace},
		IsReady:        ready,
		Webhooks:       []rotator.WebhookInfo{{Name: c.WebhookConfiguration, Type: rotator.Validating}},
		// Every replica keeps its own server's certificate current, leader
		// or not: a webhook served only by the leader would leave the
		// others unready.
		RequireLeaderElection: false,
		ControllerName:        c.ControllerName,
	})
	if err != nil {
		return nil, fmt.Errorf("certificate rotation: %w", err)
	}
	return ready, nil
}

// secretScopedManager is a manager whose config (the one cert-controller
// builds its own cache from) lists and watches one Secret only.
type secretScopedManager struct {
	manager.Manager
	cfg *rest.Config
}

// GetConfig returns the Secret-scoped config.
func (m *secretScopedManager) GetConfig() *rest.Config { return m.cfg }

// secretScopedConfig is cfg whose lists and watches of Secrets in ns ask
// for the Secret name only: RBAC grants a list or watch limited by
// resourceNames only to a request with that field selector.
func secretScopedConfig(cfg *rest.Config, ns, name string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	path := "/api/v1/namespaces/" + ns + "/secrets"
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodGet && req.URL.Path == path {
				req = req.Clone(req.Context())
				q := req.URL.Query()
				q.Set("fieldSelector", sel)
				req.URL.RawQuery = q.Encode()
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
