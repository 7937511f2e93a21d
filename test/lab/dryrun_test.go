package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cascadelab/cascadelab/internal/testenv"
)

// warnings records the API server's warnings (deprecations, Pod Security
// levels a workload would violate, unknown fields): each one fails the test.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// TestManifestsDryRun renders every kustomize base under manifests/ and
// applies each object with server-side dry-run against a real API server
// with the Experiment and Chaos Mesh CRDs installed: schema, defaults, CEL
// and admission all run, nothing is stored. Namespaces are created for real
// first, so that namespaced objects can be dry-run into them and every pod
// template is checked against its namespace's enforced Pod Security level
// (a Pod built from the template, dry-run created). Every file in
// experiments/ is dry-run created in the drill namespace.
func TestManifestsDryRun(t *testing.T) {
	cfg, _ := testenv.Start(t)
	warn := &warnings{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = warn
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	c = client.WithFieldOwner(c, "cascadelab-lab-test")
	ctx := context.Background()

	dirs := kustomizations(t)
	rendered := map[string][]*unstructured.Unstructured{}
	for _, dir := range dirs {
		rendered[rel(dir)] = render(t, dir)
	}
	// Namespaces for real (idempotent server-side apply).
	for _, objs := range rendered {
		for _, o := range objs {
			if o.GetKind() != "Namespace" {
				continue
			}
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.ForceOwnership); err != nil {
				t.Fatalf("create namespace %s: %v", o.GetName(), err)
			}
		}
	}
	warn.take()

	for _, dir := range dirs {
		dir, objs := rel(dir), rendered[rel(dir)]
		t.Run(dir, func(t *testing.T) {
			for _, o := range objs {
				id := fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
				if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.ForceOwnership, client.DryRunAll); err != nil {
					t.Errorf("%s: %s: dry-run apply: %v", dir, id, err)
				}
				if pod := podFromTemplate(t, o); pod != nil {
					if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
						t.Errorf("%s: %s: its pod template: dry-run create: %v", dir, id, err)
					}
				}
				for _, w := range warn.take() {
					t.Errorf("%s: %s: API warning: %s", dir, id, w)
				}
			}
		})
	}

	t.Run("experiments", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "experiments", "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("experiments/*.yaml: %v (%d files)", err, len(files))
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := yaml.UnmarshalStrict(raw, &obj); err != nil {
				t.Errorf("%s: %v", rel(f), err)
				continue
			}
			u := &unstructured.Unstructured{Object: obj}
			u.SetNamespace("cascadelab-drills")
			if err := c.Create(ctx, u, client.DryRunAll); err != nil {
				t.Errorf("%s: dry-run create in cascadelab-drills: %v", rel(f), err)
			}
			for _, w := range warn.take() {
				t.Errorf("%s: API warning: %s", rel(f), w)
			}
		}
	})
}

// podFromTemplate returns a Pod with the pod template of a workload object
// (Deployment, StatefulSet, DaemonSet, Job), in its namespace, or nil.
func podFromTemplate(t *testing.T, o *unstructured.Unstructured) *corev1.Pod {
	t.Helper()
	switch o.GetKind() {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
	default:
		return nil
	}
	tmpl, ok, err := unstructured.NestedMap(o.Object, "spec", "template")
	if err != nil || !ok {
		t.Fatalf("%s %s: no pod template: %v", o.GetKind(), o.GetName(), err)
	}
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, pod); err != nil {
		t.Fatalf("%s %s: pod template: %v", o.GetKind(), o.GetName(), err)
	}
	pod.Name = strings.ToLower(o.GetKind()) + "-" + o.GetName()
	pod.Namespace = o.GetNamespace()
	return pod
}
