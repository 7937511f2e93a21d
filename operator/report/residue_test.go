package report

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/internal/reportschema"
)

// The residue check is in report.json (schema-valid, read back as written)
// and in report.md, which says what was checked and names a pod with chaos
// left as LEFT.
func TestResidueSection(t *testing.T) {
	r := cascade()
	r.Residue = &Residue{Checked: "chaos-daemon's gauges from 1 daemon(s) for 2 victim pod(s)", Pods: []ResiduePod{
		{Pod: "ledger-0", TCRules: 2, TCRulesBefore: 2, Inert: []string{"filter OUTPUT/node-1 -j DROP"}},
		{Pod: "orders-0", TCRules: 3, TCRulesBefore: 2},
	}}
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	if err := reportschema.Validate(js.Bytes()); err != nil {
		t.Fatalf("schema: %v", err)
	}
	back, err := ReadJSON(&js)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Residue, r.Residue) {
		t.Errorf("read back %+v, want %+v", back.Residue, r.Residue)
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, want := range []string{"## Chaos left behind", "**Chaos left behind**", "chaos-daemon's gauges", "| orders-0 | 3 (before 2) |", "LEFT", "filter OUTPUT/node-1 -j DROP"} {
		if !strings.Contains(out, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if !strings.Contains(out, "| ledger-0 | 2 (before 2) | 0 (before 0) | — | filter OUTPUT/node-1 -j DROP | inert leftovers |") {
		t.Errorf("an inert chain not shown as an inert leftover:\n%s", out)
	}
	r.Residue = &Residue{Checked: "could not read chaos-daemon's gauges: no running chaos-daemon pod"}
	md.Reset()
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "**Not checked**: could not read chaos-daemon's gauges: no running chaos-daemon pod.") {
		t.Errorf("an unchecked residue is not said so:\n%s", md.String())
	}
}

// A pod a network fault hit that no daemon saw leaves the check unclean
// without anything found: report.md says it was not all checked, not that
// chaos was left.
func TestResidueNotAllChecked(t *testing.T) {
	r := cascade()
	r.Residue = &Residue{Checked: "chaos-daemon's gauges …; not seen by any daemon (no running container): ledger-0 — a pod the network faults hit was not checked",
		Pods: []ResiduePod{{Pod: "orders-0", TCRules: 2, TCRulesBefore: 2}}}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	if !strings.Contains(out, "**Not all checked**: chaos-daemon's gauges") || strings.Contains(out, "**Chaos left behind**") || strings.Contains(out, "**Nothing left**") {
		t.Errorf("report.md residue section:\n%s", out)
	}
}
