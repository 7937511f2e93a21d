package victim_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// hammer sends payments from n goroutines until ctx is done; ids returns the
// order ID for the i-th request of worker w.
func hammer(ctx context.Context, base string, n int, ids func(w, i int) string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				pay(ctx, base, ids(w, i), 100)
			}
		}()
	}
	return &wg
}

// TestRacyOrdersCrashes: the racy cache kills the orders process with the
// runtime's fatal map error, exit status 2, and the handler's recover() does
// not save it.
func TestRacyOrdersCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes under load")
	}
	led := startLedger(t, "none")
	ord := start(t, "orders", "--cache=racy", "--ledger-url="+led.App)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wg := hammer(ctx, ord.App, 64, func(w, i int) string { return fmt.Sprintf("crash-%d-%d", w, i) })
	code, exited := ord.ExitCode(30 * time.Second)
	cancel()
	wg.Wait()
	if !exited {
		t.Fatalf("racy orders survived 30 s of 64-way concurrent payments")
	}
	stderr := ord.Stderr()
	if code != 2 {
		t.Errorf("exit status %d, want 2 (a fatal runtime error)", code)
	}
	if !strings.Contains(stderr, "fatal error: concurrent map") {
		t.Errorf("stderr lacks %q:\n%s", "fatal error: concurrent map", tail(stderr))
	}
	// The pay handler defers a recover that logs "recovered panic": it never
	// runs, because a fatal throw is not a panic.
	if strings.Contains(stderr, "recovered panic") {
		t.Errorf("recover() caught something; stderr:\n%s", tail(stderr))
	}
	if !strings.Contains(stderr, "victim/cache.(*racy)") {
		t.Errorf("the crash stack does not name the racy cache:\n%s", tail(stderr))
	}
	t.Logf("crash headline: %s", firstLine(stderr, "fatal error:"))
}

// payPairsThroughRacy pays pairs of concurrent same-ID payments through racy
// orders replicas against led, restarting a replica when it crashes (as a
// kubelet would), until enough returns true or 30 s pass.
func payPairsThroughRacy(t *testing.T, led *proc, enough func() bool) (pairs, crashes int64) {
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		ord := start(t, "orders", "--cache=racy", "--ledger-url="+led.App)
		for i := 0; i < 20 && !ord.Exited(); i++ {
			var wg sync.WaitGroup
			for p := range 8 { // 8 pairs at once, each pair the same ID
				id := fmt.Sprintf("dup-%d-%d-%d", n, i, p)
				pairs++
				for range 2 {
					wg.Add(1)
					go func() { defer wg.Done(); pay(context.Background(), ord.App, id, 250) }()
				}
			}
			wg.Wait()
		}
		if ord.Exited() {
			crashes++
		}
		ord.Stop()
		if enough() {
			break
		}
	}
	return pairs, crashes
}

// TestRacyNoneDoubleCharges: with the racy cache and a ledger without
// idempotency, concurrent duplicate payments are charged twice and the ledger
// counts them. The racy process may crash meanwhile; it is restarted.
func TestRacyNoneDoubleCharges(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes under load")
	}
	led := startLedger(t, "none")
	pairs, crashes := payPairsThroughRacy(t, led, func() bool { return balance(t, led).DuplicateCharges > 0 })
	tot := balance(t, led)
	t.Logf("pairs=%d orders crashes=%d totals=%+v", pairs, crashes, tot)
	if tot.DuplicateCharges == 0 {
		t.Fatalf("no duplicate charges after %d concurrent pairs", pairs)
	}
	if tot.Balanced || tot.ChargedCents-tot.PaidCents != tot.DuplicateCents {
		t.Errorf("books: charged %d, paid %d, duplicate cents %d: want charged = paid + duplicates",
			tot.ChargedCents, tot.PaidCents, tot.DuplicateCents)
	}
	if got := metric(t, led, "victim_duplicate_charges_total"); got != float64(tot.DuplicateCharges) {
		t.Errorf("victim_duplicate_charges_total = %v, want %d", got, tot.DuplicateCharges)
	}
	if got := metric(t, led, "victim_duplicate_charged_cents_total"); got != float64(tot.DuplicateCents) {
		t.Errorf("victim_duplicate_charged_cents_total = %v, want %d", got, tot.DuplicateCents)
	}
}

// TestRacyCASNoDoubleCharge: the racy cache still crashes, but the cas
// ledger charges every order once: the database is the truth.
func TestRacyCASNoDoubleCharge(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes under load")
	}
	led := startLedger(t, "cas")
	rounds := 0
	pairs, crashes := payPairsThroughRacy(t, led, func() bool { rounds++; return rounds >= 2 })
	tot := balance(t, led)
	t.Logf("pairs=%d orders crashes=%d totals=%+v", pairs, crashes, tot)
	if tot.DuplicateCharges != 0 || !tot.Balanced || tot.Charges == 0 {
		t.Errorf("totals %+v: want charges, no duplicates, balanced", tot)
	}
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 30 {
		lines = lines[:30]
	}
	return strings.Join(lines, "\n")
}

func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestOnePHidesTheRace: with one P (GOMAXPROCS=1) the runtime runs one
// goroutine at a time and does not preempt map code mid-operation, so two
// map operations never overlap: the racy orders service survives the
// hammering that kills it within seconds in TestRacyOrdersCrashes. This is
// why the victim binary runs with at least two Ps (victim/cmd/victim).
func TestOnePHidesTheRace(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes under load")
	}
	t.Setenv("GOMAXPROCS", "1")
	led := startLedger(t, "none")
	ord := start(t, "orders", "--cache=racy", "--ledger-url="+led.App)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wg := hammer(ctx, ord.App, 64, func(w, i int) string { return fmt.Sprintf("onep-%d-%d", w, i) })
	<-ctx.Done()
	wg.Wait()
	if ord.Exited() {
		t.Fatalf("racy orders with GOMAXPROCS=1 crashed:\n%s", tail(ord.Stderr()))
	}
}
