package admission_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	"github.com/cascadelab/cascadelab/internal/freeport"
	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/admission"
)

// readManifest decodes one object of manifests/webhook.
func readManifest(t *testing.T, name string, into client.Object) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "manifests", "webhook", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// poll waits until cond holds, failing the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCertRotation runs the manager's certificate rotation
// (cert-controller) against a real API server with the Secret and the
// webhook configuration of manifests/webhook: it fills the Secret with a
// CA and a serving certificate for the webhook Service, writes the CA into
// the configuration's caBundle, and, once the certificate is in the
// directory (the kubelet's Secret mount, done here by hand), says it is
// ready; the webhook server registered then serves that certificate.
func TestCertRotation(t *testing.T) {
	cfg, c := testenv.Start(t)
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cascadelab-system"}}); err != nil {
		t.Fatal(err)
	}
	secret, vwc := &corev1.Secret{}, &admissionregistrationv1.ValidatingWebhookConfiguration{}
	readManifest(t, "secret.yaml", secret)
	readManifest(t, "validating_webhook.yaml", vwc)
	svc := vwc.Webhooks[0].ClientConfig.Service
	for _, o := range []client.Object{secret, vwc} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ready, err := admission.SetupCertRotation(mgr, admission.CertRotation{
		Namespace: secret.Namespace, Secret: secret.Name, Service: svc.Name,
		WebhookConfiguration: vwc.Name, ControllerName: "cert-rotator-rotation", CertDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	got := &corev1.Secret{}
	poll(t, 30*time.Second, "the Secret filled", func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(secret), got) == nil && len(got.Data["tls.crt"]) > 0 && len(got.Data["ca.crt"]) > 0
	})
	poll(t, 30*time.Second, "the CA in the webhook configuration's caBundle", func() bool {
		cur := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		return c.Get(ctx, client.ObjectKeyFromObject(vwc), cur) == nil && bytes.Equal(cur.Webhooks[0].ClientConfig.CABundle, got.Data["ca.crt"])
	})
	dnsName := svc.Name + "." + svc.Namespace + ".svc"
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(got.Data["ca.crt"]) {
		t.Fatal("ca.crt is not PEM")
	}
	blk, _ := pem.Decode(got.Data["tls.crt"])
	if blk == nil {
		t.Fatal("tls.crt is not PEM")
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: dnsName}); err != nil {
		t.Fatalf("serving certificate for %s: %v", dnsName, err)
	}

	// The kubelet's Secret mount.
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), got.Data[f], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ready:
	case <-time.After(2 * time.Minute):
		t.Fatal("the rotator never said the certificate is ready")
	}
	admission.NewValidator(mgr.GetClient(), mgr.GetScheme()).Register(mgr.GetWebhookServer())
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var state tls.ConnectionState
	poll(t, 30*time.Second, "the webhook server serving the rotated certificate at "+addr, func() bool {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: dnsName})
		if err != nil {
			return false
		}
		state = conn.ConnectionState()
		conn.Close()
		return true
	})
	if !state.PeerCertificates[0].Equal(leaf) {
		t.Errorf("the server serves %s, not the certificate in the Secret", state.PeerCertificates[0].Subject)
	}
}
