package local_test

import (
	"strings"
	"testing"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/cascadelab/cascadelab/operator/local"
)

// TestExportedToxics checks the helpers the operator's NetworkChaos
// stand-in uses: the same toxics and streams as the backend itself.
func TestExportedToxics(t *testing.T) {
	ts, err := local.Toxics(&chaosv1alpha1.NetworkChaosSpec{Action: chaosv1alpha1.DelayAction,
		TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "300ms", Jitter: "20ms"}}})
	if err != nil || len(ts) != 1 || ts[0].Type != "latency" || ts[0].Toxicity != 1 ||
		ts[0].Attributes["latency"] != int64(300) || ts[0].Attributes["jitter"] != int64(20) || ts[0].Name != "" || ts[0].Stream != "" {
		t.Errorf("delay: %+v, %v", ts, err)
	}
	if _, err := local.Toxics(&chaosv1alpha1.NetworkChaosSpec{Action: chaosv1alpha1.DelayAction}); err == nil {
		t.Error("delay without delay accepted")
	}
	// orders (selected) → ledger, and gateway → orders (selected).
	for _, tc := range []struct {
		dir                     chaosv1alpha1.Direction
		clientS, serverS, withT bool
		clientT, serverT        bool
		want                    string
	}{
		{"", true, false, false, false, false, "upstream"},
		{"", false, true, false, false, false, "downstream"},
		{chaosv1alpha1.From, true, false, false, false, false, "downstream"},
		{chaosv1alpha1.Both, false, true, false, false, false, "upstream,downstream"},
		{chaosv1alpha1.To, true, false, true, false, true, "upstream"},
		{chaosv1alpha1.To, false, true, true, false, false, ""},
		{"", false, false, false, false, false, ""},
	} {
		if got := strings.Join(local.Streams(tc.dir, tc.clientS, tc.serverS, tc.withT, tc.clientT, tc.serverT), ","); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc, got, tc.want)
		}
	}
}
