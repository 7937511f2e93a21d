package lab

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/cascadelab/cascadelab/internal/testenv"
)

// kustomizations returns every directory under manifests/ with a
// kustomization.yaml (chaos-mesh/ holds Helm values only).
func kustomizations(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "manifests", "*", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, m := range matches {
		dirs = append(dirs, filepath.Dir(m))
	}
	sort.Strings(dirs)
	if len(dirs) == 0 {
		t.Fatal("no kustomizations under manifests/")
	}
	return dirs
}

// render builds the kustomization in dir in-process, as
// `kubectl kustomize dir` would (default options: files only from within
// the kustomization's root).
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", rel(dir), err)
	}
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		// Through JSON, so numbers are int64 as in objects from the API.
		b, err := r.MarshalJSON()
		u := &unstructured.Unstructured{}
		if err == nil {
			err = u.UnmarshalJSON(b)
		}
		if err != nil {
			t.Fatalf("kustomize build %s: %s: %v", rel(dir), r.CurId(), err)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		t.Fatalf("kustomize build %s: no resources", rel(dir))
	}
	return out
}

func rel(p string) string {
	if r, err := filepath.Rel(testenv.RepoRoot(), p); err == nil {
		return r
	}
	return p
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	return unstructured.NestedSlice(obj, fields...)
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return -1
}

// TestRenderDefault checks what manifests/default wires together for kind:
// the images `make images` builds (and nothing the kubelet would pull), the
// manager scraped by annotation, and the dashboard ConfigMap the way
// kube-prometheus-stack's sidecar finds it.
func TestRenderDefault(t *testing.T) {
	objs := render(t, filepath.Join(testenv.RepoRoot(), "manifests", "default"))
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byKey[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = o
	}
	for _, want := range []string{
		"Namespace//cascadelab-drills", "Namespace//cascadelab-monitoring", "Namespace//cascadelab-system",
		"CustomResourceDefinition//experiments.cascadelab.dev",
		"Deployment/cascadelab-system/cascadelab-manager",
		"Deployment/cascadelab-monitoring/prometheus", "Deployment/cascadelab-monitoring/grafana",
		"ConfigMap/cascadelab-monitoring/grafana-dashboard-cascade-drill",
	} {
		if byKey[want] == nil {
			t.Errorf("manifests/default: %s missing", want)
		}
	}
	if ns := byKey["Namespace//cascadelab-drills"]; ns != nil {
		if ns.GetLabels()["cascadelab.dev/chaos"] != "enabled" || ns.GetAnnotations()["chaos-mesh.org/inject"] != "enabled" {
			t.Errorf("cascadelab-drills must opt in to cascadelab (label) and Chaos Mesh (annotation): %v %v", ns.GetLabels(), ns.GetAnnotations())
		}
	}
	if cm := byKey["ConfigMap/cascadelab-monitoring/grafana-dashboard-cascade-drill"]; cm != nil {
		if cm.GetLabels()["grafana_dashboard"] != "1" {
			t.Errorf("dashboard ConfigMap labels %v, want grafana_dashboard: \"1\"", cm.GetLabels())
		}
		data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
		want, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "dashboards", "cascade-drill.json"))
		if err != nil {
			t.Fatal(err)
		}
		if data["cascade-drill.json"] != string(want) {
			t.Errorf("dashboard ConfigMap differs from dashboards/cascade-drill.json: run go generate ./dashboards")
		}
	}
	if m := byKey["Deployment/cascadelab-system/cascadelab-manager"]; m != nil {
		ann, _, _ := unstructured.NestedStringMap(m.Object, "spec", "template", "metadata", "annotations")
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "8080" {
			t.Errorf("manager pod annotations %v: want prometheus.io/scrape=true, prometheus.io/port=8080", ann)
		}
		cs, _, _ := unstructured.NestedSlice(m.Object, "spec", "template", "spec", "containers")
		c := cs[0].(map[string]any)
		if c["image"] != "ghcr.io/cascadelab/manager:dev" {
			t.Errorf("manager image %v, want ghcr.io/cascadelab/manager:dev (hack/kind/lib.sh)", c["image"])
		}
		found := false
		for _, a := range c["args"].([]any) {
			found = found || a == "--victim-image=ghcr.io/cascadelab/victim:dev"
		}
		if !found {
			t.Errorf("manager args %v: want --victim-image=ghcr.io/cascadelab/victim:dev", c["args"])
		}
	}
}
