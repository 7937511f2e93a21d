package victim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/cascadelab/cascadelab/victim/loadgen"
)

func TestHelpDocumentsEveryFlag(t *testing.T) {
	out, err := exec.Command(victimBin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, f := range []string{"role", "listen", "admin-listen", "cache", "ledger-url", "idempotency", "data-dir",
		"mode", "orders-url", "timeout", "retries", "target", "rate", "duplicate-ratio", "duration", "seed", "order-prefix",
		"gateway", "orders", "ledger", "loadgen", "racy", "serialized", "leaky", "bounded", "cas"} {
		if !strings.Contains(string(out), f) {
			t.Errorf("--help does not mention %q", f)
		}
	}
	for _, args := range [][]string{{}, {"--role=cashier"}, {"--role=orders", "--cache=lru"},
		{"--role=ledger", "--idempotency=maybe"}, {"--role=gateway", "--mode=x"}, {"--role=loadgen", "--duplicate-ratio=2"},
		{"--role=gateway", "--timeout=0s"}, {"--nope"}} {
		cmd := exec.Command(victimBin, args...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 {
			t.Errorf("%v: exit %d, want 2; output:\n%s", args, code, out)
		}
	}
}

// TestLedgerSurvivesKill: what the ledger committed survives kill -9, and
// the restarted ledger's counters start from its books.
func TestLedgerSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes")
	}
	dir := t.TempDir()
	led := start(t, "ledger", "--idempotency=none", "--data-dir="+dir)
	ord := start(t, "orders", "--cache=mutex", "--ledger-url="+led.App)
	var wg sync.WaitGroup
	for i := range 20 {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, body := pay(context.Background(), ord.App, fmt.Sprintf("k-%d", i), 700); code != 200 {
					t.Errorf("pay: %d %s", code, body)
				}
			}()
		}
	}
	wg.Wait()
	before := balance(t, led)
	led.Kill()
	led2 := start(t, "ledger", "--idempotency=cas", "--data-dir="+dir)
	after := balance(t, led2)
	if before != after || after.PaidOrders != 20 {
		t.Fatalf("books before kill %+v, after restart %+v", before, after)
	}
	for name, want := range map[string]int64{"victim_charges_total": after.Charges, "victim_charged_cents_total": after.ChargedCents,
		"victim_duplicate_charges_total": after.DuplicateCharges, "victim_duplicate_charged_cents_total": after.DuplicateCents} {
		if got := metric(t, led2, name); got != float64(want) {
			t.Errorf("%s = %v after restart, want %d", name, got, want)
		}
	}
	if got := metric(t, led2, `victim_info{cache="",idempotency="cas",mode="",role="ledger"}`); got != 1 {
		t.Errorf("victim_info = %v", got)
	}
}

// TestLoadThroughTheStack: loadgen → gateway (bounded) → two orders
// (sharded) → ledger (cas): every request succeeds, duplicates are sent and
// none is charged twice; every role stops cleanly on SIGTERM.
func TestLoadThroughTheStack(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes")
	}
	led := startLedger(t, "cas")
	o1 := start(t, "orders", "--cache=sharded", "--ledger-url="+led.App)
	o2 := start(t, "orders", "--cache=sharded", "--ledger-url="+led.App)
	gw := start(t, "gateway", "--mode=bounded", "--timeout=5s", "--orders-url="+o1.App+","+o2.App)
	lg := startOnce(t, "loadgen", "--target="+gw.App, "--rate=200", "--duplicate-ratio=0.3", "--duration=2s", "--seed=9", "--order-prefix=stack")
	code, ok := lg.ExitCode(60e9)
	if !ok || code != 0 {
		lg.Kill()
		t.Fatalf("loadgen exit %d (exited %v); stderr:\n%s", code, ok, lg.Stderr())
	}
	var sum loadgen.Summary
	if err := json.Unmarshal([]byte(lg.stdout.String()), &sum); err != nil {
		t.Fatalf("loadgen summary %q: %v", lg.stdout.String(), err)
	}
	tot := balance(t, led)
	t.Logf("loadgen %+v; ledger %+v", sum, tot)
	if sum.Requests == 0 || sum.Codes["200"] != sum.Requests || sum.Duplicates == 0 {
		t.Errorf("loadgen summary %+v: want only 200s and some duplicates", sum)
	}
	if tot.DuplicateCharges != 0 || !tot.Balanced || tot.PaidOrders != sum.Requests-sum.Duplicates {
		t.Errorf("ledger %+v: want %d paid orders, no duplicates", tot, sum.Requests-sum.Duplicates)
	}
	if got := metric(t, gw, `http_requests_total{code="200",handler="pay",method="post"}`); got != float64(sum.Requests) {
		t.Errorf("gateway http_requests_total{code=200} = %v, want %d", got, sum.Requests)
	}
	resp, err := client.Get(gw.Admin + "/debug/pprof/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("pprof: %v %v", err, resp)
	}
	resp.Body.Close()
	for _, p := range []*proc{gw, o1, o2, led} {
		if code := p.Stop(); code != 0 {
			t.Errorf("%v exit %d on SIGTERM; stderr:\n%s", p.cmd.Args[1], code, tail(p.Stderr()))
		}
	}
}
