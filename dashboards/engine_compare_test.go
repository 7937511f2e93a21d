package dashboards

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// promValues runs one of promql.go's expressions on Prometheus at time at,
// with the rate window and range given, and returns its values by the label
// by ("" for a single value). NaN (0/0: no requests in the window) is no
// value.
func promValues(t *testing.T, promAddr, expr, by string, at time.Time, window, rng time.Duration) map[string]float64 {
	t.Helper()
	res, err := promQuery(promAddr, Expand(expr, testNamespace, window, rng), at)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, s := range res {
		if !math.IsNaN(s.Value) {
			out[s.Metric[by]] = s.Value
		}
	}
	return out
}

// within reports whether got is want within tol: absolute when rel is
// false, relative to want otherwise.
func within(got, want, tol float64, rel bool) bool {
	if rel {
		tol *= math.Abs(want)
	}
	return math.Abs(got-want) <= tol
}

// compareWindow compares the rate and gauge queries with the engine's point
// for one observation, counting the comparisons made in compared. In the
// first window (first) the load generator's counters are young: it starts
// with the drill, so at the range's first sample they hold a second or so of
// requests, and rate() stops extrapolating towards the range start where a
// counter would reach zero (the engine counts the whole interval): a CI run
// gave 46.9 against 50.0 requests/s there. Its signals are compared from
// the second window on.
func compareWindow(t *testing.T, promAddr string, o observation, p engine.Point, compared map[string]int, first bool) {
	at := o.promAt
	name := fmt.Sprintf("at %v (window %v)", o.At.Round(time.Millisecond), o.window)
	check := func(what string, got, want, tol float64, rel bool) {
		t.Helper()
		compared[what]++
		t.Logf("%s %s: PromQL %.4f, engine %.4f", name, what, got, want)
		if !within(got, want, tol, rel) {
			kind := "absolute"
			if rel {
				kind = "relative"
			}
			t.Errorf("%s %s: PromQL gives %.4f, the engine %.4f (tolerance %g %s)", name, what, got, want, tol, kind)
		}
	}
	// skip reports whether a series of metric appeared in the window at a
	// target of role, and logs it.
	skip := func(what, role, metric string) bool {
		for target, byMetric := range o.appeared {
			if roleOf(o, target) == role && len(byMetric[metric]) > 0 {
				t.Logf("%s %s: not compared: %s appeared at %s %v", name, what, metric, target, byMetric[metric])
				return true
			}
		}
		return false
	}
	one := func(expr string) float64 {
		t.Helper()
		v, ok := promValues(t, promAddr, expr, "", at, o.window, 0)[""]
		if !ok {
			t.Errorf("%s: no value from %s", name, expr)
			return math.NaN()
		}
		return v
	}
	if !o.fresh["loadgen-0"] || p.RequestRate < 25 || p.ErrorRatio < 0.2 || p.ErrorRatio > 0.95 {
		t.Errorf("%s: engine rate %.1f/s, error ratio %.3f (loadgen fresh %v): the lab should give ~50/s with about half failing",
			name, p.RequestRate, p.ErrorRatio, o.fresh["loadgen-0"])
	}
	switch {
	case first:
		t.Logf("%s request rate, error ratio, p99: not compared: the load generator's counters start in this window", name)
	case !skip("request rate and error ratio", observe.RoleLoadgen, observe.MetricClientRequests):
		check("request rate", one(RequestRateQuery), p.RequestRate, relativeTol, true)
		check("error ratio", one(ErrorRatioQuery), p.ErrorRatio, ratioTol, false)
	}
	if !first && !skip("p99", observe.RoleLoadgen, observe.MetricClientLatency) {
		check("p99", one(P99Query), p.P99, relativeTol, true)
	}

	freshRoles := map[string]bool{}
	for target := range o.fresh {
		freshRoles[roleOf(o, target)] = true
	}
	perRole := func(what, expr, metric string, want map[string]float64, tol float64, rel bool) {
		t.Helper()
		got := promValues(t, promAddr, expr, "role", at, o.window, 0)
		for role := range freshRoles {
			g, okG := got[role]
			w, okW := want[role]
			switch {
			case role == observe.RoleLoadgen:
			case skip(what+" "+role, role, metric):
			case okG && okW:
				check(what+" "+role, g, w, tol, rel)
			default:
				t.Errorf("%s %s %s: PromQL has a value: %v, the engine: %v", name, what, role, okG, okW)
			}
		}
	}
	perRole("5xx ratio", Server5xxRatioQuery, observe.MetricServerRequests, p.Server5xxRatio, ratioTol, false)
	perRole("server p99", ServerP99Query, observe.MetricServerLatency, o.serverP99, relativeTol, true)

	got := promValues(t, promAddr, GoroutinesQuery, "pod", at, o.window, 0)
	for target, want := range p.Goroutines {
		if target == "total" || roleOf(o, target) == observe.RoleLoadgen {
			continue
		}
		g, ok := got[target]
		if !ok {
			t.Errorf("%s goroutines %s: the engine has %.0f, PromQL nothing", name, target, want)
			continue
		}
		check("goroutines "+target, g, want, relativeTol, true)
		compared["goroutines"]++
		delete(got, target)
	}
	if len(got) > 0 {
		t.Errorf("%s: goroutines of %v from PromQL, not from the engine", name, got)
	}
	check("total goroutines", one(TotalGoroutinesQuery), p.Goroutines["total"], relativeTol, true)
}

// roleOf is the role of a target of the observation.
func roleOf(o observation, target string) string {
	for _, s := range o.Samples {
		if s.Target == target {
			return s.Role
		}
	}
	return ""
}

// compareTotals compares the whole-drill counts at the last observation:
// restarts (the orders process was replaced once) and duplicate charges.
func compareTotals(t *testing.T, promAddr string, o observation, p engine.Point, t0 time.Time) {
	t.Helper()
	rng := o.promAt.Sub(t0) + 5*time.Second // the whole drill, and the scrapes before the load
	for _, c := range []struct {
		what, expr string
		want       float64
	}{
		{"restarts", RestartsQuery, float64(p.Restarts)},
		{"duplicate charges", DuplicateChargesQuery, p.DuplicateCharges},
		{"duplicate cents", DuplicateCentsQuery, p.DuplicateChargedCents},
	} {
		got, ok := promValues(t, promAddr, c.expr, "", o.promAt, o.window, rng)[""]
		t.Logf("%s over %v: PromQL %v (a value: %v), engine %v", c.what, rng.Round(time.Second), got, ok, c.want)
		if !ok || got != c.want {
			t.Errorf("%s: PromQL gives %v (a value: %v), the engine %v\n%s", c.what, got, ok, c.want, c.expr)
		}
	}
	if p.Restarts != 1 {
		t.Errorf("the engine counts %d restarts; the test replaced the orders process once", p.Restarts)
	}
}
