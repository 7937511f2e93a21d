package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/promql/parser"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// shipped reads the committed dashboard JSON.
func shipped(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "dashboards", "cascade-drill.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGeneratedFilesUpToDate(t *testing.T) {
	want, err := CascadeDrillJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Files {
		got, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate ./dashboards`", f)
		}
	}
}

// model is the part of the dashboard JSON the checks below read.
type model struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Panels        []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr       string `json:"expr"`
			RefID      string `json:"refId"`
			Datasource struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Type    string `json:"type"`
			Name    string `json:"name"`
			Query   any    `json:"query"`
			Current struct {
				Value any `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name string `json:"name"`
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

func load(t *testing.T) model {
	t.Helper()
	var m model
	if err := json.Unmarshal(shipped(t), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// query is one PromQL expression of the shipped dashboard and where it is.
type query struct{ where, expr string }

func queries(t *testing.T) []query {
	m := load(t)
	var qs []query
	for _, p := range m.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, query{"panel " + p.Title, tg.Expr})
		}
	}
	for _, a := range m.Annotations.List {
		if a.Expr != "" {
			qs = append(qs, query{"annotation " + a.Name, a.Expr})
		}
	}
	return qs
}

// TestDashboardModel loads the JSON as a Grafana dashboard with the
// foundation SDK's strict decoder and validation, then checks what Grafana
// needs: a schema version, unique panel ids, a Prometheus datasource
// variable that every query uses, namespace and experiment variables, and
// a target on every panel.
func TestDashboardModel(t *testing.T) {
	var d dashboard.Dashboard
	if err := sdkErr(d.UnmarshalJSONStrict(shipped(t))); err != nil {
		t.Fatalf("strict decode as a Grafana dashboard: %v", err)
	}
	if err := sdkErr(d.Validate()); err != nil {
		t.Fatalf("Grafana dashboard model: %v", err)
	}
	m := load(t)
	if m.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want a current one (>= 39)", m.SchemaVersion)
	}
	if m.UID != UID || m.Title != Title {
		t.Errorf("uid/title = %q/%q", m.UID, m.Title)
	}
	vars := map[string]string{}
	for _, v := range m.Templating.List {
		vars[v.Name] = v.Type
		if v.Name == "datasource" {
			if v.Query != "prometheus" || v.Current.Value != DatasourceUID {
				t.Errorf("datasource variable: query %v, current %v; want prometheus, %s", v.Query, v.Current.Value, DatasourceUID)
			}
		}
	}
	for name, typ := range map[string]string{"datasource": "datasource", "namespace": "query", "experiment": "query"} {
		if vars[name] != typ {
			t.Errorf("variable %s: type %q, want %q", name, vars[name], typ)
		}
	}
	ids := map[int]string{}
	panels := 0
	for _, p := range m.Panels {
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d not unique (also %q)", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		panels++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || tg.Datasource.UID != "${datasource}" || tg.Datasource.Type != "prometheus" {
				t.Errorf("panel %q: target %+v: want an expr, a refId and datasource ${datasource}", p.Title, tg)
			}
		}
	}
	if panels != len(Panels) {
		t.Errorf("%d panels in the JSON, %d in Panels", panels, len(Panels))
	}
	if len(m.Annotations.List) == 0 || m.Annotations.List[0].Expr != FaultsActiveQuery {
		t.Errorf("annotations %+v: want the fault windows from %s", m.Annotations.List, FaultsActiveQuery)
	}
}

// sdkErr maps the foundation SDK's empty cog.BuildErrors (returned as a
// non-nil error interface holding a nil slice) to nil.
func sdkErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// shownQueries are the expressions of promql.go the dashboard must show.
// KubeRestartsQuery is left out (the lab runs no kube-state-metrics);
// LeakedQuery is empty (see Panels).
var shownQueries = map[string]string{
	"RequestRateQuery":      RequestRateQuery,
	"ErrorRatioQuery":       ErrorRatioQuery,
	"Server5xxRatioQuery":   Server5xxRatioQuery,
	"P99Query":              P99Query,
	"ServerP99Query":        ServerP99Query,
	"GoroutinesQuery":       GoroutinesQuery,
	"TotalGoroutinesQuery":  TotalGoroutinesQuery,
	"RestartsQuery":         RestartsQuery,
	"DuplicateChargesQuery": DuplicateChargesQuery,
	"DuplicateCentsQuery":   DuplicateCentsQuery,
	"DetachedCallsQuery":    DetachedCallsQuery,
	"TopologyNodesQuery":    TopologyNodesQuery,
	"TopologyEdgesQuery":    TopologyEdgesQuery,
	"ProcessStateQuery":     ProcessStateQuery,
	"EdgeP99Query":          EdgeP99Query,
}

// TestQueriesAreTheRestatements: every query in the shipped JSON is one of
// the expressions of promql.go in Grafana's notation (or the manager's
// fault gauge), and every expression the dashboard promises is on it.
func TestQueriesAreTheRestatements(t *testing.T) {
	if LeakedQuery != "" {
		t.Errorf("LeakedQuery is no longer empty: add a leaked-goroutines panel for it")
	}
	allowed := map[string]string{Grafana(FaultsActiveQuery): "FaultsActiveQuery"}
	for name, q := range shownQueries {
		allowed[Grafana(q)] = name
	}
	used := map[string]bool{}
	for _, q := range queries(t) {
		name, ok := allowed[q.expr]
		if !ok {
			t.Errorf("%s: query is not one of promql.go's expressions: %s", q.where, q.expr)
		}
		used[name] = true
		if strings.Contains(q.expr, "$window") || strings.Contains(q.expr, "$range") {
			t.Errorf("%s: placeholder left in %s", q.where, q.expr)
		}
	}
	for name := range shownQueries {
		if !used[name] {
			t.Errorf("%s is on no panel", name)
		}
	}
	if !used["FaultsActiveQuery"] {
		t.Errorf("no fault windows")
	}
}

var leftover = regexp.MustCompile(`\$\{?[A-Za-z_]`)

// TestQueriesParse parses every query with Prometheus' own PromQL parser,
// after Grafana's substitutions, and the metric selectors of the variables'
// label_values() queries.
func TestQueriesParse(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for _, q := range queries(t) {
		expr := Substitute(q.expr, DefaultNamespace, "1m", "15m")
		if leftover.MatchString(expr) {
			t.Errorf("%s: unsubstituted variable in %s", q.where, expr)
		}
		if _, err := p.ParseExpr(expr); err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+), *([a-z_]+)\)$`)
	for _, v := range load(t).Templating.List {
		if v.Type != "query" {
			continue
		}
		s, _ := v.Query.(string)
		m := labelValues.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, s)
			continue
		}
		if _, err := p.ParseMetricSelector(Substitute(m[1], DefaultNamespace, "1m", "15m")); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
	}
}
