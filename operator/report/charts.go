package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
)

// chartSpec is one chart of the HTML report.
type chartSpec struct {
	Title, YLabel string
	// lines returns the named series to draw, in legend order.
	lines func(r *Report) []series
}

// series is one line of a chart.
type series struct {
	Name string
	XY   plotter.XYs
}

// charts are the report's charts, in page order.
var charts = []chartSpec{
	{"Error ratio (client side)", "share of requests failed", func(r *Report) []series {
		return []series{pick(r, "error ratio", func(p engine.Point) (float64, bool) { return p.ErrorRatio, true })}
	}},
	{"Goroutines", "goroutines", goroutineLines},
	{"p99 latency (client side)", "milliseconds", func(r *Report) []series {
		return []series{pick(r, "p99", func(p engine.Point) (float64, bool) { return p.P99 * 1000, true })}
	}},
	{"Restarts (cumulative)", "restarts", func(r *Report) []series {
		return []series{pick(r, "restarts", func(p engine.Point) (float64, bool) { return float64(p.Restarts), true })}
	}},
	{"Duplicate charges (cumulative)", "orders charged twice", func(r *Report) []series {
		return []series{pick(r, "duplicate charges", func(p engine.Point) (float64, bool) { return p.DuplicateCharges, true })}
	}},
}

func goroutineLines(r *Report) []series {
	out := []series{pick(r, "total", func(p engine.Point) (float64, bool) {
		v, ok := p.Goroutines["total"]
		return v, ok
	})}
	for _, t := range r.targets() {
		out = append(out, pick(r, t, func(p engine.Point) (float64, bool) {
			v, ok := p.Goroutines[t]
			return v, ok
		}))
	}
	return out
}

// pick extracts one series from r's points, skipping points without a
// value and values that are not finite.
func pick(r *Report, name string, f func(engine.Point) (float64, bool)) series {
	s := series{Name: name}
	for _, p := range r.Series {
		if v, ok := f(p); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			s.XY = append(s.XY, plotter.XY{X: p.At.Seconds(), Y: v})
		}
	}
	return s
}

// Chart sizes, in points.
const (
	chartW = 6.4 * vg.Inch
	chartH = 2.8 * vg.Inch
)

// faultShades are translucent fills for the fault windows.
var faultShades = []color.Color{
	color.NRGBA{R: 230, G: 80, B: 60, A: 45},
	color.NRGBA{R: 60, G: 110, B: 230, A: 45},
	color.NRGBA{R: 240, G: 170, B: 30, A: 55},
	color.NRGBA{R: 120, G: 60, B: 200, A: 45},
}

// renderChart draws c for r as an inline SVG element, with every fault
// window shaded. yMax, if above zero, fixes the top of the y axis so that
// two reports' charts compare at a glance. It returns "" when r has no
// data for the chart.
func renderChart(r *Report, c chartSpec, yMax float64) (string, error) {
	p, err := buildPlot(r, c, yMax)
	if p == nil || err != nil {
		return "", err
	}
	canvas := vgsvg.New(chartW, chartH)
	p.Draw(draw.New(canvas))
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return "", err
	}
	return inlineSVG(buf.String()), nil
}

// buildPlot lays out chart c for r; it returns nil when there is no data.
func buildPlot(r *Report, c chartSpec, yMax float64) (*plot.Plot, error) {
	lines := c.lines(r)
	top, found := 0.0, false
	for _, s := range lines {
		for _, xy := range s.XY {
			top, found = math.Max(top, xy.Y), true
		}
	}
	if !found {
		return nil, nil
	}
	if yMax > 0 {
		top = yMax
	}
	if top <= 0 {
		top = 1
	}
	// Headroom above the data for the legend, one row per entry.
	rows := len(r.windows()) + 1 // + the findings' entry
	if len(lines) > 1 {
		rows += len(lines)
	}
	top *= 1.05 + 0.075*float64(rows)

	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = "seconds since the load started"
	p.Y.Label.Text = c.YLabel
	p.X.Min, p.X.Max = 0, math.Max(r.end().Seconds(), 1)
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())

	for i, w := range r.windows() {
		x0, x1 := w.From.Seconds(), w.To.Seconds()
		if x1 <= x0 {
			x1 = x0 + 0.2 // an instant fault (pod-kill) still shows
		}
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: 0}, {X: x1, Y: 0}, {X: x1, Y: top}, {X: x0, Y: top}})
		if err != nil {
			return nil, err
		}
		poly.Color = faultShades[i%len(faultShades)]
		poly.LineStyle.Width = 0
		p.Add(poly)
		p.Legend.Add("fault "+w.Name, poly)
	}
	if err := addFindingMarks(p, r, top); err != nil {
		return nil, err
	}
	for i, s := range lines {
		if len(s.XY) == 0 {
			continue
		}
		l, err := plotter.NewLine(s.XY)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Title, err)
		}
		l.Color = plotutil.DarkColors[i%len(plotutil.DarkColors)]
		l.Width = vg.Points(1.5)
		if i > 0 && len(lines) > 1 {
			l.Width = vg.Points(1)
		}
		p.Add(l)
		if len(lines) > 1 {
			p.Legend.Add(s.Name, l)
		}
	}
	p.Y.Min, p.Y.Max = 0, top
	return p, nil
}

// findingMarks are the short names the charts mark findings with.
var findingMarks = map[v1alpha1.FindingType]string{
	v1alpha1.FindingProcessCrashed: "crash", v1alpha1.FindingErrorRatioExceeded: "errors",
	v1alpha1.FindingDuplicateCharges: "dup", v1alpha1.FindingGoroutineGrowth: "growth",
	v1alpha1.FindingGoroutineLeak: "leak", v1alpha1.FindingRestarts: "restarts",
	v1alpha1.FindingAborted: "abort",
}

// addFindingMarks draws each breach finding as a dashed vertical line at
// its offset, labelled with its short name, over the fault windows, so a
// reader sees which fault (if any) it followed.
func addFindingMarks(p *plot.Plot, r *Report, top float64) error {
	var labels plotter.XYLabels
	var first *plotter.Line
	for _, f := range r.Findings {
		name, ok := findingMarks[f.Type]
		if !ok {
			continue
		}
		x := f.At.Duration.Seconds()
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: top}})
		if err != nil {
			return err
		}
		l.Color = color.RGBA{R: 0xb0, A: 0xff}
		l.Width = vg.Points(0.75)
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		p.Add(l)
		if first == nil {
			first = l
		}
		labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: top * (0.92 - 0.06*float64(len(labels.XYs)%4))})
		labels.Labels = append(labels.Labels, name)
	}
	if first == nil {
		return nil
	}
	ls, err := plotter.NewLabels(labels)
	if err != nil {
		return err
	}
	for i := range ls.TextStyle {
		ls.TextStyle[i].Font.Size = vg.Points(7)
		ls.TextStyle[i].Color = color.RGBA{R: 0xb0, A: 0xff}
	}
	p.Add(ls)
	p.Legend.Add("finding", first)
	return nil
}

// inlineSVG strips the XML prologue and comment vgsvg writes, which have
// no place inside an HTML document.
func inlineSVG(s string) string {
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return strings.TrimSpace(s)
}

// seriesMax is the largest value of chart c in r, or 0.
func seriesMax(r *Report, c chartSpec) float64 {
	top := 0.0
	for _, s := range c.lines(r) {
		for _, xy := range s.XY {
			top = math.Max(top, xy.Y)
		}
	}
	return top
}
