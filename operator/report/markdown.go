package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes r as a postmortem-ready Markdown document: the
// verdict, what was run, the summary, the findings, the cascade timeline,
// the hypothesis against what was observed, and what the drill shows.
func WriteMarkdown(w io.Writer, r *Report) error {
	if r == nil {
		return fmt.Errorf("report: nil report")
	}
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }

	p("# Chaos drill: %s\n\n", md(r.Name))
	writeWhy(p, r.why())
	if g := r.GateSkipped(); g != "" {
		p("> **Steady-state gate skipped.** %s Read every finding below with that in mind: what the faults caused cannot be told from what was already broken.\n\n", md(g))
	}
	p("**Verdict: %s** — phase %s after %s", md(orDefault(string(r.Verdict), "none")), md(string(r.Phase)), fmtDur(r.Elapsed))
	if len(r.Findings) > 0 {
		p(", %d findings", len(r.Findings))
	}
	p(".\n\n")
	p("Backend %s", md(r.Backend))
	if r.Namespace != "" {
		p(", namespace %s", md(r.Namespace))
	}
	if !r.StartedAt.IsZero() {
		p(", started %s", r.StartedAt.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	p(".\n\n")

	p("## What was run\n\n")
	p("- **Victim:** %s\n- **Load:** %s\n", md(r.victimModes()), md(r.load()))
	if a := r.Spec.Abort; a != nil {
		p("- **Abort guard:** error ratio above %s for %s\n", md(a.ErrorRatioAbove), fmtDur(a.For.Duration))
	}
	p("\n")
	writeFaultTable(p, r)

	p("## Summary\n\n")
	writeTable(p, []string{"Figure", "Value"}, summaryRows(r))

	p("## Findings\n\n")
	if len(r.Findings) == 0 {
		p("No findings.\n\n")
	} else {
		rows := make([][]string, len(r.Findings))
		for i, f := range r.Findings {
			rows[i] = []string{fmtDur(f.At.Duration), string(f.Type), orDefault(f.Target, "—"), r.Cause(f), f.Message}
		}
		writeTable(p, []string{"At", "Type", "Target", "Followed", "Message"}, rows)
	}

	writeRaces(p, r)
	writeResidue(p, r)

	p("## Cascade timeline\n\n")
	if len(r.Timeline) == 0 {
		p("No events.\n\n")
	} else {
		rows := make([][]string, len(r.Timeline))
		for i, e := range r.Timeline {
			rows[i] = []string{fmtDur(e.At), e.Kind, orDefault(e.Target, "—"), e.Detail}
		}
		writeTable(p, []string{"At", "Event", "Target", "Detail"}, rows)
	}

	p("## Hypothesis vs observed\n\n")
	var hrows [][]string
	for _, h := range r.hypothesisRows() {
		hrows = append(hrows, []string{h.Check, h.Bound, h.Observed, h.Result})
	}
	writeTable(p, []string{"Steady state", "Bound", "Observed", "Result"}, hrows)

	if ls := r.lessons(); len(ls) > 0 {
		p("## What this shows\n\n")
		for _, l := range ls {
			p("**%s.** %s\n\n", md(l.Title), mdText(l.Text))
		}
	}
	return bw.Flush()
}

// writeWhy opens an Inconclusive report: why the drill could not judge,
// before any other figure, so that nobody reads it as a pass.
func writeWhy(p func(string, ...any), w *whyInconclusive) {
	if w == nil {
		return
	}
	p("> **Verdict: Inconclusive — not a pass.** %s\n>\n", md(whyIntro))
	for _, rs := range w.Reasons {
		p("> - **%s**", md(rs.Label))
		if rs.Target != "" {
			p(" — %s", md(rs.Target))
		}
		if rs.At != "" {
			p(" (at %s)", md(rs.At))
		}
		p(": %s\n", md(rs.Message))
	}
	if w.Load != "" {
		p("> - **Load:** %s\n", md(w.Load))
	}
	p("\n")
}

// writeFaultTable writes the faults as planned, then as they happened:
// state, offsets, targets and the effect the kit saw.
func writeFaultTable(p func(string, ...any), r *Report) {
	rows := r.faultRows()
	if len(rows) == 0 {
		p("No faults were planned.\n\n")
		return
	}
	var plan, ran [][]string
	for _, f := range rows {
		plan = append(plan, []string{f.Name, f.Kind, f.Action, f.Selector, f.After, f.Duration})
		state := orDefault(f.State, "—")
		if f.Message != "" {
			state += ": " + f.Message
		}
		ran = append(ran, []string{f.Name, f.Kind, state, orDefault(f.Injected, "—"), orDefault(f.Recovered, "—"),
			orDefault(f.Targets, "—"), orDefault(f.Effect, "—"), orDefault(f.EffectDetail, "—")})
	}
	p("### Faults as planned\n\n")
	writeTable(p, []string{"Fault", "Kind", "Action", "Selector", "After", "Duration"}, plan)
	p("### Faults as run\n\n")
	writeTable(p, faultRunHead, ran)
}

// faultRunHead is the head of the faults-as-run table in both formats.
var faultRunHead = []string{"Fault", "Kind", "State", "Injected", "Recovered", "Targets", "Effect", "Effect detail"}

// summaryRows are the headline figures as label/value pairs.
func summaryRows(r *Report) [][]string {
	s := r.Summary
	return [][]string{
		{"Requests sent", fmt.Sprint(s.Requests)},
		{"Peak error ratio", orDefault(s.PeakErrorRatio, "0")},
		{"Goroutines (baseline → peak, total)", fmt.Sprintf("%d → %d", s.BaselineGoroutines, s.PeakGoroutines)},
		{"Leaked goroutines (max per process)", fmt.Sprint(s.LeakedGoroutines)},
		{"Restarts", fmt.Sprint(s.Restarts)},
		{"Orders charged twice", fmt.Sprint(s.DuplicateCharges)},
		{"Money charged twice", cents(s.DuplicateChargedCents)},
	}
}

func writeTable(p func(string, ...any), head []string, rows [][]string) {
	p("|")
	for _, h := range head {
		p(" %s |", md(h))
	}
	p("\n|")
	for range head {
		p("---|")
	}
	p("\n")
	for _, row := range rows {
		p("|")
		for _, c := range row {
			p(" %s |", md(c))
		}
		p("\n")
	}
	p("\n")
}

// mdEscaper keeps a cell on one line, inside its column and free of raw HTML.
var mdEscaper = strings.NewReplacer(
	"|", `\|`, "<", "&lt;", ">", "&gt;", "\r\n", "<br>", "\n", "<br>", "`", "\\`", "*", `\*`, "_", `\_`,
)

// md escapes s for a Markdown table cell or inline text.
func md(s string) string { return mdEscaper.Replace(s) }

// mdText escapes s but keeps its `code` spans.
func mdText(s string) string {
	parts := strings.Split(s, "`")
	for i := range parts {
		if i%2 == 0 {
			parts[i] = md(parts[i])
		}
	}
	return strings.Join(parts, "`")
}
