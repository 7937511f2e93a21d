package dashboards

import (
	"strings"
	"time"

	prommodel "github.com/prometheus/common/model"
)

// PromQL that restates the signals operator/engine computes from scrapes,
// for the dashboards. The engine never evaluates PromQL: it derives its
// figures from the victim's /metrics itself (operator/observe). These
// expressions say the same in Prometheus' language, and
// TestPromQLMatchesEngine holds them to the engine's numbers on the same
// scrapes. They use three placeholders that Expand fills in (Grafana turns
// them into its own macros, see Grafana):
//
//   - $namespace: the namespace of the experiment's pods, as the namespace
//     label that Kubernetes service discovery puts on every target;
//   - $window: the rate window, such as 30s (in Grafana, $__rate_interval);
//   - $range: the whole drill, for counts over it (in Grafana, $__range).
//
// Roles come from victim_info{role}, joined on the instance label, so the
// expressions need no relabelling of pod labels. Requests to the admin
// handlers (probes, goleak) are left out of server-side ratios, as
// observe.Parse leaves them out.
const (
	// RequestRateQuery is the load generator's requests per second
	// (engine: Point.RequestRate).
	RequestRateQuery = `sum(rate(loadgen_requests_total{namespace="$namespace"}[$window]))`

	// ErrorRatioQuery is the client-side share of 5xx and transport errors
	// (code="error"): the hypothesis' maxErrorRatio and the abort guard
	// (engine: Point.ErrorRatio). While no request has failed there is no
	// error series to select: "or 0 * ..." makes the ratio 0 then, as the
	// engine's is, instead of no value.
	ErrorRatioQuery = `(sum(rate(loadgen_requests_total{namespace="$namespace",code=~"5..|error"}[$window]))
  or 0 * sum(rate(loadgen_requests_total{namespace="$namespace"}[$window])))
/
sum(rate(loadgen_requests_total{namespace="$namespace"}[$window]))`

	// Server5xxRatioQuery is the server-side 5xx share per role
	// (engine: Point.Server5xxRatio): 0, not no value, for a role that
	// answered no 5xx, as in ErrorRatioQuery.
	Server5xxRatioQuery = `(` + server5xxRate + `
  or 0 * ` + serverRate + `)
/
` + serverRate

	// P99Query is the client-side 99th percentile latency in seconds
	// (engine: Point.P99).
	P99Query = `histogram_quantile(0.99, sum by (le) (rate(loadgen_request_duration_seconds_bucket{namespace="$namespace"}[$window])))`

	// ServerP99Query is the server-side 99th percentile latency per role.
	// The engine does not judge it; it is observe.HistogramQuantile over
	// each role's server latency buckets.
	ServerP99Query = `histogram_quantile(0.99, sum by (role, le) (rate(http_request_duration_seconds_bucket{namespace="$namespace",handler!~"` + adminHandlers + `"}[$window])
  * on (instance) group_left (role) victim_info{namespace="$namespace"}))`

	// GoroutinesQuery is go_goroutines per process of the victim, the load
	// generator left out as the engine's growth judging leaves it out
	// (engine: Point.Goroutines per target).
	GoroutinesQuery = `go_goroutines{namespace="$namespace"}
  * on (instance) group_left (role) victim_info{namespace="$namespace",role!="loadgen"}`

	// TotalGoroutinesQuery is the victim's total goroutine count
	// (engine: Point.Goroutines["total"]).
	TotalGoroutinesQuery = `sum(` + GoroutinesQuery + `)`

	// RestartsQuery counts process restarts over the drill: each restart
	// starts a new process, so process_start_time_seconds changes
	// (engine: Point.Restarts). It sees restarts in place (a crashed
	// container); a killed pod replaced by a new one is a new series
	// instead. Where kube-state-metrics runs, KubeRestartsQuery counts
	// container restarts directly.
	RestartsQuery = `sum(changes(process_start_time_seconds{namespace="$namespace"}[$range]))`

	// KubeRestartsQuery is the container restart count from kube-state-metrics.
	KubeRestartsQuery = `sum(increase(kube_pod_container_status_restarts_total{namespace="$namespace"}[$range]))`

	// DuplicateChargesQuery is the number of orders charged twice
	// (engine: Point.DuplicateCharges). The ledger restores its counters
	// from its store on restart, so it is the highest value reported (max),
	// not a sum of increases.
	DuplicateChargesQuery = `max(max_over_time(victim_duplicate_charges_total{namespace="$namespace"}[$range]))`

	// DuplicateCentsQuery is the money charged twice, in cents
	// (engine: Point.DuplicateChargedCents).
	DuplicateCentsQuery = `max(max_over_time(victim_duplicate_charged_cents_total{namespace="$namespace"}[$range]))`

	// LeakedQuery is empty: the victim exports no goleak count as a metric
	// (goleak stops the world, so it is read on demand from /debug/goleak
	// and reported by the engine). DetachedCallsQuery is the live signal
	// closest to it for the leaky gateway.
	LeakedQuery = ``

	// DetachedCallsQuery is the leaky gateway's upstream calls whose
	// goroutine is still alive (in flight or blocked forever). The engine
	// does not read it.
	DetachedCallsQuery = `sum by (instance) (gateway_detached_calls{namespace="$namespace"})`
)

// adminHandlers matches observe.AdminHandlers (a test checks it).
const adminHandlers = "readyz|healthz|goleak|metrics"

// The server-side request rates per role, of 5xx answers and of all, for
// Server5xxRatioQuery.
const (
	server5xxRate = `sum by (role) (rate(http_requests_total{namespace="$namespace",code=~"5..",handler!~"` + adminHandlers + `"}[$window])
  * on (instance) group_left (role) victim_info{namespace="$namespace"})`
	serverRate = `sum by (role) (rate(http_requests_total{namespace="$namespace",handler!~"` + adminHandlers + `"}[$window])
  * on (instance) group_left (role) victim_info{namespace="$namespace"})`
)

// Expand fills in the placeholders of a query: namespace, the rate window
// and the drill's range, the durations in Prometheus' notation ("30s").
func Expand(query, namespace string, window, drill time.Duration) string {
	return strings.NewReplacer(
		"$namespace", namespace,
		"$window", prommodel.Duration(window).String(),
		"$range", prommodel.Duration(drill).String(),
	).Replace(query)
}
