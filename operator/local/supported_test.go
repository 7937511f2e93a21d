package local

import (
	"strings"
	"testing"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

func TestCheckSupported(t *testing.T) {
	ok := v1alpha1.ExperimentSpec{Victim: &v1alpha1.VictimSpec{}}
	for _, tc := range []struct {
		name  string
		fault v1alpha1.Fault
		want  string // a field path in the errors; "" = supported
	}{
		{"delay", netChaos(chaosv1alpha1.DelayAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) {
			nc.Delay = &chaosv1alpha1.DelaySpec{Latency: "200ms", Jitter: "50ms"}
		}), ""},
		{"loss", netChaos(chaosv1alpha1.LossAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) { nc.Loss = &chaosv1alpha1.LossSpec{Loss: "25"} }), ""},
		{"bandwidth", netChaos(chaosv1alpha1.BandwidthAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) {
			nc.Bandwidth = &chaosv1alpha1.BandwidthSpec{Rate: "1mbps", Limit: 100, Buffer: 100}
		}), ""},
		{"partition", netChaos(chaosv1alpha1.PartitionAction, "ledger", nil), ""},
		{"pod-kill", podChaos(chaosv1alpha1.PodKillAction, "one", "", "orders", nil), ""},
		{"corrupt action", netChaos(chaosv1alpha1.CorruptAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) {
			nc.Corrupt = &chaosv1alpha1.CorruptSpec{Corrupt: "10"}
		}), "spec.faults[0].networkChaos.corrupt"},
		{"netem with duplicate", netChaos(chaosv1alpha1.NetemAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) {
			nc.Delay = &chaosv1alpha1.DelaySpec{Latency: "10ms"}
			nc.Duplicate = &chaosv1alpha1.DuplicateSpec{Duplicate: "5"}
		}), "spec.faults[0].networkChaos.duplicate"},
		{"external targets", netChaos(chaosv1alpha1.PartitionAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) { nc.ExternalTargets = []string{"1.1.1.1"} }),
			"spec.faults[0].networkChaos.externalTargets"},
		{"device", netChaos(chaosv1alpha1.PartitionAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) { nc.Device = "eth0" }), "spec.faults[0].networkChaos.device"},
		{"delay correlation", netChaos(chaosv1alpha1.DelayAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) {
			nc.Delay = &chaosv1alpha1.DelaySpec{Latency: "1ms", Correlation: "25"}
		}), "spec.faults[0].networkChaos.delay.correlation"},
		{"delay missing", netChaos(chaosv1alpha1.DelayAction, "ledger", nil), "spec.faults[0].networkChaos.delay"},
		{"loss on delay", netChaos(chaosv1alpha1.DelayAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) {
			nc.Delay = &chaosv1alpha1.DelaySpec{Latency: "1ms"}
			nc.Loss = &chaosv1alpha1.LossSpec{Loss: "5"}
		}), "spec.faults[0].networkChaos.loss"},
		{"peakrate", netChaos(chaosv1alpha1.BandwidthAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) {
			p := uint64(5)
			nc.Bandwidth = &chaosv1alpha1.BandwidthSpec{Rate: "1mbps", Limit: 1, Buffer: 1, Peakrate: &p}
		}), "spec.faults[0].networkChaos.bandwidth.peakrate"},
		{"nodes", netChaos(chaosv1alpha1.PartitionAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) { nc.Selector.Nodes = []string{"n1"} }),
			"spec.faults[0].networkChaos.selector.nodes"},
		{"target nodeSelectors", netChaos(chaosv1alpha1.PartitionAction, "ledger", func(nc *chaosv1alpha1.NetworkChaosSpec) {
			nc.Target = &chaosv1alpha1.PodSelector{Mode: "all", Selector: chaosv1alpha1.PodSelectorSpec{NodeSelectors: map[string]string{"a": "b"}}}
		}), "spec.faults[0].networkChaos.target.selector.nodeSelectors"},
		{"fixed without value", podChaos(chaosv1alpha1.PodKillAction, "fixed", "", "orders", nil), "spec.faults[0].podChaos.value"},
		{"remote cluster", func() v1alpha1.Fault {
			f := podChaos(chaosv1alpha1.PodKillAction, "one", "", "orders", nil)
			f.PodChaos.RemoteCluster = "east"
			return f
		}(), "spec.faults[0].podChaos.remoteCluster"},
		{"bad duration", podChaos(chaosv1alpha1.PodFailureAction, "one", "", "orders", ptr("soon")), "spec.faults[0].podChaos.duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			spec.Faults = []v1alpha1.Fault{tc.fault}
			errs := CheckSupported(spec)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("rejected: %v", errs)
				}
				return
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.want+":") {
				t.Fatalf("errors %v, want one at %s", errs, tc.want)
			}
		})
	}
	if errs := CheckSupported(v1alpha1.ExperimentSpec{Target: &v1alpha1.TargetSpec{}}); !strings.Contains(errs.ToAggregate().Error(), "spec.target") {
		t.Errorf("target: %v", errs)
	}
}

func ptr[T any](v T) *T { return &v }
