package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/cascadelab/cascadelab/internal/reportschema"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/report"
)

// Ctrl-C (SIGINT) or SIGTERM at a random point of a drill: the runner
// recovers every fault, stops every child, writes a partial report and exits
// non-zero; no process of the drill is left behind.
func TestInterruptLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real drills and interrupts them")
	}
	bin := filepath.Join(t.TempDir(), "cascadelab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	file := shorten(t, "../../experiments/map-panic-cascade.yaml",
		// Continue: a rare steady-state crash must not end the drill
		// before the signal comes.
		"steadyState: 10s", "steadyState: 2s\n  steadyStateGate: Continue",
		"after: 10s", "after: 2s",
		"after: 20s", "after: 5s",
	)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGINT, syscall.SIGTERM} {
		// 0.5–8.5 s after the load started: steady state, during the delay,
		// around the pod-kill.
		after := time.Duration(500+rng.Intn(8000)) * time.Millisecond
		t.Run(fmt.Sprintf("%d-%s-after-%s", i, sig, after), func(t *testing.T) {
			interruptOnce(t, bin, file, sig, after)
		})
	}
}

func interruptOnce(t *testing.T, bin, file string, sig syscall.Signal, after time.Duration) {
	dir := t.TempDir()
	cmd := exec.Command(bin, "run", file, "--report-dir", dir, "--seed", "1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first status line means the load is running.
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case <-lines:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("no progress line within 60s; stderr:\n%s", stderr.String())
	}
	time.Sleep(after)
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("runner still running 30s after %s", sig)
	}
	if code := cmd.ProcessState.ExitCode(); code != exitMismatch {
		t.Errorf("exit status %d (%v), want %d; stderr:\n%s", code, err, exitMismatch, stderr.String())
	}
	if left := processesRunning(bin); len(left) > 0 {
		t.Errorf("processes left behind after %s: %v", sig, left)
	}
	data, err := os.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		t.Fatalf("no partial report: %v; stderr:\n%s", err, stderr.String())
	}
	if err := reportschema.Validate(data); err != nil {
		t.Error(err)
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Verdict != v1alpha1.VerdictInconclusive {
		t.Errorf("verdict %q, want Inconclusive for an interrupted drill", r.Verdict)
	}
	for _, f := range r.Faults {
		if f.State == v1alpha1.FaultInjected {
			t.Errorf("fault %s still Injected in the report", f.Name)
		}
	}
}

// processesRunning lists the PIDs whose command line starts with bin.
func processesRunning(bin string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if arg0, _, _ := strings.Cut(string(cmdline), "\x00"); arg0 == bin {
			stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if !strings.Contains(string(stat), ") Z ") { // zombies are already dead
				pids = append(pids, e.Name())
			}
		}
	}
	return pids
}
