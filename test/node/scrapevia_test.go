//go:build node

package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// outsider is the uid the out-of-cluster manager runs as: an iptables
// owner match takes pod and Service addresses away from it, as a laptop
// running kind on Docker Desktop has no route to them.
const outsider = 65534

// TestScrapeViaAPIServer: a manager outside the cluster (`manager
// --kubeconfig … --scrape-via=apiserver --enable-webhook=false`, here a host
// process whose uid may reach only the API server) runs the fixed drill by
// reading the victim's admin servers and chaos-daemon's metrics through the
// API server's pod proxy: the drill is judged on samples (the fault's
// effect seen) and the residue check ran.
func TestScrapeViaAPIServer(t *testing.T) {
	deployOperator(t)
	root := repoRoot(t)
	dir, err := os.MkdirTemp("", "scrapevia") // t.TempDir's parent is 0700: the outsider could not exec from it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, "./operator/cmd/manager")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(kubectl(t, "config", "view", "--raw", "--flatten")), 0o644); err != nil {
		t.Fatal(err)
	}

	// Pod and Service addresses are unreachable for the outsider; the API
	// server (10.244.0.1:6443) is not.
	uid := "65534"
	rules := [][]string{
		{"OUTPUT", "-m", "owner", "--uid-owner", uid, "-d", "10.244.0.1", "-p", "tcp", "--dport", "6443", "-j", "ACCEPT"},
		{"OUTPUT", "-m", "owner", "--uid-owner", uid, "-d", "10.244.0.0/24", "-j", "REJECT"},
		{"OUTPUT", "-m", "owner", "--uid-owner", uid, "-d", "10.96.0.0/16", "-j", "REJECT"},
	}
	for i := len(rules) - 1; i >= 0; i-- {
		run(t, "iptables", append([]string{"-I"}, rules[i]...)...)
	}
	t.Cleanup(func() {
		for _, r := range rules {
			exec.Command("iptables", append([]string{"-D"}, r...)...).Run()
		}
	})
	daemonIP := strings.TrimSpace(kubectl(t, "-n", "chaos-mesh", "get", "pods", "-l", "app.kubernetes.io/component=chaos-daemon", "-o", "jsonpath={.items[0].status.podIP}"))
	if err := exec.Command("setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", "curl", "-sf", "-m", "3", "-o", "/dev/null", "http://"+daemonIP+":31766/metrics").Run(); err == nil {
		t.Fatalf("the outsider reaches pod %s directly; the test would prove nothing", daemonIP)
	}

	// The in-cluster manager and its webhook make way for the outsider.
	kubectl(t, "-n", "cascadelab-system", "scale", "deploy/cascadelab-manager", "--replicas=0")
	kubectl(t, "-n", "cascadelab-system", "wait", "--for=delete", "pod", "-l", "app.kubernetes.io/name=cascadelab-manager", "--timeout=120s")
	kubectl(t, "delete", "validatingwebhookconfiguration", "cascadelab-validating-webhook", "--ignore-not-found")
	t.Cleanup(func() {
		operatorOnce = syncOnce()
		deployOperator(t)
		kubectl(t, "-n", "cascadelab-system", "scale", "deploy/cascadelab-manager", "--replicas=1")
		kubectl(t, "-n", "cascadelab-system", "rollout", "status", "deploy/cascadelab-manager", "--timeout=180s")
	})

	logf, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		t.Fatal(err)
	}
	mgr := exec.Command(bin, "--kubeconfig="+kc, "--scrape-via=apiserver", "--enable-webhook=false",
		"--victim-image=ghcr.io/cascadelab/victim:dev", // as manifests/default gives it: :latest would be pulled
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	mgr.Stdout, mgr.Stderr = logf, logf
	mgr.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: outsider, Gid: outsider}}
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mgr.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { mgr.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			mgr.Process.Kill()
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("manager log (tail):\n%s", tail(string(b), 4000))
		}
	})

	e := runDrill(t, "fixed-under-chaos-no-netem.yaml")
	if e.Status.Verdict != "HypothesisHeld" {
		t.Errorf("verdict %s, want HypothesisHeld", e.Status.Verdict)
	}
	checkFaultsAndResidue(t, e)
	b, _ := os.ReadFile(logf.Name())
	if !strings.Contains(string(b), "scraping pods through the API server's pod proxy") {
		t.Errorf("the manager did not say it scrapes through the API server")
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
