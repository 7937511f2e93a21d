package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/engine"
	"github.com/cascadelab/cascadelab/operator/victimlog"
)

// withTopology adds to the cascade fixture what the engine now records per
// process and per edge: a load generator, orders-1 down for two seconds
// after its crash at 12.3s, the gateway answering 5xx from then on, and
// the callers' edges, the ledger's slow while slow-ledger is on.
func withTopology(r *Report) *Report {
	for i := range r.Series {
		p := &r.Series[i]
		at := p.At
		p.Goroutines["loadgen-0"] = 30
		p.Targets = map[string]engine.TargetPoint{
			"loadgen-0": {Role: "loadgen", Up: true, RequestRate: 300, ErrorRatio: p.ErrorRatio},
			"gateway-0": {Role: "gateway", Up: true, RequestRate: 300, ErrorRatio: p.ErrorRatio},
			"orders-0":  {Role: "orders", Up: true, RequestRate: 150},
			"orders-1":  {Role: "orders", Up: at < 13*time.Second || at > 14*time.Second, RequestRate: 150},
			"ledger-0":  {Role: "ledger", Up: true, RequestRate: 300},
		}
		lat := 0.003
		if p.ActiveFaults != nil {
			lat = 0.6
		}
		p.Edges = []engine.EdgePoint{
			{From: "gateway-0", To: "orders", Rate: 300, ErrorRatio: p.ErrorRatio, P99: lat + 0.01},
			{From: "loadgen-0", To: engine.EdgeEntry, Rate: 300, ErrorRatio: p.ErrorRatio, P99: lat + 0.02},
			{From: "orders-0", To: "ledger", Rate: 150, P99: lat},
			{From: "orders-1", To: "ledger", Rate: 150, P99: lat},
		}
	}
	r.Timeline = append(r.Timeline, engine.TimelineEvent{At: 12300 * time.Millisecond, Kind: engine.KindProcessCrashed, Target: "orders-1", Detail: "fatal error: concurrent map writes"},
		engine.TimelineEvent{At: 20 * time.Second, Kind: engine.KindProcessKilled, Target: "orders-0", Detail: "killed by an injected fault"})
	return r
}

func nodeByID(tp *topology, id string) *topoNode {
	for i := range tp.Nodes {
		if tp.Nodes[i].ID == id {
			return &tp.Nodes[i]
		}
	}
	return nil
}

func TestTopology(t *testing.T) {
	r := withTopology(cascade())
	tp := r.buildTopology()
	if tp == nil {
		t.Fatal("no topology")
	}
	var ids []string
	for _, n := range tp.Nodes {
		ids = append(ids, n.ID+"/"+n.Role)
	}
	if got := strings.Join(ids, " "); got != "loadgen-0/loadgen gateway-0/gateway orders-0/orders orders-1/orders ledger-0/ledger" {
		t.Errorf("nodes %s, want one per process in call order", got)
	}
	// Columns left to right in call order.
	if !(nodeByID(tp, "loadgen-0").X < nodeByID(tp, "gateway-0").X && nodeByID(tp, "gateway-0").X < nodeByID(tp, "orders-1").X &&
		nodeByID(tp, "orders-0").X == nodeByID(tp, "orders-1").X && nodeByID(tp, "orders-1").X < nodeByID(tp, "ledger-0").X) {
		t.Errorf("layout %+v", tp.Nodes)
	}
	var edges []string
	for _, e := range tp.Edges {
		edges = append(edges, e.ID)
	}
	if got := strings.Join(edges, " "); got != "loadgen-0→gateway-0 gateway-0→orders-0 gateway-0→orders-1 orders-0→ledger-0 orders-1→ledger-0" {
		t.Errorf("edges %s", got)
	}
	if len(tp.Times) != len(r.Series) {
		t.Fatalf("%d frames for %d points", len(tp.Times), len(r.Series))
	}
	o1, led, gw, o0 := nodeByID(tp, "orders-1"), nodeByID(tp, "ledger-0"), nodeByID(tp, "gateway-0"), nodeByID(tp, "orders-0")
	// Frame i is at i seconds. The crash at 12.3s shows on the frame at
	// 13s, and orders-1 stays crashed while its scrape fails (13-14s).
	for i, want := range map[int]string{5: stateServing, 12: stateServing, 13: stateCrashed, 14: stateCrashed, 15: stateServing} {
		if got := o1.States[i]; got != want {
			t.Errorf("orders-1 at %ds: %s, want %s", i, got, want)
		}
	}
	if gw.States[5] != stateServing || gw.States[12] != stateDegraded {
		t.Errorf("gateway-0 at 5s %s, at 12s %s; want serving then degraded (5xx 43%%)", gw.States[5], gw.States[12])
	}
	if o0.States[20] != stateCrashed {
		t.Errorf("orders-0 at 20s (pod-kill): %s", o0.States[20])
	}
	// The fault domain and when a fault is on each node.
	if !led.Domain || !o0.Domain || o1.Domain || gw.Domain {
		t.Errorf("domain: ledger %v orders-0 %v orders-1 %v gateway %v; want ledger-0 and orders-0", led.Domain, o0.Domain, o1.Domain, gw.Domain)
	}
	if led.Faulted[5] || !led.Faulted[10] || !led.Faulted[25] || !led.Faulted[40] || led.Faulted[45] {
		t.Errorf("ledger-0 faulted %v, want 10s-40s", led.Faulted)
	}
	if o0.Faulted[19] || !o0.Faulted[20] {
		t.Errorf("orders-0 faulted at 19s %v, 20s %v", o0.Faulted[19], o0.Faulted[20])
	}
	// The failure's path: what crashed or degraded after the first fault.
	if !o1.OnPath || !gw.OnPath || led.OnPath {
		t.Errorf("path: orders-1 %v gateway %v ledger %v", o1.OnPath, gw.OnPath, led.OnPath)
	}
	if len(tp.Path) == 0 || !strings.Contains(strings.Join(tp.Path, "\n"), "orders-1 crashed at 13s") {
		t.Errorf("path %q", tp.Path)
	}
	if tp.Initial != 13 {
		t.Errorf("opens on frame %d, want the first crash (13)", tp.Initial)
	}
	// Edge figures per frame, from the caller's view.
	for _, e := range tp.Edges {
		if e.ID == "orders-1→ledger-0" {
			if e.P99[25] == nil || *e.P99[25] != 0.6 || e.P99[5] == nil || *e.P99[5] != 0.003 {
				t.Errorf("orders-1→ledger-0 p99 at 5s/25s: %v %v", e.P99[5], e.P99[25])
			}
		}
		if e.ID == "loadgen-0→gateway-0" && (e.Err[12] == nil || *e.Err[12] < 0.4 || !e.Worst) {
			t.Errorf("loadgen edge at 12s: %v, worst %v", e.Err[12], e.Worst)
		}
	}

	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, `<g class="node `); n != 5 {
		t.Errorf("%d nodes drawn, want 5", n)
	}
	mustContain(t, out, `data-node="orders-1"`, `id="scrubber" min="0" max="60" step="1" value="13"`, "failure-path")
	if d := pageJSON(t, out); len(d.Topologies) != 1 || d.Topologies[0].Key != "" || len(d.Topologies[0].Topology.Nodes) != 5 ||
		d.Topologies[0].Topology.Nodes[3].States[13] != stateCrashed {
		t.Errorf("topology in the page data: %+v", d.Topologies)
	}
	// A comparison draws both drills' graphs, each with its own ids.
	buf.Reset()
	if err := WriteCompareHTML(&buf, r, withTopology(fixed())); err != nil {
		t.Fatal(err)
	}
	out = buf.String()
	mustContain(t, out, `id="topology-a"`, `id="topology-b"`, `id="scrubber-a"`, `id="scrubber-b"`, `url(#arrow-a)`, `id="arrow-b"`)
	if n := strings.Count(out, `<g class="node `); n != 10 {
		t.Errorf("%d nodes on the comparison, want 5 per drill", n)
	}
	if d := pageJSON(t, out); len(d.Topologies) != 2 || d.Topologies[1].Key != "-b" || d.Topologies[1].Drill != 1 {
		t.Errorf("comparison's page data: %+v", d.Topologies)
	}
}

// TestTopologyTargetDrill: a drill on existing pods (spec.target) names its
// processes after the pods; the graph takes each node's role from the
// engine's per-process figures, and falls back to the name for a report
// without them.
func TestTopologyTargetDrill(t *testing.T) {
	r := cascade()
	r.Spec.Victim = nil
	for i := range r.Series {
		p := &r.Series[i]
		p.Goroutines = map[string]float64{"shop-7d9f": 10, "pay-a1": 10, "pay-b2": 10}
		p.Targets = map[string]engine.TargetPoint{"shop-7d9f": {Role: "gateway", Up: true}, "pay-a1": {Role: "orders", Up: true}, "pay-b2": {Role: "orders", Up: true}}
		p.Edges = nil
	}
	r.Faults[1].Targets = []string{"pay-b2"}
	tp := r.buildTopology()
	if len(tp.Nodes) != 3 || tp.Nodes[0].ID != "shop-7d9f" || tp.Nodes[1].Role != "orders" || len(tp.Edges) != 2 {
		t.Fatalf("nodes %+v edges %+v", tp.Nodes, tp.Edges)
	}
	if !nodeByID(tp, "pay-b2").Domain || nodeByID(tp, "pay-a1").Domain {
		t.Errorf("the pod-kill's target is the domain: %+v", tp.Nodes)
	}
	// A fault never injected has no domain; one without targets in its
	// status falls back to its selector's role.
	r.Faults[1].InjectedAt, r.Faults[0].Targets = nil, nil
	tp = r.buildTopology()
	if nodeByID(tp, "pay-b2").Domain || nodeByID(tp, "shop-7d9f").Domain {
		t.Errorf("domain of faults never injected or on no such role: %+v", tp.Nodes)
	}
	// Without per-process figures: roles from the names.
	r = cascade()
	for i := range r.Series {
		r.Series[i].Goroutines["shop-orders-7f9c"] = 3
	}
	tp = r.buildTopology()
	if n := nodeByID(tp, "shop-orders-7f9c"); n == nil || n.Role != "orders" || len(tp.Nodes) != 5 {
		t.Errorf("nodes %+v", tp.Nodes)
	}
}

// TestTopologyCrashFromLogs: a crash the victim's logs saw (report.Crashes,
// wall-clock µs) shows on its frame even without a timeline event.
func TestTopologyCrashFromLogs(t *testing.T) {
	r := cascade()
	r.Timeline, r.Findings = nil, nil
	r.Crashes = []victimlog.CrashContext{{Process: "orders-0", TS: r.StartedAt.Add(30500 * time.Millisecond).UnixMicro(), Headline: "fatal error: concurrent map writes"}}
	tp := r.buildTopology()
	o0 := nodeByID(tp, "orders-0")
	if o0.States[30] != stateServing || o0.States[31] != stateCrashed || o0.States[32] != stateServing {
		t.Errorf("orders-0 at 30/31/32s: %s %s %s; want the crash at 30.5s on the 31s frame", o0.States[30], o0.States[31], o0.States[32])
	}
}

// TestVendoredUPlot: the inlined library is the release VERSION names,
// with its licence beside it.
func TestVendoredUPlot(t *testing.T) {
	version, err := assetFS.ReadFile("assets/vendor/uplot/VERSION")
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(string(version), "\n", 2)[0]
	v := strings.TrimPrefix(first, "uPlot ")
	if v == first || v == "" {
		t.Fatalf("VERSION starts %q, want \"uPlot X.Y.Z\"", first)
	}
	js, err := assetFS.ReadFile("assets/vendor/uplot/uPlot.iife.min.js")
	if err != nil || !strings.Contains(string(js[:100]), "(v"+v+")") {
		t.Errorf("uPlot.iife.min.js is not release %s (%v): %.100s", v, err, js)
	}
	lic, err := assetFS.ReadFile("assets/vendor/uplot/LICENSE")
	if err != nil || !strings.Contains(string(lic), "The MIT License") {
		t.Errorf("LICENSE: %v", err)
	}
	// The page carries the licence with the library.
	var buf bytes.Buffer
	if err := WriteHTML(&buf, cascade()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Copyright (c) 2022 Leon Sorokin") || !strings.Contains(buf.String(), "/* uPlot "+v) {
		t.Error("report.html carries uPlot without its licence")
	}
}
