package sweep

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

func specObject(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(`{
		"load": {"rate": 200},
		"duration": "60s",
		"faults": [
			{"name": "slow-ledger", "after": "10s", "networkChaos": {"delay": {"latency": "200ms"}}},
			{"name": "kill-one-orders", "after": "20s", "podChaos": {"action": "pod-kill"}}
		]
	}`), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSweepSetPath(t *testing.T) {
	for _, tc := range []struct {
		path  string
		value any
		get   func(m map[string]any) any
	}{
		{"load.rate", 400, func(m map[string]any) any { return m["load"].(map[string]any)["rate"] }},
		{"duration", "30s", func(m map[string]any) any { return m["duration"] }},
		{"faults[slow-ledger].networkChaos.delay.latency", "600ms", func(m map[string]any) any {
			return m["faults"].([]any)[0].(map[string]any)["networkChaos"].(map[string]any)["delay"].(map[string]any)["latency"]
		}},
		{"faults[1].after", "5s", func(m map[string]any) any { return m["faults"].([]any)[1].(map[string]any)["after"] }},
		// A missing object on the way is created.
		{"abort.errorRatioAbove", "0.9", func(m map[string]any) any { return m["abort"].(map[string]any)["errorRatioAbove"] }},
	} {
		m := specObject(t)
		if err := SetPath(m, tc.path, tc.value); err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if got := tc.get(m); !reflect.DeepEqual(got, tc.value) {
			t.Errorf("%s: got %v, want %v", tc.path, got, tc.value)
		}
	}
	// The other fault is untouched.
	m := specObject(t)
	_ = SetPath(m, "faults[kill-one-orders].after", "7s")
	if got := m["faults"].([]any)[0].(map[string]any)["after"]; got != "10s" {
		t.Errorf("setting one fault changed the other: after %v", got)
	}
}

func TestSweepSetPathErrors(t *testing.T) {
	for path, want := range map[string]string{
		"":                    "empty path",
		"spec.load.rate":      `drop the "spec."`,
		"load..rate":          `segment 2 ("")`,
		"load.rate[x]":        "ends at a list element",
		"faults[slow-ledger]": "ends at a list element",
		"faults[nope].after":  `no element named "nope" in faults (it has: slow-ledger, kill-one-orders)`,
		"faults[2].after":     "index 2 out of range: faults has 2 elements",
		"load[x].rate":        "load is not a list",
		"faults":              "faults is a list",
		"load":                "load is an object",
		"duration.seconds":    "duration is a string, not an object",
		"faults[Slow].after":  "is not a field name",
	} {
		err := SetPath(specObject(t), path, 1)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SetPath(%q): %v, want an error containing %q", path, err, want)
		}
	}
}

// scheduleSpec is the cascade drill's schedule with a fault of each kind that
// has its own duration.
func scheduleSpec(t *testing.T) v1alpha1.ExperimentSpec {
	t.Helper()
	exp := cascade(t)
	pf := "10s"
	exp.Spec.Faults[1].PodChaos.Action = "pod-failure"
	exp.Spec.Faults[1].PodChaos.Duration = &pf
	if errs := v1alpha1.Validate(&exp); len(errs) > 0 {
		t.Fatal(errs)
	}
	return exp.Spec
}

func TestSweepScaleSchedule(t *testing.T) {
	spec := scheduleSpec(t)
	if err := Scale(&spec, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// 60s → 20s: everything a third, to the millisecond.
	if spec.Duration.Duration != 20*time.Second {
		t.Errorf("duration %s", spec.Duration.Duration)
	}
	if got, want := spec.SteadyState.Duration, 3333*time.Millisecond; got != want {
		t.Errorf("steadyState %s, want %s", got, want)
	}
	if got, want := spec.Faults[0].After.Duration, 3333*time.Millisecond; got != want {
		t.Errorf("slow-ledger after %s, want %s", got, want)
	}
	if got, want := *spec.Faults[0].NetworkChaos.Duration, "10s"; got != want {
		t.Errorf("slow-ledger duration %s, want %s", got, want)
	}
	if got, want := spec.Faults[1].After.Duration, 6667*time.Millisecond; got != want {
		t.Errorf("kill-one-orders after %s, want %s", got, want)
	}
	if got, want := *spec.Faults[1].PodChaos.Duration, "3.333s"; got != want {
		t.Errorf("pod-failure duration %s, want %s", got, want)
	}
	exp := v1alpha1.Experiment{Spec: spec}
	exp.Name = "scaled"
	if errs := v1alpha1.Validate(&exp); len(errs) > 0 {
		t.Errorf("scaled spec invalid: %v", errs)
	}
}

// Rounding never breaks the API's rules: a fault that ends exactly at the
// end still does, a fault that starts exactly at the end of the steady state
// still does, and a fault just under the duration stays under.
func TestSweepScaleKeepsValidity(t *testing.T) {
	spec := scheduleSpec(t)
	d := "50s"
	spec.Faults[0].NetworkChaos.Duration = &d // 10s + 50s = the whole 60s
	spec.SteadyState.Duration = spec.Faults[0].After.Duration
	spec.Faults[1].After.Duration = 59999 * time.Millisecond
	spec.Faults[1].PodChaos.Duration = nil
	spec.Faults[1].PodChaos.Action = "pod-kill"
	for _, length := range []time.Duration{7 * time.Second, 7777 * time.Millisecond, 5 * time.Second, 2 * time.Minute} {
		s := *spec.DeepCopy()
		if err := Scale(&s, length); err != nil {
			t.Fatalf("%s: %v", length, err)
		}
		exp := v1alpha1.Experiment{Spec: s}
		exp.Name = "scaled"
		if errs := v1alpha1.Validate(&exp); len(errs) > 0 {
			t.Errorf("scaled to %s: invalid: %v", length, errs)
		}
		fd, _ := time.ParseDuration(*s.Faults[0].NetworkChaos.Duration)
		if end := s.Faults[0].After.Duration + fd; end != length {
			t.Errorf("scaled to %s: slow-ledger ends at %s, want the end", length, end)
		}
		if s.SteadyState.Duration >= length || s.Faults[1].After.Duration >= length || s.Faults[0].After.Duration < s.SteadyState.Duration {
			t.Errorf("scaled to %s: steadyState %s, after %s", length, s.SteadyState.Duration, s.Faults[1].After.Duration)
		}
	}
	// The original is not touched through shared pointers.
	if *spec.Faults[0].NetworkChaos.Duration != "50s" {
		t.Errorf("Scale changed its input's fault duration to %s", *spec.Faults[0].NetworkChaos.Duration)
	}
}
