package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// inconclusive is the fixed victim's drill that could not be judged: the
// pod-kill selected nothing, the ledger delay's effect was not seen, one
// orders process was scraped too rarely and the load stopped early.
func inconclusive() *Report {
	r := fixed()
	r.Name = "fixed-unjudged"
	r.Verdict = v1alpha1.VerdictInconclusive
	r.Faults = []v1alpha1.FaultStatus{
		{Name: "slow-ledger", State: v1alpha1.FaultRecovered, InjectedAt: pdur(10 * time.Second), RecoveredAt: pdur(40 * time.Second),
			Targets: []string{"ledger-0"}, Effect: v1alpha1.EffectNotObserved, EffectDetail: "ledger edge mean latency 3ms → 4ms (injected 200ms)"},
		{Name: "kill-one-orders", State: v1alpha1.FaultFailed, Message: "no pod selected",
			Effect: v1alpha1.EffectInconclusive, EffectDetail: "never injected"},
	}
	r.Findings = []v1alpha1.Finding{
		{Type: v1alpha1.FindingFaultEffectNotObserved, At: dur(10 * time.Second), Target: "slow-ledger",
			Message: "slow-ledger (NetworkChaos) effect NotObserved: ledger edge mean latency 3ms → 4ms (injected 200ms)"},
		{Type: v1alpha1.FindingFaultNotInjected, At: dur(60 * time.Second), Target: "kill-one-orders",
			Message: "kill-one-orders (PodChaos) was not injected: no pod selected"},
		{Type: v1alpha1.FindingObservationGap, At: dur(60 * time.Second), Target: "orders-1",
			Message: "observed in 21 of 60 samples (35% < 80%)"},
		{Type: v1alpha1.FindingLoadNotRunning, At: dur(60 * time.Second),
			Message: "requests seen in 30 of 60 intervals (50% < 90%); last at 30s of 1m0s"},
	}
	return r
}

func TestFaultEffectInJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, inconclusive()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Faults []map[string]any `json:"faults"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Faults) != 2 {
		t.Fatalf("%d faults in report.json, want 2", len(doc.Faults))
	}
	want := []map[string]string{
		{"name": "slow-ledger", "effect": "NotObserved", "effectDetail": "ledger edge mean latency 3ms → 4ms (injected 200ms)"},
		{"name": "kill-one-orders", "effect": "Inconclusive", "effectDetail": "never injected"},
	}
	for i, w := range want {
		for k, v := range w {
			if got, _ := doc.Faults[i][k].(string); got != v {
				t.Errorf("faults[%d].%s = %q, want %q", i, k, got, v)
			}
		}
	}
}

func TestMarkdownInconclusiveSaysWhyFirst(t *testing.T) {
	r := inconclusive()
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// The explanation comes right after the title, before any figure.
	title := "# Chaos drill: fixed-unjudged\n\n"
	if !strings.HasPrefix(out, title+"> **Verdict: Inconclusive — not a pass.**") {
		t.Fatalf("Markdown does not open with why it is inconclusive:\n%s", out[:min(len(out), 400)])
	}
	why := out[:strings.Index(out, "**Verdict: Inconclusive**")]
	if strings.Contains(why, "## ") {
		t.Error("a section comes before the Inconclusive explanation")
	}
	for _, f := range r.Findings {
		mustContain(t, why, md(f.Message))
	}
	mustContain(t, why, "**Fault not injected** — kill-one-orders (at 1m0s)", "**Fault effect not seen** — slow-ledger (at 10s)",
		"**Observation gap** — orders-1", "**Load not running** (at 1m0s)")
	if strings.Contains(why, "**Load:**") {
		t.Error("says the load ran although a LoadNotRunning finding says it did not")
	}
	// The faults as run carry state, offsets, targets and the effect.
	mustContain(t, out,
		"| Fault | Kind | State | Injected | Recovered | Targets | Effect | Effect detail |",
		"| slow-ledger | NetworkChaos | Recovered | 10s | 40s | ledger-0 | NotObserved | ledger edge mean latency 3ms → 4ms (injected 200ms) |",
		"| kill-one-orders | PodChaos | Failed: no pod selected | — | — | — | Inconclusive | never injected |")
	// Inconclusive bounds are not judged, never "held".
	if strings.Contains(out, "✓ held") {
		t.Error("an Inconclusive report marks a bound as held")
	}
}

func TestInconclusiveWithoutFindings(t *testing.T) {
	// Statuses alone (no evidence finding): the faults still say why, and
	// the load line says it ran.
	r := inconclusive()
	r.Findings = nil
	r.Faults[0].Effect, r.Faults[0].EffectDetail = v1alpha1.EffectNotObserved, "no sample of the ledger edge"
	w := r.why()
	if w == nil || len(w.Reasons) != 2 {
		t.Fatalf("why = %+v, want a reason per fault", w)
	}
	if w.Reasons[0].Label != "Fault effect not seen" || !strings.Contains(w.Reasons[0].Message, "no sample of the ledger edge") {
		t.Errorf("slow-ledger reason %+v", w.Reasons[0])
	}
	if w.Reasons[1].Label != "Fault not injected" || !strings.Contains(w.Reasons[1].Message, "no pod selected") {
		t.Errorf("kill-one-orders reason %+v", w.Reasons[1])
	}
	if w.Load != "the load ran: 18000 requests sent" {
		t.Errorf("load line %q", w.Load)
	}
	// Nothing at all recorded: it says so rather than nothing.
	bare := &Report{Name: "bare", Verdict: v1alpha1.VerdictInconclusive, Phase: v1alpha1.PhaseFailed}
	w = bare.why()
	if len(w.Reasons) != 1 || w.Reasons[0].Label != "No evidence finding" || !strings.Contains(w.Reasons[0].Message, "phase Failed") {
		t.Errorf("bare why = %+v", w.Reasons)
	}
	if w.Load != "no request was recorded as sent" {
		t.Errorf("bare load line %q", w.Load)
	}
	// Any other verdict has no such block.
	for _, r := range []*Report{cascade(), fixed()} {
		if r.why() != nil {
			t.Errorf("%s (%s) explains an Inconclusive verdict", r.Name, r.Verdict)
		}
		var buf bytes.Buffer
		if err := WriteMarkdown(&buf, r); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "not a pass") {
			t.Errorf("%s: Markdown says not a pass", r.Name)
		}
	}
}

func TestHTMLInconclusiveSaysWhyFirst(t *testing.T) {
	r := inconclusive()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	body := find(doc, func(n *html.Node) bool { return n.Data == "body" })
	if body == nil {
		t.Fatal("no <body>")
	}
	var kids []*html.Node
	for c := body.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			kids = append(kids, c)
		}
	}
	if len(kids) < 3 || kids[0].Data != "h1" || kids[1].Data != "section" || attr(kids[1], "class") != "why" {
		t.Fatalf("body does not open with <h1> then the why section: %v", tags(kids))
	}
	why := text(kids[1])
	mustContain(t, why, "Inconclusive", "Not a pass.", "What was missing:")
	for _, f := range r.Findings {
		mustContain(t, why, f.Message)
	}
	mustContain(t, why, "Fault not injected — kill-one-orders (at 1m0s)", "Fault effect not seen — slow-ledger", "Observation gap — orders-1", "Load not running")
	if items := findAll(kids[1], func(n *html.Node) bool { return n.Data == "li" }); len(items) != len(r.Findings) {
		t.Errorf("%d reasons listed, want %d", len(items), len(r.Findings))
	}

	table := find(body, func(n *html.Node) bool { return n.Data == "table" && attr(n, "class") == "faults-run" })
	if table == nil {
		t.Fatal("no faults-run table")
	}
	rows := findAll(table, func(n *html.Node) bool { return n.Data == "tr" })
	var got [][]string
	for _, tr := range rows {
		var cells []string
		for _, c := range findAll(tr, func(n *html.Node) bool { return n.Data == "td" || n.Data == "th" }) {
			cells = append(cells, text(c))
		}
		got = append(got, cells)
	}
	want := [][]string{
		faultRunHead,
		{"slow-ledger", "NetworkChaos", "Recovered", "10s", "40s", "ledger-0", "NotObserved", "ledger edge mean latency 3ms → 4ms (injected 200ms)"},
		{"kill-one-orders", "PodChaos", "Failed: no pod selected", "—", "—", "—", "Inconclusive", "never injected"},
	}
	if len(got) != len(want) {
		t.Fatalf("faults-run rows %q, want %q", got, want)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("faults-run row %d = %q, want %q", i, got[i], want[i])
		}
	}

	// A violated report has no why section.
	buf.Reset()
	if err := WriteHTML(&buf, cascade()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `class="why"`) {
		t.Error("a HypothesisViolated report explains an Inconclusive verdict")
	}
}

// find returns the first element under n (n included) that ok accepts.
func find(n *html.Node, ok func(*html.Node) bool) *html.Node {
	if all := findAll(n, ok); len(all) > 0 {
		return all[0]
	}
	return nil
}

// findAll returns every element under n (n included) that ok accepts, in
// document order.
func findAll(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && ok(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text is n's text content with runs of white space folded.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func tags(ns []*html.Node) []string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Data)
	}
	return s
}

// A drill run with steadyStateGate Continue on a broken steady state says so
// before anything else; an Inconclusive one lists the gate first instead.
func TestGateSkippedIsSaidFirst(t *testing.T) {
	r := cascade()
	r.Findings = append(r.Findings, v1alpha1.Finding{Type: v1alpha1.FindingSteadyStateNotMet, At: dur(10 * time.Second),
		Target: "orders-1", Message: "steadyStateGate Continue: the faults ran anyway; ProcessCrashed orders-1 at 4s"})
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	gate, verdict := strings.Index(out, "Steady-state gate skipped"), strings.Index(out, "**Verdict:")
	if gate < 0 || gate > verdict {
		t.Errorf("gate note at %d, verdict at %d: want the note first", gate, verdict)
	}
	buf.Reset()
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Steady-state gate skipped") {
		t.Error("HTML lacks the gate note")
	}
	r.Verdict = v1alpha1.VerdictInconclusive
	if w := r.why(); w == nil || w.Reasons[0].Label != "Steady state not met before any fault" {
		t.Errorf("Inconclusive reasons %+v, want the gate first", w)
	}
}
