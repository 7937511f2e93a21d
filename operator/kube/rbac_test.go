package kube_test

import (
	"path/filepath"
	"slices"
	"testing"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// guarded are the resources no cluster-wide binding may write: a manager
// (or anyone) holding such a right can take over every namespace.
var guarded = []string{"apps/deployments", "batch/jobs", "/services", "/persistentvolumeclaims",
	"/configmaps", "/secrets", "chaos-mesh.org/podchaos", "chaos-mesh.org/networkchaos"}

// writeVerbs are the verbs that change objects.
var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection", "*"}

// renderKustomization builds manifests/<dir> as `kubectl kustomize` would.
func renderKustomization(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(testenv.RepoRoot(), "manifests", dir))
	if err != nil {
		t.Fatalf("kustomize build manifests/%s: %v", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		b, err := r.MarshalJSON()
		u := &unstructured.Unstructured{}
		if err == nil {
			err = u.UnmarshalJSON(b)
		}
		if err != nil {
			t.Fatalf("manifests/%s: %s: %v", dir, r.CurId(), err)
		}
		out = append(out, u)
	}
	return out
}

// typed converts the rendered objects of kind into T.
func typed[T any](t *testing.T, objs []*unstructured.Unstructured, kind string) []*T {
	t.Helper()
	var out []*T
	for _, o := range objs {
		if o.GetKind() != kind {
			continue
		}
		v := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, v); err != nil {
			t.Fatalf("%s %s: %v", kind, o.GetName(), err)
		}
		out = append(out, v)
	}
	return out
}

// writes returns the rules of rules that write a guarded resource.
func writes(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					for _, gr := range guarded {
						grp, name, _ := cutLast(gr)
						if (g == grp || g == "*") && (res == name || res == "*") && slices.Contains(writeVerbs, v) {
							out = append(out, v+" "+gr)
						}
					}
				}
			}
		}
	}
	return out
}

func cutLast(s string) (string, string, bool) {
	i := len(s) - 1
	for i >= 0 && s[i] != '/' {
		i--
	}
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// widestExperiments are Experiments that use every kind of object the
// manager creates: the kit's victim with a PVC and both kinds of fault,
// and spec.target with a loadURL.
func widestExperiments() []*v1alpha1.Experiment {
	both := []v1alpha1.Fault{{Name: "p", PodChaos: &chaosv1alpha1.PodChaosSpec{}}, {Name: "n", NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{}}}
	return []*v1alpha1.Experiment{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}, Spec: v1alpha1.ExperimentSpec{Victim: &v1alpha1.VictimSpec{}, Faults: both}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}, Spec: v1alpha1.ExperimentSpec{Target: &v1alpha1.TargetSpec{LoadURL: "http://shop"}, Faults: both}},
	}
}

// TestRBAC checks the rendered manifests: no ClusterRole bound cluster-wide
// writes workloads, ConfigMaps, Secrets or chaos; the rights in a drill
// namespace are exactly what the manager does there, bound only by the
// opt-in RoleBinding; manifests/rbac applies on a fresh cluster; and, on a
// real API server, the manager's ServiceAccount creates in an opted-in
// namespace and is refused in another (rbac_env_test.go).
func TestRBAC(t *testing.T) {
	all := renderKustomization(t, "default")
	roles := map[string]*rbacv1.ClusterRole{}
	for _, r := range typed[rbacv1.ClusterRole](t, all, "ClusterRole") {
		roles[r.Name] = r
	}
	t.Run("no-cluster-wide-writes", func(t *testing.T) {
		crbs := typed[rbacv1.ClusterRoleBinding](t, all, "ClusterRoleBinding")
		if len(crbs) == 0 {
			t.Fatal("no ClusterRoleBinding rendered from manifests/default")
		}
		for _, b := range crbs {
			role, ok := roles[b.RoleRef.Name]
			if !ok {
				t.Errorf("ClusterRoleBinding %s binds ClusterRole %s, which the manifests do not define", b.Name, b.RoleRef.Name)
				continue
			}
			if w := writes(role.Rules); len(w) > 0 {
				t.Errorf("ClusterRole %s, bound cluster-wide by %s, may %v", role.Name, b.Name, w)
			}
		}
	})
	t.Run("drill-role-bound-per-namespace-only", func(t *testing.T) {
		for _, b := range typed[rbacv1.ClusterRoleBinding](t, all, "ClusterRoleBinding") {
			if b.RoleRef.Name == kube.DrillRole {
				t.Errorf("ClusterRoleBinding %s binds %s cluster-wide", b.Name, kube.DrillRole)
			}
		}
		var bound []string
		for _, b := range typed[rbacv1.RoleBinding](t, all, "RoleBinding") {
			if b.RoleRef.Name == kube.DrillRole {
				bound = append(bound, b.Namespace)
			}
		}
		if !slices.Equal(bound, []string{"cascadelab-drills"}) {
			t.Errorf("%s bound in %v, want the drill namespace cascadelab-drills only", kube.DrillRole, bound)
		}
	})
	t.Run("drill-role-is-what-drills-use", func(t *testing.T) {
		role, ok := roles[kube.DrillRole]
		if !ok {
			t.Fatalf("no ClusterRole %s", kube.DrillRole)
		}
		got := grants(t, role.Rules)
		equalGrants(t, "drill_role.yaml", got, table(drillRBAC))
		used := map[string][]string{}
		for _, exp := range widestExperiments() {
			for _, p := range kube.DrillRights(exp, "1Gi") {
				used[p.Group+"/"+p.Resource] = append(used[p.Group+"/"+p.Resource], p.Verb)
			}
		}
		equalGrants(t, "DrillRights", got, used)
	})
	t.Run("opt-in", func(t *testing.T) {
		objs := renderKustomization(t, "opt-in")
		nss := typed[metav1.PartialObjectMetadata](t, objs, "Namespace")
		rbs := typed[rbacv1.RoleBinding](t, objs, "RoleBinding")
		if len(nss) != 1 || len(rbs) != 1 || len(objs) != 2 {
			t.Fatalf("manifests/opt-in: %d objects, want a Namespace and a RoleBinding", len(objs))
		}
		ns, rb := nss[0], rbs[0]
		if ns.Labels[kube.LabelChaosOptIn] != kube.OptInValue || ns.Annotations["chaos-mesh.org/inject"] != "enabled" {
			t.Errorf("namespace %s: labels %v, annotations %v; want %s=%s and chaos-mesh.org/inject=enabled",
				ns.Name, ns.Labels, ns.Annotations, kube.LabelChaosOptIn, kube.OptInValue)
		}
		want := rbacv1.Subject{Kind: "ServiceAccount", Name: "cascadelab-manager", Namespace: "cascadelab-system"}
		if rb.Namespace != ns.Name || rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != kube.DrillRole ||
			len(rb.Subjects) != 1 || rb.Subjects[0] != want {
			t.Errorf("RoleBinding %s/%s → %s %s for %+v; want in %s, ClusterRole %s, for %+v",
				rb.Namespace, rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name, rb.Subjects, ns.Name, kube.DrillRole, want)
		}
	})
	t.Run("rbac-applies-alone", func(t *testing.T) {
		objs := renderKustomization(t, "rbac")
		have := map[string]bool{}
		for _, o := range objs {
			if o.GetKind() == "Namespace" {
				have[o.GetName()] = true
			}
		}
		for _, o := range objs {
			if ns := o.GetNamespace(); ns != "" && !have[ns] {
				t.Errorf("manifests/rbac: %s %s/%s is in a namespace the kustomization does not create", o.GetKind(), ns, o.GetName())
			}
		}
	})
	t.Run("envtest", func(t *testing.T) { testRBACOnAPIServer(t) })
}
