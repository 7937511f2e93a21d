package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
)

// abortDrill partitions every orders replica (and slows the ledger) so that
// nearly every payment fails: the abort guard (error ratio above 0.5 for 2s)
// must trip long before the faults' scheduled end.
const abortDrill = `apiVersion: cascadelab.dev/v1alpha1
kind: Experiment
metadata:
  name: abort-guard
spec:
  victim:
    orders: {replicas: 2, cache: sharded}
    ledger: {idempotency: cas}
    gateway: {mode: bounded, timeout: 300ms, retries: 1}
  load: {rate: 100, duplicateRatio: "0.1"}
  duration: 40s
  steadyState: 2s
  faults:
  - name: slow-ledger
    after: 2s
    networkChaos:
      action: delay
      mode: all
      selector:
        labelSelectors: {app.kubernetes.io/component: ledger}
      delay: {latency: 100ms, jitter: 10ms}
      duration: 30s
  - name: partition-orders
    after: 3s
    networkChaos:
      action: partition
      mode: all
      selector:
        labelSelectors: {app.kubernetes.io/component: orders}
      duration: 30s
  hypothesis:
    maxErrorRatio: "0.05"
    maxDuplicateCharges: 0
  abort: {errorRatioAbove: "0.5", for: 2s}
`

// A drill whose abort guard trips ends Aborted with verdict
// HypothesisViolated and one Aborted finding, and every fault that was
// active is recovered within one sample interval of the trip (asserted with
// slack: at most two intervals). Run at two sample intervals; the measured
// trip → recovered times are logged (docs/reliability.md quotes them).
func TestAbortGuardRecoversWithinOneInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("runs drills with real processes")
	}
	file := filepath.Join(t.TempDir(), "abort-guard.yaml")
	if err := os.WriteFile(file, []byte(abortDrill), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, interval := range []time.Duration{time.Second, 500 * time.Millisecond, time.Second} {
		t.Run(fmt.Sprintf("%d-interval-%s", i, interval), func(t *testing.T) {
			abortOnce(t, file, interval)
		})
	}
}

func abortOnce(t *testing.T, file string, interval time.Duration) {
	dir := t.TempDir()
	start := time.Now()
	code, out, errs := cli(t, "run", file, "--report-dir", dir, "--seed", "3",
		"--sample-interval", interval.String(), "--expect", "HypothesisViolated")
	wall := time.Since(start)
	r := loadReport(t, dir)
	if code != exitOK {
		t.Fatalf("exit %d, want 0; findings %+v\nstdout:\n%s\nstderr:\n%s", code, r.Findings, out, errs)
	}
	if r.Phase != v1alpha1.PhaseAborted || r.Verdict != v1alpha1.VerdictViolated {
		t.Errorf("phase %s verdict %s, want Aborted HypothesisViolated", r.Phase, r.Verdict)
	}
	var abortAt time.Duration
	n := 0
	for _, f := range r.Findings {
		if f.Type == v1alpha1.FindingAborted {
			abortAt = f.At.Duration
			n++
			t.Logf("Aborted at %s: %s", f.At.Duration, f.Message)
		}
	}
	if n != 1 {
		t.Fatalf("%d Aborted findings, want 1: %+v", n, r.Findings)
	}
	var worst time.Duration
	for _, f := range r.Faults {
		if f.State != v1alpha1.FaultRecovered || f.InjectedAt == nil || f.RecoveredAt == nil {
			t.Errorf("fault %s: state %s, injected %v, recovered %v; want injected and Recovered", f.Name, f.State, f.InjectedAt, f.RecoveredAt)
			continue
		}
		if f.InjectedAt.Duration > abortAt {
			t.Errorf("fault %s injected at %s, after the abort at %s", f.Name, f.InjectedAt.Duration, abortAt)
		}
		lag := f.RecoveredAt.Duration - abortAt
		t.Logf("fault %s: injected %s, recovered %s: %s after the trip", f.Name, f.InjectedAt.Duration, f.RecoveredAt.Duration, lag)
		if lag < 0 {
			t.Errorf("fault %s recovered at %s, before the abort at %s", f.Name, f.RecoveredAt.Duration, abortAt)
		}
		worst = max(worst, lag)
	}
	if worst > 2*interval {
		t.Errorf("faults recovered %s after the abort trip, want within one %s sample interval (bound asserted: 2 intervals)", worst, interval)
	}
	// The timeline agrees: the recoveries follow the Aborted event and no
	// fault is injected after it.
	aborted := false
	for _, ev := range r.Timeline {
		switch ev.Kind {
		case engine.KindAborted:
			aborted = true
		case engine.KindFaultInjected:
			if aborted {
				t.Errorf("fault injected after the abort: %+v", ev)
			}
		}
	}
	if !aborted {
		t.Errorf("no %s event in the timeline", engine.KindAborted)
	}
	t.Logf("interval %s: abort at %s, all faults recovered %s later (%.0f%% of an interval); drill wall time %s",
		interval, abortAt, worst, 100*float64(worst)/float64(interval), wall.Round(100*time.Millisecond))
}
