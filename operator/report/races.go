package report

import (
	"fmt"
	"strings"
)

// raceColumns head the Markdown event tables of races and crash contexts.
var raceColumns = []string{"Offset (µs)", "Gap (µs)", "Process", "Event", "Request", "Detail"}

// markdownRows turns the page's event rows into Markdown table rows.
func markdownRows(rows []eventRow) [][]string {
	out := make([][]string, 0, len(rows))
	for _, e := range rows {
		name, detail := e.Event, e.Detail
		if name == "" {
			name, detail = "(not an event)", e.Raw
		}
		out = append(out, []string{strings.ReplaceAll(e.Offset, "\u202f", ""), strings.ReplaceAll(e.Gap, "\u202f", ""), e.Process, name, orDefault(e.RequestID, "—"), detail})
	}
	return out
}

// writeRaces writes the Markdown sections of the race reconstruction: each
// double charge's events across processes in time order (offsets from its
// first event), and each crash's last events (offsets before the crash).
func writeRaces(p func(string, ...any), r *Report) {
	if races := raceViews(r.Races); len(races) > 0 {
		p("## The race, reconstructed\n\n")
		what := "The first double charge"
		if len(races) > 1 {
			what = fmt.Sprintf("The first %d double charges", len(races))
		}
		p("From the victim's log events (wall-clock microseconds: one clock on one machine; across nodes only as good as their clocks). %s, each event's offset from the chain's first and its gap from the one before:\n\n", what)
		for _, v := range races {
			p("### Order %s charged twice (%s) — %s\n\n%s.\n\n", md(v.OrderID), md(strings.Join(v.Requests, " and ")), md(v.Window), md(v.Explanation))
			writeTable(p, raceColumns, markdownRows(v.Rows))
		}
	}
	if crashes := crashViews(r); len(crashes) > 0 {
		p("## Last events before each crash\n\n")
		for _, v := range crashes {
			p("### %s at %s: %s\n\n", md(v.Process), orDefault(v.At, "—"), md(v.Headline))
			if len(v.Rows) > 0 {
				writeTable(p, raceColumns, markdownRows(v.Rows))
			} else {
				p("No event of it was collected before the crash.\n\n")
			}
		}
	}
}
