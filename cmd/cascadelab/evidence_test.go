package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
	"github.com/cascadelab/cascadelab/operator/local"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// noPodDrill is the fixed victim with one fault whose selector matches no
// process: nothing is injected. On f214de6 it was judged HypothesisHeld.
const noPodDrill = `apiVersion: cascadelab.dev/v1alpha1
kind: Experiment
metadata:
  name: no-pod
spec:
  victim:
    orders: {replicas: 2, cache: sharded}
    ledger: {idempotency: cas}
    gateway: {mode: bounded, timeout: 500ms, retries: 2}
  load: {rate: 100, duplicateRatio: "0.1"}
  duration: 10s
  steadyState: 3s
  faults:
  - name: kill-nobody
    after: 4s
    podChaos:
      action: pod-kill
      mode: one
      selector:
        labelSelectors: {app.kubernetes.io/component: payments}
`

// A drill whose only fault selects no pod is Inconclusive with
// FaultNotInjected, and `--expect HypothesisHeld` exits 1.
func TestNoPodSelectedIsInconclusive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill with real processes")
	}
	file := filepath.Join(t.TempDir(), "no-pod.yaml")
	if err := os.WriteFile(file, []byte(noPodDrill), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, out, errs := cli(t, "run", file, "--report-dir", dir, "--expect", "HypothesisHeld")
	r := loadReport(t, dir)
	if code != exitMismatch {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitMismatch, out, errs)
	}
	if r.Verdict != v1alpha1.VerdictInconclusive || findingTypes(r)[v1alpha1.FindingFaultNotInjected] != 1 {
		t.Errorf("verdict %s, findings %+v", r.Verdict, r.Findings)
	}
	if f := r.Faults[0]; f.State != v1alpha1.FaultFailed || !strings.Contains(f.Message, "matches no") {
		t.Errorf("fault %+v", f)
	}
}

// unscrapable hands the driver every process at an admin address where
// nothing listens (as a NetworkPolicy that blocks the manager would): the
// victim runs, serves and is loaded, but nothing of it can be observed.
type unscrapable struct {
	*local.DriveBackend
	dead string
}

func (u unscrapable) Targets(ctx context.Context) ([]drive.Process, []observe.Crash, error) {
	ps, cs, err := u.DriveBackend.Targets(ctx)
	for i := range ps {
		ps[i].AdminURL = "http://" + u.dead
	}
	return ps, cs, err
}

// A drill whose victim's metrics cannot be scraped is Inconclusive with
// ObservationGap (and LoadNotRunning: no request was seen either); on
// f214de6 failed scrapes were skipped and the drill judged Held.
func TestUnscrapableVictimIsInconclusive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill with real processes")
	}
	file := filepath.Join(t.TempDir(), "fixed.yaml")
	if err := os.WriteFile(file, []byte(noPodDrill), 0o644); err != nil {
		t.Fatal(err)
	}
	exps, ok := loadAndValidate([]string{file}, io.Discard)
	if !ok {
		t.Fatal("invalid drill")
	}
	exp := exps[0]
	exp.Spec.Faults = nil // no fault: what is missing is the observation alone
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := local.New(exp.Name, *exp.Spec.Victim, local.WithVictimCommand(self, "victim"), local.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// A port that refuses connections: listen, take the address, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	drv, err := drive.New(exp.Spec, unscrapable{local.NewDriveBackend(b, exp.Spec), dead})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := stepUntilDone(ctx, drv, newProgress(io.Discard)); err != nil {
		t.Fatal(err)
	}
	r := buildReport(exp, drv)
	if r.Verdict != v1alpha1.VerdictInconclusive || findingTypes(r)[v1alpha1.FindingObservationGap] == 0 {
		t.Errorf("verdict %s, findings %+v", r.Verdict, r.Findings)
	}
}
