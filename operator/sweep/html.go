package sweep

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteHTML writes sweep.html: one self-contained page (inline CSS and
// SVG, no script, no external reference) with a heatmap per measure of
// HeatmapMeasures. With other, each measure shows both sweeps side by side
// on the same colour scale, this one first. Cells of this sweep link to
// their first run's report.html.
func WriteHTML(w io.Writer, res, other *Result) error {
	type mapView struct {
		Caption string
		SVG     template.HTML
	}
	type measureView struct {
		Key, Title, Note string
		Maps             []mapView
	}
	type page struct {
		Title    string
		Headers  [][]string
		Measures []measureView
		Cells    []CellResult
		Axes     []ResultAxis
	}
	p := page{Title: "Sweep " + res.Name}
	results := []*Result{res}
	if other != nil {
		results = append(results, other)
	}
	for _, r := range results {
		p.Headers = append(p.Headers, headerLines(r))
	}
	for _, m := range HeatmapMeasures {
		sc := newScale(m, res, other)
		mv := measureView{Key: m.Key, Title: m.Title, Note: capitalize(m.Note) + "."}
		for i, r := range results {
			mv.Maps = append(mv.Maps, mapView{
				Caption: r.Name + " — " + r.Victim,
				SVG:     template.HTML(heatmapSVG(r, m, sc, i == 0)),
			})
		}
		p.Measures = append(p.Measures, mv)
	}
	p.Cells, p.Axes = res.Cells, res.Axes
	return pageTemplate.Execute(w, p)
}

func headerLines(r *Result) []string {
	lines := []string{
		fmt.Sprintf("%s: experiment %s (%s)", r.Name, r.Experiment, r.ExperimentName),
		"victim: " + r.Victim,
	}
	for _, ax := range r.Axes {
		lines = append(lines, fmt.Sprintf("axis %s: %s", ax.Path, strings.Join(ax.Values, ", ")))
	}
	lines = append(lines, fmt.Sprintf("%d cells × %d runs of %s; took %s", len(r.Cells), r.Repeats,
		seconds(r.CellDuration), seconds(r.Elapsed).Round(time.Second)))
	if st := StatusLine(r); st != "" {
		lines = append(lines, st)
	}
	return lines
}

// Geometry of a heatmap, in pixels.
const (
	cellW, cellH = 84, 40
	charW        = 7
)

// heatmapSVG draws measure m over res's grid as an inline SVG.
func heatmapSVG(res *Result, m Measure, sc scale, link bool) string {
	l := NewLayout(res)
	left := 16
	for _, r := range l.Rows {
		left = max(left, utf8.RuneCountInString(r)*charW+24)
	}
	if l.RowAxis != "" {
		left = max(left, (utf8.RuneCountInString(AxisLabel(l.RowAxis))+2)*charW+8)
	}
	top := 48
	gridBottom := top + len(l.Rows)*cellH
	w := max(left+len(l.Cols)*cellW, left+(utf8.RuneCountInString(l.ColAxis)+2)*charW, left+legendW) + 8
	h := gridBottom + 44
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="heatmap" data-measure="%s" data-sweep="%s" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		m.Key, esc(res.Name), w, h, w, h, esc(m.Title+" of "+res.Name))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="14">%s →</text>`, left, esc(l.ColAxis))
	if l.RowAxis != "" {
		fmt.Fprintf(&b, `<text class="axis" x="4" y="%d">%s ↓</text>`, top-6, esc(AxisLabel(l.RowAxis)))
	}
	for c, v := range l.Cols {
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%d" text-anchor="middle">%s</text>`, left+c*cellW+cellW/2, top-10, esc(v))
	}
	for r, row := range l.Rows {
		y := top + r*cellH
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+cellH/2+4, esc(row))
		for c := range l.Cols {
			cell := l.At(r, c)
			x := left + c*cellW
			fill, ink := "#e0e0e0", "#555"
			if cell != nil && cell.Measures.Runs > 0 {
				heat := 0.0
				if v := m.Value(cell.Measures); v != nil {
					heat = sc.heat(*v)
				} else if m.Empty == "" {
					heat = -1
				}
				if heat >= 0 {
					fill, ink = color(heat), "#222"
					if heat > 0.7 {
						ink = "#fff"
					}
				}
			}
			b.WriteString("<g>")
			fmt.Fprintf(&b, "<title>%s</title>", esc(tooltip(res, cell, m)))
			href := ""
			if link && cell != nil {
				href = firstReport(cell)
			}
			if href != "" {
				fmt.Fprintf(&b, `<a href="%s">`, esc(href))
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, x+1, y+1, cellW-2, cellH-2, fill)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="%s">%s</text>`, x+cellW/2, y+cellH/2+4, ink, esc(m.Label(cell)))
			if href != "" {
				b.WriteString("</a>")
			}
			b.WriteString("</g>")
		}
	}
	legend(&b, m, sc, left, gridBottom+14)
	b.WriteString("</svg>")
	return b.String()
}

// legendW is the width of a heatmap's colour legend.
const legendW = 5*24 + 200

// legend draws the colour scale under a heatmap: swatches from cool to hot
// with the values at both ends.
func legend(b *strings.Builder, m Measure, sc scale, x, y int) {
	if math.IsInf(sc.hi, 0) || sc.hi <= sc.lo {
		fmt.Fprintf(b, `<text class="tick" x="%d" y="%d">no value to scale</text>`, x, y+12)
		return
	}
	cool, hot := sc.lo, sc.hi
	if m.LowerIsWorse {
		cool, hot = hot, cool
	}
	fmt.Fprintf(b, `<text class="tick" x="%d" y="%d" text-anchor="end">%s</text>`, x+96, y+12, esc(m.Format(cool)))
	for i := range 5 {
		fmt.Fprintf(b, `<rect class="legend" x="%d" y="%d" width="24" height="16" fill="%s"/>`, x+100+24*i, y, color(float64(i)/4))
	}
	fmt.Fprintf(b, `<text class="tick" x="%d" y="%d">%s</text>`, x+100+5*24+4, y+12, esc(m.Format(hot)))
}

// tooltip sums a cell up for its <title>.
func tooltip(res *Result, c *CellResult, m Measure) string {
	if c == nil {
		return "not run"
	}
	var where []string
	for i, ax := range res.Axes {
		where = append(where, ax.Path+" = "+c.Values[i])
	}
	ms := c.Measures
	s := fmt.Sprintf("%s\n%s: %s\n%d finished runs: %d Violated, %d Held, %d Inconclusive (%d broke before any fault)",
		strings.Join(where, ", "), m.Title, m.Label(c), ms.Runs, ms.Violated, ms.Held, ms.Inconclusive, ms.BrokeBeforeFaults)
	if ms.Failed > 0 {
		s += fmt.Sprintf(", %d failed", ms.Failed)
	}
	return s + fmt.Sprintf("\n%d crashed; duplicate charges up to %d", ms.Crashed, ms.MaxDuplicateCharges)
}

// firstReport is the first finished run's report.html, relative to the
// sweep's directory.
func firstReport(c *CellResult) string {
	for _, r := range c.Runs {
		if r.Finished() {
			return r.Dir + "/report.html"
		}
	}
	return ""
}

func esc(s string) string { return html.EscapeString(s) }

var pageTemplate = template.Must(template.New("sweep").Funcs(template.FuncMap{
	"join":      strings.Join,
	"firstRepo": func(c CellResult) string { return firstReport(&c) },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin: 28px 0 4px; }
.note { color: #555; margin: 0 0 8px; }
.maps { display: flex; flex-wrap: wrap; gap: 24px; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
svg text { font: 12px system-ui, sans-serif; } svg text.axis { font-weight: 600; fill: #444; }
svg text.tick { fill: #444; }
table { border-collapse: collapse; margin-top: 8px; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
ul.header { padding-left: 18px; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Headers}}<ul class="header">{{range .}}<li>{{.}}</li>{{end}}</ul>
{{end}}
{{range .Measures}}<section class="measure" id="{{.Key}}">
<h2>{{.Title}}</h2>
<p class="note">{{.Note}} Hover a cell for its runs; click it for a run's report.</p>
<div class="maps">{{range .Maps}}<figure><figcaption>{{.Caption}}</figcaption>{{.SVG}}</figure>{{end}}</div>
</section>
{{end}}
<h2>Cells</h2>
<table>
<tr><th>cell</th>{{range .Axes}}<th>{{.Path}}</th>{{end}}<th>runs</th><th>Violated</th><th>Held</th><th>Inconclusive</th><th>broke before any fault</th><th>failed</th><th>crashed</th><th>max duplicates</th><th>report</th></tr>
{{range .Cells}}<tr><td>{{.Name}}</td>{{range .Values}}<td>{{.}}</td>{{end}}<td>{{.Measures.Runs}}</td><td>{{.Measures.Violated}}</td><td>{{.Measures.Held}}</td><td>{{.Measures.Inconclusive}}</td><td>{{.Measures.BrokeBeforeFaults}}</td><td>{{.Measures.Failed}}</td><td>{{.Measures.Crashed}}</td><td>{{.Measures.MaxDuplicateCharges}}</td><td>{{with firstRepo .}}<a href="{{.}}">report</a>{{end}}</td></tr>
{{end}}</table>
</body>
</html>
`))
