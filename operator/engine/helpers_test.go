package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/observe"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const s = time.Second

func ptr[T any](v T) *T { return &v }

func dur(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

// testSpec is the map-panic-cascade drill: 60 s, 10 s steady state, a 30 s
// ledger delay at 10 s, an orders pod-kill at 20 s, abort at 0.95 for 10 s.
func testSpec(mods ...func(*v1alpha1.ExperimentSpec)) v1alpha1.ExperimentSpec {
	sp := v1alpha1.ExperimentSpec{
		Victim:      &v1alpha1.VictimSpec{},
		Duration:    dur(60 * s),
		SteadyState: dur(10 * s),
		Faults: []v1alpha1.Fault{
			{Name: "slow-ledger", After: dur(10 * s), NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
				Action: chaosv1alpha1.DelayAction, Duration: ptr("30s"),
				TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "200ms"}}}},
			{Name: "kill-one-orders", After: dur(20 * s), PodChaos: &chaosv1alpha1.PodChaosSpec{
				Action: chaosv1alpha1.PodKillAction}},
		},
		Hypothesis: v1alpha1.Hypothesis{
			MaxErrorRatio: "0.01", MaxDuplicateCharges: ptr(int64(0)), MaxGoroutineGrowth: "2.0",
			MaxLeakedGoroutines: ptr(int64(0)), MaxRestarts: ptr(int32(0)),
		},
		Abort: &v1alpha1.AbortGuard{ErrorRatioAbove: "0.95", For: dur(10 * s)},
	}
	for _, m := range mods {
		m(&sp)
	}
	return sp
}

func newEngine(t *testing.T, sp v1alpha1.ExperimentSpec, opts ...Option) *Engine {
	t.Helper()
	e, err := New(sp, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	e.VictimReady()
	return e
}

// world is a fake victim: cumulative counters that tests drive second by
// second, turned into samples.
type world struct {
	ok, fail, errs float64 // loadgen cumulative by outcome
	gw5xx, gwOK    float64
	goroutines     map[string]float64
	leaked         map[string]int64
	restarts       map[string]int32
	dup, dupCents  float64
	crashes        []observe.Crash
	// per second increments
	rate, errShare float64
	// ledgerDelay is the latency added to the orders → ledger calls (the
	// network fault, while the driver has it injected).
	ledgerDelay time.Duration
	// edge is the orders replicas' cumulative calls into the ledger.
	edge observe.EdgeStats
}

func newWorld() *world {
	return &world{rate: 100,
		goroutines: map[string]float64{"gateway-0": 20, "orders-0": 20, "orders-1": 20, "ledger-0": 20, "loadgen-0": 50},
		leaked:     map[string]int64{"gateway-0": 0, "orders-0": 0, "orders-1": 0, "ledger-0": 0}, restarts: map[string]int32{}}
}

func roleOf(name string) string {
	for _, r := range []string{"gateway", "orders", "ledger", "loadgen"} {
		if len(name) > len(r) && name[:len(r)] == r {
			return r
		}
	}
	return ""
}

// step advances the counters by one second.
func (w *world) step() {
	bad := w.rate * w.errShare
	w.ok += w.rate - bad
	w.fail += bad
	w.gwOK += w.rate - bad
	w.gw5xx += bad
	if w.edge.Requests == nil {
		w.edge.Requests = map[string]float64{}
	}
	w.edge.Requests["200"] += w.rate / 2
	w.edge.LatencyCount += w.rate / 2
	w.edge.LatencySum += w.rate / 2 * (0.002 + w.ledgerDelay.Seconds())
}

func (w *world) observation(at time.Duration) Observation {
	var ss []observe.Sample
	for _, name := range []string{"gateway-0", "orders-0", "orders-1", "ledger-0", "loadgen-0"} {
		sm := observe.Sample{Target: name, Role: roleOf(name), At: at, Up: true, Goroutines: w.goroutines[name], Leaked: -1, Restarts: w.restarts[name]}
		if l, ok := w.leaked[name]; ok {
			sm.Leaked = l
		}
		switch sm.Role {
		case "loadgen":
			sm.ClientRequests = map[string]float64{"200": w.ok, "500": w.fail, "error": w.errs}
			sm.ClientLatency = []observe.Bucket{{UpperBound: .1, Count: w.ok}, {UpperBound: 1, Count: w.ok + w.fail}, {UpperBound: inf, Count: w.ok + w.fail + w.errs}}
		case "gateway":
			sm.ServerRequests = map[string]float64{"200": w.gwOK, "502": w.gw5xx}
		case "ledger":
			sm.DuplicateCharges, sm.DuplicateChargedCents = w.dup, w.dupCents
		case "orders":
			e := w.edge
			e.Requests = map[string]float64{"200": w.edge.Requests["200"]}
			sm.Upstream = map[string]observe.EdgeStats{"ledger": e}
		}
		ss = append(ss, sm)
	}
	obs := Observation{At: at, Samples: ss, Crashes: w.crashes}
	w.crashes = nil
	return obs
}

// driver runs an engine like a backend would: tick and observe every
// second, confirm injections (pod faults hit orders-1) and recoveries.
type driver struct {
	t    *testing.T
	e    *Engine
	w    *world
	log  []string // "10s InjectFault 0"
	hook func(at time.Duration, w *world)
	// inject, when set and returning ok, injects fault i in its stead
	// (its world change and targets); recover likewise.
	inject  func(i int, at time.Duration) (targets []string, ok bool)
	recover func(i int, at time.Duration) bool
}

func (d *driver) do(at time.Duration, acts []Action) {
	for _, a := range acts {
		d.log = append(d.log, fmt.Sprintf("%s %s %d", at, a.Type, a.Fault))
		switch a.Type {
		case ActionInject:
			if d.inject != nil {
				if targets, ok := d.inject(a.Fault, at); ok {
					d.e.FaultInjected(a.Fault, at, targets)
					continue
				}
			}
			targets := []string{"ledger-0"}
			if d.e.faults[a.Fault].podFault {
				targets = []string{"orders-1"}
				d.w.restarts["orders-1"]++
				d.w.crashes = append(d.w.crashes, observe.Crash{Target: "orders-1", At: at, ExitCode: -1, Signal: "killed", Injected: true})
			} else {
				d.w.ledgerDelay = d.e.faults[a.Fault].latency
			}
			d.e.FaultInjected(a.Fault, at, targets)
		case ActionRecover:
			if d.recover != nil && d.recover(a.Fault, at) {
				d.e.FaultRecovered(a.Fault, at)
				continue
			}
			if !d.e.faults[a.Fault].podFault {
				d.w.ledgerDelay = 0
			}
			d.e.FaultRecovered(a.Fault, at)
		}
	}
}

// run drives seconds from..to inclusive and returns the phase at each second.
func (d *driver) run(from, to time.Duration) map[time.Duration]v1alpha1.Phase {
	phases := map[time.Duration]v1alpha1.Phase{}
	for at := from; at <= to; at += s {
		if d.e.Phase().Terminal() || d.e.Phase() == v1alpha1.PhaseJudging {
			break
		}
		if d.hook != nil {
			d.hook(at, d.w)
		}
		d.w.step()
		d.do(at, d.e.Tick(at))
		d.do(at, d.e.Observe(d.w.observation(at)))
		phases[at] = d.e.Phase()
	}
	return phases
}

func findingsOf(e *Engine) map[v1alpha1.FindingType][]v1alpha1.Finding {
	out := map[v1alpha1.FindingType][]v1alpha1.Finding{}
	for _, f := range e.Findings() {
		out[f.Type] = append(out[f.Type], f)
	}
	return out
}
