package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/cascadelab/cascadelab/internal/freeport"
	"github.com/cascadelab/cascadelab/internal/syncbuf"
	"github.com/cascadelab/cascadelab/internal/testenv"
)

// TestRBACMetricsEndpoint runs the manager as built with its default
// --metrics-secure: /metrics answers over HTTPS only, 401 to a caller
// without a token, 403 to a ServiceAccount the API server authenticates
// but that holds no right on /metrics, and the metrics to one bound to
// manifests/rbac's cascadelab-metrics-reader.
func TestRBACMetricsEndpoint(t *testing.T) {
	cfg, c := testenv.Start(t)
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "manager")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	var log syncbuf.Buffer
	cmd := exec.Command(bin, "--kubeconfig="+kubeconfig(t, cfg), "--enable-webhook=false",
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(port), "--health-probe-bind-address=0")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})

	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// Two accounts: the filter caches a denial for 30 s, so the one bound
	// to the reader role is never refused first.
	token := func(name string) string {
		t.Helper()
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name}}
		if err := c.Create(ctx, sa); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts(ns.Name).CreateToken(ctx, sa.Name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	nobody, prometheus := token("nobody"), token("prometheus")
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(scheme, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, scheme+"://127.0.0.1:"+strconv.Itoa(port)+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	waitUntil(t, time.Minute, "the metrics endpoint answering", &log, func() bool {
		code, _ := get("https", "")
		return code != 0
	})

	t.Run("plain-http-refused", func(t *testing.T) {
		if code, _ := get("http", nobody); code == http.StatusOK {
			t.Errorf("/metrics answers 200 over plain HTTP")
		}
	})
	t.Run("no-token-401", func(t *testing.T) {
		if code, body := get("https", ""); code != http.StatusUnauthorized {
			t.Errorf("without a token: %d %.200s, want 401", code, body)
		}
	})
	t.Run("no-right-403", func(t *testing.T) {
		if code, body := get("https", nobody); code != http.StatusForbidden {
			t.Errorf("a ServiceAccount without cascadelab-metrics-reader: %d %.200s, want 403", code, body)
		}
	})
	t.Run("metrics-reader-200", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "rbac", "metrics_reader_role.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		role := &rbacv1.ClusterRole{}
		if err := yaml.UnmarshalStrict(b, role); err != nil {
			t.Fatal(err)
		}
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-cascadelab-metrics"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: ns.Name}}}
		if err := c.Create(ctx, role); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, crb); err != nil {
			t.Fatal(err)
		}
		var code int
		var body string
		deadline := time.Now().Add(30 * time.Second)
		for ; time.Now().Before(deadline); time.Sleep(time.Second) {
			if code, body = get("https", prometheus); code == http.StatusOK {
				break
			}
		}
		if code != http.StatusOK || !strings.Contains(body, "controller_runtime_") {
			t.Errorf("bound to %s: %d %.200s, want 200 with the metrics", role.Name, code, body)
		}
	})
}
