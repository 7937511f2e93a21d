package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

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
