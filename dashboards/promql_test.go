package dashboards

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/observe"
)

// TestPromQLNamesTheEnginesInputs checks each expression's text: the
// metric names and label filters operator/observe reads for the same
// signal, balanced brackets, and that Expand leaves no placeholder. What
// the expressions compute is held to the engine's numbers by
// TestPromQLMatchesEngine.
func TestPromQLNamesTheEnginesInputs(t *testing.T) {
	for _, c := range []struct {
		name, query string
		mentions    []string
	}{
		{"rate", RequestRateQuery, []string{observe.MetricClientRequests, "rate("}},
		{"error ratio", ErrorRatioQuery, []string{observe.MetricClientRequests, `code=~"5..|error"`}},
		{"server 5xx", Server5xxRatioQuery, []string{observe.MetricServerRequests, `code=~"5.."`, `handler!~"readyz|healthz|goleak|metrics"`, observe.MetricInfo, "by (role)"}},
		{"p99", P99Query, []string{observe.MetricClientLatency + "_bucket", "histogram_quantile(0.99", "by (le)"}},
		{"server p99", ServerP99Query, []string{observe.MetricServerLatency + "_bucket", "histogram_quantile(0.99", "by (role, le)", `handler!~"readyz|healthz|goleak|metrics"`}},
		{"goroutines", GoroutinesQuery, []string{observe.MetricGoroutines, `role!="loadgen"`}},
		{"total goroutines", TotalGoroutinesQuery, []string{"sum(", observe.MetricGoroutines}},
		{"restarts", RestartsQuery, []string{"process_start_time_seconds", "changes("}},
		{"duplicates", DuplicateChargesQuery, []string{observe.MetricDuplicateCharges, "max("}},
		{"cents", DuplicateCentsQuery, []string{observe.MetricDuplicateChargedCents}},
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
	if want := strings.Join(observe.AdminHandlers, "|"); adminHandlers != want {
		t.Errorf("adminHandlers %q, observe.AdminHandlers %q", adminHandlers, want)
	}
	if LeakedQuery != "" {
		t.Error("the victim exports no leak metric; LeakedQuery should say so by being empty")
	}
	if got := Expand(RestartsQuery, "x", time.Second, 90*time.Second); !strings.Contains(got, "[1m30s]") {
		t.Errorf("range: %s", got)
	}
	if got := Expand(RequestRateQuery, "x", 10999*time.Millisecond, time.Minute); !strings.Contains(got, "[10s999ms]") {
		t.Errorf("window: %s", got)
	}
}
