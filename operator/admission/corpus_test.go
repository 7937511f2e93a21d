package admission_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// managerDefaults is the policy of the manager's default flags:
// --victim-image ghcr.io/cascadelab/victim:latest, --max-load-rate 1000.
func managerDefaults(t *testing.T) *admission.Policy {
	t.Helper()
	p, err := admission.NewPolicy(
		admission.WithAllowedImages(admission.ImageRepository("ghcr.io/cascadelab/victim:latest")),
		admission.WithMaxLoadRate(1000))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testScheme(t *testing.T) *k8sruntime.Scheme {
	t.Helper()
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// createRequest is the admission request the API server sends for exp.
func createRequest(t *testing.T, exp *v1alpha1.Experiment) cradmission.Request {
	t.Helper()
	exp.APIVersion, exp.Kind = v1alpha1.GroupVersion.String(), "Experiment"
	raw, err := json.Marshal(exp)
	if err != nil {
		t.Fatal(err)
	}
	return cradmission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Operation: admissionv1.Create, Namespace: exp.Namespace, Name: exp.Name,
		UserInfo: authenticationv1.UserInfo{Username: "alice"},
		Object:   k8sruntime.RawExtension{Raw: raw},
	}}
}

// loadPolicyCase reads one corpus file: the experiment (in namespace
// "team") and its "# want:" text.
func loadPolicyCase(t *testing.T, path string) (*v1alpha1.Experiment, string) {
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
	if want == "" {
		t.Fatalf("%s: no '# want:' header", path)
	}
	exps, err := v1alpha1.Load(data)
	if err != nil || len(exps) != 1 {
		t.Fatalf("%s: %d experiments, %v", path, len(exps), err)
	}
	exp := &exps[0]
	exp.Namespace = "team"
	v1alpha1.SetDefaults(&exp.Spec)
	return exp, want
}

// TestPolicyCorpus runs testdata/policy through the webhook's Validator
// (creator's rights off: the corpus is about the policy): each file is
// valid for the schema and `cascadelab validate`, and refused by the
// manager with its "# want:" text.
func TestPolicyCorpus(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(repoRoot(), "testdata", "policy", "*.yaml"))
	if len(paths) < 10 {
		t.Fatalf("testdata/policy: %d files, want at least 10", len(paths))
	}
	v := admission.NewValidator(nil, testScheme(t),
		admission.WithPolicy(managerDefaults(t)), admission.WithCreatorRightsCheck(false))
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".yaml"), func(t *testing.T) {
			exp, want := loadPolicyCase(t, p)
			if errs := v1alpha1.Validate(exp); len(errs) > 0 {
				t.Fatalf("not a manager-policy case: the schema already refuses it: %v", errs)
			}
			resp := v.Handle(context.Background(), createRequest(t, exp))
			if resp.Allowed {
				t.Fatalf("admitted; want a refusal naming %q", want)
			}
			if msg := resp.Result.Message; !strings.Contains(msg, want) {
				t.Errorf("refused with %q; want it to mention %q", msg, want)
			}
		})
	}
}

// TestShippedDrillsWithinPolicy checks that the manager's default policy
// admits every shipped drill and example.
func TestShippedDrillsWithinPolicy(t *testing.T) {
	var files []string
	for _, dir := range []string{"experiments", filepath.Join("testdata", "good")} {
		m, _ := filepath.Glob(filepath.Join(repoRoot(), dir, "*.yaml"))
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found %d drills", len(files))
	}
	p := managerDefaults(t)
	for _, f := range files {
		exps, err := v1alpha1.LoadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range exps {
			exps[i].Namespace = "team"
			v1alpha1.SetDefaults(&exps[i].Spec)
			if errs := p.Check(&exps[i]); len(errs) > 0 {
				t.Errorf("%s: %v", filepath.Base(f), errs)
			}
		}
	}
}
