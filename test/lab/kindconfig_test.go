package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/cascadelab/cascadelab/internal/testenv"
)

// loadKindConfig decodes kind-config.yaml the way kind v0.33.0 does
// (pkg/internal/apis/config/encoding: go.yaml.in/yaml/v3 with KnownFields),
// so an unknown or misspelt field fails here as it would in kind.
func loadKindConfig(t *testing.T) *kindv1alpha4.Cluster {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg kindv1alpha4.Cluster
	d := yaml.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	if err := d.Decode(&cfg); err != nil {
		t.Fatalf("kind-config.yaml: %v", err)
	}
	return &cfg
}

func TestKindConfig(t *testing.T) {
	cfg := loadKindConfig(t)
	if cfg.APIVersion != "kind.x-k8s.io/v1alpha4" || cfg.Kind != "Cluster" {
		t.Fatalf("apiVersion/kind = %s/%s, want kind.x-k8s.io/v1alpha4/Cluster", cfg.APIVersion, cfg.Kind)
	}
	kindv1alpha4.SetDefaultsCluster(cfg)
	roles := map[kindv1alpha4.NodeRole]int{}
	for _, n := range cfg.Nodes {
		roles[n.Role]++
	}
	if roles[kindv1alpha4.ControlPlaneRole] != 1 || roles[kindv1alpha4.WorkerRole] != 2 || len(cfg.Nodes) != 3 {
		t.Errorf("nodes = %v, want 1 control-plane and 2 workers", roles)
	}
	// Grafana and Prometheus on localhost, mapped to the NodePorts of
	// their Services in manifests/monitoring.
	nodePorts := monitoringNodePorts(t)
	want := map[int32]string{3000: "grafana", 9090: "prometheus"}
	got := map[int32]bool{}
	for _, n := range cfg.Nodes {
		for _, m := range n.ExtraPortMappings {
			svc, ok := want[m.HostPort]
			if !ok {
				t.Errorf("unexpected port mapping %+v", m)
				continue
			}
			got[m.HostPort] = true
			if n.Role != kindv1alpha4.ControlPlaneRole {
				t.Errorf("port %d mapped on a %s node, want the control plane", m.HostPort, n.Role)
			}
			if m.ListenAddress != "127.0.0.1" {
				t.Errorf("port %d listens on %q, want 127.0.0.1", m.HostPort, m.ListenAddress)
			}
			if m.Protocol != kindv1alpha4.PortMappingProtocolTCP {
				t.Errorf("port %d protocol %q, want TCP", m.HostPort, m.Protocol)
			}
			if np, ok := nodePorts[svc]; !ok || np != m.ContainerPort {
				t.Errorf("port %d → container port %d, but Service %s has nodePort %d", m.HostPort, m.ContainerPort, svc, np)
			}
		}
	}
	for p, svc := range want {
		if !got[p] {
			t.Errorf("no port mapping for %s on 127.0.0.1:%d", svc, p)
		}
	}
}

// monitoringNodePorts returns the nodePort of each NodePort Service in
// manifests/monitoring, by Service name.
func monitoringNodePorts(t *testing.T) map[string]int32 {
	t.Helper()
	out := map[string]int32{}
	for _, o := range render(t, filepath.Join(testenv.RepoRoot(), "manifests", "monitoring")) {
		if o.GetKind() != "Service" {
			continue
		}
		ports, _, _ := unstructuredSlice(o.Object, "spec", "ports")
		for _, p := range ports {
			if np, ok := p.(map[string]any)["nodePort"]; ok {
				out[o.GetName()] = int32(toInt64(np))
			}
		}
	}
	return out
}
