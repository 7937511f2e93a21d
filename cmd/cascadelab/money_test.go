package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/drive"
	"github.com/cascadelab/cascadelab/operator/local"
	"github.com/cascadelab/cascadelab/victim/ledger"
	"github.com/cascadelab/cascadelab/victim/loadgen"
)

// Environment knobs of TestMoneyUnderChaos. The figure is 100 000
// payments; the default keeps `make test` near a minute.
const (
	moneyPaymentsEnv = "CASCADELAB_MONEY_PAYMENTS" // payment requests, duplicates included (default 15000)
	moneyRateEnv     = "CASCADELAB_MONEY_RATE"     // requests per second (default 300)
)

// moneyDrill is the experiment of TestMoneyUnderChaos for a drill of d
// seconds: the fixed victim (sharded cache, cas ledger, bounded gateway), a
// 20 % duplicate-ID load, the ledger delayed for most of the drill, and
// pod-kills of the ledger (three times) and of the orders replicas (one,
// then both, then one). Thresholds other than duplicates are loose on
// purpose: killing the only ledger fails the requests in flight, and this
// drill is about money, not availability.
func moneyDrill(d, rate int) string {
	at := func(frac float64) string { return fmt.Sprintf("%dms", int(float64(d)*1000*frac)) }
	kill := func(name, component, mode string, frac float64) string {
		return fmt.Sprintf(`
  - name: %s
    after: %s
    podChaos:
      action: pod-kill
      mode: %s
      selector:
        labelSelectors: {app.kubernetes.io/component: %s}`, name, at(frac), mode, component)
	}
	return fmt.Sprintf(`apiVersion: cascadelab.dev/v1alpha1
kind: Experiment
metadata:
  name: money-under-chaos
spec:
  victim:
    orders: {replicas: 2, cache: sharded}
    ledger: {idempotency: cas}
    gateway: {mode: bounded, timeout: 500ms, retries: 2}
  load: {rate: %d, duplicateRatio: "0.2"}
  duration: %ds
  steadyState: %s
  faults:
  - name: slow-ledger
    after: %s
    networkChaos:
      action: delay
      mode: all
      selector:
        labelSelectors: {app.kubernetes.io/component: ledger}
      delay: {latency: 50ms, jitter: 20ms}
      duration: %s%s%s%s%s%s%s
  hypothesis:
    maxErrorRatio: "1"
    maxDuplicateCharges: 0
    maxGoroutineGrowth: "100"
    maxLeakedGoroutines: 0
    maxRestarts: 0
`, rate, d, at(0.1), at(0.12), at(0.76),
		kill("kill-one-orders-1", "orders", "one", 0.2),
		kill("kill-ledger-1", "ledger", "one", 0.3),
		kill("kill-all-orders", "orders", "all", 0.45),
		kill("kill-ledger-2", "ledger", "one", 0.55),
		kill("kill-one-orders-2", "orders", "one", 0.7),
		kill("kill-ledger-3", "ledger", "one", 0.8))
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// The fixed victim under pod-kills of the orders replicas and of the ledger
// plus a slow ledger, with 20 % duplicate order IDs, keeps the money right:
// no order charged twice, every charge belongs to a paid order with the same
// amount, every paid order has exactly one charge, and charged cents equal
// the sum over paid orders. The drill runs through the CLI's own driver; the
// books are read from the ledger's database after the drill (the backend
// keeps its data directory).
func TestMoneyUnderChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill with real processes")
	}
	payments := envInt(t, moneyPaymentsEnv, 15000)
	rate := envInt(t, moneyRateEnv, 300)
	secs := max(10, (payments+rate-1)/rate)
	file := filepath.Join(t.TempDir(), "money.yaml")
	if err := os.WriteFile(file, []byte(moneyDrill(secs, rate)), 0o644); err != nil {
		t.Fatal(err)
	}
	exps, ok := loadAndValidate([]string{file}, testWriter{t})
	if !ok {
		t.Fatal("the money drill is not valid")
	}
	exp := exps[0]

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lineLog{}
	b, err := local.New(exp.Name, *exp.Spec.Victim,
		local.WithVictimCommand(self, "victim"), local.WithSeed(11),
		local.WithDataDir(t.TempDir()), local.WithKeepData(), local.WithLogs(logs),
		// Time for the loadgen to drain its requests in flight and print
		// its summary, and for the ledger to close its database.
		local.WithStopGrace(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	drv, err := drive.New(exp.Spec, local.NewDriveBackend(b, exp.Spec))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second+2*time.Minute)
	defer cancel()
	if err := stepUntilDone(ctx, drv, newProgress(io.Discard)); err != nil {
		t.Fatalf("drill: %v", err)
	}
	wall := time.Since(start)
	rep := buildReport(exp, drv)

	sum, found := logs.loadgenSummary()
	if !found {
		t.Fatalf("no loadgen summary in the children's output:\n%s", logs.tail(40))
	}
	tot, bad := books(t, filepath.Join(b.DataDir(), "ledger"))
	t.Logf("%d payment requests asked (%d/s for %ds) in %s wall: loadgen sent %d (%d duplicates), codes %v",
		payments, rate, secs, wall.Round(time.Second), sum.Requests, sum.Duplicates, sum.Codes)
	t.Logf("ledger: %+v; inconsistencies: %+v", tot, bad)
	t.Logf("drill: phase %s, verdict %s, findings %d, requests seen by the judge %d, peak error ratio %s, report duplicates %d",
		rep.Phase, rep.Verdict, len(rep.Findings), rep.Summary.Requests, rep.Summary.PeakErrorRatio, rep.Summary.DuplicateCharges)
	for _, f := range rep.Findings {
		t.Logf("  finding %s %s %s: %s", f.At.Duration, f.Type, f.Target, f.Message)
	}
	for _, f := range rep.Faults {
		t.Logf("  fault %s %s targets %v", f.Name, f.State, f.Targets)
	}

	// The load ran and the faults hit.
	if sum.Requests < int64(payments)*9/10 {
		t.Errorf("loadgen sent %d requests, want about %d", sum.Requests, payments)
	}
	// A sanity floor, not an availability goal: the books must cover real
	// traffic. (At 500/s on a loaded 2-core box the victim can tip into a
	// retry storm where most requests time out yet are charged; the money
	// checks below still hold then.)
	if ok := sum.Codes["200"]; ok < sum.Requests/4 {
		t.Errorf("only %d of %d requests answered 200: the victim was down, the figures prove little", ok, sum.Requests)
	}
	for _, f := range rep.Faults {
		if f.State != v1alpha1.FaultRecovered || len(f.Targets) == 0 {
			t.Errorf("fault %s: state %s, targets %v", f.Name, f.State, f.Targets)
		}
	}
	restarts := map[string]int32{}
	for _, p := range b.Pods() {
		restarts[p.Role] += p.InjectedRestarts + p.Replaced // pod-kills replace, not restart
	}
	if restarts[local.RoleLedger] < 3 || restarts[local.RoleOrders] < 4 {
		t.Errorf("injected restarts %v: want ≥ 3 ledger and ≥ 4 orders", restarts)
	}
	// The money.
	if tot.DuplicateCharges != 0 || tot.DuplicateCents != 0 || bad.multiCharged != 0 {
		t.Errorf("%d duplicate charges (%d cents), %d orders with more than one charge", tot.DuplicateCharges, tot.DuplicateCents, bad.multiCharged)
	}
	if !tot.Balanced || tot.ChargedCents != tot.PaidCents || tot.Charges != tot.PaidOrders {
		t.Errorf("books do not balance: %+v", tot)
	}
	if bad.chargeWithoutPaid != 0 || bad.paidWithoutCharge != 0 || bad.amountMismatch != 0 || bad.notPaid != 0 {
		t.Errorf("order/charge mismatches: %+v", bad)
	}
	if tot.PaidOrders == 0 || tot.PaidOrders > sum.Requests-sum.Duplicates {
		t.Errorf("%d paid orders for %d distinct order IDs sent", tot.PaidOrders, sum.Requests-sum.Duplicates)
	}
	if rep.Summary.DuplicateCharges != 0 || findingTypes(rep)[v1alpha1.FindingDuplicateCharges] != 0 {
		t.Errorf("the drill's judge saw duplicate charges: %d", rep.Summary.DuplicateCharges)
	}
	if n := findingTypes(rep)[v1alpha1.FindingProcessCrashed]; n != 0 {
		t.Errorf("%d ProcessCrashed findings: a process died without being killed", n)
	}
}

// inconsistencies are per-order checks of the ledger's tables.
type inconsistencies struct {
	multiCharged      int64 // orders with more than one charge row
	chargeWithoutPaid int64 // charge rows whose order is not PAID
	paidWithoutCharge int64 // PAID orders with no charge row
	amountMismatch    int64 // charge rows whose amount differs from the order's
	notPaid           int64 // orders left in any status other than PAID
}

// books reads the ledger's totals and checks every order against its charges.
func books(t *testing.T, dir string) (ledger.Totals, inconsistencies) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "ledger.db")); err != nil {
		t.Fatalf("no ledger database: %v", err)
	}
	s, err := ledger.Open(dir, ledger.ModeCAS, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	tot, err := s.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ledger.db")+"?_pragma=query_only(ON)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var bad inconsistencies
	for q, dst := range map[string]*int64{
		`SELECT count(*) FROM (SELECT order_id FROM charges GROUP BY order_id HAVING count(*) > 1)`:                              &bad.multiCharged,
		`SELECT count(*) FROM charges c LEFT JOIN orders o ON o.id = c.order_id WHERE o.status IS NULL OR o.status != 'PAID'`:    &bad.chargeWithoutPaid,
		`SELECT count(*) FROM orders o WHERE o.status = 'PAID' AND NOT EXISTS (SELECT 1 FROM charges c WHERE c.order_id = o.id)`: &bad.paidWithoutCharge,
		`SELECT count(*) FROM charges c JOIN orders o ON o.id = c.order_id WHERE c.amount_cents != o.amount_cents`:               &bad.amountMismatch,
		`SELECT count(*) FROM orders WHERE status != 'PAID'`:                                                                     &bad.notPaid,
	} {
		if err := db.QueryRowContext(ctx, q).Scan(dst); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return tot, bad
}

// lineLog keeps the children's output lines (WithLogs).
type lineLog struct {
	mu    sync.Mutex
	lines []string
	part  []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := strings.IndexByte(string(l.part), '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.part[:i]))
		l.part = l.part[i+1:]
	}
	return len(p), nil
}

// loadgenSummary finds the loadgen's JSON summary line.
func (l *lineLog) loadgenSummary() (loadgen.Summary, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.lines) - 1; i >= 0; i-- {
		rest, ok := strings.CutPrefix(l.lines[i], "loadgen-0 | ")
		if !ok || !strings.HasPrefix(rest, "{") {
			continue
		}
		var s loadgen.Summary
		if err := json.Unmarshal([]byte(rest), &s); err == nil && s.Codes != nil {
			return s, true
		}
	}
	return loadgen.Summary{}, false
}

func (l *lineLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(strings.Join(l.lines[max(0, len(l.lines)-n):], "\n")))
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

// testWriter sends validation errors to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
