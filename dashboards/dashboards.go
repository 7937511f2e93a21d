// Package dashboards builds cascadelab's Grafana dashboards from code, with
// Grafana's foundation SDK, from the PromQL in promql.go: expressions that
// restate, in Prometheus' language, the signals operator/engine computes
// from scrapes (the engine itself evaluates no PromQL). A test runs them on
// a real Prometheus scraping a real victim and holds them to the engine's
// numbers on the same scrapes (TestPromQLMatchesEngine).
//
// The "Cascade drill" dashboard shows a drill live: request rate, error
// ratios and p99 latency per service, goroutines per pod, restarts,
// duplicate charges (count and cents), the leaky gateway's detached calls,
// and the fault windows as annotations from the manager's
// cascadelab_faults_active metric. `go generate ./dashboards` writes it to
// cascade-drill.json and to the copy that manifests/monitoring turns into a
// ConfigMap labelled grafana_dashboard: "1"; a test fails when either is
// stale.
//
// The queries use three placeholders; Grafana fills them in:
// $namespace is the dashboard's namespace variable, $window becomes
// $__rate_interval and $range becomes $__range (see Grafana).
package dashboards

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/nodegraph"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

//go:generate go run ./gen

const (
	// UID is the Cascade drill dashboard's uid (stable across regenerations,
	// so links and the kube-prometheus-stack sidecar keep finding it).
	UID = "cascadelab-cascade-drill"
	// Title is the Cascade drill dashboard's title.
	Title = "Cascade drill"
	// DatasourceUID is the uid of the Prometheus datasource the dashboard
	// defaults to: kube-prometheus-stack's default, and the one
	// manifests/monitoring provisions.
	DatasourceUID = "prometheus"
	// DefaultNamespace is the namespace variable's default: the drill
	// namespace of manifests/victim-namespace.
	DefaultNamespace = "cascadelab-drills"

	// FaultsActiveQuery selects the manager's cascadelab_faults_active
	// gauge (1 while a fault is injected; labels experiment, fault, kind)
	// for the fault-window annotations. It is not an engine signal; the
	// gauge is operator/kube's FaultsActive.
	FaultsActiveQuery = `cascadelab_faults_active{experiment=~"$experiment"}`
)

// Grafana turns a query of promql.go into Grafana's notation: $window becomes
// $__rate_interval and $range becomes $__range; $namespace stays, as the
// dashboard's namespace variable has that name.
func Grafana(query string) string {
	return strings.NewReplacer("$window", "$__rate_interval", "$range", "$__range").Replace(query)
}

// Substitute replaces Grafana's macros and the dashboard's variables in a
// dashboard query with values, as Grafana does before sending it to
// Prometheus: the namespace, the rate interval and range as PromQL
// durations ("30s", "15m"), and every experiment (".*").
func Substitute(q string, namespace string, rateInterval, rng string) string {
	return strings.NewReplacer(
		"$__rate_interval", rateInterval,
		"${__rate_interval}", rateInterval,
		"$__range", rng,
		"${__range}", rng,
		"$__interval", rateInterval,
		"${namespace}", namespace,
		"$namespace", namespace,
		"${experiment}", ".*",
		"$experiment", ".*",
	).Replace(q)
}

// Kind is a panel's visualisation.
type Kind string

// Panel kinds.
const (
	TimeSeries    Kind = "timeseries"
	Stat          Kind = "stat"
	NodeGraph     Kind = "nodeGraph"
	StateTimeline Kind = "state-timeline"
)

// Panel is one panel of the Cascade drill dashboard.
type Panel struct {
	Row         string // the row the panel sits in
	Title       string
	Description string
	Kind        Kind
	Query       string // an expression of promql.go, with its placeholders
	// Edges is a node graph's second query (refId "edges"); Query is its
	// nodes (refId "nodes"). Both are instant table queries.
	Edges   string
	Legend  string // Grafana legend format
	Unit    string // Grafana unit id
	Instant bool   // an instant query (stat panels over the whole range)
}

// Expr is the panel's query in Grafana's notation.
func (p Panel) Expr() string { return Grafana(p.Query) }

// Panels are the Cascade drill dashboard's panels, in order. Every query is
// one of the expressions of promql.go.
//
// There is no leaked-goroutine query (LeakedQuery is empty:
// goleak stops the world, so the victim serves it on demand from
// /debug/goleak and the engine reports it in the drill's status). The
// dashboard shows the live signal closest to it, the leaky gateway's
// detached calls (DetachedCallsQuery). The kube-state-metrics restart
// query (KubeRestartsQuery) is left out: the lab does not run
// kube-state-metrics.
var Panels = []Panel{
	{Row: "Traffic", Title: "Request rate", Kind: TimeSeries, Query: RequestRateQuery,
		Legend: "requests/s", Unit: "reqps",
		Description: "Requests per second sent by the load generator (duplicates included)."},
	{Row: "Traffic", Title: "Client error ratio (5xx and transport errors)", Kind: TimeSeries, Query: ErrorRatioQuery,
		Legend: "error ratio", Unit: "percentunit",
		Description: "The share of the load generator's requests answered with a 5xx or failed in transport: the hypothesis' maxErrorRatio and the abort guard."},
	{Row: "Traffic", Title: "5xx ratio per service", Kind: TimeSeries, Query: Server5xxRatioQuery,
		Legend: "{{role}}", Unit: "percentunit",
		Description: "Server-side share of 5xx answers per victim role (admin handlers left out)."},
	{Row: "Latency", Title: "p99 latency per service", Kind: TimeSeries, Query: ServerP99Query,
		Legend: "{{role}}", Unit: "s",
		Description: "Server-side 99th percentile of request duration per victim role."},
	{Row: "Latency", Title: "Client p99 latency", Kind: TimeSeries, Query: P99Query,
		Legend: "p99", Unit: "s",
		Description: "99th percentile latency seen by the load generator, retries included."},
	{Row: "Goroutines", Title: "Goroutines per pod", Kind: TimeSeries, Query: GoroutinesQuery,
		Legend: "{{role}} {{pod}}", Unit: "short",
		Description: "go_goroutines of each victim process (the load generator left out)."},
	{Row: "Goroutines", Title: "Total goroutines", Kind: TimeSeries, Query: TotalGoroutinesQuery,
		Legend: "total", Unit: "short",
		Description: "The victim's goroutines summed: maxGoroutineGrowth is judged against its baseline."},
	{Row: "Goroutines", Title: "Leaked goroutines (live: gateway detached calls)", Kind: TimeSeries, Query: DetachedCallsQuery,
		Legend: "{{pod}}", Unit: "short",
		Description: "The leaky gateway's upstream calls whose goroutine is still alive, in flight or blocked forever. " +
			"goleak's count of leaked goroutines is not a metric (it stops the world); it is in the drill's status and report."},
	{Row: "Damage", Title: "Restarts", Kind: Stat, Query: RestartsQuery, Instant: true,
		Legend: "restarts", Unit: "short",
		Description: "Process restarts in place over the time range (process_start_time_seconds changes). A killed pod replaced by a new one is a new series, not a restart."},
	{Row: "Damage", Title: "Duplicate charges", Kind: Stat, Query: DuplicateChargesQuery, Instant: true,
		Legend: "orders charged twice", Unit: "short",
		Description: "Orders the ledger charged twice. Must stay 0 under maxDuplicateCharges: 0."},
	{Row: "Damage", Title: "Duplicate charges (cents)", Kind: Stat, Query: DuplicateCentsQuery, Instant: true,
		Legend: "cents charged twice", Unit: "short",
		Description: "Money charged twice, in cents."},
	{Row: "Damage", Title: "Duplicate charges over time", Kind: TimeSeries, Query: DuplicateChargesQuery,
		Legend: "orders charged twice", Unit: "short",
		Description: "The duplicate-charge count as it grows."},
	{Row: "Topology", Title: "Service graph (now)", Kind: NodeGraph, Query: TopologyNodesQuery, Edges: TopologyEdgesQuery,
		Unit: "percentunit",
		Description: "One node per process (pod), callers on the left: load generator → gateway → orders replicas → ledger. " +
			"Each node says its state (crashed / restarting while its scrape fails; degraded above " + DegradedRatio + " of requests failed; else serving) and is highlighted when crashed or degraded; " +
			"each edge's value is the caller's share of failed calls into that role (callers name the role, not the replica). " +
			"The fault windows are the annotations; report.html shows the same graph with a time scrubber and the fault domain."},
	{Row: "Topology", Title: "Process state over time", Kind: StateTimeline, Query: ProcessStateQuery,
		Legend: "{{pod}}", Unit: "percentunit",
		Description: "Each process's state over the range: red while crashed or restarting (scrape failing), yellow while degraded (more than " + DegradedRatio + " of its requests failed: server 5xx, or the load generator's 5xx and transport errors), green while serving."},
	{Row: "Topology", Title: "p99 latency per edge", Kind: TimeSeries, Query: EdgeP99Query,
		Legend: "{{component}} → {{upstream}}", Unit: "s",
		Description: "99th percentile latency of each caller role's calls into each upstream role, as the callers measured them (http_client_request_duration_seconds, failed calls included)."},
	{Row: "Chaos", Title: "Faults active", Kind: TimeSeries, Query: FaultsActiveQuery,
		Legend: "{{experiment}}/{{fault}} ({{kind}})", Unit: "short",
		Description: "1 while a fault is injected, from the manager's cascadelab_faults_active; the same windows are drawn as annotations on every panel."},
}

// datasource is the panels' datasource: the dashboard's datasource variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// CascadeDrill builds the Cascade drill dashboard.
func CascadeDrill() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder(Title).
		Uid(UID).
		Description("A cascadelab drill live: load, errors, latency, goroutines, restarts and duplicate charges of the victim in one namespace, with the fault windows from the cascadelab manager as annotations. Generated by cascadelab/dashboards from PromQL that restates the engine's signals; do not edit by hand.").
		Tags([]string{"cascadelab", "chaos"}).
		Editable().
		Refresh("5s").
		Time("now-15m", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Datasource").
			Type("prometheus").
			Current(option("Prometheus", DatasourceUID))).
		WithVariable(dashboard.NewQueryVariableBuilder("namespace").
			Label("Namespace").
			Description("The namespace of the drill's pods.").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(victim_info, namespace)")}).
			Definition("label_values(victim_info, namespace)").
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Current(option(DefaultNamespace, DefaultNamespace))).
		WithVariable(dashboard.NewQueryVariableBuilder("experiment").
			Label("Experiment").
			Description("Experiments whose fault windows are drawn (the victim panels cover the whole namespace).").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values(victim_info{namespace="$namespace"}, experiment)`)}).
			Definition(`label_values(victim_info{namespace="$namespace"}, experiment)`).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).
			IncludeAll(true).
			AllValue(".*").
			Current(option("All", "$__all"))).
		Annotation(dashboard.NewAnnotationQueryBuilder().
			Name("Fault windows").
			Datasource(datasource()).
			Enable(true).
			IconColor("red").
			Expr(FaultsActiveQuery).
			Step("5s").
			TitleFormat("{{fault}}").
			TextFormat("{{kind}} of experiment {{experiment}}").
			TagKeys("experiment,fault,kind"))

	// Panels are numbered from 1 in Panels' order, rows from 100: stable
	// ids, so links to a panel (viewPanel=N) survive regeneration.
	row, rows := "", uint32(0)
	for i, p := range Panels {
		if p.Row != row {
			row = p.Row
			rows++
			b = b.WithRow(dashboard.NewRowBuilder(row).Id(100 + rows))
		}
		if p.Kind == NodeGraph {
			b = b.WithPanel(nodeGraphPanel(uint32(i+1), p))
			continue
		}
		q := prometheus.NewDataqueryBuilder().
			RefId("A").
			Datasource(datasource()).
			Expr(p.Expr()).
			LegendFormat(p.Legend)
		if p.Instant {
			q = q.Instant()
		} else {
			q = q.Range()
		}
		id := uint32(i + 1)
		switch p.Kind {
		case TimeSeries:
			b = b.WithPanel(timeseries.NewPanelBuilder().
				Id(id).
				Title(p.Title).
				Description(p.Description).
				Datasource(datasource()).
				Unit(p.Unit).
				Min(0).
				Height(8).
				Span(8).
				FillOpacity(10).
				Legend(common.NewVizLegendOptionsBuilder().
					ShowLegend(true).
					DisplayMode(common.LegendDisplayModeList).
					Placement(common.LegendPlacementBottom)).
				Tooltip(common.NewVizTooltipOptionsBuilder().
					Mode(common.TooltipDisplayModeMulti).
					Sort(common.SortOrderDescending)).
				WithTarget(q))
		case Stat:
			b = b.WithPanel(stat.NewPanelBuilder().
				Id(id).
				Title(p.Title).
				Description(p.Description).
				Datasource(datasource()).
				Unit(p.Unit).
				Height(6).
				Span(6).
				GraphMode(common.BigValueGraphModeNone).
				ColorMode(common.BigValueColorModeValue).
				JustifyMode(common.BigValueJustifyModeAuto).
				TextMode(common.BigValueTextModeAuto).
				Orientation(common.VizOrientationAuto).
				PercentChangeColorMode(common.PercentChangeColorModeStandard).
				ReduceOptions(common.NewReduceDataOptionsBuilder().
					Calcs([]string{"lastNotNull"}).
					Values(false)).
				Thresholds(dashboard.NewThresholdsConfigBuilder().
					Mode(dashboard.ThresholdsModeAbsolute).
					Steps([]dashboard.Threshold{
						{Color: "green", Value: nil},
						{Color: "red", Value: cog.ToPtr[float64](1)},
					})).
				WithTarget(q))
		case StateTimeline:
			b = b.WithPanel(stateTimelinePanel(id, p, q))
		default:
			return dashboard.Dashboard{}, fmt.Errorf("panel %q: unknown kind %q", p.Title, p.Kind)
		}
	}
	return b.Build()
}

// nodeGraphPanel is the service graph: instant table queries whose labels
// are the node graph's fields, refIds "nodes" and "edges" as Grafana's
// node graph expects them.
func nodeGraphPanel(id uint32, p Panel) *nodegraph.PanelBuilder {
	query := func(ref, expr string) *prometheus.DataqueryBuilder {
		return prometheus.NewDataqueryBuilder().
			RefId(ref).
			Datasource(datasource()).
			Expr(Grafana(expr)).
			Instant().
			Format(prometheus.PromQueryFormatTable)
	}
	return nodegraph.NewPanelBuilder().
		Id(id).
		Title(p.Title).
		Description(p.Description).
		Datasource(datasource()).
		Height(10).
		Span(12).
		Nodes(nodegraph.NewNodeOptionsBuilder().MainStatUnit(p.Unit)).
		Edges(nodegraph.NewEdgeOptionsBuilder().MainStatUnit(p.Unit)).
		WithTarget(query("nodes", p.Query)).
		WithTarget(query("edges", p.Edges))
}

// stateTimelinePanel shows ProcessStateQuery's numbers as states: below 0
// crashed or restarting, above DegradedRatio degraded, else serving.
func stateTimelinePanel(id uint32, p Panel, q *prometheus.DataqueryBuilder) *statetimeline.PanelBuilder {
	degraded, _ := strconv.ParseFloat(DegradedRatio, 64)
	rng := func(from, to *float64, text, color string, index int32) dashboard.ValueMapping {
		return dashboard.ValueMapping{RangeMap: &dashboard.RangeMap{Type: dashboard.MappingTypeRangeToText,
			Options: dashboard.DashboardRangeMapOptions{From: from, To: to,
				Result: dashboard.ValueMappingResult{Text: cog.ToPtr(text), Color: cog.ToPtr(color), Index: cog.ToPtr(index)}}}}
	}
	return statetimeline.NewPanelBuilder().
		Id(id).
		Title(p.Title).
		Description(p.Description).
		Datasource(datasource()).
		Height(10).
		Span(12).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		Mappings([]dashboard.ValueMapping{
			rng(cog.ToPtr(-2.0), cog.ToPtr(-0.5), "crashed / restarting", "red", 0),
			rng(cog.ToPtr(0.0), cog.ToPtr(degraded), "serving", "green", 1),
			rng(cog.ToPtr(degraded), cog.ToPtr(1.0), "degraded", "yellow", 2),
		}).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom)).
		WithTarget(q.LegendFormat(p.Legend))
}

func option(text, value string) dashboard.VariableOption {
	return dashboard.VariableOption{
		Selected: cog.ToPtr(true),
		Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr(text)},
		Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(value)},
	}
}

// CascadeDrillJSON is the Cascade drill dashboard as indented JSON with a
// trailing newline: the content of cascade-drill.json.
func CascadeDrillJSON() ([]byte, error) {
	d, err := CascadeDrill()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Files are where the generated JSON is written, relative to the repository
// root: the dashboard itself and the copy manifests/monitoring packs into
// its ConfigMap (kustomize cannot read files outside a kustomization).
var Files = []string{
	"dashboards/cascade-drill.json",
	"manifests/monitoring/grafana/cascade-drill.json",
}
