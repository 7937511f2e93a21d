package report

import (
	"fmt"
	"strconv"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// hypoRow is one line of the hypothesis-versus-observed table.
type hypoRow struct {
	Check, Bound, Observed, Result string
	// types are the findings that breach this row.
	types []v1alpha1.FindingType
}

// hypothesisRows sets each hypothesis bound beside the figure observed. The
// result follows the engine's findings, which are the authority on breaches.
func (r *Report) hypothesisRows() []hypoRow {
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
