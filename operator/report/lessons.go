package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// hypoRow is one line of the hypothesis-versus-observed table.
type hypoRow struct {
	Check, Bound, Observed, Result string
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
	return []hypoRow{
		{"Error ratio (client side, any sample)", "≤ " + orDefault(h.MaxErrorRatio, "—"), orDefault(s.PeakErrorRatio, "0"), result(v1alpha1.FindingErrorRatioExceeded)},
		{"Orders charged twice", "≤ " + ptr(h.MaxDuplicateCharges), fmt.Sprintf("%d (%s charged twice)", s.DuplicateCharges, cents(s.DuplicateChargedCents)), result(v1alpha1.FindingDuplicateCharges)},
		{"Goroutine growth over baseline (per process)", "≤ " + orDefault(h.MaxGoroutineGrowth, "—") + "×", growth, result(v1alpha1.FindingGoroutineGrowth)},
		{"Leaked goroutines (goleak, any process)", "≤ " + ptr(h.MaxLeakedGoroutines), strconv.FormatInt(s.LeakedGoroutines, 10), result(v1alpha1.FindingGoroutineLeak)},
		{"Restarts not caused by a pod fault", "≤ " + ptr(h.MaxRestarts), fmt.Sprintf("%d restarts in all", s.Restarts), result(v1alpha1.FindingRestarts)},
		{"Processes that crashed (not killed by a fault)", "0", strconv.Itoa(n[v1alpha1.FindingProcessCrashed]), result(v1alpha1.FindingProcessCrashed)},
	}
}

// lesson is a short explanation of what a drill's findings show. Text may
// hold `code` spans in backquotes, rendered by both writers.
type lesson struct {
	Title, Text string
}

// lessons explains the findings, most fundamental first. Every claim here
// must hold for Go 1.26 (see FACTS.md).
func (r *Report) lessons() []lesson {
	var ls []lesson
	n := r.findingCounts()
	mapCrash := ""
	for _, f := range r.Findings {
		if f.Type == v1alpha1.FindingProcessCrashed && strings.Contains(f.Message, "concurrent map") {
			mapCrash = f.Message
			break
		}
	}
	if mapCrash != "" {
		ls = append(ls, lesson{"A concurrent map write is a fatal error, not a panic",
			"`fatal error: concurrent map writes` (and its siblings `concurrent map read and map write` and " +
				"`concurrent map iteration and map write`) is a fatal throw in Go 1.26, not a panic: `recover()` " +
				"cannot catch it, no deferred function runs, net/http's per-connection recover is bypassed, and the " +
				"process exits with status 2 (134 with `GOTRACEBACK=crash`), printing only the crashing goroutine's " +
				"stack by default. The runtime's check only fires when two map operations overlap in time, so it " +
				"finds some races, not all. `go vet` has no map or data-race analyzer and reports nothing here; " +
				"`go test -race` does. The fix is synchronisation: a `sync.Mutex`, RWMutex shards, `sync.Map`, or " +
				"one goroutine owning each order (cache strategies `mutex`, `sharded`, `syncmap`, `serialized`)."})
	} else if n[v1alpha1.FindingProcessCrashed] > 0 {
		ls = append(ls, lesson{"A process crashed",
			"A victim process exited during the drill; its crash text is in the findings above."})
	}
	if n[v1alpha1.FindingDuplicateCharges] > 0 {
		ls = append(ls, lesson{"The cache is a mirror, not the truth",
			fmt.Sprintf("%d orders were charged more than once (%s in all). Two requests for the same order — a duplicate "+
				"sent at the same moment, or a gateway retry of a try that timed out — can both pass a "+
				"check-then-act, on different replicas or after a restart emptied the cache. Locking the cache "+
				"stops the crash, not the double charge. Only a compare-and-set in the ledger (PREPARE→PAID in "+
				"one transaction, idempotency `cas`) makes the second charge fail.",
				r.Summary.DuplicateCharges, cents(r.Summary.DuplicateChargedCents))})
	}
	if n[v1alpha1.FindingGoroutineGrowth]+n[v1alpha1.FindingGoroutineLeak] > 0 {
		ls = append(ls, lesson{"Goroutines that wait forever leak",
			"A goroutine that sends its result on an unbuffered channel blocks forever once its caller has " +
				"timed out and stopped listening (gateway mode `leaky`); under latency they pile up with the " +
				"request rate. Give each try a context with a deadline and let nothing outlive the request " +
				"(mode `bounded`), or make the channel buffered. `go.uber.org/goleak` finds such goroutines in " +
				"tests; Go 1.26's experimental `goroutineleak` profile (`GOEXPERIMENT=goroutineleakprofile`) " +
				"reports goroutines blocked on channels nothing else can reach."})
	}
	if n[v1alpha1.FindingErrorRatioExceeded] > 0 {
		ls = append(ls, lesson{"Failures travel upstream",
			"A crashed or slowed service shows up at the edge as timeouts and 5xx. Retries re-send the same " +
				"order: they add load on the survivors and, without an idempotent ledger, more chances to charge twice."})
	}
	if n[v1alpha1.FindingRestarts] > 0 {
		ls = append(ls, lesson{"A restart hides a crash and empties the cache",
			"The supervisor (a kubelet in a cluster) brings the process back, but its in-memory state is gone. " +
				"To keep the `fatal error:` headline in a pod, leave the termination log empty and set " +
				"`terminationMessagePolicy: FallbackToLogsOnError` with the default `GOTRACEBACK`."})
	}
	if n[v1alpha1.FindingAborted] > 0 {
		ls = append(ls, lesson{"The abort guard stopped the drill",
			"The error ratio stayed above the guard's bound, so every fault was recovered at once and the drill ended early."})
	}
	if len(ls) == 0 && r.Verdict == v1alpha1.VerdictHeld {
		ls = append(ls, lesson{"The hypothesis held",
			"Under this chaos the victim kept its steady state. That is evidence, not proof: the runtime's map " +
				"check only fires when two operations overlap in time, so keep `go test -race` in CI as well."})
	}
	return ls
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
