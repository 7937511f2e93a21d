package main

import (
	"strings"
	"testing"

	junit "github.com/joshdk/go-junit"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/report"
	"github.com/cascadelab/cascadelab/operator/victimlog"
	"github.com/cascadelab/cascadelab/victim/events"
)

// checkJUnit reads the --junit file back with a JUnit parser: one suite for
// the drill, one case per hypothesis row (6) and per fault, and a failed
// case for each kind of breach finding the report has.
func checkJUnit(t *testing.T, path string, r *report.Report) {
	t.Helper()
	suites, err := junit.IngestFile(path)
	if err != nil {
		t.Fatalf("--junit file: %v", err)
	}
	if len(suites) != 1 || suites[0].Name != r.Name {
		t.Fatalf("--junit: %d suites, want one named %s", len(suites), r.Name)
	}
	s := suites[0]
	if want := 6 + len(r.Faults); len(s.Tests) != want {
		t.Errorf("--junit: %d cases, want %d (6 hypothesis rows + %d faults)", len(s.Tests), want, len(r.Faults))
	}
	failed := 0
	for _, tc := range s.Tests {
		if tc.Status == junit.StatusFailed {
			failed++
			if tc.Error == nil || strings.TrimSpace(tc.Error.Error()) == "" {
				t.Errorf("--junit: failed case %q carries no text", tc.Name)
			}
		}
	}
	switch r.Verdict {
	case v1alpha1.VerdictHeld:
		if failed != 0 || s.Totals.Skipped != 0 {
			t.Errorf("--junit: a Held drill has %d failed and %d skipped cases", failed, s.Totals.Skipped)
		}
	case v1alpha1.VerdictViolated:
		if failed == 0 {
			t.Error("--junit: a Violated drill has no failed case")
		}
	}
}

// checkRaceEvidence: a drill with duplicate charges and crashes has, in its
// report, the first double charge reconstructed from the victim's events
// across processes, and the last events before a crash.
func checkRaceEvidence(t *testing.T, r *report.Report) {
	t.Helper()
	if r.Summary.DuplicateCharges > 0 {
		if len(r.Races) == 0 {
			t.Fatalf("%d duplicate charges, no race reconstructed", r.Summary.DuplicateCharges)
		}
		ch := r.Races[0]
		seen := map[string]bool{}
		procs := map[string]bool{}
		for _, e := range ch.Events {
			seen[e.Event.Event] = true
			procs[e.Process] = true
		}
		if ch.Window == victimlog.WindowUnknown || !seen[events.DuplicateDeduct] || !seen[events.ChargeAttempt] || len(procs) < 2 {
			t.Errorf("first race: window %q, events %v across %d processes; want a named window, the charge attempts and the ledger's duplicate_deduct\n%s",
				ch.Window, seen, len(procs), ch.Explanation)
		}
		attempts := map[string]bool{}
		for _, e := range ch.Events {
			if e.Event.Event == events.ChargeAttempt {
				attempts[e.RequestID] = true
			}
		}
		if len(ch.Requests) == 0 || len(ch.Requests) > 2 || !attempts[ch.Requests[len(ch.Requests)-1]] {
			t.Errorf("first race: requests %v, charge attempts by %v", ch.Requests, attempts)
		}
		t.Logf("first race: order %s, window %q: %s", ch.OrderID, ch.Window, ch.Explanation)
	}
	if findingTypes(r)[v1alpha1.FindingProcessCrashed] > 0 {
		if len(r.Crashes) == 0 {
			t.Fatal("a process crashed, no crash context")
		}
		c := r.Crashes[0]
		if !strings.Contains(c.Headline, "concurrent map") || len(c.Before) == 0 {
			t.Errorf("first crash context: %q with %d events before it", c.Headline, len(c.Before))
		}
	}
}
