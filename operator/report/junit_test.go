package report

import (
	"bytes"
	"strings"
	"testing"

	junit "github.com/joshdk/go-junit"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// TestJUnitReadBack writes two drills and reads them back with a JUnit
// parser: one suite per drill, one case per hypothesis row and per fault,
// failures carrying the finding text, an Inconclusive drill's unjudged rows
// skipped, not passed.
func TestJUnitReadBack(t *testing.T) {
	casc, inc := cascade(), inconclusive()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, casc, fixed(), inc); err != nil {
		t.Fatal(err)
	}
	suites, err := junit.Ingest(buf.Bytes())
	if err != nil {
		t.Fatalf("JUnit parser: %v\n%s", err, buf.String())
	}
	if len(suites) != 3 {
		t.Fatalf("%d suites, want 3", len(suites))
	}
	rows := len(casc.hypothesisRows())
	byName := map[string]junit.Suite{}
	for _, s := range suites {
		byName[s.Name] = s
	}
	c := byName[casc.Name]
	if len(c.Tests) != rows+len(casc.Faults) {
		t.Fatalf("cascade: %d cases, want %d hypothesis rows + %d faults", len(c.Tests), rows, len(casc.Faults))
	}
	if c.Properties["verdict"] != string(v1alpha1.VerdictViolated) {
		t.Errorf("cascade suite verdict property %q", c.Properties["verdict"])
	}
	status := map[string]junit.Test{}
	for _, tc := range c.Tests {
		status[tc.Classname+"/"+tc.Name] = tc
	}
	crash := status["map-panic-cascade.hypothesis/Processes that crashed (not killed by a fault) 0"]
	if crash.Status != junit.StatusFailed || crash.Error == nil || !strings.Contains(crash.Error.Error(), "fatal error: concurrent map writes") ||
		!strings.Contains(crash.Error.Error(), "slow-ledger") {
		t.Errorf("crash row: status %s, error %v; want failed with the finding's text and the fault it followed", crash.Status, crash.Error)
	}
	leak := status["map-panic-cascade.hypothesis/Leaked goroutines (goleak, any process) ≤ 0"]
	if leak.Status != junit.StatusFailed || !strings.Contains(leak.Error.Error(), "<script>alert(1)</script> leaked 212") {
		t.Errorf("leak row: %s %v (the finding's text, unescaped after parsing)", leak.Status, leak.Error)
	}
	kill := status["map-panic-cascade.faults/fault kill-one-orders injected, recovered and its effect seen"]
	if kill.Status != junit.StatusFailed || !strings.Contains(kill.Message, "state Injected") {
		t.Errorf("a fault never recovered: %s %q, want failed naming its state", kill.Status, kill.Message)
	}
	slow := status["map-panic-cascade.faults/fault slow-ledger injected, recovered and its effect seen"]
	if slow.Status != junit.StatusPassed {
		t.Errorf("a recovered, confirmed fault: %s %v, want passed", slow.Status, slow.Error)
	}
	for _, tc := range byName["fixed-under-chaos"].Tests {
		if tc.Status != junit.StatusPassed {
			t.Errorf("fixed drill: %s %s %v", tc.Name, tc.Status, tc.Error)
		}
	}
	var skipped int
	for _, tc := range byName[inc.Name].Tests {
		if tc.Status == junit.StatusPassed && tc.Classname == inc.Name+".hypothesis" {
			t.Errorf("inconclusive drill: %q passed; an unjudged row must be skipped", tc.Name)
		}
		if tc.Status == junit.StatusSkipped {
			skipped++
		}
	}
	if skipped == 0 {
		t.Error("inconclusive drill: no case skipped")
	}
	if WriteJUnit(&buf, nil) == nil {
		t.Error("nil report accepted")
	}
}
