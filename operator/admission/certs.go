package admission

import (
	"fmt"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
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
}

// SetupCertRotation adds the certificate rotator to mgr. The returned
// channel is closed once certificates are in CertDir and the CA is in the
// webhook configuration: register the webhook after it (the webhook server
// cannot start without its certificate).
func SetupCertRotation(mgr manager.Manager, c CertRotation) (<-chan struct{}, error) {
	if c.Namespace == "" || c.Secret == "" || c.Service == "" || c.WebhookConfiguration == "" || c.CertDir == "" {
		return nil, fmt.Errorf("certificate rotation needs a namespace, a secret, a service, a webhook configuration and a directory: %+v", c)
	}
	ready := make(chan struct{})
	dns := fmt.Sprintf("%s.%s.svc", c.Service, c.Namespace)
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
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
	})
	if err != nil {
		return nil, fmt.Errorf("certificate rotation: %w", err)
	}
	return ready, nil
}
