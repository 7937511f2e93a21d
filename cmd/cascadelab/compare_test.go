package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/report"
)

// drillReport writes a report.json of the shipped drill (spec defaulted, as
// a run records it), after edit, and returns its path.
func drillReport(t *testing.T, drill string, edit func(*v1alpha1.ExperimentSpec)) string {
	t.Helper()
	exps, err := v1alpha1.LoadFile("../../experiments/" + drill + ".yaml")
	if err != nil || len(exps) != 1 {
		t.Fatalf("%s: %d experiments, %v", drill, len(exps), err)
	}
	spec := exps[0].Spec
	v1alpha1.SetDefaults(&spec)
	if edit != nil {
		edit(&spec)
	}
	r := &report.Report{Name: exps[0].Name, Backend: "local", Phase: v1alpha1.PhaseCompleted,
		Verdict: v1alpha1.VerdictHeld, Spec: spec}
	path := filepath.Join(t.TempDir(), "report.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := report.WriteJSON(f, r); err != nil {
		t.Fatal(err)
	}
	return path
}

func slowLedger(spec *v1alpha1.ExperimentSpec) *v1alpha1.Fault {
	for i := range spec.Faults {
		if spec.Faults[i].Name == "slow-ledger" {
			return &spec.Faults[i]
		}
	}
	panic("no slow-ledger fault")
}

func TestCompareLikeForLike(t *testing.T) {
	fixed := drillReport(t, "fixed-under-chaos", nil)
	racy := drillReport(t, "fixed-under-chaos", func(s *v1alpha1.ExperimentSpec) {
		s.Victim.Orders.Cache = v1alpha1.CacheRacy
		s.Victim.Ledger.Idempotency = v1alpha1.IdempotencyNone
	})
	out := t.TempDir()
	code, stdout, stderr := cli(t, "compare", racy, fixed, "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if first, _, _ := strings.Cut(stdout, "\n"); first != report.LikeForLike {
		t.Errorf("first line %q, want %q", first, report.LikeForLike)
	}
	mustHave(t, filepath.Join(out, "compare.md"), "**Like for like:**")
	mustHave(t, filepath.Join(out, "compare.html"), "<b>Like for like:</b>")
}

func TestCompareDifferentChaos(t *testing.T) {
	fixed := drillReport(t, "fixed-under-chaos", nil)
	slower := drillReport(t, "fixed-under-chaos", func(s *v1alpha1.ExperimentSpec) {
		slowLedger(s).NetworkChaos.Delay.Latency = "200ms"
	})
	const diff = "faults[slow-ledger].networkChaos.delay.latency: 200ms vs 600ms"
	out := t.TempDir()
	code, stdout, stderr := cli(t, "compare", slower, fixed, "--out", out)
	if code != exitMismatch {
		t.Errorf("exit %d, want %d\nstderr: %s", code, exitMismatch, stderr)
	}
	if want := report.NotLikeForLike + "\n  " + diff + "\n\n"; !strings.HasPrefix(stdout, want) {
		t.Errorf("stdout does not open with %q:\n%s", want, stdout)
	}
	if !strings.Contains(stderr, "not like for like") || !strings.Contains(stderr, "--allow-different-chaos") {
		t.Errorf("stderr does not say why the exit status is 1: %q", stderr)
	}
	mustHave(t, filepath.Join(out, "compare.md"), "not like for like", "> - "+diff)
	mustHave(t, filepath.Join(out, "compare.html"), "not like for like", "<code>"+diff+"</code>")

	// Allowed: exit 0, the difference still listed.
	code, stdout, stderr = cli(t, "compare", "--allow-different-chaos", slower, fixed)
	if code != exitOK {
		t.Errorf("--allow-different-chaos: exit %d, want 0\nstderr: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, report.NotLikeForLike+"\n  "+diff+"\n") {
		t.Errorf("--allow-different-chaos: difference not listed first:\n%s", stdout)
	}

	// A fault in one report only.
	noKill := drillReport(t, "fixed-under-chaos", func(s *v1alpha1.ExperimentSpec) {
		s.Faults = []v1alpha1.Fault{*slowLedger(s)}
	})
	code, stdout, _ = cli(t, "compare", fixed, noKill)
	if code != exitMismatch || !strings.Contains(stdout, "\n  faults[kill-one-orders]: only in A\n") {
		t.Errorf("fault only in A: exit %d, stdout:\n%s", code, stdout)
	}

	// The shipped racy and fixed drills are a true A/B: like for like.
	racy := drillReport(t, "map-panic-cascade", nil)
	code, stdout, _ = cli(t, "compare", racy, fixed)
	if code != exitOK || !strings.HasPrefix(stdout, report.LikeForLike+"\n") {
		t.Errorf("shipped drills: exit %d, want %d and like for like:\n%s", code, exitOK, stdout)
	}

	// Unreadable input is still 2, whatever the flag.
	if code, _, _ := cli(t, "compare", "--allow-different-chaos", fixed, filepath.Join(t.TempDir(), "none.json")); code != exitInvalid {
		t.Errorf("missing report: exit %d, want %d", code, exitInvalid)
	}
}

func mustHave(t *testing.T, path string, wants ...string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wants {
		if !strings.Contains(string(data), w) {
			t.Errorf("%s lacks %q", filepath.Base(path), w)
		}
	}
}
