// Package testenv starts a real kube-apiserver and etcd (controller-runtime's
// envtest) with cascadelab's Experiment CRD and Chaos Mesh's PodChaos and
// NetworkChaos CRDs installed, for tests that need an API server.
//
// The binaries come from KUBEBUILDER_ASSETS, or <repo>/bin/k8s when it is
// unset (`make envtest-assets` builds them). When they are missing, Start
// fails the test with a message saying how to build them; only under
// `go test -short` does it skip instead.
//
// Chaos Mesh's CRDs are read from the Chaos Mesh root module pinned by
// ChaosMeshModule, fetched with `go mod download` (module cache or proxy),
// so they match the release the API types were checked against.
package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// ChaosMeshModule is the Chaos Mesh root module (module@version) whose
// config/crd/bases holds the PodChaos and NetworkChaos CRDs installed by Start.
const ChaosMeshModule = "github.com/chaos-mesh/chaos-mesh@v0.9.1-0.20260902003049-47411975a8cb"

// ChaosMeshCRDFiles are the Chaos Mesh CRD files installed by Start, relative
// to the module's config/crd/bases. PodNetworkChaos is what the Chaos Mesh
// controller creates for a NetworkChaos.
var ChaosMeshCRDFiles = []string{
	"chaos-mesh.org_podchaos.yaml",
	"chaos-mesh.org_networkchaos.yaml",
	"chaos-mesh.org_podnetworkchaos.yaml",
}

// RepoRoot returns the repository's root directory (the one holding go.mod),
// found from this source file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CRDDir returns the directory of cascadelab's generated CRDs.
func CRDDir() string { return filepath.Join(RepoRoot(), "manifests", "crd", "bases") }

// AssetsDir returns where the kube-apiserver and etcd binaries are expected:
// KUBEBUILDER_ASSETS, or <repo>/bin/k8s when it is unset.
func AssetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "k8s")
}

var (
	chaosOnce  sync.Once
	chaosPaths []string
	chaosErr   error
)

// ChaosMeshCRDPaths returns the paths of the Chaos Mesh CRD files in the
// module cache, downloading the pinned module once per process if needed.
func ChaosMeshCRDPaths() ([]string, error) {
	chaosOnce.Do(func() {
		cmd := exec.Command("go", "mod", "download", "-json", ChaosMeshModule)
		// Outside the main module, so go.mod and go.sum are never touched.
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			chaosErr = fmt.Errorf("go mod download %s: %v: %s", ChaosMeshModule, err, stderr.String())
			return
		}
		var info struct{ Dir, Error string }
		if err := json.Unmarshal(out, &info); err != nil {
			chaosErr = fmt.Errorf("go mod download %s: %v", ChaosMeshModule, err)
			return
		}
		if info.Error != "" || info.Dir == "" {
			chaosErr = fmt.Errorf("go mod download %s: %s", ChaosMeshModule, info.Error)
			return
		}
		for _, f := range ChaosMeshCRDFiles {
			p := filepath.Join(info.Dir, "config", "crd", "bases", f)
			if _, err := os.Stat(p); err != nil {
				chaosErr = err
				return
			}
			chaosPaths = append(chaosPaths, p)
		}
	})
	return chaosPaths, chaosErr
}

// Scheme returns a scheme with the built-in types, CRDs, cascadelab's API and
// Chaos Mesh's API registered.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme, chaosv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// Start starts an API server with the CRDs installed and returns its config
// and a client using Scheme. The server is stopped when the test ends. It
// fails the test when the binaries are missing (skips under -short).
func Start(t testing.TB) (*rest.Config, client.Client) {
	t.Helper()
	assets := AssetsDir()
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			if testing.Short() {
				t.Skipf("envtest: %s missing in %s (skipped under -short)", bin, assets)
			}
			t.Fatalf("envtest: %s missing in %s: run `make envtest-assets` or set KUBEBUILDER_ASSETS to a directory with kube-apiserver and etcd", bin, assets)
		}
	}
	chaos, err := ChaosMeshCRDPaths()
	if err != nil {
		t.Fatalf("envtest: Chaos Mesh CRDs: %v", err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{CRDDir()}, chaos...),
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("envtest: start: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("envtest: stop: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatalf("envtest: client: %v", err)
	}
	return cfg, c
}

// ExperimentResource is the GroupVersionResource of Experiments.
var ExperimentResource = schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: "experiments"}
