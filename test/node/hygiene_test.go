//go:build node

package node

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	bridge  = "cascadelab0"
	podCIDR = "10.244.0.0/24"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestNetworkHygiene checks the workplace's network rule on the running lab:
// pod addresses are on the lab's bridge subnet, pods have no default route,
// the FORWARD guard drops anything from the bridge to another interface (and
// runs before any ACCEPT kube-proxy or CNI add), no other interface forwards,
// and every NAT rule is kube-proxy's or CNI's (on-machine Service and hostPort
// traffic), none for an outside interface.
func TestNetworkHygiene(t *testing.T) {
	applySmoke(t)
	_, subnet, _ := net.ParseCIDR(podCIDR)

	var list struct {
		Items []struct {
			Metadata struct{ Namespace, Name string }
			Spec     struct {
				HostNetwork bool `json:"hostNetwork"`
			}
			Status struct {
				PodIP string `json:"podIP"`
			}
		}
	}
	if err := json.Unmarshal([]byte(kubectl(t, "get", "pods", "-A", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.Spec.HostNetwork || p.Status.PodIP == "" {
			continue
		}
		if ip := net.ParseIP(p.Status.PodIP); !subnet.Contains(ip) {
			t.Errorf("pod %s/%s has IP %s outside the lab's bridge subnet %s", p.Metadata.Namespace, p.Metadata.Name, ip, podCIDR)
		}
	}

	// Every pod sandbox's network namespace: no default route.
	crictl := filepath.Join(repoRoot(t), "bin", "node", "crictl")
	endpoint := "unix:///run/cascadelab-node/containerd/containerd.sock"
	ids := strings.Fields(run(t, crictl, "--runtime-endpoint", endpoint, "ps", "-q", "--state", "running"))
	if len(ids) == 0 {
		t.Fatal("no running containers")
	}
	checked := 0
	for _, id := range ids {
		// a crash-looping container may be gone between ps and inspect
		out, err := exec.Command(crictl, "--runtime-endpoint", endpoint, "inspect", "-o", "go-template", "--template", "{{.info.pid}}", id).Output()
		pid := strings.TrimSpace(string(out))
		if err != nil || pid == "" || pid == "0" {
			continue
		}
		r, err := exec.Command("nsenter", "-t", pid, "-n", "ip", "-4", "route").Output()
		if err != nil {
			continue
		}
		checked++
		routes := string(r)
		if strings.Contains(routes, "default") {
			t.Errorf("container %s (pid %s) has a default route:\n%s", id, pid, routes)
		}
	}

	if checked == 0 {
		t.Fatal("could not inspect any running container's network namespace")
	}
	t.Logf("%d containers' network namespaces have no default route", checked)

	// The guard is the first FORWARD rule in mangle (before filter's ACCEPTs).
	fwd := strings.Split(strings.TrimSpace(run(t, "iptables", "-t", "mangle", "-S", "FORWARD")), "\n")
	if len(fwd) < 2 || fwd[1] != "-A FORWARD -j CASCADELAB-NODE-GUARD" {
		t.Errorf("mangle FORWARD does not start with the lab's guard:\n%s", strings.Join(fwd, "\n"))
	}
	guard := run(t, "iptables", "-t", "mangle", "-S", "CASCADELAB-NODE-GUARD")
	if !strings.Contains(guard, "-i "+bridge+" ! -o "+bridge) || !strings.Contains(guard, "-j DROP") {
		t.Errorf("guard chain lacks the bridge → elsewhere DROP:\n%s", guard)
	}

	// Forwarding: on for the bridge (and conf/all = ip_forward, which the
	// kernel requires), off on every other interface.
	dirs, _ := filepath.Glob("/proc/sys/net/ipv4/conf/*")
	for _, d := range dirs {
		i := filepath.Base(d)
		if i == "all" || i == "lo" || i == bridge || strings.HasPrefix(i, "veth") {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(d, "forwarding"))
		if strings.TrimSpace(string(b)) != "0" {
			t.Errorf("net.ipv4.conf.%s.forwarding = %s, want 0", i, strings.TrimSpace(string(b)))
		}
	}

	// NAT: only kube-proxy's and CNI's chains rewrite addresses, and no rule
	// names an outside interface.
	for _, r := range strings.Split(run(t, "iptables", "-t", "nat", "-S"), "\n") {
		if !strings.HasPrefix(r, "-A ") {
			continue
		}
		chain := strings.Fields(r)[1]
		if (strings.Contains(r, "MASQUERADE") || strings.Contains(r, "-j SNAT") || strings.Contains(r, "-j DNAT")) &&
			!strings.HasPrefix(chain, "KUBE-") && !strings.HasPrefix(chain, "CNI-") {
			t.Errorf("NAT rule outside kube-proxy's and CNI's chains: %s", r)
		}
		if strings.Contains(r, "-o ") && !strings.Contains(r, "-o "+bridge) && !strings.Contains(r, "-o lo") {
			t.Errorf("NAT rule for another interface: %s", r)
		}
	}
}
