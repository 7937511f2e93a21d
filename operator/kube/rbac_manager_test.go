package kube_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/cascadelab/cascadelab/internal/testenv"
)

// managerRBAC is what the manager does with the API cluster-wide, and so
// all its ClusterRole (generated, bound cluster-wide) may do: one entry per
// (apiGroup, resource), with where each verb is used. It reads, and writes
// nothing but Experiments and Events: what it creates in a drill namespace
// is in drillRBAC.
var managerRBAC = []struct{ group, resource, verbs, usedBy string }{
	// Reconcile's Get (cached: informer of For(&Experiment{})); a merge
	// patch (with optimistic lock) adds and removes the cascadelab.dev/cleanup
	// finalizer — patch, which the node lab's first real drill found missing
	// (envtest's admin credentials had hidden it); update kept for Update.
	{"cascadelab.dev", "experiments", "get,list,patch,update,watch", "reconciler.go Reconcile/finalize, SetupWithManager For"},
	// The one status patch per reconcile (Reconcile's deferred Status().Patch).
	{"cascadelab.dev", "experiments/status", "patch", "reconciler.go Reconcile"},
	// Owner references with blockOwnerDeletion on the objects it creates
	// (OwnerReferencesPermissionEnforcement asks for update on finalizers).
	{"cascadelab.dev", "experiments/finalizers", "update", "victim.go ownerRef, chaos.go BuildChaos"},
	// The informers of the kinds the manager watches (Owns, Watches), each
	// selecting app.kubernetes.io/managed-by=cascadelab (CacheOptions):
	// list and watch, nothing else. Pods are also listed uncached
	// (ClientOptions: spec.target's pods carry no managed-by label).
	{"chaos-mesh.org", "networkchaos", "list,watch", "reconciler.go SetupWithManager Owns"},
	{"chaos-mesh.org", "podchaos", "list,watch", "reconciler.go SetupWithManager Owns"},
	{"apps", "deployments", "list,watch", "reconciler.go SetupWithManager Owns"},
	{"batch", "jobs", "list,watch", "reconciler.go SetupWithManager Owns"},
	{"", "pods", "list,watch", "reconciler.go SetupWithManager Watches, pods.go listPods, residue.go daemonNet"},
	// The opt-in label (checkOptIn's cached Get).
	{"", "namespaces", "get,list,watch", "drill.go checkOptIn"},
	// Events of the recorder (events.k8s.io/v1: create, patch for series),
	// also in a namespace not opted in (the refusal's Warning).
	{"events.k8s.io", "events", "create,patch", "status.go emitEvents (mgr.GetEventRecorder)"},
	// The admission webhook asks whether the Experiment's author may create
	// what the manager would create for them (operator/admission
	// MissingPermissions); the metrics endpoint authorizes its callers.
	// The certificate rotation's rights (its Secret, the webhook
	// configuration, by name) are in manifests/webhook/cert_rbac.yaml.
	{"authorization.k8s.io", "subjectaccessreviews", "create", "operator/admission rights.go MissingPermissions, metrics filter"},
	// The metrics endpoint authenticates its callers' tokens.
	{"authentication.k8s.io", "tokenreviews", "create", "cmd/manager metrics filter"},
	// Leader election's Lease and its core/v1 Event are granted in the
	// manager's namespace only: manifests/rbac/leader_election_role.yaml,
	// TestRBACLeaderElectionRole.
}

// drillRBAC is what the manager does in a namespace it drills, and so all
// ClusterRole cascadelab-manager-drills (manifests/rbac/drill_role.yaml,
// bound in each opted-in namespace only) may do.
var drillRBAC = []struct{ group, resource, verbs, usedBy string }{
	// Chaos objects: created (createChaos), read uncached (readChaos Get,
	// deleteAllChaos List), deleted; patched when stuck terminating
	// (chaos.go forceChaosGone: Chaos Mesh's cleanFinalizer annotation,
	// then its finalizer removed). Chaos Mesh's own authorization webhook
	// (the chart's) checks the requester for verb update on any UPDATE
	// admission request, which a PATCH is: without update, recovering a
	// stuck fault is refused (found on the node lab).
	{"chaos-mesh.org", "networkchaos", "create,delete,get,list,patch,update", "chaos.go, faults.go"},
	{"chaos-mesh.org", "podchaos", "create,delete,get,list,patch,update", "chaos.go, faults.go"},
	// The victim's Deployments and the load Job: created, read by name
	// (ownership.go checkNames, deleteOwned), deleted.
	{"apps", "deployments", "create,delete,get", "backend.go EnsureVictim, reconciler.go deleteWorkloads, ownership.go"},
	{"batch", "jobs", "create,delete,get", "backend.go EnsureLoad, reconciler.go deleteWorkloads, ownership.go"},
	// The report ConfigMap: read, created, updated (writeOwnedConfigMap),
	// deleted by finalize.
	{"", "configmaps", "create,delete,get,update", "status.go writeReport, reconciler.go finalize"},
	// A crashed container's log when its termination message lacks the
	// Go crash headline (backend.go previousLog, pods/log previous=true).
	{"", "pods/log", "get", "backend.go previousLog"},
	// The victim's Services: created and deleted; read (uncached, by name)
	// to resolve spec.target.loadURL before a drill starts.
	{"", "services", "create,delete,get", "victim.go, reconciler.go deleteWorkloads, policy.go checkPolicy (admission.ResolveLoadService)"},
	// The ledger's PVC: created, and deleted; read by name.
	{"", "persistentvolumeclaims", "create,delete,get", "victim.go victimObjects (LedgerStorage), reconciler.go deleteWorkloads, ownership.go"},
}

// table is an RBAC table as "group/resource" → verbs.
func table(rows []struct{ group, resource, verbs, usedBy string }) map[string][]string {
	want := map[string][]string{}
	for _, w := range rows {
		want[w.group+"/"+w.resource] = strings.Split(w.verbs, ",")
	}
	return want
}

// equalGrants reports every difference between granted and used rights.
func equalGrants(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		if g, w := norm(got[k]), norm(want[k]); !slices.Equal(g, w) {
			t.Errorf("%s: %s: role grants %v, the manager uses %v", what, k, g, w)
		}
	}
}

func readClusterRole(t *testing.T, path string) *rbacv1.ClusterRole {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.TrimPrefix(bytes.TrimSpace(b), []byte("---"))
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if role.Kind != "ClusterRole" || role.Name != "cascadelab-manager" {
		t.Fatalf("%s: %s %q, want ClusterRole cascadelab-manager", path, role.Kind, role.Name)
	}
	return &role
}

// TestRBACManagerRole checks the generated ClusterRole: no wildcard, no
// rule by name or URL, and exactly the (group, resource, verbs) the manager
// uses cluster-wide.
func TestRBACManagerRole(t *testing.T) {
	role := readClusterRole(t, filepath.Join(testenv.RepoRoot(), "manifests", "rbac", "role.yaml"))
	for _, r := range role.Rules {
		for _, field := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
			for _, v := range field {
				if strings.Contains(v, "*") {
					t.Errorf("wildcard %q in rule %+v", v, r)
				}
			}
		}
	}
	equalGrants(t, "role.yaml", grants(t, role.Rules), table(managerRBAC))
}

func norm(v []string) []string {
	v = slices.Clone(v)
	sort.Strings(v)
	return slices.Compact(v)
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRBACBinding checks the binding gives the ClusterRole to the manager's
// ServiceAccount only, and that the Deployment runs as that account.
func TestRBACBinding(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "rbac", "role_binding.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rb rbacv1.ClusterRoleBinding
	if err := yaml.UnmarshalStrict(b, &rb); err != nil {
		t.Fatal(err)
	}
	if rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != "cascadelab-manager" ||
		len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" ||
		rb.Subjects[0].Name != "cascadelab-manager" || rb.Subjects[0].Namespace != "cascadelab-system" {
		t.Errorf("binding %+v", rb)
	}
	dep, _ := managerManifests(t)
	if dep.Spec.Template.Spec.ServiceAccountName != "cascadelab-manager" || dep.Namespace != "cascadelab-system" {
		t.Errorf("manager runs as %s/%s", dep.Namespace, dep.Spec.Template.Spec.ServiceAccountName)
	}
}

// TestRBACGeneratedMatchesCommitted regenerates the ClusterRole from the
// +kubebuilder:rbac markers (as manifests/rbac/kustomization.yaml says) and
// compares it with the committed role.yaml.
func TestRBACGeneratedMatchesCommitted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs controller-gen")
	}
	root := testenv.RepoRoot()
	dir := t.TempDir()
	cmd := exec.Command("go", "run", "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0",
		"rbac:roleName=cascadelab-manager", "paths=./operator/...", "output:rbac:dir="+dir)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, out)
	}
	gen, err := os.ReadFile(filepath.Join(dir, "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, "manifests", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gen, committed) {
		t.Errorf("manifests/rbac/role.yaml is not what the markers generate; regenerate it with\n"+
			"  go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 rbac:roleName=cascadelab-manager paths=./operator/... output:rbac:artifacts:config=manifests/rbac\n"+
			"generated:\n%s", gen)
	}
}

// TestRBACLeaderElectionRole checks the Role leader election needs
// (--leader-elect, the default in manifests/manager): in the manager's own
// namespace, the Lease (client-go's lease lock: get, create, update) and
// core/v1 Events (controller-runtime's leader election records with the
// legacy API; the node lab's manager logged "forbidden" without it), bound
// to the manager's ServiceAccount only.
func TestRBACLeaderElectionRole(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "rbac", "leader_election_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(b), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents, want a Role and a RoleBinding", len(docs))
	}
	var role rbacv1.Role
	var rb rbacv1.RoleBinding
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &role); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &rb); err != nil {
		t.Fatal(err)
	}
	if role.Kind != "Role" || role.Namespace != "cascadelab-system" {
		t.Errorf("%s in %q, want a Role in cascadelab-system", role.Kind, role.Namespace)
	}
	got := grants(t, role.Rules)
	want := map[string][]string{"coordination.k8s.io/leases": {"create", "get", "update"}, "/events": {"create", "patch"}}
	if len(got) != len(want) {
		t.Errorf("role grants %v, want %v", got, want)
	}
	for k, w := range want {
		if g := norm(got[k]); !slices.Equal(g, w) {
			t.Errorf("%s: role grants %v, want %v", k, g, w)
		}
	}
	if rb.Kind != "RoleBinding" || rb.Namespace != "cascadelab-system" || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name ||
		len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" ||
		rb.Subjects[0].Name != "cascadelab-manager" || rb.Subjects[0].Namespace != "cascadelab-system" {
		t.Errorf("binding %+v", rb)
	}
}

// grants flattens RBAC rules into "group/resource" → verbs, and fails the
// test on a rule by name or by URL: the kit's roles grant neither.
func grants(t *testing.T, rules []rbacv1.PolicyRule) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v: resourceNames or nonResourceURLs", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got[g+"/"+res] = append(got[g+"/"+res], r.Verbs...)
			}
		}
	}
	return got
}
