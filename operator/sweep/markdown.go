package sweep

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteMarkdown writes sweep.md: what was swept, one table per measure
// laid out as the grid (with other's beside it when given), and a table
// of every cell with its verdicts and reports.
func WriteMarkdown(w io.Writer, res, other *Result) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# Sweep %s\n\n", res.Name)
	writeHeaderMD(bw, res)
	if other != nil {
		fmt.Fprintf(bw, "\nCompared with sweep **%s**:\n\n", other.Name)
		writeHeaderMD(bw, other)
	}
	for _, m := range HeatmapMeasures {
		fmt.Fprintf(bw, "\n## %s\n\n%s.\n", m.Title, capitalize(m.Note))
		for _, r := range []*Result{res, other} {
			if r == nil {
				continue
			}
			if other != nil {
				fmt.Fprintf(bw, "\n**%s** (%s)\n", r.Name, r.Victim)
			}
			bw.WriteString("\n")
			writeGridMD(bw, r, m)
		}
	}
	fmt.Fprintf(bw, "\n## Cells of %s\n\n", res.Name)
	header := "| cell |"
	rule := "|---|"
	for _, ax := range res.Axes {
		header += " `" + ax.Path + "` |"
		rule += "---|"
	}
	fmt.Fprintf(bw, "%s runs | held | violated | inconclusive | broke before any fault | failed | crashed | reports |\n%s---|---|---|---|---|---|---|---|\n", header, rule)
	for _, c := range res.Cells {
		m := c.Measures
		fmt.Fprintf(bw, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %s |\n", c.Name, strings.Join(c.Values, " | "),
			m.Runs, m.Held, m.Violated, m.Inconclusive, m.BrokeBeforeFaults, m.Failed, m.Crashed, runLinks(c))
	}
	return bw.Flush()
}

func writeHeaderMD(w io.Writer, res *Result) {
	fmt.Fprintf(w, "- experiment: `%s` (%s), victim: %s\n", res.Experiment, res.ExperimentName, res.Victim)
	for i, ax := range res.Axes {
		where := "columns"
		if i == 1 {
			where = "rows"
		}
		fmt.Fprintf(w, "- axis `%s` (%s): %s\n", ax.Path, where, strings.Join(ax.Values, ", "))
	}
	fmt.Fprintf(w, "- %d cells × %d runs of %s each; the sweep took %s\n", len(res.Cells), res.Repeats,
		seconds(res.CellDuration), seconds(res.Elapsed).Round(time.Second))
	if st := StatusLine(res); st != "" {
		fmt.Fprintf(w, "- **%s**\n", st)
	}
}

// StatusLine says why a result is incomplete; "" when it is complete.
func StatusLine(res *Result) string {
	if res.Complete {
		return ""
	}
	done, failed := 0, 0
	for _, c := range res.Cells {
		for _, r := range c.Runs {
			if r.Finished() {
				done++
			} else if !r.Interrupted {
				failed++
			}
		}
	}
	msg := fmt.Sprintf("incomplete: %d of %d runs finished", done, len(res.Cells)*res.Repeats)
	if res.Interrupted {
		msg += ", interrupted"
	}
	if failed > 0 {
		msg += fmt.Sprintf(", %d failed", failed)
	}
	return msg
}

// writeGridMD writes measure m over res's grid as a table.
func writeGridMD(w io.Writer, res *Result, m Measure) {
	l := NewLayout(res)
	corner := "`" + l.ColAxis + "` →"
	if l.RowAxis != "" {
		corner = "`" + l.RowAxis + "` ↓ " + corner
	}
	fmt.Fprintf(w, "| %s | %s |\n|---|%s\n", corner, strings.Join(l.Cols, " | "), strings.Repeat("---|", len(l.Cols)))
	for r, row := range l.Rows {
		fmt.Fprintf(w, "| %s |", row)
		for c := range l.Cols {
			fmt.Fprintf(w, " %s |", m.Label(l.At(r, c)))
		}
		fmt.Fprintln(w)
	}
}

func runLinks(c CellResult) string {
	var links []string
	for _, r := range c.Runs {
		label := fmt.Sprintf("run %d", r.N)
		switch {
		case r.Interrupted:
			label += " (interrupted)"
		case r.Error != "":
			label += " (failed: " + strings.NewReplacer("|", "/", "\n", " ").Replace(r.Error) + ")"
		case r.Verdict != "":
			label += " " + string(r.Verdict)
		}
		links = append(links, fmt.Sprintf("[%s](%s/report.md)", label, r.Dir))
	}
	return strings.Join(links, ", ")
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
