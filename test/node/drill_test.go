//go:build node

package node

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// drillNS is the namespace manifests/default makes for drills.
const drillNS = "cascadelab-drills"

// experiment is the part of an Experiment the drill tests read.
type experiment struct {
	Status struct {
		Phase    string `json:"phase"`
		Verdict  string `json:"verdict"`
		Findings []struct {
			Type    string `json:"type"`
			Target  string `json:"target"`
			Message string `json:"message"`
			Cause   *struct {
				Fault string `json:"fault"`
				After string `json:"after"`
			} `json:"cause"`
		} `json:"findings"`
		Faults []struct {
			Name   string `json:"name"`
			State  string `json:"state"`
			Effect string `json:"effect"`
			Detail string `json:"effectDetail"`
		} `json:"faults"`
		Summary struct {
			Restarts         int    `json:"restarts"`
			DuplicateCharges int    `json:"duplicateCharges"`
			PeakErrorRatio   string `json:"peakErrorRatio"`
		} `json:"summary"`
		ReportRef *struct {
			ConfigMap string `json:"configMap"`
		} `json:"reportRef"`
	} `json:"status"`
}

// residue is the report's check for chaos left behind.
type residue struct {
	Checked string `json:"checked"`
	Clean   bool   `json:"clean"`
	Pods    []struct {
		Pod  string   `json:"pod"`
		Live []string `json:"live"`
	} `json:"pods"`
}

var operatorOnce = syncOnce()

func syncOnce() *sync.Once { return new(sync.Once) }

// deployOperator applies the operator as the kind lab does
// (manifests/default, through hack/node/manifests/operator) and waits for
// the manager and its admission webhook: a server-side dry run of a drill
// passes the webhook only once the manager's certificate is in the
// webhook configuration and its Service has an endpoint.
func deployOperator(t *testing.T) {
	t.Helper()
	operatorOnce.Do(func() {
		root := repoRoot(t)
		kubectl(t, "apply", "--server-side", "-k", filepath.Join(root, "hack", "node", "manifests", "operator"))
		kubectl(t, "-n", "cascadelab-system", "rollout", "status", "deploy/cascadelab-manager", "--timeout=180s")
		bin := filepath.Join(root, "bin", "node", "kubectl")
		exp := filepath.Join(root, "experiments", "fixed-under-chaos-no-netem.yaml")
		deadline := time.Now().Add(2 * time.Minute)
		for {
			out, err := exec.Command(bin, "-n", drillNS, "apply", "--dry-run=server", "-f", exp).CombinedOutput()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the operator's webhook did not admit a drill within 2m: %v\n%s", err, out)
			}
			time.Sleep(2 * time.Second)
		}
	})
}

func getExperiment(t *testing.T, name string) experiment {
	t.Helper()
	var e experiment
	if err := json.Unmarshal([]byte(kubectl(t, "-n", drillNS, "get", "experiment", name, "-o", "json")), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// waitExperiment polls until cond holds for the Experiment.
func waitExperiment(t *testing.T, name string, within time.Duration, what string, cond func(experiment) bool) experiment {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		e := getExperiment(t, name)
		if cond(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("experiment %s: not %s within %s (phase %q)\n%s", name, what, within, e.Status.Phase,
				kubectl(t, "-n", drillNS, "get", "experiment", name, "-o", "yaml"))
		}
		time.Sleep(2 * time.Second)
	}
}

func terminal(e experiment) bool {
	switch e.Status.Phase {
	case "Completed", "Aborted", "Failed":
		return true
	}
	return false
}

// reportResidue reads the residue check from the drill's report ConfigMap.
func reportResidue(t *testing.T, e experiment) *residue {
	t.Helper()
	if e.Status.ReportRef == nil {
		t.Fatal("no reportRef")
	}
	raw := kubectl(t, "-n", drillNS, "get", "configmap", e.Status.ReportRef.ConfigMap, "-o", "jsonpath={.data.report\\.json}")
	var doc struct {
		Residue *residue `json:"residue"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return doc.Residue
}

// noChaosLeft fails when any PodChaos or NetworkChaos exists anywhere.
func noChaosLeft(t *testing.T) {
	t.Helper()
	if left := strings.TrimSpace(kubectl(t, "get", "podchaos,networkchaos", "-A", "-o", "name")); left != "" {
		t.Errorf("chaos objects left: %s", left)
	}
}

// applyDrill replaces the Experiment name with doc (YAML, its namespace
// set).
func applyDrill(t *testing.T, name, doc string) {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "bin", "node", "kubectl")
	exec.Command(bin, "-n", drillNS, "delete", "experiment", name, "--ignore-not-found", "--wait=true").Run()
	cmd := exec.Command(bin, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
}

// runDrill applies one shipped drill and waits for its end.
func runDrill(t *testing.T, file string) experiment {
	t.Helper()
	path := filepath.Join(repoRoot(t), "experiments", file)
	name := strings.TrimSuffix(file, ".yaml")
	exec.Command(filepath.Join(repoRoot(t), "bin", "node", "kubectl"), "-n", drillNS, "delete", "experiment", name, "--ignore-not-found", "--wait=true").Run()
	kubectl(t, "-n", drillNS, "apply", "-f", path)
	e := waitExperiment(t, name, 6*time.Minute, "finished", terminal)
	t.Logf("%s: phase %s, verdict %s, summary %+v", name, e.Status.Phase, e.Status.Verdict, e.Status.Summary)
	for _, f := range e.Status.Faults {
		t.Logf("  fault %s: %s, effect %s: %s", f.Name, f.State, f.Effect, f.Detail)
	}
	for _, f := range e.Status.Findings {
		cause := ""
		if f.Cause != nil {
			cause = " " + f.Cause.After + " after " + f.Cause.Fault
		}
		t.Logf("  finding %s %s%s: %s", f.Type, f.Target, cause, f.Message)
	}
	return e
}

// gated reports whether the steady-state gate ended the drill: Inconclusive
// with SteadyStateNotMet, no fault injected.
func gated(e experiment) bool {
	for _, f := range e.Status.Findings {
		if f.Type == "SteadyStateNotMet" {
			return e.Status.Verdict == "Inconclusive"
		}
	}
	return false
}

// checkFaultsAndResidue: every fault was injected by the real Chaos Mesh,
// its effect seen, it was recovered, no chaos object is left and the
// report's residue check (chaos-daemon's gauges) found nothing live.
func checkFaultsAndResidue(t *testing.T, e experiment) {
	t.Helper()
	for _, f := range e.Status.Faults {
		if f.State != "Recovered" || f.Effect != "Confirmed" {
			t.Errorf("fault %s: state %s, effect %s; want Recovered, Confirmed", f.Name, f.State, f.Effect)
		}
	}
	noChaosLeft(t)
	res := reportResidue(t, e)
	if res == nil {
		t.Fatal("the report has no residue check")
	}
	t.Logf("residue check: clean %v: %s", res.Clean, res.Checked)
	if !res.Clean || len(res.Pods) == 0 {
		t.Errorf("residue: %+v", res)
	}
}

// goStackFrame matches the last line of a Go stack trace: a source file, its
// line and the frame's offset.
var goStackFrame = regexp.MustCompile(`\.go:[0-9]+ \+0x[0-9a-f]+$`)

// TestDrillsByKubectlApply: the node-compatible drills, applied with
// kubectl to the operator from manifests/default, on real pods with the
// real Chaos Mesh: the racy victim is Violated with its crash after a fault,
// and the fixes Hold under the same faults.
func TestDrillsByKubectlApply(t *testing.T) {
	deployOperator(t)
	t.Run("cascade", func(t *testing.T) {
		e := runDrill(t, "map-panic-cascade-no-netem.yaml")
		if gated(e) {
			// The racy map can die under the load alone, before any fault
			// (docs/node-lab.md gives the odds): the gate's verdict is
			// right, but the story under test is the faults'. Once more.
			t.Logf("the steady state broke before the first fault (the race fired under the load alone): running the drill again")
			e = runDrill(t, "map-panic-cascade-no-netem.yaml")
		}
		if e.Status.Verdict != "HypothesisViolated" {
			t.Errorf("verdict %s, want HypothesisViolated", e.Status.Verdict)
		}
		crashed, doubled := false, false
		for _, f := range e.Status.Findings {
			if f.Type == "ProcessCrashed" && strings.Contains(f.Target, "-orders-") && strings.Contains(f.Message, "fatal error: concurrent map") && f.Cause != nil {
				crashed = true
			}
			if f.Type == "DuplicateCharges" && f.Cause != nil {
				doubled = true
			}
			// The victim's own: the runtime's fatal error, or the kernel's
			// OOM kill of a replica swamped by the requests piling up behind
			// the slow ledger (seen once in 5 suite runs: orders at its
			// 256Mi limit). A probe restart or a kill is the faults'.
			// A Go stack frame ("…/server.go:3464 +0x485") is the victim's
			// own crash whose headline the kubelet's 2 KiB termination
			// message cut off: a map crash in an HTTP handler prints a
			// stack longer than that.
			goFrame := goStackFrame.MatchString(f.Message)
			if goFrame {
				t.Logf("crash text without its headline (cut by the termination message's 2 KiB): %s %s", f.Target, f.Message)
			}
			if f.Type == "ProcessCrashed" && !strings.Contains(f.Message, "fatal error:") && !strings.HasPrefix(f.Message, "OOMKilled") && !goFrame {
				t.Errorf("a crash that is not the victim's own: %s %s", f.Target, f.Message)
			}
		}
		if !crashed {
			t.Errorf("no orders ProcessCrashed with the runtime's fatal error and the fault it followed")
		}
		// The double charge is the netem drill's to show: on this
		// saturated link the racy orders usually die before a status
		// check and its charge both get through (the drill file says so).
		t.Logf("DuplicateCharges after a fault: %v", doubled)
		if e.Status.Summary.Restarts == 0 {
			t.Errorf("no restart counted")
		}
		checkFaultsAndResidue(t, e)
	})
	t.Run("fixed", func(t *testing.T) {
		e := runDrill(t, "fixed-under-chaos-no-netem.yaml")
		if e.Status.Verdict != "HypothesisHeld" {
			t.Errorf("verdict %s, want HypothesisHeld", e.Status.Verdict)
		}
		checkFaultsAndResidue(t, e)
	})
	t.Run("manager-rights", managerRights)
}

// managerRights: the manager of manifests/default did its work with its own
// ServiceAccount's rights and was refused nothing (its log has no
// "forbidden"): its cluster-wide role writes no workload, the drill
// namespace's RoleBinding (manifests/opt-in, through
// manifests/victim-namespace) gives it the drill's rights there and
// nowhere else; and leader election recorded its core/v1 Event in the
// manager's namespace (manifests/rbac/leader_election_role.yaml).
func managerRights(t *testing.T) {
	bin := filepath.Join(repoRoot(t), "bin", "node", "kubectl")
	for _, c := range []struct{ verb, res, ns, want string }{
		{"create", "deployments.apps", drillNS, "yes"},
		{"create", "podchaos.chaos-mesh.org", drillNS, "yes"},
		{"update", "configmaps", drillNS, "yes"},
		{"create", "deployments.apps", "kube-system", "no"},
		{"update", "configmaps", "kube-system", "no"},
		{"create", "jobs.batch", "default", "no"},
		{"get", "secrets", drillNS, "no"},
	} {
		out, _ := exec.Command(bin, "auth", "can-i", c.verb, c.res, "-n", c.ns,
			"--as=system:serviceaccount:cascadelab-system:cascadelab-manager").Output()
		got := strings.TrimSpace(string(out))
		if f := strings.Fields(got); len(f) == 0 || f[0] != c.want { // "no - reason" at times
			t.Errorf("the manager may %s %s in %s: %q, want %q", c.verb, c.res, c.ns, got, c.want)
		}
	}
	logs := kubectl(t, "-n", "cascadelab-system", "logs", "deploy/cascadelab-manager", "--tail=-1")
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("the manager was refused: %s", line)
		}
	}
	ev := kubectl(t, "-n", "cascadelab-system", "get", "events", "--field-selector", "reason=LeaderElection", "-o", "name")
	if strings.TrimSpace(ev) == "" {
		t.Errorf("no LeaderElection Event in cascadelab-system")
	}
}
