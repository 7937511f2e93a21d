package local

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
)

// ownDrill is a drill of the test's own service: replicas processes of
// bin, labelled app=shop, under load of GET path, with a 300ms delay on
// their inbound edge from 4s to 9s. The growth bound is wide: the service
// has about 7 goroutines of its own, and each connection the load opens
// while the delay holds its requests keeps a server goroutine for the
// load's idle-connection timeout (30s); on a busy machine that alone was
// 6× the baseline. Growth is not what these cases judge.
const ownDrill = `apiVersion: cascadelab.dev/v1alpha1
kind: Experiment
metadata: {name: own}
spec:
  target:
    selector: {matchLabels: {app: shop}}
    process: {command: [BIN, --listen=127.0.0.1:$(PORT) ARGS], replicas: 2}
  load: {rate: 40, duplicateRatio: "0", request: {path: PATH}}
  duration: 17s
  steadyState: 4s
  steadyStateGate: Continue
  hypothesis: {maxGoroutineGrowth: "100"}
  faults:
  - name: slow-shop
    after: 4s
    networkChaos: {action: delay, mode: all, selector: {labelSelectors: {app: shop}}, delay: {latency: 300ms}, duration: 5s}
`

// TestOwnService drills a small Go HTTP service written for the test
// (testdata/ownservice) with the local backend: its processes started
// from spec.target.process, the load sent as spec.load.request, goroutines
// read from its /metrics and leaks from its goroutine dump, judged
// kit-side. Each case is judged as it should be.
func TestOwnService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries and runs three drills")
	}
	dir := t.TempDir()
	svc, victim := filepath.Join(dir, "ownservice"), filepath.Join(dir, "victim")
	for bin, pkg := range map[string]string{svc: "./testdata/ownservice", victim: "../../victim/cmd/victim"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	run := func(t *testing.T, path, args string) v1alpha1.ExperimentStatus {
		t.Helper()
		doc := strings.NewReplacer("BIN", svc, "PATH", path, " ARGS", args).Replace(ownDrill)
		exps, err := v1alpha1.Load([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		exp := exps[0]
		exp.Default()
		if errs := append(v1alpha1.Validate(&exp), CheckSupported(exp.Spec)...); len(errs) > 0 {
			t.Fatal(errs.ToAggregate())
		}
		b, err := NewForSpec(exp.Name, exp.Spec, WithVictimCommand(victim), WithSeed(1), WithDataDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		drv, err := drive.New(exp.Spec, NewDriveBackend(b, exp.Spec), drive.WithClock(time.Now))
		if err != nil {
			t.Fatal(err)
		}
		defer drv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		for !drv.Done() && ctx.Err() == nil {
			next, _ := drv.Step(ctx, time.Now())
			time.Sleep(min(next, time.Second))
		}
		st := drv.Engine().Status()
		for _, f := range st.Findings {
			t.Logf("finding %s %s: %s", f.Type, f.Target, f.Message)
		}
		for _, f := range st.Faults {
			t.Logf("fault %s: %s, effect %s (%s)", f.Name, f.State, f.Effect, f.EffectDetail)
		}
		t.Logf("verdict %s, summary %+v", st.Verdict, st.Summary)
		return st
	}
	has := func(st v1alpha1.ExperimentStatus, typ v1alpha1.FindingType, text string) bool {
		for _, f := range st.Findings {
			if f.Type == typ && strings.Contains(f.Target+" "+f.Message, text) {
				return true
			}
		}
		return false
	}
	t.Run("leaks a goroutine per request", func(t *testing.T) {
		st := run(t, "/leak", "")
		if st.Verdict != v1alpha1.VerdictViolated || !has(st, v1alpha1.FindingGoroutineLeak, "main.main.func2") ||
			!has(st, v1alpha1.FindingGoroutineLeak, "blocked on the same operation") {
			t.Errorf("verdict %s: want HypothesisViolated with a GoroutineLeak in main.main.func2, found blocked twice", st.Verdict)
		}
	})
	t.Run("answers 500", func(t *testing.T) {
		st := run(t, "/fail", "")
		if st.Verdict != v1alpha1.VerdictViolated || !has(st, v1alpha1.FindingErrorRatioExceeded, "") || has(st, v1alpha1.FindingGoroutineLeak, "") {
			t.Errorf("verdict %s: want HypothesisViolated with ErrorRatioExceeded and no leak", st.Verdict)
		}
	})
	t.Run("healthy: the delay seen on its inbound edge", func(t *testing.T) {
		st := run(t, "/", "")
		if st.Verdict != v1alpha1.VerdictHeld || len(st.Faults) != 1 || st.Faults[0].Effect != v1alpha1.EffectConfirmed || !strings.Contains(st.Faults[0].EffectDetail, "loadgen→target") ||
			has(st, v1alpha1.FindingGoroutineLeak, "") || has(st, "SignalUnavailable", "") {
			t.Errorf("faults %+v: want HypothesisHeld, slow-shop's effect Confirmed on loadgen→target, and no leak or missing signal", st.Faults)
		}
	})
	t.Run("no pprof", func(t *testing.T) {
		st := run(t, "/", ", -no-pprof")
		if st.Verdict == v1alpha1.VerdictHeld || !has(st, "SignalUnavailable", "/debug/pprof/goroutine") {
			t.Errorf("verdict %s: want a SignalUnavailable finding naming /debug/pprof/goroutine, and not HypothesisHeld", st.Verdict)
		}
	})
}
