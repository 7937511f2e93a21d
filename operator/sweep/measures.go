package sweep

import (
	"fmt"
	"math"
	"strconv"
)

// Measure is one figure drawn as a heatmap over the grid.
type Measure struct {
	// Key names the measure in the page (data-measure).
	Key string
	// Title is the heatmap's heading; Note says how to read it.
	Title, Note string
	// Value is the cell's figure; nil when it has none.
	Value func(Measures) *float64
	// Format writes a value for a cell's label.
	Format func(float64) string
	// Empty is the label of a cell with runs but no value.
	Empty string
	// LowerIsWorse colours small values hottest (time to first crash).
	LowerIsWorse bool
	// Fixed, when set, is the colour scale's [0, Fixed] range; otherwise
	// the range spans the values on the page.
	Fixed float64
}

// Measures drawn as heatmaps, in order.
var HeatmapMeasures = []Measure{
	{
		Key: "violated", Title: "Share of runs Violated",
		Note:  "verdict HypothesisViolated over the finished runs of the cell",
		Value: func(m Measures) *float64 { return m.ViolatedShare },
		Format: func(v float64) string {
			return strconv.FormatFloat(100*v, 'f', 0, 64) + "%"
		},
		Fixed: 1,
	},
	{
		Key: "before-faults", Title: "Share of runs broken before any fault",
		Note:  "runs whose hypothesis was already violated before the first fault (a SteadyStateNotMet finding, or a breach or crash before the first injection): the faults cannot have caused it; under the steady-state gate such runs end Inconclusive, not Violated",
		Value: func(m Measures) *float64 { return m.BrokeBeforeFaultsShare },
		Format: func(v float64) string {
			return strconv.FormatFloat(100*v, 'f', 0, 64) + "%"
		},
		Fixed: 1,
	},
	{
		Key: "first-crash", Title: "Median time to first crash",
		Note:  "seconds from the start of the load to the first crash not caused by an injected fault, over the runs that crashed; earlier is hotter",
		Value: func(m Measures) *float64 { return m.MedianFirstCrash },
		Format: func(v float64) string {
			return strconv.FormatFloat(v, 'f', 1, 64) + "s"
		},
		Empty:        "no crash",
		LowerIsWorse: true,
	},
	{
		Key: "duplicates", Title: "Duplicate charges",
		Note:   "orders charged more than once, median per run",
		Value:  func(m Measures) *float64 { return m.MedianDuplicateCharges },
		Format: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
	},
	{
		Key: "error-ratio", Title: "Peak error ratio",
		Note:  "highest client-side error ratio of any sample, median per run",
		Value: func(m Measures) *float64 { return m.MedianPeakErrorRatio },
		Format: func(v float64) string {
			return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
		},
		Fixed: 1,
	},
	{
		Key: "goroutines", Title: "Peak goroutines",
		Note:   "highest total goroutine count of the victim's processes, median per run",
		Value:  func(m Measures) *float64 { return m.MedianPeakGoroutines },
		Format: func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
	},
}

// scale maps a measure's values to heat in [0, 1] for the results drawn
// together, so that side-by-side maps share their colours.
type scale struct {
	lo, hi float64
	m      Measure
}

func newScale(m Measure, results ...*Result) scale {
	s := scale{lo: math.Inf(1), hi: math.Inf(-1), m: m}
	for _, r := range results {
		if r == nil {
			continue
		}
		for _, c := range r.Cells {
			if v := m.Value(c.Measures); v != nil {
				s.lo, s.hi = min(s.lo, *v), max(s.hi, *v)
			}
		}
		if m.LowerIsWorse {
			s.lo, s.hi = 0, max(s.hi, r.CellDuration)
		}
	}
	if m.Fixed > 0 {
		s.lo, s.hi = 0, m.Fixed
	}
	if !m.LowerIsWorse && m.Fixed == 0 {
		s.lo = 0 // counts: the hottest cell is the largest, zero is cool
	}
	return s
}

// heat is v's place on the scale: 0 coolest, 1 hottest.
func (s scale) heat(v float64) float64 {
	if math.IsInf(s.hi, 0) || s.hi <= s.lo {
		return 0
	}
	h := (v - s.lo) / (s.hi - s.lo)
	if s.m.LowerIsWorse {
		h = 1 - h
	}
	return math.Max(0, math.Min(1, h))
}

// color is a cell's fill for heat h: pale green through yellow to red.
func color(h float64) string {
	stops := [][3]float64{{237, 248, 233}, {254, 224, 139}, {244, 109, 67}, {165, 0, 38}}
	x := h * float64(len(stops)-1)
	i := int(math.Min(x, float64(len(stops)-2)))
	f := x - float64(i)
	var c [3]int
	for k := range c {
		c[k] = int(math.Round(stops[i][k] + f*(stops[i+1][k]-stops[i][k])))
	}
	return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2])
}

// Label is the text of a cell in measure m: its value, m.Empty when it
// has runs but no value, "no run" when none finished.
func (m Measure) Label(c *CellResult) string {
	if c == nil || c.Measures.Runs == 0 {
		return "no run"
	}
	if v := m.Value(c.Measures); v != nil {
		return m.Format(*v)
	}
	if m.Empty != "" {
		return m.Empty
	}
	return "–"
}

// Layout places a result's cells: columns are the first axis' values,
// rows the second's (a single row for one axis).
type Layout struct {
	Cols, Rows []string
	// ColAxis and RowAxis are the axes' paths ("" for no second axis).
	ColAxis, RowAxis string
	cells            map[[2]int]*CellResult
}

// NewLayout lays res out.
func NewLayout(res *Result) Layout {
	l := Layout{cells: map[[2]int]*CellResult{}, Rows: []string{""}}
	if len(res.Axes) > 0 {
		l.Cols, l.ColAxis = res.Axes[0].Values, res.Axes[0].Path
	}
	if len(res.Axes) > 1 {
		l.Rows, l.RowAxis = res.Axes[1].Values, res.Axes[1].Path
	}
	for i := range res.Cells {
		c := &res.Cells[i]
		key := [2]int{0, c.Coords[0]}
		if len(c.Coords) > 1 {
			key[0] = c.Coords[1]
		}
		l.cells[key] = c
	}
	return l
}

// At is the cell in row r, column c, or nil.
func (l Layout) At(r, c int) *CellResult { return l.cells[[2]int{r, c}] }
