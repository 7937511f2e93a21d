package sweep

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// cascade loads the shipped cascade drill, defaulted.
func cascade(t *testing.T) v1alpha1.Experiment {
	t.Helper()
	exps, err := v1alpha1.LoadFile("../../experiments/map-panic-cascade.yaml")
	if err != nil || len(exps) != 1 {
		t.Fatalf("loading the cascade drill: %v (%d experiments)", err, len(exps))
	}
	v1alpha1.SetDefaults(&exps[0].Spec)
	if errs := v1alpha1.Validate(&exps[0]); len(errs) > 0 {
		t.Fatalf("the cascade drill is invalid: %v", errs)
	}
	return exps[0]
}

func mustLoad(t *testing.T, doc string) *Sweep {
	t.Helper()
	s, err := Load([]byte(doc))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

const twoAxes = `apiVersion: cascadelab.dev/v1alpha1
kind: Sweep
metadata: {name: grid}
spec:
  experiment: x.yaml
  axes:
  - path: load.rate
    values: [50, 400]
  - path: faults[slow-ledger].networkChaos.delay.latency
    values: [0ms, 300ms, 600ms]
  repeats: 2
  cellDuration: 20s
`

func TestSweepPlanAppliesAxesToEveryCell(t *testing.T) {
	s := mustLoad(t, twoAxes)
	base := cascade(t)
	before := base.DeepCopy()
	plan, err := NewPlan(s, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Cells) != 6 {
		t.Fatalf("%d cells, want 2×3", len(plan.Cells))
	}
	wantNames := []string{
		"rate-50_latency-0ms", "rate-50_latency-300ms", "rate-50_latency-600ms",
		"rate-400_latency-0ms", "rate-400_latency-300ms", "rate-400_latency-600ms",
	}
	for i, c := range plan.Cells {
		if c.Name != wantNames[i] || c.Index != i {
			t.Errorf("cell %d: name %q index %d, want %q", i, c.Name, c.Index, wantNames[i])
		}
		spec := c.Experiment.Spec
		if got, want := spec.Load.Rate, []int32{50, 400}[c.Coords[0]]; got != want {
			t.Errorf("%s: load.rate %d, want %d", c.Name, got, want)
		}
		if got, want := spec.Faults[0].NetworkChaos.Delay.Latency, []string{"0ms", "300ms", "600ms"}[c.Coords[1]]; got != want {
			t.Errorf("%s: latency %q, want %q", c.Name, got, want)
		}
		// Untouched fields keep the experiment's values; the schedule is scaled.
		if spec.Faults[0].NetworkChaos.Delay.Jitter != before.Spec.Faults[0].NetworkChaos.Delay.Jitter ||
			!reflect.DeepEqual(spec.Victim, before.Spec.Victim) || !reflect.DeepEqual(spec.Hypothesis, before.Spec.Hypothesis) {
			t.Errorf("%s: other fields changed: %+v", c.Name, spec)
		}
		if spec.Duration.Duration != 20*time.Second {
			t.Errorf("%s: duration %s, want the cellDuration 20s", c.Name, spec.Duration.Duration)
		}
	}
	if !reflect.DeepEqual(base, *before) || !reflect.DeepEqual(plan.Base, *before) {
		t.Errorf("the base experiment was changed")
	}
}

func TestSweepPlanRejectsBadAxes(t *testing.T) {
	for _, tc := range []struct {
		name, path, values, want string
	}{
		{"unknown field", "load.rat", "[1]", `spec.axes[0].path: unknown field "load.rat"`},
		{"unknown nested field", "faults[slow-ledger].networkChaos.delay.latncy", `["1ms"]`, `spec.axes[0].path: unknown field "faults[slow-ledger].networkChaos.delay.latncy"`},
		{"no such fault", "faults[fast-ledger].after", `["1s"]`, `spec.axes[0].path: faults[fast-ledger]: no element named "fast-ledger" in faults (it has: slow-ledger, kill-one-orders)`},
		{"index out of range", "faults[5].after", `["1s"]`, `spec.axes[0].path: faults[5]: index 5 out of range`},
		{"object", "load", "[1]", `spec.axes[0].path: load is an object`},
		{"through a scalar", "load.rate.max", "[1]", `spec.axes[0].path: load.rate is a number, not an object`},
		{"out of range", "load.rate", "[100, 6000]", `spec.axes[0].values[1]: 6000 makes the experiment invalid: spec.load.rate: Invalid value: 6000`},
		{"wrong type", "load.rate", `["fast"]`, `spec.axes[0].values[0]: "fast" makes the experiment invalid: spec.load.rate: wrong type`},
		{"bad latency", "faults[slow-ledger].networkChaos.delay.latency", `["soon"]`, `spec.axes[0].values[0]: "soon" makes the experiment invalid: spec.faults[0].networkChaos.delay.latency`},
		{"fault past the end", "faults[kill-one-orders].after", `["90s"]`, `spec.axes[0].values[0]: "90s" makes the experiment invalid: spec.faults[1].after`},
		{"negative duplicate delay", "load.duplicateAfter", `["0s", "-1s"]`, `spec.axes[0].values[1]: "-1s" makes the experiment invalid: spec.load.duplicateAfter`},
		{"duplicate delay not a duration", "load.duplicateAfter", `["banana"]`, `spec.axes[0].values[0]: "banana" makes the experiment invalid: spec.load.duplicateAfter`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "apiVersion: cascadelab.dev/v1alpha1\nkind: Sweep\nmetadata: {name: bad}\nspec:\n  experiment: x.yaml\n  axes:\n  - path: " +
				tc.path + "\n    values: " + tc.values + "\n"
			_, err := NewPlan(mustLoad(t, doc), cascade(t), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// A combination of valid values can still be invalid; the error names both.
func TestSweepPlanRejectsBadCombination(t *testing.T) {
	doc := `apiVersion: cascadelab.dev/v1alpha1
kind: Sweep
metadata: {name: combo}
spec:
  experiment: x.yaml
  axes:
  - path: faults[slow-ledger].after
    values: [10s, 25s]
  - path: faults[slow-ledger].networkChaos.duration
    values: [30s, 40s]
`
	_, err := NewPlan(mustLoad(t, doc), cascade(t), nil)
	want := "spec.axes: cell faults[slow-ledger].after=25s, faults[slow-ledger].networkChaos.duration=40s makes the experiment invalid"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v\nwant %q", err, want)
	}
	if strings.Count(err.Error(), "spec.axes: cell") != 1 {
		t.Errorf("only one combination is invalid:\n%v", err)
	}
}

func TestSweepPlanCheckRunsOnEveryCell(t *testing.T) {
	s := mustLoad(t, twoAxes)
	calls := 0
	_, err := NewPlan(s, cascade(t), func(*v1alpha1.Experiment) field.ErrorList { calls++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	// Each value alone (2+3), then each of the 6 cells.
	if calls != 11 {
		t.Errorf("check called %d times, want 11", calls)
	}
}

func TestSweepValueText(t *testing.T) {
	for raw, want := range map[string]string{`"300ms"`: "300ms", `400`: "400", `0.25`: "0.25"} {
		if got := ValueText(json.RawMessage(raw)); got != want {
			t.Errorf("ValueText(%s) = %q, want %q", raw, got, want)
		}
	}
}

// load.duplicateAfter is an axis like any other field of the spec: each
// cell's experiment carries its value, the rest of the load as the
// experiment has it.
func TestSweepPlanDuplicateAfterAxis(t *testing.T) {
	s := mustLoad(t, `apiVersion: cascadelab.dev/v1alpha1
kind: Sweep
metadata: {name: double-click}
spec:
  experiment: x.yaml
  axes:
  - path: load.duplicateAfter
    values: [0s, 300ms, 1.5s]
`)
	base := cascade(t)
	plan, err := NewPlan(s, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name  string
		after time.Duration
	}{{"duplicateAfter-0s", 0}, {"duplicateAfter-300ms", 300 * time.Millisecond}, {"duplicateAfter-1.5s", 1500 * time.Millisecond}}
	if len(plan.Cells) != len(want) {
		t.Fatalf("%d cells, want %d", len(plan.Cells), len(want))
	}
	for i, c := range plan.Cells {
		l := c.Experiment.Spec.Load
		if c.Name != want[i].name || l.DuplicateAfter.Duration != want[i].after {
			t.Errorf("cell %d: %s with duplicateAfter %s, want %s with %s", i, c.Name, l.DuplicateAfter.Duration, want[i].name, want[i].after)
		}
		if l.Rate != base.Spec.Load.Rate || l.DuplicateRatio != base.Spec.Load.DuplicateRatio {
			t.Errorf("%s: load %+v, want the experiment's rate and ratio", c.Name, l)
		}
	}
}
