package report

import (
	"bufio"
	"embed"
	"errors"
	"html/template"
	"io"
	"strings"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"code":    codeSpans,
	"dur":     fmtDur,
	"dflt":    orDefault,
	"verdict": verdictClass,
	"pairChart": func(title string, svg template.HTML) chartView {
		return chartView{Title: title, SVG: svg}
	},
}).ParseFS(templateFS, "templates/*.html"))

// chartView is one rendered chart; SVG is empty when there was no data.
type chartView struct {
	Title string
	SVG   template.HTML
}

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
	Charts     []chartView
	// Why explains an Inconclusive verdict; nil for any other.
	Why *whyInconclusive
}

// view prepares r for the templates; yMax, if given, fixes each chart's
// y axis (by chart index) so that two reports compare.
func view(r *Report, yMax []float64) (*reportView, error) {
	v := &reportView{
		Report: r, Headline: r.headline(), Victim: r.victimModes(), LoadLine: r.load(),
		FaultRows: r.faultRows(), Summary: summaryRows(r), Hypothesis: r.hypothesisRows(), Lessons: r.lessons(),
		Why: r.why(),
	}
	for i, c := range charts {
		top := 0.0
		if i < len(yMax) {
			top = yMax[i]
		}
		svg, err := renderChart(r, c, top)
		if err != nil {
			return nil, err
		}
		// The SVG is gonum's output: it escapes every string it draws.
		v.Charts = append(v.Charts, chartView{Title: c.Title, SVG: template.HTML(svg)})
	}
	return v, nil
}

// WriteHTML writes r as one self-contained HTML page: no script, and no
// external stylesheet, font or image. An Inconclusive report opens with
// why it could not be judged. Charts of the error ratio,
// goroutines (total and per target), p99 latency, restarts and duplicate
// charges are inline SVG with the fault windows shaded; the summary,
// findings, timeline and hypothesis tables follow. Every string from the
// report is escaped.
func WriteHTML(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	v, err := view(r, nil)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	if err := templates.ExecuteTemplate(bw, "report.html", v); err != nil {
		return err
	}
	return bw.Flush()
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
