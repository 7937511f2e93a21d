package admission_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

func TestImageAllowed(t *testing.T) {
	patterns := []string{"ghcr.io/cascadelab/victim", "registry.local:5000/team/*", "quay.io/x/y:v1.*"}
	for _, c := range []struct {
		image string
		want  bool
	}{
		{"ghcr.io/cascadelab/victim:latest", true},
		{"ghcr.io/cascadelab/victim:dev", true},
		{"ghcr.io/cascadelab/victim@sha256:0123", true},
		{"ghcr.io/cascadelab/victim:dev@sha256:0123", true},
		{"ghcr.io/cascadelab/victim", true},
		{"ghcr.io/cascadelab/victim-miner:latest", false},
		{"ghcr.io/cascadelab/victim/../miner:latest", false},
		{"evil.example/cascadelab/victim:latest", false},
		{"ghcr.io/cascadelab/victim:tag/../../x", false},
		{"registry.local:5000/team/app:1", true},
		{"registry.local:5000/team/sub/app:1", false},
		{"quay.io/x/y:v1.2", true},
		{"quay.io/x/y:v2", false},
		{"", false},
	} {
		if got := admission.ImageAllowed(c.image, patterns); got != c.want {
			t.Errorf("ImageAllowed(%q) = %v, want %v", c.image, got, c.want)
		}
	}
}

func TestImageRepository(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/cascadelab/victim:latest":      "ghcr.io/cascadelab/victim",
		"localhost:5000/victim":                 "localhost:5000/victim",
		"localhost:5000/victim:dev":             "localhost:5000/victim",
		"victim@sha256:abc":                     "victim",
		"ghcr.io/cascadelab/victim:v1@sha256:a": "ghcr.io/cascadelab/victim",
	} {
		if got := admission.ImageRepository(in); got != want {
			t.Errorf("ImageRepository(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewPolicyRefusesBadOptions(t *testing.T) {
	if _, err := admission.NewPolicy(admission.WithAllowedImages("ghcr.io/[")); err == nil {
		t.Error("a malformed pattern was accepted")
	}
	if _, err := admission.NewPolicy(admission.WithAllowedImages(" ")); err == nil {
		t.Error("an empty pattern was accepted")
	}
	if _, err := admission.NewPolicy(admission.WithMaxLoadRate(-1)); err == nil {
		t.Error("a negative rate cap was accepted")
	}
}

func TestLoadService(t *testing.T) {
	ok := map[string]string{
		"http://shop:8080":                             "shop",
		"http://shop":                                  "shop",
		"https://shop.team:8443/api":                   "shop",
		"http://shop.team.svc:8080":                    "shop",
		"http://shop.team.svc.cluster.local:8080":      "shop",
		"http://SHOP.Team.SVC.cluster.local:8080/pay/": "shop",
	}
	for u, want := range ok {
		got, err := admission.LoadService(u, "team", "")
		if err != nil || got != want {
			t.Errorf("LoadService(%q) = %q, %v; want %q", u, got, err, want)
		}
	}
	bad := map[string]string{
		"http://10.96.0.10:80":                    "IP address",
		"http://[::1]:80":                         "IP address",
		"http://127.0.0.1:80":                     "IP address",
		"http://shop.other.svc.cluster.local:80":  "another namespace (other)",
		"http://shop.other.svc:80":                "another namespace (other)",
		"http://shop.other:80":                    "not a Service of namespace team",
		"http://example.com":                      "not a Service of namespace team",
		"http://www.example.com":                  "not a Service of namespace team",
		"http://shop.team.svc.cluster.evil:80":    "not a Service of namespace team",
		"http://shop.team.svc.cluster.local.x:80": "not a Service of namespace team",
		"http://localhost:8080":                   "not a Service name",
		"http://shop.:8080":                       "rooted name",
		"http://shop.team.:8080":                  "rooted name",
		"http://shop.team.svc.cluster.local.:80":  "rooted name",
		"http://1shop:8080":                       "not a Service name",
		"http://shop:0":                           "port",
		"http://u:p@shop:8080":                    "user information",
		"ftp://shop":                              "only http and https",
		"shop:8080":                               "only http and https",
		"http://":                                 "no host",
		"http://%zz":                              "not a URL",
	}
	for u, want := range bad {
		_, err := admission.LoadService(u, "team", "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadService(%q) = %v; want an error mentioning %q", u, err, want)
		}
	}
	if _, err := admission.LoadService("http://shop.team.svc.corp.example:80", "team", "corp.example"); err != nil {
		t.Errorf("a custom cluster domain: %v", err)
	}
}

func TestPolicyCheckNamesEveryProblem(t *testing.T) {
	p, err := admission.NewPolicy(admission.WithAllowedImages("ghcr.io/cascadelab/victim"), admission.WithMaxLoadRate(100))
	if err != nil {
		t.Fatal(err)
	}
	exp := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "x"}, Spec: v1alpha1.ExperimentSpec{
		Victim: &v1alpha1.VictimSpec{Image: "docker.io/evil/miner:1"},
		Load:   v1alpha1.LoadSpec{Rate: 101},
	}}
	errs := p.Check(exp)
	msg := errs.ToAggregate().Error()
	for _, want := range []string{"spec.victim.image", "not an allowed victim image", "spec.load.rate", "--max-load-rate of 100"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check: %q; want it to mention %q", msg, want)
		}
	}
	exp.Spec.Victim.Image, exp.Spec.Load.Rate = "ghcr.io/cascadelab/victim:v2", 100
	if errs := p.Check(exp); len(errs) > 0 {
		t.Errorf("an allowed image at the cap: %v", errs)
	}
	exp.Spec.Victim.Image = ""
	if errs := p.Check(exp); len(errs) > 0 {
		t.Errorf("the manager's own image (empty spec.victim.image): %v", errs)
	}
}
