package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/cascadelab/cascadelab/operator/admission"
)

// securityFlags are the manager's flags for the admission webhook and the
// policy on Experiments (docs/security.md).
type securityFlags struct {
	allowedImages             []string
	maxLoadRate               int
	clusterDomain             string
	enableWebhook             bool
	checkCreatorRights        bool
	port                      int
	certDir                   string
	certRotation              bool
	namespace, service        string
	secret, webhookConfigName string
}

func (f *securityFlags) register(fs *flag.FlagSet) {
	fs.Func("allowed-victim-images", "comma-separated patterns spec.victim.image must match: a repository pattern (any tag or digest) or a full reference pattern, path.Match syntax (default: the --victim-image repository); repeatable", func(s string) error {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				if err := admission.ValidateImagePattern(p); err != nil {
					return err
				}
				f.allowedImages = append(f.allowedImages, p)
			}
		}
		return nil
	})
	fs.IntVar(&f.maxLoadRate, "max-load-rate", 1000, "cap on spec.load.rate (requests/s) for every Experiment; 0 leaves only the schema's 5000")
	fs.StringVar(&f.clusterDomain, "cluster-domain", admission.DefaultClusterDomain, "the cluster's DNS domain, accepted in spec.target.loadURL as NAME.NAMESPACE.svc.DOMAIN")
	fs.BoolVar(&f.enableWebhook, "enable-webhook", true, "serve the validating webhook for Experiments (false only for a manager run outside the cluster, which the API server cannot call; the policy is still enforced at reconcile, the creator's rights are not checked)")
	fs.BoolVar(&f.checkCreatorRights, "webhook-check-creator-rights", true, "check with SubjectAccessReviews that whoever creates or updates an Experiment may create the chaos objects and workloads the manager creates for it; false lets anyone allowed to create Experiments use the manager's rights")
	fs.IntVar(&f.port, "webhook-port", webhook.DefaultPort, "port of the webhook server")
	fs.StringVar(&f.certDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory with the webhook server's tls.crt and tls.key")
	fs.BoolVar(&f.certRotation, "webhook-cert-rotation", true, "generate and rotate the webhook's certificate (open-policy-agent/cert-controller: Secret --webhook-secret, mounted at --webhook-cert-dir, CA injected into --webhook-configuration); false when something else (cert-manager) provides it")
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "cascadelab-system"
	}
	fs.StringVar(&f.namespace, "webhook-namespace", ns, "namespace of the webhook's Service and Secret (default $POD_NAMESPACE, else cascadelab-system)")
	fs.StringVar(&f.service, "webhook-service", "cascadelab-webhook", "Service in front of the webhook server (the certificate's name)")
	fs.StringVar(&f.secret, "webhook-secret", "cascadelab-webhook-server-cert", "Secret holding the webhook's certificates when --webhook-cert-rotation")
	fs.StringVar(&f.webhookConfigName, "webhook-configuration", "cascadelab-validating-webhook", "ValidatingWebhookConfiguration whose caBundle --webhook-cert-rotation keeps current")
}

// policy builds the reconciler's and the webhook's Policy.
func (f *securityFlags) policy(victimImage string) (*admission.Policy, error) {
	images := f.allowedImages
	if len(images) == 0 {
		images = []string{admission.ImageRepository(victimImage)}
	}
	if f.maxLoadRate < 0 || f.maxLoadRate > 1<<30 {
		return nil, fmt.Errorf("--max-load-rate %d: must be from 0 (no cap) to %d", f.maxLoadRate, 1<<30)
	}
	return admission.NewPolicy(
		admission.WithAllowedImages(images...),
		admission.WithMaxLoadRate(int32(f.maxLoadRate)),
		admission.WithClusterDomain(f.clusterDomain),
	)
}

// webhookReady is the readiness of the webhook: false until it is served.
// It is always ready when the webhook is off.
type webhookReady struct {
	off bool
	srv atomic.Pointer[webhook.Server]
}

func (w *webhookReady) check(req *http.Request) error {
	if w.off {
		return nil
	}
	srv := w.srv.Load()
	if srv == nil {
		return errors.New("webhook not yet registered (waiting for its certificate)")
	}
	return (*srv).StartedChecker()(req)
}

// setupWebhook serves the Validator on mgr's webhook server, once the
// certificate is there when the manager rotates it itself. It logs what
// is checked, and says loudly what is not.
func (f *securityFlags) setupWebhook(mgr ctrl.Manager, policy *admission.Policy, log logr.Logger) (*webhookReady, error) {
	ready := &webhookReady{}
	log.Info("policy on Experiments (webhook and reconcile)", "policy", policy.String())
	if !f.enableWebhook {
		log.Info("WARNING: --enable-webhook=false: no admission webhook; the creator's rights are NOT checked (the policy still is, at reconcile)")
		ready.off = true
		return ready, nil
	}
	if f.checkCreatorRights {
		log.Info("webhook checks the creator's rights with SubjectAccessReviews")
	} else {
		log.Info("WARNING: --webhook-check-creator-rights=false: anyone allowed to create Experiments gets chaos and workloads created with the manager's rights")
	}
	v := admission.NewValidator(mgr.GetClient(), mgr.GetScheme(),
		admission.WithPolicy(policy), admission.WithCreatorRightsCheck(f.checkCreatorRights))
	register := func() {
		srv := mgr.GetWebhookServer()
		v.Register(srv)
		ready.srv.Store(&srv)
		log.Info("webhook registered", "path", admission.Path, "port", f.port)
	}
	if !f.certRotation {
		log.Info("webhook certificate from --webhook-cert-dir (not rotated by the manager)", "dir", f.certDir)
		register()
		return ready, nil
	}
	certsReady, err := admission.SetupCertRotation(mgr, admission.CertRotation{
		Namespace: f.namespace, Secret: f.secret, Service: f.service,
		WebhookConfiguration: f.webhookConfigName, CertDir: f.certDir,
	})
	if err != nil {
		return nil, err
	}
	log.Info("webhook certificate rotated by the manager (open-policy-agent/cert-controller)", "secret", f.namespace+"/"+f.secret, "dir", f.certDir)
	go func() {
		// The rotator says ready only after its own back-off (1 s, 2 s,
		// 4 s, … between looks at the directory); the kubelet's update of
		// the mounted Secret is what takes time, so look every second too.
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-certsReady:
			case <-tick.C:
				if !certsPresent(f.certDir) {
					continue
				}
			}
			register()
			return
		}
	}()
	return ready, nil
}

// certsPresent reports whether dir holds a serving certificate and key.
func certsPresent(dir string) bool {
	for _, name := range []string{"tls.crt", "tls.key"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			return false
		}
	}
	return true
}
