package local

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRealVictim runs the real victim binary (built from ./victim/cmd/victim)
// through the backend: topology up, a payment through the gateway, load,
// a delay on the ledger, a pod-kill, and a clean Close.
func TestRealVictim(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the victim")
	}
	bin := filepath.Join(t.TempDir(), "victim")
	if out, err := exec.Command("go", "build", "-o", bin, "../../victim/cmd/victim").CombinedOutput(); err != nil {
		t.Fatalf("building the victim: %v\n%s", err, out)
	}
	b, err := New("real", v1alpha1.VictimSpec{Orders: v1alpha1.OrdersSpec{Replicas: 2, Cache: v1alpha1.CacheMutex},
		Ledger: v1alpha1.LedgerSpec{Idempotency: v1alpha1.IdempotencyCAS}, Gateway: v1alpha1.GatewaySpec{Mode: v1alpha1.GatewayBounded}},
		WithVictimCommand(bin), WithSeed(3), WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		if c := children(t); len(c) != 0 {
			t.Errorf("children left: %v", c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pay(b.GatewayURL(), 10*time.Second); err != nil {
		t.Fatalf("pay through the gateway: %v", err)
	}
	// Duplicates 300ms apart: the real loadgen takes --duplicate-after.
	load := v1alpha1.LoadSpec{Rate: 50, DuplicateRatio: "0.1", DuplicateAfter: metav1.Duration{Duration: 300 * time.Millisecond}}
	if err := b.StartLoad(ctx, load, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Inject(ctx, 0, netChaos(chaosv1alpha1.DelayAction, RoleLedger, func(nc *chaosv1alpha1.NetworkChaosSpec) {
		nc.Delay = &chaosv1alpha1.DelaySpec{Latency: "50ms"}
	})); err != nil {
		t.Fatal(err)
	}
	killed, err := b.Inject(ctx, 1, podChaos(chaosv1alpha1.PodKillAction, chaosv1alpha1.OneMode, "", RoleOrders, nil))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-b.Crashes():
		if c.Target != killed[0] || !c.Injected {
			t.Errorf("crash %+v, want injected kill of %s", c, killed[0])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no crash for the kill")
	}
	time.Sleep(time.Second)
	var roles []string
	for _, tg := range b.Targets() {
		roles = append(roles, tg.Name)
		if tg.Name == killed[0] {
			eventually(t, 10*time.Second, tg.Name+" back", func() bool { return podByName(b, tg.Name).Running })
		}
		eventually(t, 10*time.Second, tg.Name+" /metrics", func() bool {
			resp, err := http.Get(tg.AdminURL + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return strings.Contains(string(body), "go_goroutines")
		})
	}
	http.DefaultClient.CloseIdleConnections()
	if got := strings.Join(roles, ","); got != "ledger-0,orders-0,orders-1,gateway-0,loadgen-0" {
		t.Errorf("targets %s", got)
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
