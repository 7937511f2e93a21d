//go:build node

package node

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// managerKillDrill is a drill with a partition (iptables, ipset) and a
// bandwidth limit (tc tbf) on the ledger, both executed by the real
// chaos-daemon, so a manager killed while they are in effect would leave
// every kind of rule behind if the restarted one did not recover them.
const managerKillDrill = `apiVersion: cascadelab.dev/v1alpha1
kind: Experiment
metadata: {name: manager-kill, namespace: ` + drillNS + `}
spec:
  victim:
    orders: {replicas: 1, cache: sharded}
    ledger: {idempotency: cas}
    gateway: {mode: bounded, timeout: 500ms, retries: 2}
  load: {rate: 50}
  duration: 75s
  steadyState: 10s
  faults:
  - name: cut-ledger
    after: 10s
    networkChaos:
      action: partition
      duration: 45s
      mode: all
      direction: to
      selector: {labelSelectors: {app.kubernetes.io/component: ledger}}
      target:
        mode: all
        selector: {labelSelectors: {app.kubernetes.io/component: orders}}
  - name: throttle-ledger
    after: 10s
    networkChaos:
      action: bandwidth
      duration: 45s
      mode: all
      selector: {labelSelectors: {app.kubernetes.io/component: ledger}}
      bandwidth: {rate: 1mbps, limit: 20000, buffer: 10000}
`

// liveChaosRules returns the iptables rules Chaos Mesh's chains still hold
// and any tbf qdisc in a network namespace.
func liveChaosRules(t *testing.T, netns string) []string {
	t.Helper()
	var live []string
	for _, l := range strings.Split(inNetns(t, netns, "iptables-save"), "\n") {
		if strings.HasPrefix(l, "-A CHAOS-INPUT ") || strings.HasPrefix(l, "-A CHAOS-OUTPUT ") {
			live = append(live, l)
		}
	}
	if qd := inNetns(t, netns, "tc", "qdisc", "show"); strings.Contains(qd, "tbf") {
		live = append(live, "tc: "+qd)
	}
	return live
}

// TestManagerKilledMidDrill: the manager is SIGKILLed (its container
// stopped with no grace) while a partition and a bandwidth fault are in
// the ledger's network namespace. The kubelet restarts it; the restarted
// manager takes the drill up from the Experiment's status, recovers both
// faults on time, and nothing is left: no chaos object, no rule in the
// ledger's namespace (read there directly), a clean residue check.
func TestManagerKilledMidDrill(t *testing.T) {
	deployOperator(t)
	applyDrill(t, "manager-kill", managerKillDrill)
	injected := func(e experiment) bool {
		n := 0
		for _, f := range e.Status.Faults {
			if f.State == "Injected" {
				n++
			}
		}
		return n == 2
	}
	waitExperiment(t, "manager-kill", 3*time.Minute, "with both faults injected", injected)
	_, netns := podNetns(t, drillNS, "app.kubernetes.io/component=ledger")
	if live := liveChaosRules(t, netns); len(live) < 2 {
		t.Fatalf("the faults are not in the ledger's namespace: %q", live)
	}

	crictl := filepath.Join(repoRoot(t), "bin", "node", "crictl")
	endpoint := "unix:///run/cascadelab-node/containerd/containerd.sock"
	out := strings.Fields(run(t, crictl, "--runtime-endpoint", endpoint, "ps", "-q", "--name", "^manager$", "--state", "running"))
	var id string
	if len(out) > 0 {
		id = out[len(out)-1] // the last line; crictl warns about its config first
	}
	if len(id) < 12 {
		t.Fatalf("manager container: %q", id)
	}
	run(t, crictl, "--runtime-endpoint", endpoint, "stop", "--timeout", "0", id)
	killedAt := time.Now()
	t.Logf("manager container %s killed", id[:12])

	recovered := func(e experiment) bool {
		for _, f := range e.Status.Faults {
			if f.State != "Recovered" {
				return false
			}
		}
		return len(e.Status.Faults) == 2
	}
	waitExperiment(t, "manager-kill", 3*time.Minute, "with both faults recovered", recovered)
	t.Logf("both faults recovered %s after the kill", time.Since(killedAt).Round(time.Second))
	if live := liveChaosRules(t, netns); len(live) > 0 {
		t.Errorf("rules left in the ledger's namespace after the recovery: %q", live)
	}
	e := waitExperiment(t, "manager-kill", 4*time.Minute, "finished", terminal)
	t.Logf("phase %s, verdict %s", e.Status.Phase, e.Status.Verdict)
	noChaosLeft(t)
	res := reportResidue(t, e)
	if res == nil {
		t.Fatal("the report has no residue check")
	}
	t.Logf("residue check: clean %v: %s", res.Clean, res.Checked)
	if !res.Clean {
		t.Errorf("residue: %+v", res)
	}
	restarts := kubectl(t, "-n", "cascadelab-system", "get", "pods", "-l", "app.kubernetes.io/name=cascadelab-manager", "-o", "jsonpath={..restartCount}")
	t.Logf("manager restart count: %s", restarts)
}
