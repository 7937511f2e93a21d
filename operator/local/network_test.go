package local

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

func netChaos(action chaosv1alpha1.NetworkChaosAction, component string, mutate func(*chaosv1alpha1.NetworkChaosSpec)) v1alpha1.Fault {
	nc := &chaosv1alpha1.NetworkChaosSpec{
		PodSelector: chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode,
			Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{
				LabelSelectors: map[string]string{LabelComponent: component}}}},
		Action: action,
	}
	if mutate != nil {
		mutate(nc)
	}
	return v1alpha1.Fault{Name: "n", NetworkChaos: nc}
}

func edgeURL(t *testing.T, b *Backend, client, server string) string {
	t.Helper()
	for _, e := range b.edges {
		if e.client.name == client && e.server.name == server {
			return e.url()
		}
	}
	t.Fatalf("no edge %s → %s", client, server)
	return ""
}

func toxicCount(b *Backend) int {
	n := 0
	for _, e := range b.edges {
		n += len(e.proxy.Toxics.GetToxicArray())
	}
	return n
}

func TestNetworkDelayOnLedger(t *testing.T) {
	b := newFake(t, 2)
	url := edgeURL(t, b, "orders-0", "ledger-0")
	base, err := pay(url, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const latency = 300 * time.Millisecond
	targets, err := b.Inject(context.Background(), 0, netChaos(chaosv1alpha1.DelayAction, RoleLedger, func(nc *chaosv1alpha1.NetworkChaosSpec) {
		nc.Delay = &chaosv1alpha1.DelaySpec{Latency: "300ms", Jitter: "10ms"}
	}))
	if err != nil || strings.Join(targets, ",") != "ledger-0" {
		t.Fatalf("Inject: %v %v", targets, err)
	}
	// Direction "to" on the ledger: its responses on both orders→ledger edges.
	if n := toxicCount(b); n != 2 {
		t.Errorf("%d toxics, want 2 (one per orders→ledger edge)", n)
	}
	delayed, err := pay(url, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("orders-0→ledger-0: %v without, %v with a %v delay", base, delayed, latency)
	if delayed < latency*8/10 {
		t.Errorf("delayed request took %v, want ≥ %v", delayed, latency*8/10)
	}
	if _, err := pay(edgeURL(t, b, "gateway-0", "orders-1"), 5*time.Second); err != nil {
		t.Errorf("gateway→orders-1 (→ledger, delayed) failed: %v", err)
	}
	if err := b.RecoverAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := toxicCount(b); n != 0 {
		t.Errorf("%d toxics after RecoverAll", n)
	}
}

func TestNetworkPartition(t *testing.T) {
	for _, behavior := range []chaosv1alpha1.NetworkChaosPartitionBehavior{"", chaosv1alpha1.RejectPartitionBehavior} {
		t.Run("behavior="+string(behavior), func(t *testing.T) {
			b := newFake(t, 2)
			// orders-0 cut off from the ledger, both ways; orders-1 untouched.
			f := netChaos(chaosv1alpha1.PartitionAction, RoleOrders, func(nc *chaosv1alpha1.NetworkChaosSpec) {
				nc.Selector.Pods = map[string][]string{"local": {"orders-0"}}
				nc.Direction = chaosv1alpha1.Both
				nc.PartitionBehavior = behavior
				nc.Target = &chaosv1alpha1.PodSelector{Mode: chaosv1alpha1.AllMode, Selector: chaosv1alpha1.PodSelectorSpec{
					GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{LabelComponent: RoleLedger}}}}
			})
			if _, err := b.Inject(context.Background(), 3, f); err != nil {
				t.Fatal(err)
			}
			if n := toxicCount(b); n != 2 {
				t.Errorf("%d toxics, want 2 (both streams of orders-0→ledger-0)", n)
			}
			if _, err := pay(edgeURL(t, b, "orders-0", "ledger-0"), time.Second); err == nil {
				t.Error("request across the partition succeeded")
			}
			if _, err := pay(edgeURL(t, b, "orders-1", "ledger-0"), 5*time.Second); err != nil {
				t.Errorf("orders-1→ledger-0 outside the partition failed: %v", err)
			}
			if err := b.Recover(context.Background(), 3); err != nil {
				t.Fatal(err)
			}
			if n := toxicCount(b); n != 0 {
				t.Errorf("%d toxics after Recover", n)
			}
			if _, err := pay(edgeURL(t, b, "orders-0", "ledger-0"), 5*time.Second); err != nil {
				t.Errorf("after Recover: %v", err)
			}
		})
	}
}

func TestInjectErrors(t *testing.T) {
	b := newFake(t, 1)
	_, err := b.Inject(context.Background(), 2, netChaos(chaosv1alpha1.CorruptAction, RoleLedger, func(nc *chaosv1alpha1.NetworkChaosSpec) {
		nc.Corrupt = &chaosv1alpha1.CorruptSpec{Corrupt: "50"}
	}))
	if err == nil || !strings.Contains(err.Error(), "spec.faults[2].networkChaos.corrupt") {
		t.Errorf("corrupt: %v", err)
	}
	_, err = b.Inject(context.Background(), 0, podChaos(chaosv1alpha1.PodKillAction, chaosv1alpha1.OneMode, "", "nosuchrole", nil))
	if err == nil || !strings.Contains(err.Error(), "matches no local pod") {
		t.Errorf("empty selector: %v", err)
	}
}

func TestStreamsFor(t *testing.T) {
	o, l, g := &pod{name: "orders-0"}, &pod{name: "ledger-0"}, &pod{name: "gateway-0"}
	ol, go_ := &edge{client: o, server: l}, &edge{client: g, server: o}
	S := map[*pod]bool{o: true}
	for _, tc := range []struct {
		e    *edge
		dir  chaosv1alpha1.Direction
		t    map[*pod]bool
		want string
	}{
		{ol, "", nil, "upstream"},    // orders sends requests to the ledger
		{go_, "", nil, "downstream"}, // and responses to the gateway
		{ol, chaosv1alpha1.From, nil, "downstream"},
		{go_, chaosv1alpha1.Both, nil, "upstream,downstream"},
		{ol, chaosv1alpha1.To, map[*pod]bool{l: true}, "upstream"},
		{go_, chaosv1alpha1.To, map[*pod]bool{l: true}, ""}, // not between S and T
		{ol, chaosv1alpha1.From, map[*pod]bool{l: true}, "downstream"},
	} {
		if got := strings.Join(streamsFor(tc.e, tc.dir, S, tc.t), ","); got != tc.want {
			t.Errorf("%s→%s dir %q target %v: %q, want %q", tc.e.client.name, tc.e.server.name, tc.dir, tc.t != nil, got, tc.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"1mbps": 1000, "8kbit": 1, "800kbit": 100, "1gbit": 125000, "10bps": 1, "2500kbps": 2500} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseRate("fast"); err == nil {
		t.Error(`parseRate("fast") succeeded`)
	}
}

func TestSelectModes(t *testing.T) {
	b := &Backend{name: "x"}
	var pods []*pod
	for _, n := range []string{"ledger-0", "orders-0", "orders-1", "orders-2", "orders-3", "gateway-0"} {
		role, _, _ := strings.Cut(n, "-")
		pods = append(pods, &pod{b: b, name: n, role: role, namespace: "local",
			labels: map[string]string{LabelName: AppName, LabelComponent: role, LabelInstance: "x"}})
	}
	orders := chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{LabelSelectors: map[string]string{LabelComponent: RoleOrders}}}
	for _, tc := range []struct {
		name    string
		sel     chaosv1alpha1.PodSelector
		n       int // -1: error; for random-max-percent, the most
		randMax bool
	}{
		{"one", chaosv1alpha1.PodSelector{Selector: orders, Mode: "one"}, 1, false},
		{"all", chaosv1alpha1.PodSelector{Selector: orders, Mode: "all"}, 4, false},
		{"all of everything", chaosv1alpha1.PodSelector{Mode: "all"}, 6, false},
		{"fixed 2", chaosv1alpha1.PodSelector{Selector: orders, Mode: "fixed", Value: "2"}, 2, false},
		{"fixed beyond", chaosv1alpha1.PodSelector{Selector: orders, Mode: "fixed", Value: "9"}, 4, false},
		{"fixed 0", chaosv1alpha1.PodSelector{Selector: orders, Mode: "fixed", Value: "0"}, -1, false},
		{"fixed-percent 50", chaosv1alpha1.PodSelector{Selector: orders, Mode: "fixed-percent", Value: "50"}, 2, false},
		{"fixed-percent 10 of 4", chaosv1alpha1.PodSelector{Selector: orders, Mode: "fixed-percent", Value: "10"}, -1, false},
		{"random-max-percent 100", chaosv1alpha1.PodSelector{Selector: orders, Mode: "random-max-percent", Value: "100"}, 4, true},
		{"bad mode", chaosv1alpha1.PodSelector{Selector: orders, Mode: "some"}, -1, false},
		{"nothing matches", chaosv1alpha1.PodSelector{Mode: "all", Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{Namespaces: []string{"prod"}}}}, -1, false},
		{"pods", chaosv1alpha1.PodSelector{Mode: "all", Selector: chaosv1alpha1.PodSelectorSpec{Pods: map[string][]string{"local": {"orders-2", "ledger-0"}}}}, 2, false},
		{"expression", chaosv1alpha1.PodSelector{Mode: "all", Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{
			ExpressionSelectors: chaosv1alpha1.LabelSelectorRequirements{{Key: LabelComponent, Operator: "In", Values: []string{"gateway", "ledger"}}}}}}, 2, false},
		{"annotations match none", chaosv1alpha1.PodSelector{Mode: "all", Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{AnnotationSelectors: map[string]string{"a": "b"}}}}, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectPods(tc.sel, pods, rand.New(rand.NewSource(1)))
			if tc.n < 0 {
				if err == nil {
					t.Fatalf("selected %d pods, want an error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.randMax && len(got) > tc.n || !tc.randMax && len(got) != tc.n {
				t.Fatalf("selected %d, want %d", len(got), tc.n)
			}
		})
	}
	// The same seed gives the same choice; across seeds every replica gets picked.
	one := chaosv1alpha1.PodSelector{Selector: orders, Mode: "one"}
	a, _ := selectPods(one, pods, rand.New(rand.NewSource(42)))
	c, _ := selectPods(one, pods, rand.New(rand.NewSource(42)))
	if a[0] != c[0] {
		t.Error("same seed, different choice")
	}
	seen := map[string]bool{}
	r := rand.New(rand.NewSource(7))
	for range 200 {
		p, _ := selectPods(one, pods, r)
		seen[p[0].name] = true
	}
	if len(seen) != 4 {
		t.Errorf("mode one over 200 draws picked %v", seen)
	}
}

func TestToxicsFor(t *testing.T) {
	for _, tc := range []struct {
		nc   chaosv1alpha1.NetworkChaosSpec
		want string // type:toxicity:attributes
	}{
		{chaosv1alpha1.NetworkChaosSpec{Action: "delay", TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "200ms", Jitter: "50ms"}}},
			"latency:1:map[jitter:50 latency:200]"},
		{chaosv1alpha1.NetworkChaosSpec{Action: "loss", TcParameter: chaosv1alpha1.TcParameter{Loss: &chaosv1alpha1.LossSpec{Loss: "25"}}},
			"timeout:0.25:map[timeout:0]"},
		{chaosv1alpha1.NetworkChaosSpec{Action: "partition"}, "timeout:1:map[timeout:0]"},
		{chaosv1alpha1.NetworkChaosSpec{Action: "partition", PartitionBehavior: "reject"}, "reset_peer:1:map[timeout:0]"},
		{chaosv1alpha1.NetworkChaosSpec{Action: "bandwidth", TcParameter: chaosv1alpha1.TcParameter{Bandwidth: &chaosv1alpha1.BandwidthSpec{Rate: "1mbps"}}},
			"bandwidth:1:map[rate:1000]"},
		{chaosv1alpha1.NetworkChaosSpec{Action: "netem", TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "1s"}, Rate: &chaosv1alpha1.RateSpec{Rate: "8kbit"}}},
			"latency:1:map[jitter:0 latency:1000] bandwidth:1:map[rate:1]"},
	} {
		specs, err := toxicsFor(&tc.nc)
		if err != nil {
			t.Fatalf("%s: %v", tc.nc.Action, err)
		}
		var got []string
		for _, s := range specs {
			got = append(got, fmt.Sprintf("%s:%v:%v", s.Type, s.Toxicity, s.Attributes))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s: %s, want %s", tc.nc.Action, g, tc.want)
		}
	}
	if _, err := toxicsFor(&chaosv1alpha1.NetworkChaosSpec{Action: "corrupt"}); err == nil {
		t.Error("corrupt translated")
	}
}
