package testenv

// The real Chaos Mesh chaos-controller-manager beside the envtest API server.
//
// `make chaos-mesh-assets` builds the binary from the Go module proxy (through
// the wrapper module in hack/chaos-mesh, at the Chaos Mesh version of
// ChaosMeshModule) into <repo>/bin/chaos-mesh. StartChaosMesh runs it out of
// cluster against an API server, configured by environment only, with its
// admission webhooks registered (a self-signed certificate for 127.0.0.1), so
// PodChaos and NetworkChaos are defaulted and validated by Chaos Mesh's own
// webhooks and PodChaos is executed by Chaos Mesh itself. Without a kubelet
// and chaos-daemon, pod-kill and pod-failure work; container-kill and
// NetworkChaos injection do not (a NetworkChaos is accepted, defaulted and
// recorded, then waits for the daemon: ForceDeleteChaos removes it).

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ChaosMeshBinaryEnv names the environment variable that overrides where the
// chaos-controller-manager binary is looked for.
const ChaosMeshBinaryEnv = "CHAOS_MESH_CONTROLLER_MANAGER"

// ChaosMeshNamespace is the controller's own namespace (its NAMESPACE), which
// StartChaosMesh creates. It holds nothing the tests need.
const ChaosMeshNamespace = "chaos-mesh"

// ChaosMeshWebhookResources are the chaos kinds (plural resource names) whose
// mutating and validating webhooks StartChaosMesh registers: those of the
// Chaos Mesh CRDs Start installs that Chaos Mesh's Helm chart registers.
var ChaosMeshWebhookResources = []string{"podchaos", "networkchaos"}

// Names of the webhook configurations StartChaosMesh registers.
const (
	ChaosMeshMutatingWebhook   = "cascadelab-chaos-mesh-mutation"
	ChaosMeshValidatingWebhook = "cascadelab-chaos-mesh-validation"
)

// How long StartChaosMesh waits for the controller's webhooks to answer
// through the API server, and how long Stop waits after each signal.
var (
	ChaosMeshReadyTimeout = 2 * time.Minute
	chaosMeshTermWait     = []time.Duration{500 * time.Millisecond, 5 * time.Second}
)

// ChaosMeshBinary returns where the chaos-controller-manager binary is
// expected: $CHAOS_MESH_CONTROLLER_MANAGER, or
// <repo>/bin/chaos-mesh/chaos-controller-manager when it is unset.
func ChaosMeshBinary() string {
	if p := os.Getenv(ChaosMeshBinaryEnv); p != "" {
		return p
	}
	return filepath.Join(RepoRoot(), "bin", "chaos-mesh", "chaos-controller-manager")
}

// ChaosMesh is a running chaos-controller-manager started by StartChaosMesh.
type ChaosMesh struct {
	Binary      string
	WebhookPort int
	MetricsPort int
	// CACert is the PEM of the webhook server's self-signed certificate,
	// registered as the webhooks' caBundle.
	CACert []byte
	// Kubeconfig is the kubeconfig file the controller uses.
	Kubeconfig string
	// LogPath is the controller's combined stdout and stderr, in the test's
	// artifact directory (kept with `go test -artifacts`), and its tail is
	// logged when the test fails.
	LogPath string
	// StartDuration is the time StartChaosMesh took, from writing the
	// certificate to the webhooks answering through the API server.
	StartDuration time.Duration
	// CRDDuration is the part of StartDuration spent installing the CRDs.
	CRDDuration time.Duration

	c        client.Client
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	stopOnce sync.Once
	stopErr  error
}

// StartChaosMesh starts Chaos Mesh's chaos-controller-manager against the API
// server of cfg and registers its admission webhooks for
// ChaosMeshWebhookResources; it returns once a PodChaos is defaulted and
// validated by those webhooks through the API server. It builds nothing: when
// the binary is missing it fails the test saying to run `make
// chaos-mesh-assets` (it skips under -short). It is stopped when the test
// ends: the webhooks are unregistered, then the process gets TERM, TERM, KILL.
//
// Cluster-scoped: the controller acts on chaos objects of every namespace.
// Run one per API server.
func StartChaosMesh(t testing.TB, cfg *rest.Config) *ChaosMesh {
	t.Helper()
	start := time.Now()
	bin := ChaosMeshBinary()
	if _, err := os.Stat(bin); err != nil {
		if testing.Short() {
			t.Skipf("chaos-mesh: %s missing (skipped under -short)", bin)
		}
		t.Fatalf("chaos-mesh: chaos-controller-manager missing at %s: run `make chaos-mesh-assets` or set %s", bin, ChaosMeshBinaryEnv)
	}
	if _, err := os.Stat(ChaosMeshCRDDir()); err != nil {
		if testing.Short() {
			t.Skipf("chaos-mesh: %s missing (skipped under -short)", ChaosMeshCRDDir())
		}
		t.Fatalf("chaos-mesh: CRDs missing at %s: run `make chaos-mesh-assets`", ChaosMeshCRDDir())
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatalf("chaos-mesh: client: %v", err)
	}
	m := &ChaosMesh{Binary: bin, c: c, exited: make(chan struct{})}

	dir := t.TempDir()
	certsDir := filepath.Join(dir, "certs")
	m.CACert, err = writeSelfSignedCert(certsDir)
	if err != nil {
		t.Fatalf("chaos-mesh: certificate: %v", err)
	}
	m.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(cfg, m.Kubeconfig); err != nil {
		t.Fatalf("chaos-mesh: kubeconfig: %v", err)
	}
	if m.WebhookPort, err = freePort(); err != nil {
		t.Fatalf("chaos-mesh: %v", err)
	}
	if m.MetricsPort, err = freePort(); err != nil {
		t.Fatalf("chaos-mesh: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), ChaosMeshReadyTimeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ChaosMeshNamespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("chaos-mesh: namespace %s: %v", ChaosMeshNamespace, err)
	}

	crdStart := time.Now()
	if err := installChaosMeshCRDs(ctx, c); err != nil {
		t.Fatalf("chaos-mesh: CRDs: %v", err)
	}
	m.CRDDuration = time.Since(crdStart)

	m.LogPath = filepath.Join(t.ArtifactDir(), "chaos-controller-manager.log")
	logFile, err := os.Create(m.LogPath)
	if err != nil {
		t.Fatalf("chaos-mesh: log: %v", err)
	}
	t.Attr("chaos-mesh-log", m.LogPath)
	m.cmd = exec.Command(bin)
	m.cmd.Env = append(os.Environ(), m.env(certsDir)...)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	// Its own process group, so that a ^C to `go test` reaches it through
	// Stop rather than in the middle of a test.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("chaos-mesh: start %s: %v", bin, err)
	}
	go func() {
		m.exitErr = m.cmd.Wait()
		logFile.Close()
		close(m.exited)
	}()
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Errorf("chaos-mesh: stop: %v", err)
		}
		if t.Failed() {
			t.Logf("chaos-mesh: controller log %s; last lines:\n%s", m.LogPath, tail(m.LogPath, 60))
		}
	})

	if err := m.registerWebhooks(ctx); err != nil {
		t.Fatalf("chaos-mesh: register webhooks: %v", err)
	}
	if err := m.waitReady(ctx); err != nil {
		t.Fatalf("chaos-mesh: not ready after %v: %v\n%s", time.Since(start).Round(time.Millisecond), err, tail(m.LogPath, 40))
	}
	m.StartDuration = time.Since(start)
	return m
}

// StartWithChaosMesh is Start followed by StartChaosMesh: an API server with
// the CRDs installed and Chaos Mesh's controller-manager running against it
// with its webhooks registered. Everything stops when the test ends.
func StartWithChaosMesh(t testing.TB) (*rest.Config, client.Client, *ChaosMesh) {
	t.Helper()
	if _, err := os.Stat(ChaosMeshBinary()); err != nil && testing.Short() {
		// Skip before paying for the API server.
		t.Skipf("chaos-mesh: %s missing (skipped under -short)", ChaosMeshBinary())
	}
	cfg, c := Start(t)
	return cfg, c, StartChaosMesh(t, cfg)
}

// ChaosMeshCRDDir returns the directory of the Chaos Mesh CRDs generated by
// `make chaos-mesh-assets` from the api module the controller is built with:
// <dir of ChaosMeshBinary()>/crd.
func ChaosMeshCRDDir() string { return filepath.Join(filepath.Dir(ChaosMeshBinary()), "crd") }
