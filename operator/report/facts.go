package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
)

// faultRow is one fault as planned in the spec and as it happened.
type faultRow struct {
	Name string
	// Kind is "PodChaos" or "NetworkChaos".
	Kind string
	// Action is the Chaos Mesh action with its parameters, e.g. "delay 200ms ±50ms".
	Action string
	// Selector is the mode and label selector, e.g. "one of component=orders".
	Selector string
	// After is the planned offset; Duration the planned length ("until the end" when unset).
	After, Duration string
	// State, Injected, Recovered and Targets come from the fault's status, if any.
	State, Injected, Recovered, Targets string
	// Message explains a failed fault.
	Message string
	// Effect is whether the kit saw the fault's effect (Confirmed,
	// NotObserved, Inconclusive; "" when not judged); EffectDetail is the
	// figure that decided it.
	Effect, EffectDetail string
}

// window is the span of the drill during which one fault was active.
type window struct {
	Name     string
	From, To time.Duration
}

// faultRows joins r's spec faults with their statuses, in spec order.
func (r *Report) faultRows() []faultRow {
	status := map[string]v1alpha1.FaultStatus{}
	for _, s := range r.Faults {
		status[s.Name] = s
	}
	var rows []faultRow
	for _, f := range r.Spec.Faults {
		row := faultRow{Name: f.Name, After: fmtDur(f.After.Duration), Duration: "until the end"}
		switch {
		case f.PodChaos != nil:
			row.Kind, row.Action = "PodChaos", string(f.PodChaos.Action)
			row.Selector = selector(f.PodChaos.PodSelector)
			row.Duration = durString(f.PodChaos.Duration, row.Duration)
			if f.PodChaos.Action == chaosv1alpha1.PodKillAction || f.PodChaos.Action == chaosv1alpha1.ContainerKillAction {
				row.Duration = "instant"
			}
		case f.NetworkChaos != nil:
			nc := f.NetworkChaos
			row.Kind, row.Action = "NetworkChaos", networkAction(nc)
			row.Selector = selector(nc.PodSelector)
			if nc.Target != nil {
				row.Selector += fmt.Sprintf(" → %s (%s)", selector(*nc.Target), orDefault(string(nc.Direction), "to"))
			}
			row.Duration = durString(nc.Duration, row.Duration)
		}
		if s, ok := status[f.Name]; ok {
			row.State, row.Message = string(s.State), s.Message
			row.Effect, row.EffectDetail = string(s.Effect), s.EffectDetail
			row.Targets = strings.Join(s.Targets, ", ")
			if s.InjectedAt != nil {
				row.Injected = fmtDur(s.InjectedAt.Duration)
			}
			if s.RecoveredAt != nil {
				row.Recovered = fmtDur(s.RecoveredAt.Duration)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// windows returns the span of each fault that was injected: from its
// injectedAt to its recoveredAt (or the end of the drill). Without statuses
// it falls back to the spec's offsets and durations.
func (r *Report) windows() []window {
	end := r.end()
	var ws []window
	if len(r.Faults) > 0 {
		for _, s := range r.Faults {
			if s.InjectedAt == nil {
				continue
			}
			w := window{Name: s.Name, From: s.InjectedAt.Duration, To: end}
			if s.RecoveredAt != nil {
				w.To = s.RecoveredAt.Duration
			}
			ws = append(ws, w)
		}
		return ws
	}
	for _, f := range r.Spec.Faults {
		w := window{Name: f.Name, From: f.After.Duration, To: end}
		var d *string
		if f.PodChaos != nil {
			d = f.PodChaos.Duration
		} else if f.NetworkChaos != nil {
			d = f.NetworkChaos.Duration
		}
		if d != nil {
			if dd, err := time.ParseDuration(*d); err == nil {
				w.To = min(w.From+dd, end)
			}
		}
		ws = append(ws, w)
	}
	return ws
}

// end is the drill's last instant: the last sample, the elapsed time or the
// planned duration, whichever is known and largest.
func (r *Report) end() time.Duration {
	end := max(r.Elapsed, r.Spec.Duration.Duration)
	if n := len(r.Series); n > 0 {
		end = max(end, r.Series[n-1].At)
	}
	return end
}

// findingCounts counts r's findings by type.
func (r *Report) findingCounts() map[v1alpha1.FindingType]int {
	m := map[v1alpha1.FindingType]int{}
	for _, f := range r.Findings {
		m[f.Type]++
	}
	return m
}

// targets lists the per-target goroutine series names (all but "total"), sorted.
func (r *Report) targets() []string {
	seen := map[string]bool{}
	for _, p := range r.Series {
		for k := range p.Goroutines {
			if k != "total" {
				seen[k] = true
			}
		}
	}
	return sortedKeys(seen)
}

// victimModes describes the victim in one line, e.g.
// "orders ×2 cache=racy · ledger idempotency=none · gateway leaky (timeout 500ms, 2 retries)".
func (r *Report) victimModes() string {
	if v := r.Spec.Victim; v != nil {
		g := fmt.Sprintf("gateway %s (timeout %s", orDefault(string(v.Gateway.Mode), "leaky"), fmtDur(v.Gateway.Timeout.Duration))
		if v.Gateway.Retries != nil {
			g += fmt.Sprintf(", %d retries", *v.Gateway.Retries)
		}
		return fmt.Sprintf("orders ×%d cache=%s · ledger idempotency=%s · %s)",
			v.Orders.Replicas, v.Orders.Cache, v.Ledger.Idempotency, g)
	}
	if t := r.Spec.Target; t != nil {
		return fmt.Sprintf("existing pods %s (admin port %d)", labels(t.Selector.MatchLabels), t.AdminPort)
	}
	return "unknown"
}

// load describes the load in one line, e.g. "300 req/s, 10% of orders paid
// again 400ms later, for 1m0s (steady state 10s)".
func (r *Report) load() string {
	return fmt.Sprintf("%d req/s, %s, for %s (steady state %s)",
		r.Spec.Load.Rate, r.duplicates(),
		fmtDur(r.Spec.Duration.Duration), fmtDur(r.Spec.SteadyState.Duration))
}

// duplicates says which orders the load pays twice and when: "10% of orders
// paid again 400ms later" (load.duplicateAfter above zero), "10% of orders
// paid twice at the same moment" (0s), "no order paid twice" (ratio 0 or
// unset). A ratio that is not a number is shown as given.
func (r *Report) duplicates() string {
	ratio := orDefault(r.Spec.Load.DuplicateRatio, "0")
	f, err := strconv.ParseFloat(ratio, 64)
	if err != nil || f < 0 || f > 1 {
		return "duplicate ratio " + ratio
	}
	if f == 0 {
		return "no order paid twice"
	}
	// Round away float noise: 0.1×100 is 10.000000000000002.
	pct := strconv.FormatFloat(math.Round(f*100*1e6)/1e6, 'f', -1, 64) + "%"
	if after := r.Spec.Load.DuplicateAfter.Duration; after > 0 {
		return fmt.Sprintf("%s of orders paid again %s later", pct, fmtDur(after))
	}
	return pct + " of orders paid twice at the same moment"
}

func networkAction(nc *chaosv1alpha1.NetworkChaosSpec) string {
	s := string(nc.Action)
	switch {
	case nc.Delay != nil:
		s += " " + nc.Delay.Latency
		if nc.Delay.Jitter != "" {
			s += " ±" + nc.Delay.Jitter
		}
	case nc.Loss != nil:
		s += " " + nc.Loss.Loss + "%"
	case nc.Bandwidth != nil:
		s += " " + nc.Bandwidth.Rate
	case nc.Corrupt != nil:
		s += " " + nc.Corrupt.Corrupt + "%"
	case nc.Duplicate != nil:
		s += " " + nc.Duplicate.Duplicate + "%"
	}
	return s
}

func selector(ps chaosv1alpha1.PodSelector) string {
	m := string(ps.Mode)
	if ps.Value != "" {
		m += " " + ps.Value
	}
	sel := labels(ps.Selector.LabelSelectors)
	if len(ps.Selector.Pods) > 0 {
		var pods []string
		for _, names := range ps.Selector.Pods {
			pods = append(pods, names...)
		}
		sort.Strings(pods)
		sel = strings.TrimSpace(sel + " pods " + strings.Join(pods, ","))
	}
	return strings.TrimSpace(m + " of " + orDefault(sel, "all pods"))
}

func labels(m map[string]string) string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func durString(d *string, def string) string {
	if d == nil || *d == "" {
		return def
	}
	return *d
}

func fmtDur(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return d.Round(time.Millisecond).String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
