package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

func TestJSONRoundTrip(t *testing.T) {
	for _, r := range []*Report{cascade(), fixed(), {Name: "empty", Verdict: v1alpha1.VerdictInconclusive}} {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		got, err := ReadJSON(&buf)
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: round trip differs:\n got %+v\nwant %+v", r.Name, got, r)
		}
	}
}

func TestJSONFieldNames(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, cascade()); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"verdict": "HypothesisViolated"`, `"phase": "Completed"`, `"summary"`, `"findings"`, `"series"`, `"timeline"`} {
		if !strings.Contains(buf.String(), key) {
			t.Errorf("report.json lacks %s", key)
		}
	}
}

func TestReadJSONBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"empty":      "  \n",
		"truncated":  `{"name": "x", "verdict": `,
		"syntax":     "{\n  \"name\": x\n}",
		"array":      `[1, 2]`,
		"no verdict": `{"name": "x"}`,
		"wrong type": `{"name": "x", "verdict": "HypothesisHeld", "elapsed": "soon"}`,
		"trailing":   `{"name": "x", "verdict": "HypothesisHeld"} {}`,
	} {
		r, err := ReadJSON(strings.NewReader(in))
		if err == nil || r != nil {
			t.Errorf("%s: want an error, got %v, %v", name, r, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "report: ") {
			t.Errorf("%s: error %q does not say where it came from", name, err)
		}
	}
	_, err := ReadJSON(strings.NewReader("{\n  \"name\": x\n}"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("syntax error should name the line: %v", err)
	}
}

func TestMarkdown(t *testing.T) {
	r := cascade()
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	mustContain(t, out,
		"# Chaos drill: map-panic-cascade",
		"**Verdict: HypothesisViolated** — phase Completed after 1m0s, 5 findings.",
		"orders ×2 cache=racy · ledger idempotency=none · gateway leaky (timeout 500ms, 2 retries)",
		"300 req/s, 10% of orders paid twice at the same moment, for 1m0s (steady state 10s)",
		"| Fault | Kind | Action | Selector | After | Duration |",
		"| slow-ledger | NetworkChaos | delay 200ms ±50ms | all of app.kubernetes.io/component=ledger | 10s | 30s |",
		"| kill-one-orders | PodChaos | pod-kill | one of app.kubernetes.io/component=orders | 20s | instant |",
		"| Fault | Kind | State | Injected | Recovered | Targets | Effect | Effect detail |",
		"| slow-ledger | NetworkChaos | Recovered | 10s | 40s | ledger-0 | Confirmed | ledger edge mean latency 3ms → 212ms (injected 200ms) |",
		"| kill-one-orders | PodChaos | Injected | 20s | — | orders-0 | Confirmed | orders-0 replaced (instance changed) |",
		"## Cascade timeline", "| 12.3s | FirstCrash | orders-1 | fatal error: concurrent map writes |",
		"| Orders charged twice | ≤ 0 | 17 (1234.56 charged twice) | ✗ breached |",
		// The lessons keyed on the findings.
		"`recover()`", "exits with status 2", "`go vet` has no map or data-race analyzer",
		"The cache is a mirror, not the truth", "compare-and-set in the ledger",
		"Goroutines that wait forever leak",
	)
	for _, f := range r.Findings {
		row := "| " + fmtDur(f.At.Duration) + " | " + string(f.Type) + " | " + md(orDefault(f.Target, "—")) + " | " + md(r.Cause(f)) + " | " + md(f.Message) + " |"
		mustContain(t, out, row)
	}
	// Each finding says what it followed.
	mustContain(t, out, "| 12.3s | ProcessCrashed | orders-1 | slow-ledger +2.3s |", "| 4s | DuplicateCharges | — | before any fault |",
		"| 20s | GoroutineGrowth | gateway-0 | no fault window |")
	// A pipe in a message must not add a column, and HTML must not pass through.
	mustContain(t, out, `baseline 40 \| bound`, "&lt;script&gt;")
	if strings.Contains(out, "<script>") {
		t.Error("raw <script> in Markdown")
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| ") && strings.Contains(line, "GoroutineGrowth") {
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 6 {
				t.Errorf("finding row has %d cell borders, want 6: %s", n, line)
			}
		}
	}
	// A held drill teaches no crash lesson.
	buf.Reset()
	if err := WriteMarkdown(&buf, fixed()); err != nil {
		t.Fatal(err)
	}
	mustContain(t, buf.String(), "**Verdict: HypothesisHeld**", "No findings.", "The hypothesis held")
	if strings.Contains(buf.String(), "fatal throw") {
		t.Error("held drill explains a crash it did not have")
	}
}

// TestLoadLine: the report's load line says when a duplicate is paid, as
// the loadgen sends it: load.duplicateAfter later, or at the same moment.
func TestLoadLine(t *testing.T) {
	for _, tc := range []struct {
		ratio string
		after time.Duration
		want  string
	}{
		{"0.1", 400 * time.Millisecond, "300 req/s, 10% of orders paid again 400ms later, for 1m0s (steady state 10s)"},
		{"0.1", 0, "300 req/s, 10% of orders paid twice at the same moment, for 1m0s (steady state 10s)"},
		{"0.15", 2 * time.Second, "300 req/s, 15% of orders paid again 2s later, for 1m0s (steady state 10s)"},
		{"1", 0, "300 req/s, 100% of orders paid twice at the same moment, for 1m0s (steady state 10s)"},
		{"0", 400 * time.Millisecond, "300 req/s, no order paid twice, for 1m0s (steady state 10s)"},
		{"", 0, "300 req/s, no order paid twice, for 1m0s (steady state 10s)"},
		{"lots", 0, "300 req/s, duplicate ratio lots, for 1m0s (steady state 10s)"},
	} {
		r := cascade()
		r.Spec.Load.DuplicateRatio = tc.ratio
		r.Spec.Load.DuplicateAfter = dur(tc.after)
		if got := r.load(); got != tc.want {
			t.Errorf("ratio %q after %s: load line\n got %q\nwant %q", tc.ratio, tc.after, got, tc.want)
		}
	}
	// Both the Markdown and the HTML report carry it.
	r := cascade()
	r.Spec.Load.DuplicateAfter = dur(400 * time.Millisecond)
	var md, html bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	mustContain(t, md.String(), "- **Load:** 300 req/s, 10% of orders paid again 400ms later")
	mustContain(t, html.String(), "<b>Load:</b> 300 req/s, 10% of orders paid again 400ms later")
}

func TestHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, cascade()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	assertSelfContained(t, out)
	// One chart element per signal, each drawn by the page's script from
	// the JSON data element.
	if n := strings.Count(out, `<figure class="chart"`); n != len(charts) {
		t.Errorf("%d chart figures, want one per chart (%d)", n, len(charts))
	}
	if n := strings.Count(out, `<div class="plot">`); n != len(charts) {
		t.Errorf("%d chart plots, want one per chart with data (%d)", n, len(charts))
	}
	mustContain(t, out, "&lt;script&gt;alert(1)&lt;/script&gt; leaked 212",
		`class="badge violated">HypothesisViolated`, "fatal error: concurrent map writes",
		"<code>recover()</code>", "Cascade timeline", "FirstUpstream5xx",
		"<td>slow-ledger &#43;2.3s</td>", "<td>before any fault</td>", // what each finding followed
		"uPlot", `<noscript>`)
	for _, c := range charts {
		mustContain(t, out, htmlText(c.Title))
	}
	d := pageJSON(t, out)
	names := map[string]bool{}
	for _, c := range d.Charts.Charts {
		for _, s := range c.Series {
			names[c.ID+"/"+s.Name] = true
			if len(s.Values) != len(d.Charts.X) {
				t.Errorf("%s/%s: %d values for %d times", c.ID, s.Name, len(s.Values), len(d.Charts.X))
			}
		}
	}
	for _, want := range []string{"goroutines/orders-1", "goroutines/gateway-0", "goroutines/total", "errors/client (load generator)",
		"p99/client p99", "restarts/restarts", "duplicates/orders charged twice"} {
		if !names[want] {
			t.Errorf("chart data lacks series %s (has %v)", want, names)
		}
	}
	// The fault windows are shaded and every breach finding is marked.
	if len(d.Charts.Windows) != 2 || d.Charts.Windows[0].Name != "slow-ledger" || d.Charts.Windows[1].Name != "kill-one-orders" {
		t.Errorf("windows %+v", d.Charts.Windows)
	}
	marks := map[string]bool{}
	for _, f := range d.Charts.Findings {
		marks[f.Mark] = true
	}
	for _, m := range []string{"crash", "errors", "dup", "growth", "leak"} {
		if !marks[m] {
			t.Errorf("finding %s not marked: %+v", m, d.Charts.Findings)
		}
	}
}

// pageJSON reads the report data element of a page.
func pageJSON(t *testing.T, page string) pageData {
	t.Helper()
	const open = `<script type="application/json" id="report-data">`
	i := strings.Index(page, open)
	if i < 0 {
		t.Fatal("no report data element")
	}
	rest := page[i+len(open):]
	j := strings.Index(rest, "</script>")
	if j < 0 {
		t.Fatal("report data element not closed")
	}
	var d pageData
	if err := json.Unmarshal([]byte(rest[:j]), &d); err != nil {
		t.Fatalf("report data: %v", err)
	}
	return d
}

// TestHTMLDataEscaped: report strings in the JSON data element cannot end
// the element or open markup.
func TestHTMLDataEscaped(t *testing.T) {
	r := cascade()
	evil := `</script><script>alert(1)</script>`
	for i := range r.Series {
		r.Series[i].Goroutines[evil] = 1
	}
	r.Faults[0].Name = evil
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, evil) {
		t.Fatal("a report string closed the script element")
	}
	d := pageJSON(t, out)
	found := false
	for _, c := range d.Charts.Charts {
		for _, s := range c.Series {
			found = found || s.Name == evil
		}
	}
	if !found || d.Charts.Windows[0].Name != evil {
		t.Errorf("the escaped name did not survive the JSON round trip")
	}
}

func TestHTMLNoData(t *testing.T) {
	r := cascade()
	r.Series = nil
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), `<div class="plot">`); n != 0 {
		t.Errorf("%d charts drawn without data", n)
	}
	if n := strings.Count(buf.String(), ">no data<"); n != len(charts) {
		t.Errorf("%d 'no data' notes, want %d", n, len(charts))
	}
	// A bare report (nothing run at all) renders every format.
	bare := &Report{Name: "bare", Verdict: v1alpha1.VerdictInconclusive}
	for _, write := range []func(*bytes.Buffer, *Report) error{
		func(b *bytes.Buffer, r *Report) error { return WriteMarkdown(b, r) },
		func(b *bytes.Buffer, r *Report) error { return WriteHTML(b, r) },
		func(b *bytes.Buffer, r *Report) error { return WriteCompareMarkdown(b, r, r) },
		func(b *bytes.Buffer, r *Report) error { return WriteCompareHTML(b, r, r) },
	} {
		buf.Reset()
		if err := write(&buf, bare); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), `<div class="plot">`) {
			t.Error("chart drawn for a bare report")
		}
	}
	if WriteHTML(&buf, nil) == nil || WriteMarkdown(&buf, nil) == nil || WriteJSON(&buf, nil) == nil {
		t.Error("nil report accepted")
	}
}

func TestCompare(t *testing.T) {
	a, b := cascade(), fixed()
	var buf bytes.Buffer
	if err := WriteCompareMarkdown(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	mustContain(t, md, "| Verdict | HypothesisViolated | HypothesisHeld |",
		"| A: map-panic-cascade | B: fixed-under-chaos |", "| ProcessCrashed | 1 | 0 |",
		"| Orders charged twice | 17 | 0 |", "cache=sharded")
	if strings.Contains(md, "Warning") {
		t.Errorf("same chaos flagged as different:\n%s", md)
	}

	buf.Reset()
	if err := WriteCompareHTML(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	assertSelfContained(t, out)
	mustContain(t, out, ">HypothesisViolated</span>", ">HypothesisHeld</span>", "&lt;script&gt;")
	// One chart per signal, both drills on its axes: B's lines dashed.
	if n := strings.Count(out, `<figure class="chart"`); n != len(charts) {
		t.Errorf("%d chart figures, want %d", n, len(charts))
	}
	d := pageJSON(t, out)
	if len(d.Charts.Drills) != 2 || d.Charts.Drills[0].Dash || !d.Charts.Drills[1].Dash {
		t.Errorf("drills %+v, want A solid and B dashed", d.Charts.Drills)
	}
	for _, c := range d.Charts.Charts {
		seen := map[int]bool{}
		for _, s := range c.Series {
			seen[s.Drill] = true
			if prefix := []string{"A ", "B "}[s.Drill]; !strings.HasPrefix(s.Name, prefix) {
				t.Errorf("%s: series %q of drill %d not labelled %q", c.ID, s.Name, s.Drill, prefix)
			}
		}
		if !seen[0] || !seen[1] {
			t.Errorf("chart %s does not show both drills: %+v", c.ID, c.Series)
		}
	}

	// Different faults: the comparison says so.
	b.Spec.Faults = b.Spec.Faults[:1]
	buf.Reset()
	if err := WriteCompareMarkdown(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	mustContain(t, buf.String(), "**Warning: not like for like**", "> - faults[kill-one-orders]: only in A")
	buf.Reset()
	if err := WriteCompareHTML(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	mustContain(t, buf.String(), `class="warn"`, "<code>faults[kill-one-orders]: only in A</code>")
}

func TestWindows(t *testing.T) {
	r := cascade()
	want := []window{{"slow-ledger", 10 * time.Second, 40 * time.Second}, {"kill-one-orders", 20 * time.Second, 60 * time.Second}}
	if got := r.windows(); !reflect.DeepEqual(got, want) {
		t.Errorf("from status: got %v, want %v", got, want)
	}
	r.Faults = nil // planned windows from the spec
	want[1].To = 60 * time.Second
	if got := r.windows(); !reflect.DeepEqual(got, want) {
		t.Errorf("from spec: got %v, want %v", got, want)
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := WriteFiles(dir, cascade()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{JSONFile, MarkdownFile, HTMLFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	f, err := os.Open(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if r, err := ReadJSON(f); err != nil || r.Verdict != v1alpha1.VerdictViolated {
		t.Errorf("report.json: %v, %v", r, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("want exactly 3 files, got %d (temporary files left?)", len(entries))
	}
}

func assertSelfContained(t *testing.T, out string) {
	t.Helper()
	lower := strings.ToLower(out)
	for _, bad := range []string{`src="http`, `href="http`, `src='http`, `href='http`, "<script src", "<link", "@import", "url(http", "<iframe", "fetch(", "xmlhttprequest"} {
		if strings.Contains(lower, bad) {
			t.Errorf("HTML has an external reference: %q", bad)
		}
	}
	// Scripts are inline: uPlot, the page's own, and the JSON data.
	if n, inline := strings.Count(lower, "<script"), strings.Count(lower, "<script>")+strings.Count(lower, `<script type="application/json" id="report-data">`); n != inline || n != 3 {
		t.Errorf("%d script elements, %d of them inline ones of the kit; want uPlot, the page's script and the data", n, inline)
	}
}

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

// htmlText escapes s as html/template does in text.
func htmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
