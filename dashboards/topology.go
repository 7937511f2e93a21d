package dashboards

import "strings"

// The topology queries: the same service graph as report.html's, live from
// Prometheus, for a Node Graph panel (two instant table queries, refIds
// "nodes" and "edges", whose labels are the node graph's fields) and a
// State timeline of each process's state over time.
//
// Every victim target carries the labels the lab's Kubernetes service
// discovery gives it (manifests/monitoring/prometheus): pod, and component
// (the role, from app.kubernetes.io/component). A process is
//
//   - crashed / restarting while its scrape fails (up == 0);
//   - degraded while its share of failed requests is above DegradedRatio:
//     its server-side 5xx share (admin handlers left out), or for the load
//     generator its share of 5xx and transport errors;
//   - serving otherwise.
//
// The node graph's fields come from labels, so they work on any Grafana
// that draws a node graph: id and title (the pod), subtitle (the role),
// secondarystat (the state in words), highlighted ("true" when crashed or
// degraded); the value is the failed share (a crashed process counts as
// 1), which Grafana 12.4 and later show as the main stat. An edge's value
// is the caller's share of failed calls into the upstream role, as the
// caller measured them (http_client_requests_total; a transport error
// counts as failed). Callers name the upstream role, not the replica: the
// edges from a caller to each pod of a role carry the same figure. PromQL
// cannot pair many callers with many upstream pods, so the edges follow
// the kit's victim, which runs one gateway and one ledger: the load
// generator → each gateway, the gateway → each orders replica, each orders
// replica → the ledger.
const (
	// DegradedRatio is the failed share above which a process is degraded
	// (the lab's drills bound the error ratio at 1 %).
	DegradedRatio = "0.01"

	// ProcessStateQuery is each process's state as a number over time:
	// -1 while crashed or restarting, else its failed share.
	ProcessStateQuery = `(` + podFailedShare + `) * on (pod) group_left () (max by (pod) (up{namespace="$namespace"}) == 1)
or on (pod)
  (max by (pod, component) (up{namespace="$namespace"}) == 0) - 1`

	// EdgeP99Query is the callers' p99 latency per edge, caller role →
	// upstream role (http_client_request_duration_seconds).
	EdgeP99Query = `histogram_quantile(0.99, sum by (component, upstream, le) (rate(http_client_request_duration_seconds_bucket{namespace="$namespace"}[$window])))`
)

// podFailedShare is each pod's failed share over $window: server-side 5xx
// for the victim's servers, 5xx and transport errors for the load
// generator; 0, not no value, when nothing failed.
const podFailedShare = `(sum by (pod, component) (rate(http_requests_total{namespace="$namespace",code=~"5..",handler!~"` + adminHandlers + `"}[$window]))
  or 0 * sum by (pod, component) (rate(http_requests_total{namespace="$namespace",handler!~"` + adminHandlers + `"}[$window])))
/ sum by (pod, component) (rate(http_requests_total{namespace="$namespace",handler!~"` + adminHandlers + `"}[$window]))
or on (pod)
(sum by (pod, component) (rate(loadgen_requests_total{namespace="$namespace",code=~"5..|error"}[$window]))
  or 0 * sum by (pod, component) (rate(loadgen_requests_total{namespace="$namespace"}[$window])))
/ sum by (pod, component) (rate(loadgen_requests_total{namespace="$namespace"}[$window]))`

// TopologyNodesQuery is the node graph's nodes: one per pod of the
// namespace, with its state (see above).
var TopologyNodesQuery = nodeFields(
	state(`1 + 0 * (max by (pod, component) (up{namespace="$namespace"}) == 0)`, "crashed / restarting", true) + `
or on (pod)
` + state(`((`+podFailedShare+`) > `+DegradedRatio+`)`, "degraded", true) + `
or on (pod)
` + state(`(`+podFailedShare+`)`, "serving", false) + `
or on (pod)
` + state(`0 * (max by (pod, component) (up{namespace="$namespace"}) == 1)`, "serving", false))

// TopologyEdgesQuery is the node graph's edges: from each caller pod to
// each pod of the role it calls, valued with the caller's failed share.
var TopologyEdgesQuery = edgeFields(
	// the load generator → each gateway; the gateway → each orders
	// replica; each orders replica → the ledger. The side with one
	// series per upstream role is on the right.
	upstreamPods("gateway") + `
  * on (upstream) group_left (pod) label_replace(` + clientShare + `, "upstream", "gateway", "", "")
or
  ` + upstreamPods("orders") + `
  * on (upstream) group_left (pod) ` + callerShare("orders") + `
or
  ` + callerShare("ledger") + `
  * on (upstream) group_left (target) ` + upstreamPods("ledger"))

// clientShare is the load generator's failed share, by pod.
const clientShare = `((sum by (pod) (rate(loadgen_requests_total{namespace="$namespace",code=~"5..|error"}[$window]))
    or 0 * sum by (pod) (rate(loadgen_requests_total{namespace="$namespace"}[$window])))
  / sum by (pod) (rate(loadgen_requests_total{namespace="$namespace"}[$window])))`

// callerShare is each caller pod's failed share of its calls into role.
func callerShare(role string) string {
	sel := `{namespace="$namespace",upstream="` + role + `"`
	return `((sum by (pod, upstream) (rate(http_client_requests_total` + sel + `,code=~"5..|error"}[$window]))
    or 0 * sum by (pod, upstream) (rate(http_client_requests_total` + sel + `}[$window])))
  / sum by (pod, upstream) (rate(http_client_requests_total` + sel + `}[$window])))`
}

// upstreamPods is 1 for every pod of role (up or not), labelled target
// (the pod) and upstream (the role).
func upstreamPods(role string) string {
	return `(0 * max by (target, upstream) (label_replace(label_replace(up{namespace="$namespace",component="` + role + `"}, "target", "$1", "pod", "(.+)"), "upstream", "$1", "component", "(.+)")) + 1)`
}

// state labels the pods of expr with the state in words, highlighted when
// bad.
func state(expr, words string, bad bool) string {
	s := `label_replace(` + expr + `, "secondarystat", "` + words + `", "", "")`
	if bad {
		s = `label_replace(` + s + `, "highlighted", "true", "", "")`
	}
	return s
}

// nodeFields adds the node graph's id, title and subtitle labels.
func nodeFields(expr string) string {
	return `label_replace(label_replace(label_replace(
` + indent(expr) + `,
  "id", "$1", "pod", "(.+)"), "title", "$1", "pod", "(.+)"), "subtitle", "$1", "component", "(.+)")`
}

// edgeFields adds the edges' source and id labels (target is there).
func edgeFields(expr string) string {
	return `label_join(label_replace(
` + indent(expr) + `,
  "source", "$1", "pod", "(.+)"), "id", "→", "source", "target")`
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
