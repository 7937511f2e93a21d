package report

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/victimlog"
)

//go:embed templates/*.html
var templateFS embed.FS

// The page's script and styles, inlined so that report.html works opened
// from a file with no network: uPlot (MIT, see
// assets/vendor/uplot/VERSION for the release and where it came from) and
// the kit's own script that draws the charts and the topology from the
// report's JSON.
//
//go:embed assets/vendor/uplot/uPlot.iife.min.js assets/vendor/uplot/uPlot.min.css assets/vendor/uplot/LICENSE assets/vendor/uplot/VERSION assets/report.js assets/report.css
var assetFS embed.FS

// pageAssets are the inlined script and styles. They are the kit's own
// files, embedded at build time, never report data: the report's strings
// reach the page only through the escaping template and the JSON data
// element.
type pageAssets struct {
	UPlotJS, ReportJS   template.JS
	UPlotCSS, ReportCSS template.CSS
}

var assets = func() pageAssets {
	read := func(name string) string {
		b, err := assetFS.ReadFile("assets/" + name)
		if err != nil {
			panic(err)
		}
		s := string(b)
		// Inline in a <script> or <style> element: the end tag or an
		// HTML comment opener would end or confuse the element.
		if l := strings.ToLower(s); strings.Contains(l, "</script") || strings.Contains(l, "</style") || strings.Contains(l, "<!--") {
			panic("report: asset " + name + " cannot be inlined")
		}
		return s
	}
	// uPlot's licence travels with every copy of it: a comment before it.
	license := read("vendor/uplot/LICENSE")
	if strings.Contains(license, "*/") {
		panic("report: uPlot's LICENSE cannot go in a comment")
	}
	return pageAssets{
		UPlotJS:  template.JS("/* " + strings.TrimSpace(strings.SplitN(read("vendor/uplot/VERSION"), "\n", 2)[0]) + "\n" + license + "*/\n" + read("vendor/uplot/uPlot.iife.min.js")),
		ReportJS: template.JS(read("report.js")),
		UPlotCSS: template.CSS(read("vendor/uplot/uPlot.min.css")), ReportCSS: template.CSS(read("report.css")),
	}
}()

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"code":      codeSpans,
	"dur":       fmtDur,
	"dflt":      orDefault,
	"verdict":   verdictClass,
	"add":       func(a, b float64) float64 { return a + b },
	"half":      func(a float64) float64 { return a / 2 },
	"lastIndex": func(s []float64) int { return max(len(s)-1, 0) },
}).ParseFS(templateFS, "templates/*.html"))

// reportView is what the templates need of one report.
type reportView struct {
	*Report
	Headline   string
	Victim     string
	LoadLine   string
	FaultRows  []faultRow
	Summary    [][]string
	Hypothesis []hypoRow
	Lessons    []lesson
	// Charts are the charts' titles and ids, in page order; the page's
	// script draws them from Data.
	Charts []chartJSON
	// Topo is the service graph; its T is nil when no process was observed.
	Topo topoView
	// RaceViews and CrashViews are the victim's log evidence.
	RaceViews  []raceView
	CrashViews []crashView
	// Data is the page's JSON: the chart series and the topology frames.
	Data   pageData
	Assets pageAssets
	// Why explains an Inconclusive verdict; nil for any other.
	Why *whyInconclusive
}

// pageData is the JSON the page's script reads from its
// <script type="application/json" id="report-data"> element.
type pageData struct {
	Charts chartData `json:"charts"`
	// Topologies are the service graphs on the page: one on a report,
	// one per drill on a comparison.
	Topologies []topoData `json:"topologies"`
}

// topoView is one service graph in the page's markup; Key suffixes its
// element ids ("" on a report, "-a" and "-b" on a comparison).
type topoView struct {
	Key string
	T   *topology
}

// topoData is one service graph in the page's data; Drill indexes the
// drill on the charts (its fault windows).
type topoData struct {
	Key      string    `json:"key"`
	Drill    int       `json:"drill"`
	Topology *topology `json:"topology"`
}

// topologies are the graphs of views, keyed by keys, for the page data.
func topologies(keys []string, views ...*reportView) []topoData {
	out := []topoData{}
	for i, v := range views {
		v.Topo.Key = keys[i]
		if v.Topo.T != nil {
			out = append(out, topoData{Key: keys[i], Drill: i, Topology: v.Topo.T})
		}
	}
	return out
}

// view prepares r for the templates.
func view(r *Report) *reportView {
	v := &reportView{
		Report: r, Headline: r.headline(), Victim: r.victimModes(), LoadLine: r.load(),
		FaultRows: r.faultRows(), Summary: summaryRows(r), Hypothesis: r.hypothesisRows(), Lessons: r.lessons(),
		Why: r.why(), Topo: topoView{T: r.buildTopology()}, Assets: assets,
		RaceViews: raceViews(r.Races), CrashViews: crashViews(r),
	}
	v.Data = pageData{Charts: buildCharts([]string{r.Name}, r), Topologies: topologies([]string{""}, v)}
	v.Charts = v.Data.Charts.Charts
	return v
}

// WriteHTML writes r as one self-contained HTML page: its script and
// styles inline (uPlot and the kit's own), no external stylesheet, font,
// image or script, so it works opened from a file with no network. An
// Inconclusive report opens with why it could not be judged. The page
// shows the service graph coloured by each process's state over time (a
// scrubber picks the moment), the fault domain outlined and the failure's
// path highlighted; the double charges reconstructed from the victim's
// log events; interactive charts, one per signal (error ratio per service,
// p99 latency, goroutines per process, restarts, duplicate charges) with
// the fault windows shaded and the findings marked; and the summary,
// findings, timeline and hypothesis tables. Every string from the report
// is escaped: in the text by html/template, in the data element as JSON.
func WriteHTML(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	bw := bufio.NewWriter(w)
	if err := templates.ExecuteTemplate(bw, "report.html", view(r)); err != nil {
		return err
	}
	return bw.Flush()
}

// raceView is one double charge's evidence chain as the page shows it.
type raceView struct {
	victimlog.Chain
	Rows []eventRow
}

// eventRow is one log event in a table: its offset from the first event
// and its gap from the previous one, in microseconds.
type eventRow struct {
	Offset, Gap string
	Process     string
	Event       string
	RequestID   string
	Detail      string
	Raw         string
}

func raceViews(chains []victimlog.Chain) []raceView {
	var out []raceView
	for _, c := range chains {
		out = append(out, raceView{Chain: c, Rows: eventRows(c.Events, 0)})
	}
	return out
}

// eventRows tabulates events; offsets are from base (µs since the epoch),
// or from the first timed event when base is 0.
func eventRows(evs []victimlog.Record, base int64) []eventRow {
	var rows []eventRow
	var prev int64
	for _, e := range evs {
		row := eventRow{Process: e.Process, Event: e.Event.Event, RequestID: e.RequestID, Detail: eventDetail(e), Raw: e.Raw,
			Offset: "—", Gap: "—"}
		if e.TS > 0 {
			if base == 0 {
				base = e.TS
			}
			row.Offset = micros(e.TS - base)
			if prev > 0 {
				row.Gap = micros(e.TS - prev)
			}
			prev = e.TS
		}
		rows = append(rows, row)
	}
	return rows
}

// micros formats a count of microseconds with a sign and thin grouping.
func micros(us int64) string {
	sign := "+"
	if us < 0 {
		sign, us = "−", -us
	}
	s := fmt.Sprint(us)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "\u202f" + s[i:]
	}
	return sign + s
}

// eventDetail is an event's status, amount, attempt, code and error.
func eventDetail(e victimlog.Record) string {
	var parts []string
	if e.Status != "" {
		parts = append(parts, e.Status)
	}
	if e.AmountCents != 0 {
		parts = append(parts, fmt.Sprintf("%d.%02d", e.AmountCents/100, e.AmountCents%100))
	}
	if e.Attempt != 0 {
		parts = append(parts, fmt.Sprintf("attempt %d", e.Attempt))
	}
	if e.Code != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", e.Code))
	}
	if e.Error != "" {
		parts = append(parts, e.Error)
	}
	return strings.Join(parts, " · ")
}

// crashView is one crash's context: the process's last events before it,
// offsets in microseconds before the crash.
type crashView struct {
	victimlog.CrashContext
	At   string // the crash's offset into the drill, when known
	Rows []eventRow
}

func crashViews(r *Report) []crashView {
	var out []crashView
	for _, c := range r.Crashes {
		v := crashView{CrashContext: c, Rows: eventRows(c.Before, c.TS)}
		if c.TS > 0 && !r.StartedAt.IsZero() {
			v.At = fmtDur(time.UnixMicro(c.TS).Sub(r.StartedAt).Round(time.Millisecond))
		}
		out = append(out, v)
	}
	return out
}

// codeSpans escapes s and renders its backquoted spans as <code>.
func codeSpans(s string) template.HTML {
	parts := strings.Split(s, "`")
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 && i < len(parts)-1 {
			b.WriteString("<code>" + template.HTMLEscapeString(p) + "</code>")
			continue
		}
		if i%2 == 1 {
			b.WriteString("`")
		}
		b.WriteString(template.HTMLEscapeString(p))
	}
	return template.HTML(b.String())
}

// verdictClass is the CSS class of a verdict's badge.
func verdictClass(v v1alpha1.Verdict) string {
	switch v {
	case v1alpha1.VerdictHeld:
		return "held"
	case v1alpha1.VerdictViolated:
		return "violated"
	}
	return "inconclusive"
}
