package report

import (
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/engine"
)

func dur(d time.Duration) metav1.Duration   { return metav1.Duration{Duration: d} }
func pdur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
func ptrTo[T any](v T) *T                   { return &v }

// cascade is a map-panic-cascade drill: racy cache, no idempotency, leaky
// gateway, a ledger delay and one orders pod killed.
func cascade() *Report {
	r := &Report{
		Name: "map-panic-cascade", Backend: "local",
		StartedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Elapsed: 60 * time.Second,
		Phase: v1alpha1.PhaseCompleted, Verdict: v1alpha1.VerdictViolated,
		Summary: v1alpha1.Summary{Requests: 18000, PeakErrorRatio: "0.43", BaselineGoroutines: 40,
			PeakGoroutines: 610, Restarts: 3, DuplicateCharges: 17, DuplicateChargedCents: 123456, LeakedGoroutines: 212},
		Findings: []v1alpha1.Finding{
			{Type: v1alpha1.FindingProcessCrashed, At: dur(12300 * time.Millisecond), Target: "orders-1", Message: "fatal error: concurrent map writes",
				Cause: &v1alpha1.FindingCause{Fault: "slow-ledger", After: dur(2300 * time.Millisecond)}},
			{Type: v1alpha1.FindingErrorRatioExceeded, At: dur(12800 * time.Millisecond), Target: "gateway-0", Message: "error ratio 0.43 > 0.01"},
			{Type: v1alpha1.FindingDuplicateCharges, At: dur(4 * time.Second), Message: "17 orders charged twice > 0"},
			{Type: v1alpha1.FindingGoroutineGrowth, At: dur(20 * time.Second), Target: "gateway-0", Message: "goroutines 610 = 15.2× baseline 40 | bound 2.0×"},
			{Type: v1alpha1.FindingGoroutineLeak, At: dur(25 * time.Second), Target: "gateway-0", Message: "<script>alert(1)</script> leaked 212"},
		},
		Faults: []v1alpha1.FaultStatus{
			{Name: "slow-ledger", State: v1alpha1.FaultRecovered, InjectedAt: pdur(10 * time.Second), RecoveredAt: pdur(40 * time.Second), Targets: []string{"ledger-0"},
				Effect: v1alpha1.EffectConfirmed, EffectDetail: "ledger edge mean latency 3ms → 212ms (injected 200ms)"},
			{Name: "kill-one-orders", State: v1alpha1.FaultInjected, InjectedAt: pdur(20 * time.Second), Targets: []string{"orders-0"},
				Effect: v1alpha1.EffectConfirmed, EffectDetail: "orders-0 replaced (instance changed)"},
		},
		Timeline: []engine.TimelineEvent{
			{At: 10 * time.Second, Kind: "FaultInjected", Target: "ledger-0", Detail: "slow-ledger"},
			{At: 12300 * time.Millisecond, Kind: "FirstCrash", Target: "orders-1", Detail: "fatal error: concurrent map writes"},
			{At: 12800 * time.Millisecond, Kind: "FirstUpstream5xx", Target: "gateway-0", Detail: "5xx ratio 0.31"},
		},
		Spec: v1alpha1.ExperimentSpec{
			Victim: &v1alpha1.VictimSpec{
				Orders:  v1alpha1.OrdersSpec{Replicas: 2, Cache: v1alpha1.CacheRacy},
				Ledger:  v1alpha1.LedgerSpec{Idempotency: v1alpha1.IdempotencyNone},
				Gateway: v1alpha1.GatewaySpec{Mode: v1alpha1.GatewayLeaky, Timeout: dur(500 * time.Millisecond), Retries: ptrTo[int32](2)},
			},
			Load:        v1alpha1.LoadSpec{Rate: 300, DuplicateRatio: "0.1"},
			Duration:    dur(60 * time.Second),
			SteadyState: dur(10 * time.Second),
			Faults: []v1alpha1.Fault{
				{Name: "slow-ledger", After: dur(10 * time.Second), NetworkChaos: &chaosv1alpha1.NetworkChaosSpec{
					PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode, Selector: chaosv1alpha1.PodSelectorSpec{
						GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{"app.kubernetes.io/component": "ledger"}}}},
					Action:      chaosv1alpha1.DelayAction,
					TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "200ms", Jitter: "50ms"}},
					Duration:    ptrTo("30s"),
				}},
				{Name: "kill-one-orders", After: dur(20 * time.Second), PodChaos: &chaosv1alpha1.PodChaosSpec{
					ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.OneMode,
						Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{
							LabelSelectors: map[string]string{"app.kubernetes.io/component": "orders"}}}}},
					Action: chaosv1alpha1.PodKillAction,
				}},
			},
			Hypothesis: v1alpha1.Hypothesis{MaxErrorRatio: "0.01", MaxDuplicateCharges: ptrTo[int64](0),
				MaxGoroutineGrowth: "2.0", MaxLeakedGoroutines: ptrTo[int64](0), MaxRestarts: ptrTo[int32](0)},
			Abort: &v1alpha1.AbortGuard{ErrorRatioAbove: "0.95", For: dur(10 * time.Second)},
		},
	}
	for i := 0; i <= 60; i++ {
		at := time.Duration(i) * time.Second
		p := engine.Point{At: at, Phase: v1alpha1.PhaseInjecting, RequestRate: 300, P99: 0.02,
			Goroutines: map[string]float64{"total": 40, "gateway-0": 12, "orders-0": 10, "orders-1": 10, "ledger-0": 8}}
		if i >= 10 && i < 40 {
			p.ActiveFaults = []string{"slow-ledger"}
			p.P99 = 0.25 + float64(i%3)/100
			p.Goroutines["gateway-0"] = float64(12 + 20*(i-10))
			p.Goroutines["total"] = p.Goroutines["gateway-0"] + 28
		}
		if i >= 12 {
			p.ErrorRatio = 0.43 / float64(i-11)
			p.Restarts = int32(min(3, (i-12)/5+1))
			p.DuplicateCharges = float64(min(17, i-11))
		}
		r.Series = append(r.Series, p)
	}
	return r
}

// fixed is the same chaos against the fixed victim: the hypothesis holds.
func fixed() *Report {
	r := cascade()
	r.Name = "fixed-under-chaos"
	r.Verdict = v1alpha1.VerdictHeld
	r.Findings, r.Timeline = nil, nil
	r.Summary = v1alpha1.Summary{Requests: 18000, PeakErrorRatio: "0.004", BaselineGoroutines: 40, PeakGoroutines: 55, Restarts: 1}
	r.Spec.Victim.Orders.Cache = v1alpha1.CacheSharded
	r.Spec.Victim.Ledger.Idempotency = v1alpha1.IdempotencyCAS
	r.Spec.Victim.Gateway.Mode = v1alpha1.GatewayBounded
	// A Held drill has every fault recovered (the engine's evidence rule).
	r.Faults = append([]v1alpha1.FaultStatus(nil), r.Faults...)
	for i := range r.Faults {
		if f := &r.Faults[i]; f.RecoveredAt == nil {
			f.State, f.RecoveredAt = v1alpha1.FaultRecovered, f.InjectedAt
		}
	}
	for i := range r.Series {
		p := &r.Series[i]
		p.ErrorRatio, p.DuplicateCharges, p.Restarts = 0.001, 0, 0
		p.Goroutines = map[string]float64{"total": 45, "gateway-0": 12, "orders-0": 12, "orders-1": 12, "ledger-0": 9}
	}
	return r
}
