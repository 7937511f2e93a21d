package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cascadelab/cascadelab/internal/freeport"
	"github.com/cascadelab/cascadelab/internal/syncbuf"
	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// kubeconfig writes cfg (envtest's admin) as a kubeconfig file.
func kubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitUntil(t *testing.T, timeout time.Duration, what string, log *syncbuf.Buffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; manager output:\n%s", timeout, what, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestManagerBinary runs the manager as built, against envtest, with the
// webhook on and its certificate rotated by the manager: it logs its
// policy, fills the webhook's Secret, turns ready once the certificate is
// in --webhook-cert-dir (the kubelet's Secret mount, done here by hand),
// and its reconciler refuses an Experiment beyond the policy (the
// webhook configuration is not registered here: envtest cannot reach a
// Service; operator/kube TestNoConfusedDeputy covers the webhook).
func TestManagerBinary(t *testing.T) {
	cfg, c := testenv.Start(t)
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cascadelab-system"}}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "webhook", "secret.yaml"))
	if err == nil {
		err = yaml.UnmarshalStrict(b, secret)
	}
	if err == nil {
		err = c.Create(ctx, secret)
	}
	if err != nil {
		t.Fatal(err)
	}
	probe, err1 := freeport.Port()
	hookPort, err2 := freeport.Port()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	certDir := t.TempDir()
	var log syncbuf.Buffer
	cmd := exec.Command(bin, "--kubeconfig="+kubeconfig(t, cfg), "--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(probe), "--webhook-port="+strconv.Itoa(hookPort),
		"--webhook-cert-dir="+certDir, "--webhook-namespace=cascadelab-system", "--max-load-rate=300")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})

	waitUntil(t, time.Minute, "the webhook's Secret filled", &log, func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(secret), secret) == nil && len(secret.Data["tls.key"]) > 0
	})
	readyz := "http://127.0.0.1:" + strconv.Itoa(probe) + "/readyz/webhook"
	if resp, err := http.Get(readyz); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("%s answers 200 before the certificate is mounted", readyz)
		}
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(certDir, f), secret.Data[f], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, time.Minute, readyz+" to answer 200", &log, func() bool {
		resp, err := http.Get(readyz)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "drills", Labels: map[string]string{kube.LabelChaosOptIn: kube.OptInValue}}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	exp := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "loud"}, Spec: v1alpha1.ExperimentSpec{
		Victim:      &v1alpha1.VictimSpec{Gateway: v1alpha1.GatewaySpec{Timeout: metav1.Duration{Duration: 500 * time.Millisecond}}},
		Load:        v1alpha1.LoadSpec{Rate: 301, DuplicateRatio: "0.1"},
		Duration:    metav1.Duration{Duration: 10 * time.Second},
		SteadyState: metav1.Duration{Duration: 3 * time.Second},
	}}
	if err := c.Create(ctx, exp); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "the over-cap Experiment refused", &log, func() bool {
		if c.Get(ctx, client.ObjectKeyFromObject(exp), exp) != nil {
			return false
		}
		cond := apimeta.FindStatusCondition(exp.Status.Conditions, v1alpha1.ConditionReady)
		return cond != nil && cond.Reason == kube.ReasonPolicyViolation && strings.Contains(cond.Message, "--max-load-rate of 300")
	})
	out := log.String()
	for _, want := range []string{
		"victim images ghcr.io/cascadelab/victim; max load rate 300/s",
		"webhook checks the creator's rights with SubjectAccessReviews",
		"open-policy-agent/cert-controller",
		"webhook registered",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the manager's log lacks %q", want)
		}
	}
}
