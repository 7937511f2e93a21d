package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// TestPromQLMatchesEngine checks each expression against the signal the
// engine computes for the same scenario: the metric names and label
// filters it must use, and that the engine's value exists for it.
func TestPromQLMatchesEngine(t *testing.T) {
	e := newEngine(t, testSpec())
	d := &driver{t: t, e: e, w: newWorld(), hook: func(at time.Duration, w *world) {
		w.errShare = 0
		if at >= 25*s && at < 28*s {
			w.errShare = 0.5
		}
	}}
	d.run(0, 30*s)
	p := e.Series()[26]
	for _, c := range []struct {
		name, query string
		mentions    []string
		value       float64
	}{
		{"rate", RequestRateQuery, []string{observe.MetricClientRequests, "rate("}, p.RequestRate},
		{"error ratio", ErrorRatioQuery, []string{observe.MetricClientRequests, `code=~"5..|error"`}, p.ErrorRatio},
		{"server 5xx", Server5xxRatioQuery, []string{observe.MetricServerRequests, `code=~"5.."`, `handler!~"readyz|healthz|goleak|metrics"`, observe.MetricInfo, "by (role)"}, p.Server5xxRatio["gateway"]},
		{"p99", P99Query, []string{observe.MetricClientLatency + "_bucket", "histogram_quantile(0.99", "by (le)"}, p.P99},
		{"goroutines", GoroutinesQuery, []string{observe.MetricGoroutines, `role!="loadgen"`}, p.Goroutines["gateway-0"]},
		{"total goroutines", TotalGoroutinesQuery, []string{"sum(", observe.MetricGoroutines}, p.Goroutines["total"]},
		{"restarts", RestartsQuery, []string{"process_start_time_seconds", "changes("}, float64(p.Restarts)},
		{"duplicates", DuplicateChargesQuery, []string{observe.MetricDuplicateCharges, "max("}, 0},
		{"cents", DuplicateCentsQuery, []string{observe.MetricDuplicateChargedCents}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range c.mentions {
				if !strings.Contains(c.query, m) {
					t.Errorf("%s does not mention %q:\n%s", c.name, m, c.query)
				}
			}
			if strings.Count(c.query, "(") != strings.Count(c.query, ")") || strings.Count(c.query, "{") != strings.Count(c.query, "}") {
				t.Errorf("unbalanced: %s", c.query)
			}
			q := Expand(c.query, "drills", 30*time.Second, time.Minute)
			if strings.Contains(q, "$") || !strings.Contains(q, `namespace="drills"`) {
				t.Errorf("expanded: %s", q)
			}
		})
	}
	if p.ErrorRatio != 0.5 || p.Server5xxRatio["gateway"] != 0.5 || p.RequestRate != 100 || p.Restarts != 1 {
		t.Errorf("engine at 26s: %+v", p)
	}
	if p.P99 <= 0.1 || p.P99 > 1 {
		t.Errorf("p99 %v: half the requests fall in the (0.1,1] bucket", p.P99)
	}
	if LeakedQuery != "" {
		t.Error("the victim exports no leak metric; LeakedQuery should say so by being empty")
	}
	if got := Expand(RestartsQuery, "x", time.Second, 90*time.Second); !strings.Contains(got, "[1m30s]") {
		t.Errorf("range: %s", got)
	}
}
