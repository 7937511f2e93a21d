package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// controllerGen is the controller-gen the Makefile's manifests target uses.
const controllerGen = "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0"

// TestCRDUpToDate regenerates the CRD and the deepcopy code from the markers
// into a temporary directory and fails when the committed files differ: run
// `make manifests` and commit the result.
func TestCRDUpToDate(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	root := repoRoot()
	tmp := t.TempDir()
	cmd := exec.Command(goBin, "run", controllerGen, "crd", "paths=./operator/api/...", "output:crd:artifacts:config="+tmp)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen crd: %v\n%s", err, out)
	}
	gen, _ := filepath.Glob(filepath.Join(tmp, "*.yaml"))
	committed, _ := filepath.Glob(filepath.Join(root, "manifests", "crd", "bases", "*.yaml"))
	if len(gen) != len(committed) {
		t.Errorf("controller-gen wrote %d CRDs, manifests/crd/bases holds %d: run `make manifests`", len(gen), len(committed))
	}
	for _, g := range gen {
		want, _ := os.ReadFile(g)
		have, err := os.ReadFile(filepath.Join(root, "manifests", "crd", "bases", filepath.Base(g)))
		if err != nil || !bytes.Equal(want, have) {
			t.Errorf("manifests/crd/bases/%s is stale: run `make manifests`", filepath.Base(g))
		}
	}

	// Deepcopy: controller-gen object writes next to the types, so generate
	// from a copy of the package.
	pkg := filepath.Join(root, "operator", "api", "v1alpha1")
	have, err := os.ReadFile(filepath.Join(pkg, "zz_generated.deepcopy.go"))
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(goBin, "run", controllerGen, "object", "paths=./operator/api/...", "output:object:dir="+tmp)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen object: %v\n%s", err, out)
	}
	want, err := os.ReadFile(filepath.Join(tmp, "zz_generated.deepcopy.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, have) {
		t.Error("operator/api/v1alpha1/zz_generated.deepcopy.go is stale: run `make manifests`")
	}
}
