//go:build node

package node

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podNetns returns the network namespace path of a running pod's sandbox.
func podNetns(t *testing.T, ns, selector string) (string, string) {
	t.Helper()
	crictl := filepath.Join(repoRoot(t), "bin", "node", "crictl")
	endpoint := "unix:///run/cascadelab-node/containerd/containerd.sock"
	for _, p := range pods(t, ns, selector) {
		out, err := exec.Command(crictl, "--runtime-endpoint", endpoint, "pods", "-q", "--state", "ready", "--name", p.Metadata.Name, "--namespace", ns).Output()
		if err != nil {
			continue
		}
		for _, id := range strings.Fields(string(out)) {
			raw, err := exec.Command(crictl, "--runtime-endpoint", endpoint, "inspectp", id).Output()
			if err != nil {
				continue
			}
			var sb struct {
				Info struct {
					RuntimeSpec struct {
						Linux struct {
							Namespaces []struct{ Type, Path string }
						}
					} `json:"runtimeSpec"`
				}
			}
			if json.Unmarshal(raw, &sb) != nil {
				continue
			}
			for _, n := range sb.Info.RuntimeSpec.Linux.Namespaces {
				if n.Type == "network" && n.Path != "" {
					return p.Metadata.Name, n.Path
				}
			}
		}
	}
	t.Fatalf("no ready pod for %s in %s", selector, ns)
	return "", ""
}

func inNetns(t *testing.T, netns string, args ...string) string {
	t.Helper()
	return run(t, "nsenter", append([]string{"--net=" + netns, "--"}, args...)...)
}

func waitCondition(t *testing.T, kind, name, cond string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out := kubectl(t, "-n", smokeNS, "get", kind, name, "-o", `jsonpath={.status.conditions[?(@.type=="`+cond+`")].status}`)
		if strings.TrimSpace(out) == "True" {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s %s: condition %s not True within %s\n%s", kind, name, cond, within,
		kubectl(t, "-n", smokeNS, "get", "events", "--field-selector", "involvedObject.name="+name))
}

// TestChaosDaemonBandwidthAndPartition: Chaos Mesh installed from its chart
// executes NetworkChaos bandwidth (tbf) and partition (iptables) in a victim
// pod's network namespace through the real chaos-daemon, and removes them —
// except the partition's named chain, which stays behind unreferenced; the
// test reports it.
func TestChaosDaemonBandwidthAndPartition(t *testing.T) {
	applySmoke(t)
	kubectl(t, "annotate", "namespace", smokeNS, "chaos-mesh.org/inject=enabled", "--overwrite")
	pod, netns := podNetns(t, smokeNS, "app.kubernetes.io/component=ledger")
	t.Logf("ledger pod %s, netns %s", pod, netns)

	apply := func(doc string) {
		cmd := exec.Command(filepath.Join(repoRoot(t), "bin", "node", "kubectl"), "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(doc)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apply: %v\n%s", err, out)
		}
	}
	apply(`apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata: {name: node-bandwidth-ledger, namespace: ` + smokeNS + `}
spec:
  action: bandwidth
  mode: all
  selector: {namespaces: [` + smokeNS + `], labelSelectors: {app.kubernetes.io/component: ledger}}
  bandwidth: {rate: 1mbps, limit: 20971520, buffer: 10000}
`)
	waitCondition(t, "networkchaos", "node-bandwidth-ledger", "AllInjected", 90*time.Second)
	qd := inNetns(t, netns, "tc", "qdisc", "show", "dev", "eth0")
	t.Logf("ledger eth0 qdiscs under bandwidth chaos:\n%s", qd)
	if !strings.Contains(qd, "tbf") {
		t.Errorf("no tbf qdisc in the ledger's netns")
	}
	kubectl(t, "-n", smokeNS, "delete", "networkchaos", "node-bandwidth-ledger", "--wait=true", "--timeout=90s")
	if qd := inNetns(t, netns, "tc", "qdisc", "show", "dev", "eth0"); strings.Contains(qd, "tbf") {
		t.Errorf("tbf left after the chaos was deleted:\n%s", qd)
	}

	// Partition: the ledger may not talk to orders (target), so the kubelet's
	// probes from the node address still pass.
	apply(`apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata: {name: node-partition-ledger, namespace: ` + smokeNS + `}
spec:
  action: partition
  mode: all
  direction: to
  selector: {namespaces: [` + smokeNS + `], labelSelectors: {app.kubernetes.io/component: ledger}}
  target:
    mode: all
    selector: {namespaces: [` + smokeNS + `], labelSelectors: {app.kubernetes.io/component: orders}}
`)
	waitCondition(t, "networkchaos", "node-partition-ledger", "AllInjected", 90*time.Second)
	rules := inNetns(t, netns, "iptables-save")
	t.Logf("ledger iptables under partition:\n%s", rules)
	if !strings.Contains(rules, "-j DROP") || !strings.Contains(rules, "CHAOS-") {
		t.Errorf("no CHAOS chain with a DROP in the ledger's netns")
	}
	kubectl(t, "-n", smokeNS, "delete", "networkchaos", "node-partition-ledger", "--wait=true", "--timeout=90s")
	rules = inNetns(t, netns, "iptables-save")
	for _, l := range strings.Split(rules, "\n") {
		if strings.HasPrefix(l, "-A INPUT -j CHAOS") || strings.HasPrefix(l, "-A OUTPUT -j CHAOS") {
			if strings.Contains(rules, "-A CHAOS-INPUT ") || strings.Contains(rules, "-A CHAOS-OUTPUT ") {
				t.Errorf("a live chaos rule is left after the chaos was deleted:\n%s", rules)
				break
			}
		}
	}
	if strings.Contains(rules, "-j DROP") {
		t.Logf("residue (unreferenced, inert) after deletion:\n%s", rules)
	}
}
