package admission_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/admission"
)

// TestRBACCertRotationByName runs the certificate rotation as the
// manager's ServiceAccount (impersonated) with only the rights of
// manifests/webhook/cert_rbac.yaml, which names the webhook's Secret
// (resourceNames) for every verb: the rotation still fills the Secret and
// the caBundle, and the account can read no other Secret of the namespace.
func TestRBACCertRotationByName(t *testing.T) {
	cfg, c := testenv.Start(t)
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cascadelab-system"}}); err != nil {
		t.Fatal(err)
	}
	secret, vwc := &corev1.Secret{}, &admissionregistrationv1.ValidatingWebhookConfiguration{}
	readManifest(t, "secret.yaml", secret)
	readManifest(t, "validating_webhook.yaml", vwc)
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secret.Namespace, Name: "team-token"}, StringData: map[string]string{"token": "x"}}
	for _, o := range []client.Object{secret, vwc, other} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(), "manifests", "webhook", "cert_rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		var obj client.Object
		switch meta.Kind {
		case "Role":
			obj = &rbacv1.Role{}
		case "RoleBinding":
			obj = &rbacv1.RoleBinding{}
		case "ClusterRole":
			obj = &rbacv1.ClusterRole{}
		case "ClusterRoleBinding":
			obj = &rbacv1.ClusterRoleBinding{}
		default:
			t.Fatalf("cert_rbac.yaml: unexpected %s", meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	sa := rest.CopyConfig(cfg)
	sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:cascadelab-system:cascadelab-manager",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:cascadelab-system", "system:authenticated"}}

	t.Run("no-other-secret", func(t *testing.T) {
		sc, err := client.New(sa, client.Options{Scheme: testenv.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Get(ctx, client.ObjectKeyFromObject(other), &corev1.Secret{}); err == nil {
			t.Errorf("the manager's account reads Secret %s", other.Name)
		}
		if err := sc.List(ctx, &corev1.SecretList{}, client.InNamespace(secret.Namespace)); err == nil {
			t.Errorf("the manager's account lists the Secrets of %s", secret.Namespace)
		}
	})
	t.Run("rotation-with-these-rights", func(t *testing.T) {
		mgr, err := ctrl.NewManager(sa, ctrl.Options{
			Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		})
		if err != nil {
			t.Fatal(err)
		}
		svc := vwc.Webhooks[0].ClientConfig.Service
		if _, err := admission.SetupCertRotation(mgr, admission.CertRotation{
			Namespace: secret.Namespace, Secret: secret.Name, Service: svc.Name,
			WebhookConfiguration: vwc.Name, ControllerName: "cert-rotator-rbac", CertDir: t.TempDir(),
		}); err != nil {
			t.Fatal(err)
		}
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- mgr.Start(mctx) }()
		defer func() {
			cancel()
			<-done
		}()
		got := &corev1.Secret{}
		poll(t, 45*time.Second, "the Secret filled by the rotation", func() bool {
			return c.Get(ctx, client.ObjectKeyFromObject(secret), got) == nil && len(got.Data["tls.crt"]) > 0
		})
		poll(t, 30*time.Second, "the CA in the webhook configuration", func() bool {
			cur := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			return c.Get(ctx, client.ObjectKeyFromObject(vwc), cur) == nil && len(cur.Webhooks[0].ClientConfig.CABundle) > 0
		})
	})
}
