package kube_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
)

// TestNetChaos runs a drill whose NetworkChaos (a 300 ms delay on the
// ledger) gets a real network effect from the NetworkChaosStandIn, the
// stand-in for chaos-daemon: with the chaos-daemon stand-in marking it
// injected (no real Chaos Mesh). TestRealChaos/NetworkChaosStandIn runs the
// same drill with the real controller-manager.
func TestNetChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest drill")
	}
	e := startEnv(t)
	e.startManager(t)
	t.Run("DelayOnLedger", func(t *testing.T) { netChaosDelayDrill(t, e, false) })
}

// netChaosDelay is the injected ledger delay; the orders → ledger edge must
// be at least netChaosMinShare of it slower while injected.
const (
	netChaosDelay    = 300 * time.Millisecond
	netChaosMinShare = 0.8
)

// netChaosDelayDrill runs a drill with a NetworkChaos delay of 300 ms on the
// ledger from 4 s for 4 s, the kubelet stand-in proxying every edge and the
// NetworkChaosStandIn applying the delay; it measures an orders → ledger
// call through the orders pod's proxy before, during and after the fault.
// real: the real Chaos Mesh controller runs (the kubelet stand-in reacts to
// it); otherwise the chaos-daemon stand-in marks the chaos injected.
func netChaosDelayDrill(t *testing.T, e *env, real bool) {
	if victimErr != nil {
		t.Fatal(victimErr)
	}
	began := time.Now()
	ns := e.namespace(t, true)
	k := StartKubeletStandInWith(t, e.c, ns, victimBin, KubeletOptions{ProxyEdges: true, ReactToChaosMesh: real})
	if !real {
		StartChaosDaemonStandIn(t, e.c, ns, k)
	}
	n := StartNetworkChaosStandIn(t, e.c, ns, k)

	exp := networkDrill(ns, "netchaos-delay")
	exp.Spec.Duration.Duration = 16 * time.Second
	exp.Spec.SteadyState.Duration = 3 * time.Second
	exp.Spec.Hypothesis.MaxErrorRatio = "0.5"
	f := &exp.Spec.Faults[0]
	f.After.Duration = 4 * time.Second
	four := "4s"
	f.NetworkChaos.Duration = &four
	f.NetworkChaos.Delay.Latency = netChaosDelay.String()
	f.NetworkChaos.Delay.Jitter = ""
	if err := e.c.Create(context.Background(), exp); err != nil {
		t.Fatal(err)
	}

	var edge *ProxyEdge
	waitFor(t, 60*time.Second, "an orders → ledger edge through a proxy, answering", func() (bool, string) {
		for _, ed := range k.Edges() {
			if ed.ClientRole == kube.RoleOrders && ed.ServerRole == kube.RoleLedger {
				if _, err := timeCall(ed.URL() + "/balance"); err != nil {
					return false, err.Error()
				}
				edge = ed
				return true, ""
			}
		}
		return false, fmt.Sprintf("edges %v", k.Edges())
	})
	t.Logf("edges: %v", k.Edges())
	if n.Active() != 0 {
		t.Fatalf("toxics applied before the baseline was measured: %+v", n.Events())
	}
	base := medianCall(t, edge.URL()+"/balance", 5)
	if n.Active() != 0 {
		t.Fatalf("toxics applied while the baseline was measured: %+v", n.Events())
	}
	t.Logf("orders → ledger baseline: %s", base)

	waitFor(t, 60*time.Second, "the delay applied by the NetworkChaos stand-in", func() (bool, string) {
		return n.Active() > 0, fmt.Sprintf("events %+v", n.Events())
	})
	during := medianCall(t, edge.URL()+"/balance", 3)
	t.Logf("orders → ledger while injected: %s (%d toxics)", during, n.Active())
	if min := time.Duration(float64(netChaosDelay) * netChaosMinShare); during-base < min {
		t.Errorf("orders → ledger only %s slower while the delay is injected, want ≥ %s", during-base, min)
	}

	waitFor(t, 30*time.Second, "the delay removed", func() (bool, string) {
		return n.Active() == 0, fmt.Sprintf("%d toxics", n.Active())
	})
	after := medianCall(t, edge.URL()+"/balance", 5)
	t.Logf("orders → ledger after recovery: %s", after)
	if after-base > 100*time.Millisecond {
		t.Errorf("orders → ledger still %s slower after recovery", after-base)
	}

	got := e.waitPhase(t, ns, exp.Name, 60*time.Second, v1alpha1.PhaseCompleted, v1alpha1.PhaseAborted, v1alpha1.PhaseFailed)
	for _, f := range got.Status.Faults {
		t.Logf("fault %s: %s targets %v", f.Name, f.State, f.Targets)
	}
	t.Logf("phase %s verdict %s; stand-in events:", got.Status.Phase, got.Status.Verdict)
	for _, ev := range n.Events() {
		t.Logf("  +%s %s %s %v", ev.At.Sub(got.Status.StartTime.Time).Round(time.Millisecond), ev.Op, ev.Chaos, ev.Toxics)
	}
	if real {
		e.waitNoChaosAnywhere(t, ns)
	} else {
		e.waitNoChaos(t, ns)
	}
	checkVictimGone(t, e, ns)
	t.Logf("network chaos drill (real controller %v): %s", real, time.Since(began).Round(time.Millisecond))
}

// timeCall times one GET on a fresh connection.
func timeCall(url string) (time.Duration, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), nil
}

// medianCall is the median of n timeCalls.
func medianCall(t *testing.T, url string, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	for range n {
		d, err := timeCall(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// realNetStandIns is realStandIns with every edge proxied and the
// NetworkChaosStandIn giving the drill's NetworkChaos its effect.
func (e *env) realNetStandIns(t *testing.T, ns string) (*KubeletStandIn, *NetworkChaosStandIn) {
	if victimErr != nil {
		t.Fatal(victimErr)
	}
	k := StartKubeletStandInWith(t, e.c, ns, victimBin, KubeletOptions{ReactToChaosMesh: true, ProxyEdges: true})
	return k, StartNetworkChaosStandIn(t, e.c, ns, k)
}

// checkNetworkDelayApplied checks that the NetworkChaosStandIn applied the
// drill's NetworkChaos to some edge, and removed it all again.
func checkNetworkDelayApplied(t *testing.T, n *NetworkChaosStandIn, exp *v1alpha1.Experiment) {
	t.Helper()
	applied := false
	for _, ev := range n.Events() {
		t.Logf("network chaos stand-in: +%s %s %s %v", ev.At.Sub(exp.Status.StartTime.Time).Round(time.Millisecond), ev.Op, ev.Chaos, ev.Toxics)
		applied = applied || (ev.Op == "apply" && len(ev.Toxics) > 0)
	}
	if !applied {
		t.Error("the NetworkChaos stand-in applied no toxics")
	}
	waitFor(t, 15*time.Second, "no toxics left", func() (bool, string) {
		return n.Active() == 0, fmt.Sprintf("%d toxics", n.Active())
	})
}
