package kube_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/cascadelab/cascadelab/internal/testenv"
	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// TestRBACExperimenterRole checks that cascadelab-experimenter grants
// exactly what creating any Experiment needs: every permission the webhook
// may ask for (admission.RequiredPermissions of the widest Experiments)
// and the Experiments themselves, nothing else, no wildcard, and that it
// is not aggregated to edit (docs/security.md says why).
func TestRBACExperimenterRole(t *testing.T) {
	role := experimenterRole(t)
	if _, ok := role.Labels["rbac.authorization.k8s.io/aggregate-to-edit"]; ok {
		t.Errorf("cascadelab-experimenter is aggregated to edit; docs/security.md says why it must not be")
	}
	want := map[string][]string{"cascadelab.dev/experiments": {"create", "delete", "get", "list", "watch"}}
	both := []v1alpha1.Fault{{Name: "p", PodChaos: &chaosv1alpha1.PodChaosSpec{}}, {Name: "n", NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{}}}
	for _, spec := range []v1alpha1.ExperimentSpec{
		{Victim: &v1alpha1.VictimSpec{}, Faults: both},
		{Target: &v1alpha1.TargetSpec{LoadURL: "http://shop"}, Faults: both},
	} {
		exp := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}, Spec: spec}
		for _, p := range admission.RequiredPermissions(exp) {
			k := p.Group + "/" + p.Resource
			if !slices.Contains(want[k], p.Verb) {
				want[k] = append(want[k], p.Verb)
			}
		}
	}
	got := grants(t, role.Rules)
	keys := map[string]bool{}
	for k, v := range got {
		keys[k] = true
		for _, verb := range v {
			if strings.Contains(verb+k, "*") {
				t.Errorf("wildcard in %s %v", k, v)
			}
		}
	}
	for k := range want {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		if g, w := norm(got[k]), norm(want[k]); !slices.Equal(g, w) {
			t.Errorf("%s: role grants %v, an Experiment needs %v", k, g, w)
		}
	}
}

// TestRBACWebhookCerts checks the certificate rotation's rights in
// manifests/webhook/cert_rbac.yaml: Secrets only in the manager's
// namespace and, for every verb, only the webhook's Secret by name; every
// write limited by name to the webhook's Secret and configuration.
func TestRBACWebhookCerts(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "webhook", "cert_rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.Role
	var cluster rbacv1.ClusterRole
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "Role":
			err = yaml.UnmarshalStrict([]byte(doc), &role)
		case "ClusterRole":
			err = yaml.UnmarshalStrict([]byte(doc), &cluster)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if role.Namespace != "cascadelab-system" {
		t.Errorf("the Secret's Role is in %q, want cascadelab-system", role.Namespace)
	}
	writes := map[string]string{"secrets": "cascadelab-webhook-server-cert", "validatingwebhookconfigurations": "cascadelab-validating-webhook"}
	for _, r := range append(role.Rules, cluster.Rules...) {
		for _, v := range r.Verbs {
			if v == "get" || v == "list" || v == "watch" {
				continue
			}
			if v != "update" || len(r.Resources) != 1 || !slices.Equal(r.ResourceNames, []string{writes[r.Resources[0]]}) {
				t.Errorf("rule %+v: a write not limited to the webhook's own Secret or configuration", r)
			}
		}
	}
	for _, r := range cluster.Rules {
		if slices.Contains(r.Resources, "secrets") {
			t.Errorf("cluster-wide rule on Secrets: %+v", r)
		}
	}
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "secrets") && !slices.Equal(r.ResourceNames, []string{writes["secrets"]}) {
			t.Errorf("rule %+v: Secrets not limited by name to %s", r, writes["secrets"])
		}
	}
}

// TestRBACWebhookCertsMount checks that the manager's pod mounts the
// webhook server's certificate and key from the Secret, and not the CA's
// key that signs them.
func TestRBACWebhookCertsMount(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "default", "manager-webhook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := yaml.UnmarshalStrict(b, &dep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Secret == nil || v.Secret.SecretName != "cascadelab-webhook-server-cert" {
			continue
		}
		found = true
		var keys []string
		for _, it := range v.Secret.Items {
			keys = append(keys, it.Key)
		}
		if slices.Sort(keys); !slices.Equal(keys, []string{"tls.crt", "tls.key"}) {
			t.Errorf("volume %s mounts keys %v of the Secret (all of them when empty), want tls.crt and tls.key only", v.Name, keys)
		}
	}
	if !found {
		t.Error("manager-webhook.yaml mounts no cascadelab-webhook-server-cert volume")
	}
}
