package sweep

import (
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/report"
)

// ResultKind is the kind written in sweep.json.
const ResultKind = "SweepResult"

// findingSteadyStateNotMet is the finding of a hypothesis already broken
// before the first fault (DESIGN.md's name).
const findingSteadyStateNotMet v1alpha1.FindingType = "SteadyStateNotMet"

// breaches are the findings that break the hypothesis (the others say what
// evidence a verdict lacked).
var breaches = map[v1alpha1.FindingType]bool{
	v1alpha1.FindingProcessCrashed: true, v1alpha1.FindingErrorRatioExceeded: true,
	v1alpha1.FindingDuplicateCharges: true, v1alpha1.FindingGoroutineGrowth: true,
	v1alpha1.FindingGoroutineLeak: true, v1alpha1.FindingRestarts: true,
}

// Result is what a sweep found: sweep.json.
type Result struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Name is the sweep's metadata.name.
	Name string `json:"name"`
	// Experiment is the experiment file and its metadata.name.
	Experiment     string `json:"experiment"`
	ExperimentName string `json:"experimentName"`
	// Victim describes the victim's modes, such as "orders cache racy ×2,
	// ledger idempotency none, gateway leaky".
	Victim string `json:"victim"`
	// Axes are the sweep's axes, values as ValueText reads them.
	Axes []ResultAxis `json:"axes"`
	// Repeats is the number of runs of each cell planned.
	Repeats int `json:"repeats"`
	// Seed is the runs' base seed (RunSeed derives each run's),
	// when the runner recorded one.
	Seed int64 `json:"seed,omitempty"`
	// CellDuration is each cell's length in seconds.
	CellDuration float64 `json:"cellDuration"`
	// StartedAt and Elapsed (seconds) are the sweep's wall-clock span.
	StartedAt time.Time `json:"startedAt"`
	Elapsed   float64   `json:"elapsed"`
	// Complete is true when every run of every cell finished; Interrupted
	// when the sweep was stopped (the runs done are kept).
	Complete    bool `json:"complete"`
	Interrupted bool `json:"interrupted,omitempty"`
	// Cells are the grid's cells, the first axis varying slowest.
	Cells []CellResult `json:"cells"`
}

// ResultAxis is one axis of a Result.
type ResultAxis struct {
	Path   string   `json:"path"`
	Values []string `json:"values"`
}

// CellResult is one cell's runs and measures.
type CellResult struct {
	// Name is the cell's directory under cells/.
	Name string `json:"name"`
	// Coords and Values locate the cell on the axes.
	Coords []int    `json:"coords"`
	Values []string `json:"values"`
	// Runs are the cell's runs in the order they ran.
	Runs []Run `json:"runs"`
	// Measures aggregate the finished runs.
	Measures Measures `json:"measures"`
}

// Run is one run of a cell.
type Run struct {
	// N is the run's number, from 1; its report is in cells/<cell>/run-<N>.
	N int `json:"n"`
	// Dir is the report's directory, relative to the sweep's.
	Dir     string           `json:"dir"`
	Phase   v1alpha1.Phase   `json:"phase,omitempty"`
	Verdict v1alpha1.Verdict `json:"verdict,omitempty"`
	// Findings are the types of the run's findings, in time order.
	Findings []v1alpha1.FindingType `json:"findings,omitempty"`
	// FirstCrash is the offset (seconds since the load started) of the
	// first crash not caused by an injected fault; absent when none.
	FirstCrash *float64 `json:"firstCrash,omitempty"`
	// BrokeBeforeFaults is true when the hypothesis already broke before
	// the first fault: a SteadyStateNotMet finding (under the default gate
	// the drill then ends Inconclusive, without faults), or a breach or a
	// crash earlier than the first injection.
	BrokeBeforeFaults bool `json:"brokeBeforeFaults,omitempty"`
	// DuplicateCharges is the number of orders charged more than once.
	DuplicateCharges int64 `json:"duplicateCharges"`
	// PeakErrorRatio is the highest client-side error ratio of any sample.
	PeakErrorRatio float64 `json:"peakErrorRatio"`
	// PeakGoroutines is the highest total goroutine count.
	PeakGoroutines int64 `json:"peakGoroutines"`
	Restarts       int32 `json:"restarts"`
	// Elapsed is the run's wall-clock length in seconds.
	Elapsed float64 `json:"elapsed"`
	// Error says why the run did not finish; Interrupted that a signal
	// stopped it. Neither kind counts in the measures.
	Error       string `json:"error,omitempty"`
	Interrupted bool   `json:"interrupted,omitempty"`
}

// Finished reports whether the run counts in the cell's measures: it ended
// with a verdict, uninterrupted and without error.
func (r Run) Finished() bool {
	return r.Error == "" && !r.Interrupted && r.Phase.Terminal() && r.Verdict != ""
}

// Measures aggregate a cell's finished runs. Medians of an even count are
// the mean of the two middle values.
type Measures struct {
	// Runs is the number of finished runs; Failed of runs that errored.
	Runs   int `json:"runs"`
	Failed int `json:"failed,omitempty"`
	// Held, Violated and Inconclusive count the verdicts.
	Held         int `json:"held"`
	Violated     int `json:"violated"`
	Inconclusive int `json:"inconclusive"`
	// ViolatedShare is Violated/Runs; absent without runs.
	ViolatedShare *float64 `json:"violatedShare,omitempty"`
	// BrokeBeforeFaults counts the runs that broke before any fault;
	// BrokeBeforeFaultsShare is its share of Runs.
	BrokeBeforeFaults      int      `json:"brokeBeforeFaults"`
	BrokeBeforeFaultsShare *float64 `json:"brokeBeforeFaultsShare,omitempty"`
	// Crashed is the number of runs with a crash; MedianFirstCrash the
	// median of their first-crash offsets (seconds), absent when none.
	Crashed          int      `json:"crashed"`
	MedianFirstCrash *float64 `json:"medianFirstCrash,omitempty"`
	// Median and highest duplicate charges of a run.
	MedianDuplicateCharges *float64 `json:"medianDuplicateCharges,omitempty"`
	MaxDuplicateCharges    int64    `json:"maxDuplicateCharges"`
	// Medians of the runs' peak error ratio and peak goroutines.
	MedianPeakErrorRatio *float64 `json:"medianPeakErrorRatio,omitempty"`
	MedianPeakGoroutines *float64 `json:"medianPeakGoroutines,omitempty"`
}

// MeasureRun reads one run's figures from its report.
func MeasureRun(rep *report.Report) Run {
	r := Run{
		Phase:            rep.Phase,
		Verdict:          rep.Verdict,
		DuplicateCharges: rep.Summary.DuplicateCharges,
		PeakGoroutines:   rep.Summary.PeakGoroutines,
		Restarts:         rep.Summary.Restarts,
		Elapsed:          rep.Elapsed.Seconds(),
	}
	first, breach := time.Duration(-1), time.Duration(-1)
	earliest := func(cur, at time.Duration) time.Duration {
		if cur < 0 || at < cur {
			return at
		}
		return cur
	}
	for _, f := range rep.Findings {
		r.Findings = append(r.Findings, f.Type)
		r.BrokeBeforeFaults = r.BrokeBeforeFaults || f.Type == findingSteadyStateNotMet
		if f.Type == v1alpha1.FindingProcessCrashed {
			first = earliest(first, f.At.Duration)
		}
		if breaches[f.Type] {
			breach = earliest(breach, f.At.Duration)
		}
	}
	for _, ev := range rep.Timeline {
		if ev.Kind == engine.KindProcessCrashed {
			first = earliest(first, ev.At)
		}
	}
	if first >= 0 {
		s := first.Seconds()
		r.FirstCrash = &s
		breach = earliest(breach, first)
	}
	if ff, ok := firstFault(rep); breach >= 0 && (!ok || breach < ff) {
		r.BrokeBeforeFaults = true
	}
	// The engine's peak (judged samples only) when it has one, else the
	// series' highest point.
	peak, err := strconv.ParseFloat(rep.Summary.PeakErrorRatio, 64)
	fromSeries := err != nil
	for _, p := range rep.Series {
		if fromSeries && !math.IsNaN(p.ErrorRatio) && p.ErrorRatio > peak {
			peak = p.ErrorRatio
		}
		if t := int64(p.Goroutines["total"]); t > r.PeakGoroutines {
			r.PeakGoroutines = t
		}
	}
	r.PeakErrorRatio = peak
	return r
}

// firstFault is when the first fault was injected or, when none was, was
// due; false for a drill without faults.
func firstFault(rep *report.Report) (time.Duration, bool) {
	at := time.Duration(-1)
	for _, f := range rep.Faults {
		if f.InjectedAt != nil && (at < 0 || f.InjectedAt.Duration < at) {
			at = f.InjectedAt.Duration
		}
	}
	if at >= 0 {
		return at, true
	}
	for _, f := range rep.Spec.Faults {
		if at < 0 || f.After.Duration < at {
			at = f.After.Duration
		}
	}
	return at, at >= 0
}

// Aggregate computes a cell's measures from its runs.
func Aggregate(runs []Run) Measures {
	var m Measures
	var crashes, dups, errs, gors []float64
	for _, r := range runs {
		if !r.Finished() {
			if r.Error != "" && !r.Interrupted {
				m.Failed++
			}
			continue
		}
		m.Runs++
		switch r.Verdict {
		case v1alpha1.VerdictHeld:
			m.Held++
		case v1alpha1.VerdictViolated:
			m.Violated++
		default:
			m.Inconclusive++
		}
		if r.BrokeBeforeFaults {
			m.BrokeBeforeFaults++
		}
		if r.FirstCrash != nil {
			m.Crashed++
			crashes = append(crashes, *r.FirstCrash)
		}
		dups = append(dups, float64(r.DuplicateCharges))
		m.MaxDuplicateCharges = max(m.MaxDuplicateCharges, r.DuplicateCharges)
		errs = append(errs, r.PeakErrorRatio)
		gors = append(gors, float64(r.PeakGoroutines))
	}
	if m.Runs > 0 {
		share := float64(m.Violated) / float64(m.Runs)
		m.ViolatedShare = &share
		before := float64(m.BrokeBeforeFaults) / float64(m.Runs)
		m.BrokeBeforeFaultsShare = &before
	}
	m.MedianFirstCrash = median(crashes)
	m.MedianDuplicateCharges = median(dups)
	m.MedianPeakErrorRatio = median(errs)
	m.MedianPeakGoroutines = median(gors)
	return m
}

// median of xs; nil for none.
func median(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	v := s[len(s)/2]
	if len(s)%2 == 0 {
		v = (s[len(s)/2-1] + v) / 2
	}
	return &v
}
