package report

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// The same chaos against two victims: no difference, whatever the victim
// (or a target instead of a victim).
func TestChaosDifferencesOnlyVictim(t *testing.T) {
	a, b := cascade(), fixed()
	if d := ChaosDifferences(a, b); d != nil {
		t.Errorf("victim-only A/B: %q, want none", d)
	}
	b.Spec.Victim = nil
	b.Spec.Target = &v1alpha1.TargetSpec{AdminPort: 9090}
	if d := ChaosDifferences(a, b); d != nil {
		t.Errorf("victim vs target: %q, want none", d)
	}
	// Fault order, equal decimals and durations written differently, and
	// unset vs empty values are not differences.
	b.Spec.Faults = []v1alpha1.Fault{b.Spec.Faults[1], b.Spec.Faults[0]}
	b.Spec.Faults[1].NetworkChaos = b.Spec.Faults[1].NetworkChaos.DeepCopy()
	b.Spec.Faults[1].NetworkChaos.Duration = ptrTo("0.5m")
	b.Spec.Faults[1].NetworkChaos.Selector.Namespaces = []string{}
	b.Spec.Load.DuplicateRatio = "0.10"
	if d := ChaosDifferences(a, b); d != nil {
		t.Errorf("equivalent specs: %q, want none", d)
	}
}

func TestChaosDifferences(t *testing.T) {
	a, b := cascade(), fixed()
	a.Spec.Faults[0].NetworkChaos.Delay.Latency = "600ms"
	a.Spec.Faults[0].NetworkChaos.Delay.Jitter = "150ms"
	a.Spec.Faults[1].After = dur(25 * time.Second)
	a.Spec.Load = v1alpha1.LoadSpec{Rate: 80, DuplicateRatio: "0"}
	a.Spec.Duration = dur(90 * time.Second)
	a.Spec.SteadyStateGate = v1alpha1.GateContinue
	a.Spec.Hypothesis.MaxErrorRatio = "0.05"
	a.Spec.Hypothesis.MaxRestarts = nil
	b.Spec.Abort = nil
	b.Spec.Faults[0].NetworkChaos.Selector.LabelSelectors = map[string]string{"app.kubernetes.io/component": "orders"}
	want := []string{
		`abort: {"errorRatioAbove":"0.95","for":"10s"} vs unset`,
		"duration: 1m30s vs 1m0s",
		`faults[kill-one-orders].after: 25s vs 20s`,
		`faults[slow-ledger].networkChaos.delay.jitter: 150ms vs 50ms`,
		`faults[slow-ledger].networkChaos.delay.latency: 600ms vs 200ms`,
		`faults[slow-ledger].networkChaos.selector.labelSelectors["app.kubernetes.io/component"]: ledger vs orders`,
		"hypothesis.maxErrorRatio: 0.05 vs 0.01",
		"hypothesis.maxRestarts: unset vs 0",
		"load.duplicateRatio: 0 vs 0.1",
		"load.rate: 80 vs 300",
		"steadyStateGate: Continue vs Enforce",
	}
	// The fixture's gate is unset; set B's so that the two differ.
	b.Spec.SteadyStateGate = v1alpha1.GateEnforce
	got := ChaosDifferences(a, b)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if again := ChaosDifferences(a, b); !reflect.DeepEqual(again, got) {
		t.Errorf("not deterministic: %q then %q", got, again)
	}
}

func TestChaosDifferencesFaultOnOneSide(t *testing.T) {
	a, b := cascade(), fixed()
	b.Spec.Faults = b.Spec.Faults[:1]
	if d, want := ChaosDifferences(a, b), []string{"faults[kill-one-orders]: only in A"}; !reflect.DeepEqual(d, want) {
		t.Errorf("got %q, want %q", d, want)
	}
	if d, want := ChaosDifferences(b, a), []string{"faults[kill-one-orders]: only in B"}; !reflect.DeepEqual(d, want) {
		t.Errorf("got %q, want %q", d, want)
	}
	// The same name, another kind of chaos.
	b = fixed()
	b.Spec.Faults[1].PodChaos.Action = "container-kill"
	if d, want := ChaosDifferences(a, b), []string{"faults[kill-one-orders].podChaos.action: pod-kill vs container-kill"}; !reflect.DeepEqual(d, want) {
		t.Errorf("got %q, want %q", d, want)
	}
	if d := ChaosDifferences(a, nil); len(d) == 0 {
		t.Error("a report against nil: no difference")
	}
}

// Every field of the load, including ones added to the API later, is
// compared: each set to another value is one difference named by its JSON
// field.
func TestChaosDifferencesEveryLoadField(t *testing.T) {
	lt := reflect.TypeFor[v1alpha1.LoadSpec]()
	for i := range lt.NumField() {
		f := lt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		a, b := cascade(), cascade()
		if !setOther(reflect.ValueOf(&b.Spec.Load).Elem().Field(i)) {
			t.Errorf("load.%s: the test cannot set a %s; teach setOther", name, f.Type)
			continue
		}
		d := ChaosDifferences(a, b)
		if len(d) != 1 || !strings.HasPrefix(d[0], "load."+name+": ") {
			t.Errorf("load.%s changed: differences %q, want one for load.%s", name, d, name)
		}
	}
}

// setOther sets v to a value unlike the fixture's.
func setOther(v reflect.Value) bool {
	if v.Kind() == reflect.Pointer {
		v.Set(reflect.New(v.Type().Elem()))
		return setOther(v.Elem())
	}
	switch {
	case v.Type() == reflect.TypeFor[metav1.Duration]():
		v.Set(reflect.ValueOf(metav1.Duration{Duration: 7 * time.Second}))
	case v.Kind() == reflect.String:
		v.SetString("0.7")
	case v.CanInt():
		v.SetInt(7)
	case v.CanUint():
		v.SetUint(7)
	case v.CanFloat():
		v.SetFloat(0.7)
	case v.Kind() == reflect.Bool:
		v.SetBool(!v.Bool())
	case v.Kind() == reflect.Struct: // a nested field (load.request): its first one settable
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() && setOther(f) {
				return true
			}
		}
		return false
	default:
		return false
	}
	return true
}

// A difference never reads "X vs X": two values that show the same bare
// (the string "unset" against an unset field, "true" against true) are
// shown quoted.
func TestChaosDifferencesNeverReadTheSame(t *testing.T) {
	a, b := cascade(), cascade()
	a.Spec.Load.DuplicateRatio = "unset"
	b.Spec.Load.DuplicateRatio = ""
	d := ChaosDifferences(a, b)
	if want := []string{`load.duplicateRatio: "unset" vs unset`}; !reflect.DeepEqual(d, want) {
		t.Errorf("differences %q, want %q", d, want)
	}
	var df differ
	df.diff("x", "true", true)
	df.diff("y", "7", "seven")
	if want := []string{`x: "true" vs true`, "y: 7 vs seven"}; !reflect.DeepEqual(df.out, want) {
		t.Errorf("differences %q, want %q", df.out, want)
	}
	for _, line := range append(d, df.out...) {
		_, vals, _ := strings.Cut(line, ": ")
		if x, y, _ := strings.Cut(vals, " vs "); x == y {
			t.Errorf("%q reads the same on both sides", line)
		}
	}
}

func TestCompareLikeForLike(t *testing.T) {
	a, b := cascade(), fixed()
	var buf bytes.Buffer
	if err := WriteCompareMarkdown(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	mustContain(t, buf.String(), "> **Like for like:** same faults, load, timing and hypothesis; only the victim differs.")
	buf.Reset()
	if err := WriteCompareHTML(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	mustContain(t, buf.String(), "<b>Like for like:</b> same faults, load, timing and hypothesis; only the victim differs.")

	a.Spec.Faults[0].NetworkChaos.Delay.Latency = "600ms"
	buf.Reset()
	if err := WriteCompareMarkdown(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	mustContain(t, buf.String(), "**Warning: not like for like** (A vs B)",
		"> - faults[slow-ledger].networkChaos.delay.latency: 600ms vs 200ms\n")
	if strings.Contains(buf.String(), "Like for like:") {
		t.Error("Markdown says like for like for different chaos")
	}
	buf.Reset()
	if err := WriteCompareHTML(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	mustContain(t, buf.String(), `class="warn"`, "not like for like",
		"<li><code>faults[slow-ledger].networkChaos.delay.latency: 600ms vs 200ms</code></li>")
}
