package kube_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// webhookConfigPath is the ValidatingWebhookConfiguration the tests
// register: the one the manifests ship.
func webhookConfigPath() string {
	return filepath.Join(testenv.RepoRoot(), "manifests", "webhook", "validating_webhook.yaml")
}

// securedEnv is an API server with the Experiment webhook of
// manifests/webhook registered (envtest points it at a local port and
// makes its certificate), and a manager serving it.
type securedEnv struct {
	*env
	hook *envtest.WebhookInstallOptions
}

// startSecuredEnv starts envtest with the CRDs and the webhook
// configuration installed.
func startSecuredEnv(t *testing.T) *securedEnv {
	t.Helper()
	assets := testenv.AssetsDir()
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			if testing.Short() {
				t.Skipf("envtest: %s missing in %s (skipped under -short)", bin, assets)
			}
			t.Fatalf("envtest: %s missing in %s: run `make envtest-assets`", bin, assets)
		}
	}
	chaos, err := testenv.ChaosMeshCRDPaths()
	if err != nil {
		t.Fatalf("envtest: Chaos Mesh CRDs: %v", err)
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{testenv.CRDDir()}, chaos...),
		ErrorIfCRDPathMissing: true,
		Scheme:                testenv.Scheme(),
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{webhookConfigPath()}},
	}
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("envtest: start: %v", err)
	}
	t.Cleanup(func() {
		if err := te.Stop(); err != nil {
			t.Errorf("envtest: stop: %v", err)
		}
	})
	if n := len(te.WebhookInstallOptions.ValidatingWebhooks); n != 1 {
		t.Fatalf("%s: %d ValidatingWebhookConfigurations, want 1", webhookConfigPath(), n)
	}
	c, err := client.New(cfg, client.Options{Scheme: te.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &securedEnv{env: &env{cfg: cfg, c: c}, hook: &te.WebhookInstallOptions}
}

// startManager runs a manager as cmd/manager wires it: the reconciler with
// the policy, and the webhook served on envtest's port with its
// certificate. It returns once the webhook answers TLS.
func (e *securedEnv) startManager(t *testing.T, policy *admission.Policy, opts ...admission.ValidatorOption) {
	t.Helper()
	mgr, err := ctrl.NewManager(e.cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: e.hook.LocalServingHost, Port: e.hook.LocalServingPort, CertDir: e.hook.LocalServingCertDir,
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &kube.ExperimentReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder:       mgr.GetEventRecorder(kube.ManagerName),
		SampleInterval: time.Second, VictimTimeout: 30 * time.Second,
		Policy: policy,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	admission.NewValidator(mgr.GetClient(), mgr.GetScheme(), append([]admission.ValidatorOption{admission.WithPolicy(policy)}, opts...)...).
		Register(mgr.GetWebhookServer())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	addr := net.JoinHostPort(e.hook.LocalServingHost, strconv.Itoa(e.hook.LocalServingPort))
	waitFor(t, 30*time.Second, "the webhook server at "+addr, func() (bool, string) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	})
}

// as returns a client that impersonates user (with groups) through the
// real API server: every request is authenticated as that user,
// authorized by RBAC and sent through admission with their userInfo.
func (e *securedEnv) as(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(e.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups, Extra: map[string][]string{"cascadelab.dev/test": {t.Name()}}}
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bind grants subject (a User or a Group) the ClusterRole role in ns.
func (e *securedEnv) bind(t *testing.T, ns, role, kind, subject string) {
	t.Helper()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%s", role, subject)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: kind, Name: subject}},
	}
	if err := e.c.Create(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
}

// clusterRole creates a ClusterRole with rules.
func (e *securedEnv) clusterRole(t *testing.T, name string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	if err := e.c.Create(context.Background(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}); err != nil {
		t.Fatal(err)
	}
}

// experimenterRole reads the cascadelab-experimenter ClusterRole the
// manifests ship.
func experimenterRole(t *testing.T) *rbacv1.ClusterRole {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), "manifests", "rbac", "experimenter_role.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(b, role); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if role.Name != "cascadelab-experimenter" {
		t.Fatalf("%s: ClusterRole %q, want cascadelab-experimenter", path, role.Name)
	}
	return role
}
