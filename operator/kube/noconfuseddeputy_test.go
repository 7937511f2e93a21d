package kube_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// deputyMaxRate is the manager's --max-load-rate in TestNoConfusedDeputy
// (its default, which testdata/policy assumes).
const deputyMaxRate = 1000

// targetDrill is a drill of existing pods (app=shop) with load at loadURL.
func targetDrill(ns, name, loadURL string) *v1alpha1.Experiment {
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ExperimentSpec{
			Target:      &v1alpha1.TargetSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}}, LoadURL: loadURL},
			Load:        v1alpha1.LoadSpec{Rate: 50, DuplicateRatio: "0.1"},
			Duration:    metav1.Duration{Duration: 10 * time.Second},
			SteadyState: metav1.Duration{Duration: 3 * time.Second},
		},
	}
}

// mustRefuse checks that err is the webhook's refusal and names every want.
func mustRefuse(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted; want a refusal naming %q", wants)
	}
	msg := err.Error()
	t.Logf("refused: %s", msg)
	if !strings.Contains(msg, `admission webhook "experiments.validate.cascadelab.dev" denied the request`) {
		t.Fatalf("refused, but not by the webhook: %v", err)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("refusal %q does not mention %q", msg, w)
		}
	}
}

// createEventually creates exp as c, retrying while the refusal is one
// that a just-created RoleBinding (RBAC's informers) or a just-deleted
// webhook configuration (the API server's) has not reached yet.
func createEventually(t *testing.T, c client.Client, exp *v1alpha1.Experiment) {
	t.Helper()
	waitFor(t, 15*time.Second, "admission of "+exp.Name, func() (bool, string) {
		err := c.Create(context.Background(), exp.DeepCopy())
		if err == nil || apierrors.IsAlreadyExists(err) {
			return true, ""
		}
		return false, err.Error()
	})
}

// TestNoConfusedDeputy checks, through a real API server with the webhook
// of manifests/webhook registered and served by the manager, that the
// manager creates nothing for a user that the user could not create
// alone, and nothing beyond its policy (--allowed-victim-images,
// --max-load-rate, loadURL a Service of the namespace), whoever asks.
// Requests are made as impersonated users, authorized by RBAC.
func TestNoConfusedDeputy(t *testing.T) {
	e := startSecuredEnv(t)
	policy, err := admission.NewPolicy(
		admission.WithAllowedImages(admission.ImageRepository(kube.DefaultVictimImage)),
		admission.WithMaxLoadRate(deputyMaxRate))
	if err != nil {
		t.Fatal(err)
	}
	e.startManager(t, policy)
	ctx := context.Background()

	role := experimenterRole(t)
	if err := e.c.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	e.clusterRole(t, "experiment-creator-only", rbacv1.PolicyRule{
		APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"experiments"}, Verbs: []string{"create", "get"}})

	// Not opted in: whatever is admitted is refused by the reconciler at
	// once (NamespaceNotOptedIn), so nothing runs in these namespaces.
	ns := e.namespace(t, false)
	e.bind(t, ns, "experiment-creator-only", rbacv1.UserKind, "alice")
	alice := e.as(t, "alice", "team-a")

	t.Run("ExperimentCreateOnlyDenied", func(t *testing.T) {
		exp := drill(ns, "denied", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded)
		err := alice.Create(ctx, exp)
		mustRefuse(t, err,
			"alice may not",
			"create podchaos.chaos-mesh.org in namespace "+ns,
			"create networkchaos.chaos-mesh.org in namespace "+ns,
			"create deployments.apps in namespace "+ns,
			"create services in namespace "+ns,
			"create jobs.batch in namespace "+ns)
		if !apierrors.IsForbidden(err) {
			t.Errorf("refusal is %v, want 403 Forbidden", err)
		}
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(exp), &v1alpha1.Experiment{}); !apierrors.IsNotFound(err) {
			t.Errorf("the refused Experiment exists: %v", err)
		}
	})

	t.Run("ChaosAndWorkloadRightsAdmitted", func(t *testing.T) {
		e.bind(t, ns, role.Name, rbacv1.UserKind, "alice")
		exp := drill(ns, "admitted", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded)
		createEventually(t, alice, exp)
		got := e.get(t, ns, exp.Name)
		if len(got.Spec.Faults) != 2 || got.Spec.Victim == nil {
			t.Errorf("admitted Experiment %+v, want the victim drill with both faults", got.Spec)
		}
	})

	t.Run("RightsThroughGroupAdmitted", func(t *testing.T) {
		ns2 := e.namespace(t, false)
		e.bind(t, ns2, role.Name, rbacv1.GroupKind, "team-b")
		createEventually(t, e.as(t, "bob", "team-b"), drill(ns2, "by-group", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded))
		err := e.as(t, "mallory", "team-c").Create(ctx, drill(ns2, "not-in-group", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded))
		if err == nil || !apierrors.IsForbidden(err) {
			t.Errorf("a user outside the group: %v, want Forbidden", err)
		}
	})

	t.Run("OnlyTheKindsTheFaultsUse", func(t *testing.T) {
		ns3 := e.namespace(t, false)
		e.clusterRole(t, "podchaos-and-workloads",
			rbacv1.PolicyRule{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"experiments"}, Verbs: []string{"create"}},
			rbacv1.PolicyRule{APIGroups: []string{"chaos-mesh.org"}, Resources: []string{"podchaos"}, Verbs: []string{"create"}},
			rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"create"}},
			rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"create"}},
			rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create"}})
		e.bind(t, ns3, "podchaos-and-workloads", rbacv1.UserKind, "carol")
		carol := e.as(t, "carol")
		podOnly := drill(ns3, "pod-only", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded)
		podOnly.Spec.Faults = podOnly.Spec.Faults[1:] // kill-one-orders
		createEventually(t, carol, podOnly)
		err := carol.Create(ctx, drill(ns3, "with-network", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded))
		mustRefuse(t, err, "create networkchaos.chaos-mesh.org in namespace "+ns3)
		if err != nil && strings.Contains(err.Error(), "podchaos") {
			t.Errorf("refusal names podchaos, which carol may create: %v", err)
		}
	})

	// The policy, for a user with every right: only the policy refuses.
	policyCases := []struct {
		name string
		exp  func() *v1alpha1.Experiment
		want []string
	}{
		{"ForeignImageRejected", func() *v1alpha1.Experiment {
			exp := drill(ns, "foreign-image", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded)
			exp.Spec.Victim.Image = "docker.io/attacker/miner:1"
			return exp
		}, []string{"spec.victim.image", `image "docker.io/attacker/miner:1" is not an allowed victim image`, "--allowed-victim-images (ghcr.io/cascadelab/victim)"}},
		{"ExternalLoadURLRejected", func() *v1alpha1.Experiment {
			return targetDrill(ns, "external", "http://example.com/")
		}, []string{"spec.target.loadURL", "external host", "name a Service of namespace " + ns}},
		{"CrossNamespaceLoadURLRejected", func() *v1alpha1.Experiment {
			return targetDrill(ns, "cross-namespace", "http://kube-dns.kube-system.svc.cluster.local:53")
		}, []string{"spec.target.loadURL", "a Service in another namespace (kube-system)"}},
		{"IPLiteralLoadURLRejected", func() *v1alpha1.Experiment {
			return targetDrill(ns, "ip-literal", "http://10.0.0.7:8080")
		}, []string{"spec.target.loadURL", "host 10.0.0.7 is an IP address"}},
		{"RateOverCapRejected", func() *v1alpha1.Experiment {
			exp := drill(ns, "over-cap", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded)
			exp.Spec.Load.Rate = deputyMaxRate + 1
			return exp
		}, []string{"spec.load.rate", "over the manager's --max-load-rate of 1000 requests/s"}},
	}
	for _, c := range policyCases {
		t.Run(c.name, func(t *testing.T) {
			exp := c.exp()
			mustRefuse(t, alice.Create(ctx, exp), c.want...)
			// Whoever asks: the manager's own rights do not lift the policy.
			mustRefuse(t, e.c.Create(ctx, c.exp()), c.want...)
		})
	}

	t.Run("OwnServiceLoadURLAdmitted", func(t *testing.T) {
		for i, u := range []string{"http://shop:8080", "http://shop." + ns + ":8080", "http://shop." + ns + ".svc.cluster.local:8080/"} {
			createEventually(t, alice, targetDrill(ns, "own-service-"+string(rune('a'+i)), u))
		}
	})

	t.Run("PolicyCorpus", func(t *testing.T) {
		paths, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "testdata", "policy", "*.yaml"))
		if len(paths) < 10 {
			t.Fatalf("testdata/policy: %d files", len(paths))
		}
		for _, p := range paths {
			exp, want := loadPolicyFile(t, p)
			exp.Namespace = ns
			t.Run(strings.TrimSuffix(filepath.Base(p), ".yaml"), func(t *testing.T) {
				mustRefuse(t, alice.Create(ctx, exp), want)
			})
		}
	})

	t.Run("ReconcileRefusesWhatTheWebhookWouldHave", func(t *testing.T) {
		testReconcileRefusal(t, e)
	})
}

// loadPolicyFile reads a testdata/policy file and its "# want:" text.
func loadPolicyFile(t *testing.T, path string) (*v1alpha1.Experiment, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, line := range strings.Split(string(data), "\n") {
		if s, ok := strings.CutPrefix(line, "# want:"); ok {
			want = strings.TrimSpace(s)
		}
	}
	exps, err := v1alpha1.Load(data)
	if err != nil || len(exps) != 1 || want == "" {
		t.Fatalf("%s: %d experiments, want %q, %v", path, len(exps), want, err)
	}
	return &exps[0], want
}

// testReconcileRefusal deletes the webhook configuration (as an operator
// who turned the webhook off would) and checks that the reconciler still
// refuses, before creating anything, what the policy forbids, and a
// loadURL whose Service is missing or an ExternalName.
func testReconcileRefusal(t *testing.T, e *securedEnv) {
	ctx := context.Background()
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	vwc.Name = e.hook.ValidatingWebhooks[0].Name
	if err := e.c.Delete(ctx, vwc); err != nil {
		t.Fatal(err)
	}
	ns := e.namespace(t, true) // opted in: only the policy can stop these
	external := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alias"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
	if err := e.c.Create(ctx, external); err != nil {
		t.Fatal(err)
	}
	foreign := drill(ns, "foreign-image", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded)
	foreign.Spec.Victim.Image = "docker.io/attacker/miner:1"
	overCap := drill(ns, "over-cap", v1alpha1.CacheMutex, v1alpha1.IdempotencyCAS, v1alpha1.GatewayBounded)
	overCap.Spec.Load.Rate = deputyMaxRate + 1
	cases := []struct {
		exp  *v1alpha1.Experiment
		want string
	}{
		{foreign, `image "docker.io/attacker/miner:1" is not an allowed victim image`},
		{overCap, "--max-load-rate of 1000"},
		{targetDrill(ns, "ip-literal", "http://10.0.0.7:8080"), "is an IP address"},
		{targetDrill(ns, "cross-namespace", "http://kube-dns.kube-system.svc:53"), "another namespace (kube-system)"},
		{targetDrill(ns, "no-such-service", "http://shop:8080"), "the Service " + ns + "/shop, which it names, does not exist"},
		{targetDrill(ns, "external-name", "http://alias:80"), "is of type ExternalName (an alias of example.com)"},
	}
	for _, c := range cases {
		createEventually(t, e.c, c.exp) // admitted: the webhook is off
	}
	for _, c := range cases {
		t.Run(c.exp.Name, func(t *testing.T) {
			exp := e.waitPhase(t, ns, c.exp.Name, 30*time.Second, v1alpha1.PhaseFailed)
			ready := apimeta.FindStatusCondition(exp.Status.Conditions, v1alpha1.ConditionReady)
			if ready == nil || ready.Reason != kube.ReasonPolicyViolation || !strings.Contains(ready.Message, c.want) {
				t.Errorf("Ready condition %+v, want reason %s naming %q", ready, kube.ReasonPolicyViolation, c.want)
			}
			if exp.Status.Verdict != v1alpha1.VerdictInconclusive || exp.Status.StartTime != nil {
				t.Errorf("verdict %q, start %v: want Inconclusive, never started", exp.Status.Verdict, exp.Status.StartTime)
			}
		})
	}
	var deps appsv1.DeploymentList
	var jobs batchv1.JobList
	var svcs corev1.ServiceList
	for _, l := range []client.ObjectList{&deps, &jobs, &svcs} {
		if err := e.c.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	if len(deps.Items) > 0 || len(jobs.Items) > 0 || len(svcs.Items) != 1 || e.chaosLeft(t, ns) > 0 {
		t.Errorf("refused drills created objects: %d deployments, %d jobs, %d services (want only %s), %d chaos",
			len(deps.Items), len(jobs.Items), len(svcs.Items), external.Name, e.chaosLeft(t, ns))
	}
}
