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
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
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

// installChaosMeshCRDs installs (creates or updates) every Chaos Mesh CRD of
// ChaosMeshCRDDir. The controller watches all its kinds (with one CRD
// missing its manager exits once the 2 min cache sync timeout expires), and
// its webhooks reject as "Cannot update chaos spec" any update of an object
// whose stored form lost a field the CRD does not know (the root module's
// NetworkChaos CRD, which Start installs, lacks partitionBehavior).
func installChaosMeshCRDs(ctx context.Context, c client.Client) error {
	files, err := filepath.Glob(filepath.Join(ChaosMeshCRDDir(), "chaos-mesh.org_*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no CRDs in %s: run `make chaos-mesh-assets`", ChaosMeshCRDDir())
	}
	// Created or updated directly rather than with envtest.InstallCRDs,
	// which logs through controller-runtime's (maybe unset) global logger.
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		names = append(names, crd.Name)
		old := &apiextensionsv1.CustomResourceDefinition{}
		switch err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, old); {
		case apierrors.IsNotFound(err):
			err = c.Create(ctx, crd)
			if err != nil {
				return fmt.Errorf("create CRD %s: %w", crd.Name, err)
			}
		case err != nil:
			return err
		default:
			crd.ResourceVersion = old.ResourceVersion
			if err := c.Update(ctx, crd); err != nil {
				return fmt.Errorf("update CRD %s: %w", crd.Name, err)
			}
		}
	}
	for _, name := range names {
		for {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
				return err
			}
			if crdEstablished(crd) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CRD %s not established: %w", name, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	if crd.Generation != crd.Status.ObservedGeneration && crd.Status.ObservedGeneration != 0 {
		return false
	}
	for _, cond := range crd.Status.Conditions {
		if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// env is the controller's configuration: environment only.
func (m *ChaosMesh) env(certsDir string) []string {
	return []string{
		"KUBECONFIG=" + m.Kubeconfig,
		"NAMESPACE=" + ChaosMeshNamespace,
		"CLUSTER_SCOPED=true",
		"ENABLE_FILTER_NAMESPACE=false",
		"ENABLE_LEADER_ELECTION=false",
		"WEBHOOK_HOST=127.0.0.1",
		"WEBHOOK_PORT=" + strconv.Itoa(m.WebhookPort),
		"CERTS_DIR=" + certsDir,
		"METRICS_HOST=127.0.0.1",
		"METRICS_PORT=" + strconv.Itoa(m.MetricsPort),
		"PPROF_ADDR=0",
		"SECURITY_MODE=true",
		"CHAOSD_SECURITY_MODE=false",
	}
}

// WebhookURL returns the URL of the controller's webhook at path.
func (m *ChaosMesh) WebhookURL(path string) string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(m.WebhookPort)) + path
}

// Exited reports whether the controller process has exited.
func (m *ChaosMesh) Exited() bool {
	select {
	case <-m.exited:
		return true
	default:
		return false
	}
}

// registerWebhooks creates (or replaces) the mutating and validating webhook
// configurations pointing at this controller, as Chaos Mesh's Helm chart
// does (paths, failurePolicy Fail, timeout 5 s, sideEffects None).
func (m *ChaosMesh) registerWebhooks(ctx context.Context) error {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	rules := func(res string) []admissionregistrationv1.RuleWithOperations {
		return []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{chaosv1alpha1.SchemeGroupVersion.Group}, APIVersions: []string{chaosv1alpha1.SchemeGroupVersion.Version},
				Resources: []string{res},
			},
		}}
	}
	clientConfig := func(path string) admissionregistrationv1.WebhookClientConfig {
		url := m.WebhookURL(path)
		return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: m.CACert}
	}
	mut := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: ChaosMeshMutatingWebhook}}
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: ChaosMeshValidatingWebhook}}
	for _, res := range ChaosMeshWebhookResources {
		mut.Webhooks = append(mut.Webhooks, admissionregistrationv1.MutatingWebhook{
			Name:                    "m" + res + ".kb.io",
			ClientConfig:            clientConfig("/mutate-chaos-mesh-org-v1alpha1-" + res),
			Rules:                   rules(res),
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
		})
		val.Webhooks = append(val.Webhooks, admissionregistrationv1.ValidatingWebhook{
			Name:                    "v" + res + ".kb.io",
			ClientConfig:            clientConfig("/validate-chaos-mesh-org-v1alpha1-" + res),
			Rules:                   rules(res),
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
		})
	}
	for _, obj := range []client.Object{mut, val} {
		if err := m.c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err := m.c.Create(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// unregisterWebhooks deletes the webhook configurations, so that the API
// server stops calling a controller that is going away (clearing finalizers
// is an UPDATE, which the webhooks would otherwise have to admit).
func (m *ChaosMesh) unregisterWebhooks(ctx context.Context) error {
	var errs []error
	for _, obj := range []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: ChaosMeshMutatingWebhook}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: ChaosMeshValidatingWebhook}},
	} {
		if err := m.c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitReady polls, with server-side dry runs, until the API server calls the
// controller's webhooks: a PodChaos without selector.namespaces comes back
// with the namespace defaulted (mutating) and one with mode fixed and value
// "abc" is rejected (validating). It fails early when the process exits.
func (m *ChaosMesh) waitReady(ctx context.Context) error {
	probe := func(value string) *chaosv1alpha1.PodChaos {
		return &chaosv1alpha1.PodChaos{
			ObjectMeta: metav1.ObjectMeta{Namespace: ChaosMeshNamespace, Name: "readiness-probe"},
			Spec: chaosv1alpha1.PodChaosSpec{
				Action: chaosv1alpha1.PodKillAction,
				ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: chaosv1alpha1.PodSelector{
					Mode: chaosv1alpha1.FixedMode, Value: value,
					Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{
						LabelSelectors: map[string]string{"cascadelab.dev/readiness-probe": "none"},
					}},
				}},
			},
		}
	}
	var last error
	for {
		if m.Exited() {
			return fmt.Errorf("chaos-controller-manager exited: %v", m.exitErr)
		}
		last = func() error {
			good := probe("1")
			if err := m.c.Create(ctx, good, client.DryRunAll); err != nil {
				return fmt.Errorf("dry-run create of a valid PodChaos: %w", err)
			}
			if ns := good.Spec.Selector.Namespaces; len(ns) != 1 || ns[0] != ChaosMeshNamespace {
				return fmt.Errorf("mutating webhook not called yet: selector.namespaces=%v", ns)
			}
			err := m.c.Create(ctx, probe("abc"), client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), "parse value field error") {
				return fmt.Errorf("validating webhook not called yet: dry-run create with value abc: %v", err)
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return last
		case <-m.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop unregisters the webhooks and stops the controller: TERM, TERM, then
// KILL (it ignores the first TERM once its controllers have stopped). It is
// idempotent; StartChaosMesh's cleanup calls it.
func (m *ChaosMesh) Stop() error {
	m.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var errs []error
		if err := m.unregisterWebhooks(ctx); err != nil {
			errs = append(errs, fmt.Errorf("unregister webhooks: %w", err))
		}
		if !m.stopProcess() {
			errs = append(errs, errors.New("chaos-controller-manager ignored TERM twice; killed"))
		}
		m.stopErr = errors.Join(errs...)
	})
	return m.stopErr
}

// stopProcess sends TERM, TERM, KILL, waiting after each TERM, and reports
// whether a TERM was enough.
func (m *ChaosMesh) stopProcess() bool {
	for _, wait := range chaosMeshTermWait {
		if m.Exited() {
			return true
		}
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
			return true
		case <-time.After(wait):
		}
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
	return false
}

// ChaosKinds lists the chaos objects DeleteAllChaos removes: the kinds Start
// installs.
func ChaosKinds() []client.ObjectList {
	return []client.ObjectList{
		&chaosv1alpha1.PodChaosList{}, &chaosv1alpha1.NetworkChaosList{}, &chaosv1alpha1.PodNetworkChaosList{},
	}
}

// ForceDeleteChaos deletes obj and, when it is still there after grace (its
// finalizers were not cleared by the controller, e.g. a NetworkChaos waiting
// for chaos-daemon, or no controller runs), clears its finalizers; it then
// waits until the object is gone. A missing object is not an error.
func ForceDeleteChaos(ctx context.Context, c client.Client, obj client.Object, grace time.Duration) error {
	key := client.ObjectKeyFromObject(obj)
	if err := c.Delete(ctx, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("delete %T %s: %w", obj, key, err)
	}
	deadline := time.Now().Add(grace)
	for {
		err := c.Get(ctx, key, obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %T %s: %w", obj, key, err)
		}
		if time.Now().After(deadline) && len(obj.GetFinalizers()) > 0 {
			patch := []byte(`{"metadata":{"finalizers":null}}`)
			if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("clear finalizers of %T %s: %w", obj, key, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%T %s not gone (finalizers %v): %w", obj, key, obj.GetFinalizers(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DeleteAllChaos deletes every chaos object of ChaosKinds in namespace (all
// namespaces when it is ""), with ForceDeleteChaos, and checks none is left.
// envtest has no garbage collector or namespace controller: tests must clean
// up their chaos objects themselves.
func DeleteAllChaos(ctx context.Context, c client.Client, namespace string, grace time.Duration) error {
	var errs []error
	for _, list := range ChaosKinds() {
		if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			errs = append(errs, err)
			continue
		}
		items, err := metaItems(list)
		if err != nil {
			return err
		}
		for _, obj := range items {
			if err := ForceDeleteChaos(ctx, c, obj, grace); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n, err := CountChaos(ctx, c, namespace)
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("%d chaos objects left in namespace %q", n, namespace)
	}
	return nil
}

// CountChaos returns how many chaos objects of ChaosKinds are in namespace
// (all namespaces when it is "").
func CountChaos(ctx context.Context, c client.Client, namespace string) (int, error) {
	n := 0
	for _, list := range ChaosKinds() {
		if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return 0, err
		}
		items, err := metaItems(list)
		if err != nil {
			return 0, err
		}
		n += len(items)
	}
	return n, nil
}

func metaItems(list client.ObjectList) ([]client.Object, error) {
	var out []client.Object
	switch l := list.(type) {
	case *chaosv1alpha1.PodChaosList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *chaosv1alpha1.NetworkChaosList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *chaosv1alpha1.PodNetworkChaosList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		return nil, fmt.Errorf("unsupported chaos list %T", list)
	}
	return out, nil
}

// writeSelfSignedCert writes tls.crt and tls.key (the names controller-runtime's
// webhook server reads) for IP 127.0.0.1 into dir and returns the
// certificate's PEM, which is also its own CA.
func writeSelfSignedCert(dir string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "chaos-mesh-webhook.cascadelab.test"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		return nil, err
	}
	return certPEM, nil
}

// writeKubeconfig writes a kubeconfig for cfg (server, CA, client certificate
// or bearer token) to path.
func writeKubeconfig(cfg *rest.Config, path string) error {
	cluster := &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
		CertificateAuthority:     cfg.CAFile,
		InsecureSkipTLSVerify:    cfg.Insecure,
		TLSServerName:            cfg.ServerName,
	}
	if cfg.APIPath != "" && cfg.APIPath != "/api" {
		return fmt.Errorf("unsupported APIPath %q", cfg.APIPath)
	}
	user := &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientCertificate:     cfg.CertFile,
		ClientKeyData:         cfg.KeyData,
		ClientKey:             cfg.KeyFile,
		Token:                 cfg.BearerToken,
		TokenFile:             cfg.BearerTokenFile,
		Username:              cfg.Username,
		Password:              cfg.Password,
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = cluster
	kc.AuthInfos["envtest"] = user
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
