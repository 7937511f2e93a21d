package report

import (
	"fmt"
	"strconv"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
)

// hypoRow is one line of the hypothesis-versus-observed table.
type hypoRow struct {
	Check, Bound, Observed, Result string
	// types are the findings that breach this row.
	types []v1alpha1.FindingType
}

// rowLabels are the engine's row names with the words the report uses and
// the finding types that breach them, in the order the report lists them.
var rowLabels = []struct {
	name, check string
	typ         v1alpha1.FindingType
}{
	{engine.RowMaxErrorRatio, "Error ratio (client side, any sample)", v1alpha1.FindingErrorRatioExceeded},
	{engine.RowMaxDuplicateCharges, "Orders charged twice", v1alpha1.FindingDuplicateCharges},
	{engine.RowMaxGoroutineGrowth, "Goroutine growth over baseline (per process)", v1alpha1.FindingGoroutineGrowth},
	{engine.RowMaxLeakedGoroutines, "Leaked goroutines (goleak, any process)", v1alpha1.FindingGoroutineLeak},
	{engine.RowMaxRestarts, "Restarts not caused by a pod fault", v1alpha1.FindingRestarts},
	{engine.RowProcessCrashes, "Processes that crashed (not killed by a fault)", v1alpha1.FindingProcessCrashed},
}

// resultText is a row's result in words: "✓ held", "✗ breached", or
// "not judged: why".
func resultText(row v1alpha1.HypothesisRow) string {
	switch row.Result {
	case v1alpha1.RowHeld:
		return "✓ held"
	case v1alpha1.RowBreached:
		return "✗ breached"
	}
	return "not judged: " + orDefault(row.Why, "no reason recorded")
}

// hypothesisRows sets each hypothesis bound beside the figure observed and
// the engine's result for it: held, breached, or not judged and why. A
// report without rows (written before the engine judged them) derives
// them from the findings.
func (r *Report) hypothesisRows() []hypoRow {
	if len(r.Hypothesis) > 0 {
		byName := map[string]v1alpha1.HypothesisRow{}
		for _, row := range r.Hypothesis {
			byName[row.Name] = row
		}
		var out []hypoRow
		for _, l := range rowLabels {
			row, ok := byName[l.name]
			if !ok {
				continue
			}
			out = append(out, hypoRow{l.check, "≤ " + orDefault(row.Bound, "—"), orDefault(row.Observed, "—"), resultText(row), []v1alpha1.FindingType{l.typ}})
		}
		return out
	}
	return r.derivedRows()
}

// derivedRows are the rows of a report without the engine's: the result
// follows the findings, and an Inconclusive verdict leaves unbreached rows
// not judged.
func (r *Report) derivedRows() []hypoRow {
	h, s, n := r.Spec.Hypothesis, r.Summary, r.findingCounts()
	result := func(types ...v1alpha1.FindingType) string {
		for _, t := range types {
			if n[t] > 0 {
				return "✗ breached"
			}
		}
		if r.Verdict == v1alpha1.VerdictInconclusive {
			return "not judged"
		}
		return "✓ held"
	}
	growth := "—"
	if s.BaselineGoroutines > 0 {
		growth = fmt.Sprintf("%.2f× (total %d → peak %d)", float64(s.PeakGoroutines)/float64(s.BaselineGoroutines),
			s.BaselineGoroutines, s.PeakGoroutines)
	}
	row := func(check, bound, observed string, t v1alpha1.FindingType) hypoRow {
		return hypoRow{check, bound, observed, result(t), []v1alpha1.FindingType{t}}
	}
	return []hypoRow{
		row("Error ratio (client side, any sample)", "≤ "+orDefault(h.MaxErrorRatio, "—"), orDefault(s.PeakErrorRatio, "0"), v1alpha1.FindingErrorRatioExceeded),
		row("Orders charged twice", "≤ "+ptr(h.MaxDuplicateCharges), fmt.Sprintf("%d (%s charged twice)", s.DuplicateCharges, cents(s.DuplicateChargedCents)), v1alpha1.FindingDuplicateCharges),
		row("Goroutine growth over baseline (per process)", "≤ "+orDefault(h.MaxGoroutineGrowth, "—")+"×", growth, v1alpha1.FindingGoroutineGrowth),
		row("Leaked goroutines (goleak, any process)", "≤ "+ptr(h.MaxLeakedGoroutines), strconv.FormatInt(s.LeakedGoroutines, 10), v1alpha1.FindingGoroutineLeak),
		row("Restarts not caused by a pod fault", "≤ "+ptr(h.MaxRestarts), fmt.Sprintf("%d restarts in all", s.Restarts), v1alpha1.FindingRestarts),
		row("Processes that crashed (not killed by a fault)", "0", strconv.Itoa(n[v1alpha1.FindingProcessCrashed]), v1alpha1.FindingProcessCrashed),
	}
}

// headline is the verdict and phase in one sentence.
func (r *Report) headline() string {
	s := fmt.Sprintf("%s — phase %s after %s", orDefault(string(r.Verdict), "no verdict"), orDefault(string(r.Phase), "unknown"), fmtDur(r.Elapsed))
	if len(r.Findings) > 0 {
		s += fmt.Sprintf(", %d findings", len(r.Findings))
	}
	return s
}

func ptr[T int32 | int64](p *T) string {
	if p == nil {
		return "—"
	}
	return strconv.FormatInt(int64(*p), 10)
}

func cents(c int64) string {
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}
