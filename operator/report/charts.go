package report

import (
	"math"
	"sort"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
)

// The charts of report.html are drawn in the browser by uPlot (vendored
// under assets/vendor/uplot, inlined into the page) from the data below,
// which the page carries as JSON: hover shows the values, a drag zooms to
// a window (double-click resets), the legend toggles series; the fault
// windows are shaded and each finding is a dashed line with its name.

// chartSpec is one chart of the HTML report: one signal.
type chartSpec struct {
	ID, Title string
	// Unit is how the page formats values: "ratio" (shown as %), "ms",
	// "count".
	Unit string
	// lines returns the named series to draw, in legend order.
	lines func(r *Report) []series
}

// series is one line of a chart: a value per point of the report's
// series, NaN where there is none.
type series struct {
	Name string
	At   []float64 // seconds
	Y    []float64
}

// charts are the report's charts, in page order.
var charts = []chartSpec{
	{"errors", "Error ratio per service", "ratio", errorLines},
	{"p99", "p99 latency (client and per edge)", "ms", latencyLines},
	{"goroutines", "Goroutines per process", "count", goroutineLines},
	{"restarts", "Restarts (cumulative)", "count", func(r *Report) []series {
		return []series{pick(r, "restarts", func(p engine.Point) (float64, bool) { return float64(p.Restarts), true })}
	}},
	{"duplicates", "Duplicate charges (cumulative)", "count", func(r *Report) []series {
		return []series{pick(r, "orders charged twice", func(p engine.Point) (float64, bool) { return p.DuplicateCharges, true })}
	}},
}

// errorLines are the client's error ratio and each role's server 5xx share.
func errorLines(r *Report) []series {
	out := []series{pick(r, "client (load generator)", func(p engine.Point) (float64, bool) { return p.ErrorRatio, true })}
	for _, role := range r.rolesWith(func(p engine.Point) map[string]float64 { return p.Server5xxRatio }) {
		out = append(out, pick(r, role+" 5xx", func(p engine.Point) (float64, bool) {
			v, ok := p.Server5xxRatio[role]
			return v, ok
		}))
	}
	return out
}

// latencyLines are the client's p99 and each edge's p99 (the slowest
// caller's, when several processes call the same role).
func latencyLines(r *Report) []series {
	out := []series{pick(r, "client p99", func(p engine.Point) (float64, bool) { return p.P99 * 1000, true })}
	ups := map[string]bool{}
	for _, p := range r.Series {
		for _, e := range p.Edges {
			if e.To != engine.EdgeEntry {
				ups[e.To] = true
			}
		}
	}
	for _, up := range orderRoles(ups) {
		out = append(out, pick(r, "→ "+up+" p99", func(p engine.Point) (float64, bool) {
			v, ok := 0.0, false
			for _, e := range p.Edges {
				if e.To == up && e.P99 > 0 {
					v, ok = math.Max(v, e.P99*1000), true
				}
			}
			return v, ok
		}))
	}
	return out
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

// rolesWith lists the roles any point has in the map m returns, in the
// call chain's order.
func (r *Report) rolesWith(m func(engine.Point) map[string]float64) []string {
	seen := map[string]bool{}
	for _, p := range r.Series {
		for k := range m(p) {
			seen[k] = true
		}
	}
	return orderRoles(seen)
}

// orderRoles sorts roles in the call chain's order, unknown ones last.
func orderRoles(set map[string]bool) []string {
	out := sortedKeys(set)
	rank := func(s string) int {
		if i := indexOf(roleOrder, s); i >= 0 {
			return i
		}
		return len(roleOrder)
	}
	sort.SliceStable(out, func(a, b int) bool { return rank(out[a]) < rank(out[b]) })
	return out
}

// pick extracts one series from r's points: NaN for a point without a
// value or with one that is not finite.
func pick(r *Report, name string, f func(engine.Point) (float64, bool)) series {
	s := series{Name: name}
	for _, p := range r.Series {
		v, ok := f(p)
		if !ok || !finite(v) {
			v = math.NaN()
		}
		s.At = append(s.At, p.At.Seconds())
		s.Y = append(s.Y, v)
	}
	return s
}

func (s series) empty() bool {
	for _, v := range s.Y {
		if !math.IsNaN(v) {
			return false
		}
	}
	return true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// chartData is what the page's script draws the charts from.
type chartData struct {
	// X is the shared time axis in seconds; every series has one value
	// per X (null where it has none).
	X []float64 `json:"x"`
	// End is the drill's end, the x axis' right edge.
	End      float64      `json:"end"`
	Windows  []windowJS   `json:"windows"`
	Findings []findingJS  `json:"findings"`
	Charts   []chartJSON  `json:"charts"`
	Drills   []drillLabel `json:"drills"`
}

// drillLabel names one drill on a comparison's charts.
type drillLabel struct {
	Label string `json:"label"`
	Dash  bool   `json:"dash"`
	// At are the drill's own sample times: on a comparison's shared axis
	// the other drill's times are no gap in this drill's lines.
	At []float64 `json:"at"`
}

type windowJS struct {
	Name  string  `json:"name"`
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	Drill int     `json:"drill"`
}

type findingJS struct {
	At     float64 `json:"at"`
	Mark   string  `json:"mark"`
	Type   string  `json:"type"`
	Target string  `json:"target,omitempty"`
	Drill  int     `json:"drill"`
}

type chartJSON struct {
	ID     string       `json:"id"`
	Title  string       `json:"title"`
	Unit   string       `json:"unit"`
	Series []seriesJSON `json:"series"`
}

type seriesJSON struct {
	Name string `json:"name"`
	// Color indexes the page's palette: the same line of two drills
	// shares it.
	Color int `json:"color"`
	// Drill is the index into chartData.Drills (0 on a single report).
	Drill  int        `json:"drill"`
	Values []*float64 `json:"values"`
}

// findingMarks are the short names the charts mark findings with.
var findingMarks = map[v1alpha1.FindingType]string{
	v1alpha1.FindingProcessCrashed: "crash", v1alpha1.FindingErrorRatioExceeded: "errors",
	v1alpha1.FindingDuplicateCharges: "dup", v1alpha1.FindingGoroutineGrowth: "growth",
	v1alpha1.FindingGoroutineLeak: "leak", v1alpha1.FindingRestarts: "restarts",
	v1alpha1.FindingAborted: "abort",
}

// buildCharts lays out the charts of one or more drills on one time axis:
// a comparison draws both drills on the same axes, the second dashed.
func buildCharts(labels []string, reports ...*Report) chartData {
	d := chartData{X: []float64{}, Windows: []windowJS{}, Findings: []findingJS{}, Charts: []chartJSON{}}
	xs := map[float64]bool{}
	for di, r := range reports {
		dl := drillLabel{Label: labels[di], Dash: di > 0, At: []float64{}}
		for _, p := range r.Series {
			xs[p.At.Seconds()] = true
			dl.At = append(dl.At, p.At.Seconds())
		}
		d.Drills = append(d.Drills, dl)
		d.End = math.Max(d.End, r.end().Seconds())
		for _, w := range r.windows() {
			d.Windows = append(d.Windows, windowJS{w.Name, w.From.Seconds(), w.To.Seconds(), di})
		}
		for _, f := range r.Findings {
			if m, ok := findingMarks[f.Type]; ok {
				d.Findings = append(d.Findings, findingJS{f.At.Duration.Seconds(), m, string(f.Type), f.Target, di})
			}
		}
	}
	for x := range xs {
		d.X = append(d.X, x)
	}
	sort.Float64s(d.X)
	idx := make(map[float64]int, len(d.X))
	for i, x := range d.X {
		idx[x] = i
	}
	for _, c := range charts {
		cj := chartJSON{ID: c.ID, Title: c.Title, Unit: c.Unit, Series: []seriesJSON{}}
		colors := map[string]int{}
		for di, r := range reports {
			for _, s := range c.lines(r) {
				if s.empty() {
					continue
				}
				col, ok := colors[s.Name]
				if !ok {
					col = len(colors)
					colors[s.Name] = col
				}
				name := s.Name
				if len(reports) > 1 {
					name = labels[di] + " " + s.Name
				}
				vals := make([]*float64, len(d.X))
				for i, x := range s.At {
					if !math.IsNaN(s.Y[i]) {
						v := s.Y[i]
						vals[idx[x]] = &v
					}
				}
				cj.Series = append(cj.Series, seriesJSON{Name: name, Color: col, Drill: di, Values: vals})
			}
		}
		d.Charts = append(d.Charts, cj)
	}
	return d
}
