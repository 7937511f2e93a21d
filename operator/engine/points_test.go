package engine

import (
	"math"
	"testing"
)

// TestPointTargetsAndEdges: each Point says, per process, its role,
// whether it answered, what it served and its error share, and, per
// caller, its calls into each upstream (the load generator's into the
// entry point) with their rate, error share and latency.
func TestPointTargetsAndEdges(t *testing.T) {
	e := newEngine(t, testSpec())
	w := newWorld()
	w.errShare = 0.2
	w.ledgerDelay = 100 * 1e6 // 100ms
	for at := s; at <= 3*s; at += s {
		w.step()
		obs := w.observation(at)
		if at == 3*s {
			for i := range obs.Samples {
				if obs.Samples[i].Target == "orders-1" {
					obs.Samples[i].Up = false
				}
			}
		}
		e.Observe(obs)
	}
	ps := e.Series()
	if len(ps) != 3 {
		t.Fatalf("%d points", len(ps))
	}
	p := ps[1]
	if len(p.Targets) != 5 {
		t.Fatalf("targets %v, want the 5 processes", p.Targets)
	}
	gw := p.Targets["gateway-0"]
	if gw.Role != "gateway" || !gw.Up || math.Abs(gw.ErrorRatio-0.2) > 1e-9 || math.Abs(gw.RequestRate-100) > 1e-6 {
		t.Errorf("gateway-0 %+v, want up, 100 req/s, 5xx share 0.2", gw)
	}
	if lg := p.Targets["loadgen-0"]; lg.Role != "loadgen" || math.Abs(lg.ErrorRatio-0.2) > 1e-9 {
		t.Errorf("loadgen-0 %+v, want client error share 0.2", lg)
	}
	if o := ps[2].Targets["orders-1"]; o.Up || o.Role != "orders" {
		t.Errorf("orders-1 at 3s %+v, want down", o)
	}
	edges := map[string]EdgePoint{}
	for _, ed := range p.Edges {
		edges[ed.From+">"+ed.To] = ed
	}
	if ed, ok := edges["loadgen-0>"+EdgeEntry]; !ok || math.Abs(ed.Rate-100) > 1e-6 || math.Abs(ed.ErrorRatio-0.2) > 1e-9 || ed.P99 <= 0 {
		t.Errorf("loadgen edge %+v (%v), want 100/s, 0.2 errors, a p99", ed, ok)
	}
	for _, o := range []string{"orders-0", "orders-1"} {
		ed, ok := edges[o+">ledger"]
		if !ok || math.Abs(ed.Rate-50) > 1e-6 || ed.ErrorRatio != 0 || math.Abs(ed.Mean-0.102) > 1e-9 {
			t.Errorf("%s→ledger %+v (%v), want 50/s, no errors, mean 102ms", o, ed, ok)
		}
	}
	if len(p.Edges) != 3 || p.Edges[0].From != "loadgen-0" || p.Edges[1].From != "orders-0" {
		t.Errorf("edges %+v, want 3 sorted by caller", p.Edges)
	}
	for _, ed := range ps[2].Edges {
		if ed.From == "orders-1" {
			t.Errorf("edge from a process that did not answer: %+v", ed)
		}
	}
}
