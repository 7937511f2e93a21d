package report

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
)

// configMapBudget is what the kube backend allows report.json's series.
const configMapBudget = 512 << 10

// Spikes planted in hourSeries: one-sample peaks, 250 samples apart.
func errorSpikes() (at []int) {
	for i := 137; i < 3600; i += 250 {
		at = append(at, i)
	}
	return at
}

func goroutineSpikes() (at []int) {
	for i := 89; i < 3600; i += 250 {
		at = append(at, i)
	}
	return at
}

// hourSeries is a 1 h drill at one sample a second with six processes:
// noisy figures, one-sample error and goroutine spikes, a ledger delay
// (10–30 min), a pod-kill active for one sample at 20 min, a partition
// (40–50 min) and the phases a drill goes through.
func hourSeries() []engine.Point {
	rng := rand.New(rand.NewPCG(1, 2))
	procs := []string{"gateway-0", "gateway-1", "orders-0", "orders-1", "ledger-0", "loadgen-0"}
	errSpike, gorSpike := map[int]float64{}, map[int]float64{}
	for k, i := range errorSpikes() {
		errSpike[i] = 0.5 + 0.01*float64(k)
	}
	for k, i := range goroutineSpikes() {
		gorSpike[i] = 5000 + float64(k)
	}
	series := make([]engine.Point, 3600)
	for i := range series {
		p := engine.Point{At: time.Duration(i) * time.Second, RequestRate: 300 + rng.Float64()*5, ErrorRatio: rng.Float64() * 0.05,
			P99: 0.02 + rng.Float64()*0.01, Goroutines: map[string]float64{}, Leaked: map[string]int64{},
			Server5xxRatio: map[string]float64{"gateway": rng.Float64() * 0.01, "orders": rng.Float64() * 0.01, "ledger": rng.Float64() * 0.01},
			Restarts:       int32(i / 600), DuplicateCharges: float64(i / 100), DuplicateChargedCents: float64(i/100) * 1234}
		total := 0.0
		for _, name := range procs {
			g := float64(20 + rng.IntN(30))
			p.Goroutines[name], total = g, total+g
			p.Leaked[name] = int64(rng.IntN(3))
		}
		p.Goroutines["total"] = total
		if v, ok := errSpike[i]; ok {
			p.ErrorRatio = v
		}
		if v, ok := gorSpike[i]; ok {
			p.Goroutines["total"] = v
		}
		switch {
		case i < 300:
			p.Phase = v1alpha1.PhaseSteadyState
		case i < 3000:
			p.Phase = v1alpha1.PhaseInjecting
		case i < 3599:
			p.Phase = v1alpha1.PhaseRecovering
		default:
			p.Phase = v1alpha1.PhaseJudging
		}
		if i >= 600 && i < 1800 {
			p.ActiveFaults = append(p.ActiveFaults, "slow-ledger")
		}
		if i == 1200 {
			p.ActiveFaults = append(p.ActiveFaults, "kill-one-orders")
		}
		if i >= 2400 && i < 3000 {
			p.ActiveFaults = append(p.ActiveFaults, "partition-orders")
		}
		series[i] = p
	}
	return series
}

func jsonSize(t testing.TB, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

func TestDownsampleHourFitsConfigMap(t *testing.T) {
	in := hourSeries()
	if full := jsonSize(t, in); full <= configMapBudget {
		t.Fatalf("synthetic hour is only %d bytes: it does not test thinning", full)
	}
	out, dropped := Downsample(in, configMapBudget)
	size := jsonSize(t, out)
	t.Logf("%d points, %d bytes → %d points, %d bytes (dropped %d)", len(in), jsonSize(t, in), len(out), size, dropped)
	if size > configMapBudget {
		t.Errorf("thinned series is %d bytes, over the %d budget", size, configMapBudget)
	}
	if dropped != len(in)-len(out) || dropped == 0 {
		t.Errorf("dropped = %d, want %d > 0", dropped, len(in)-len(out))
	}
	kept := map[time.Duration]engine.Point{}
	for i, p := range out {
		if i > 0 && p.At <= out[i-1].At {
			t.Fatalf("out of order at %d: %s after %s", i, p.At, out[i-1].At)
		}
		kept[p.At] = p
	}
	mustKeep := func(why string, i int) {
		t.Helper()
		if p, ok := kept[in[i].At]; !ok || !reflect.DeepEqual(p, in[i]) {
			t.Errorf("%s: point %d (%s) not kept as it was", why, i, in[i].At)
		}
	}
	mustKeep("first", 0)
	mustKeep("last", len(in)-1)
	edges := 0
	for i := 1; i < len(in); i++ {
		if !slices.Equal(in[i].ActiveFaults, in[i-1].ActiveFaults) {
			mustKeep("fault edge (before)", i-1)
			mustKeep("fault edge (after)", i)
			edges++
		}
	}
	if edges != 6 { // slow-ledger on/off, kill on/off, partition on/off
		t.Errorf("%d fault edges in the synthetic series, want 6", edges)
	}
	for _, i := range errorSpikes() {
		mustKeep("error ratio peak", i)
	}
	for _, i := range goroutineSpikes() {
		mustKeep("goroutine peak", i)
	}
	// The figures a reader takes from the charts are unchanged.
	peak := func(s []engine.Point) (e, g float64, last engine.Point) {
		for _, p := range s {
			e, g = max(e, p.ErrorRatio), max(g, p.Goroutines["total"])
		}
		return e, g, s[len(s)-1]
	}
	ei, gi, li := peak(in)
	eo, gout, lo := peak(out)
	if ei != eo || gi != gout || !reflect.DeepEqual(li, lo) {
		t.Errorf("peaks or final point changed: error %v→%v, goroutines %v→%v", ei, eo, gi, gout)
	}
	// Thinning is spread over the hour, not a truncation: every 5 minutes
	// keeps points.
	for m := 0; m < 60; m += 5 {
		n := 0
		for _, p := range out {
			if p.At >= time.Duration(m)*time.Minute && p.At < time.Duration(m+5)*time.Minute {
				n++
			}
		}
		if n < 10 {
			t.Errorf("minutes %d–%d keep only %d points", m, m+5, n)
		}
	}
}

func TestDownsampleShortSeriesUnchanged(t *testing.T) {
	in := cascade().Series
	for _, budget := range []int{configMapBudget, jsonSize(t, in)} {
		out, dropped := Downsample(in, budget)
		if dropped != 0 || !reflect.DeepEqual(out, in) {
			t.Errorf("budget %d: a series that fits came back changed (dropped %d, %d of %d points)", budget, dropped, len(out), len(in))
		}
	}
	// One byte short: it must thin.
	if _, dropped := Downsample(in, jsonSize(t, in)-1); dropped == 0 {
		t.Error("a series one byte over its budget came back whole")
	}
	if out, dropped := Downsample(nil, 10); out != nil || dropped != 0 {
		t.Errorf("nil series: %v, %d", out, dropped)
	}
}

func TestDownsampleKeepsMandatoryPointsOverBudget(t *testing.T) {
	// No budget at all: only the ends, the fault edges and the phase
	// changes remain, whatever they weigh.
	in := hourSeries()
	out, dropped := Downsample(in, 1)
	var want []time.Duration
	for i := range in {
		if i == 0 || i == len(in)-1 ||
			(i > 0 && (!slices.Equal(in[i].ActiveFaults, in[i-1].ActiveFaults) || in[i].Phase != in[i-1].Phase)) ||
			(i+1 < len(in) && (!slices.Equal(in[i].ActiveFaults, in[i+1].ActiveFaults) || in[i].Phase != in[i+1].Phase)) {
			want = append(want, in[i].At)
		}
	}
	var got []time.Duration
	for _, p := range out {
		got = append(got, p.At)
	}
	if !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if dropped != len(in)-len(want) {
		t.Errorf("dropped %d, want %d", dropped, len(in)-len(want))
	}
}

func BenchmarkDownsample1h(b *testing.B) {
	in := hourSeries()
	b.ReportAllocs()
	var out []engine.Point
	for b.Loop() {
		out, _ = Downsample(in, configMapBudget)
	}
	b.ReportMetric(float64(len(out)), "points")
	b.ReportMetric(float64(jsonSize(b, out)), "bytes")
}
