package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/cascadelab/cascadelab/victim/ledger"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, dir, mode string) *ledger.Store {
	t.Helper()
	s, err := ledger.Open(dir, mode, ledger.DefaultWindow)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// charge64 charges one order 64 ways at once.
func charge64(t *testing.T, s *ledger.Store, id string) (charged int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.ChargeOrder(context.Background(), id, 500)
			if err != nil {
				t.Error(err)
				return
			}
			if c.Charged {
				mu.Lock()
				charged++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return charged
}

func TestCASChargesOnce(t *testing.T) {
	s := open(t, t.TempDir(), ledger.ModeCAS)
	defer s.Close()
	for i := range 4 {
		if n := charge64(t, s, fmt.Sprintf("o%d", i)); n != 1 {
			t.Errorf("order o%d charged %d times, want 1", i, n)
		}
	}
	tot, err := s.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tot.Charges != 4 || tot.DuplicateCharges != 0 || !tot.Balanced || tot.PaidCents != 2000 {
		t.Errorf("totals %+v", tot)
	}
}

func TestNoneDoubleCharges(t *testing.T) {
	s := open(t, t.TempDir(), ledger.ModeNone)
	defer s.Close()
	n := charge64(t, s, "o")
	tot, _ := s.Totals(context.Background())
	t.Logf("64 concurrent charges of one order: %d charged; totals %+v", n, tot)
	if n < 2 || tot.DuplicateCharges != int64(n-1) || tot.Balanced {
		t.Errorf("want several charges, all but the first counted duplicates, unbalanced books")
	}
	// No idempotency: a later retry of a paid order is charged again (the
	// check is the caller's), and counted as a duplicate.
	if c, _ := s.ChargeOrder(context.Background(), "o", 500); !c.Charged || !c.Duplicate {
		t.Errorf("sequential retry not charged as a duplicate: %+v", c)
	}
}

// TestRestartKeepsBooks: counters restart from what the database holds.
func TestRestartKeepsBooks(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, ledger.ModeNone)
	charge64(t, s, "a")
	charge64(t, s, "b")
	before, _ := s.Totals(context.Background())
	s.Close()

	s = open(t, dir, ledger.ModeCAS)
	defer s.Close()
	reg := prometheus.NewRegistry()
	if _, err := ledger.NewServer(context.Background(), s, reg, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Totals(context.Background())
	if before != after {
		t.Errorf("totals changed across reopen: %+v → %+v", before, after)
	}
	for name, want := range map[string]int64{
		"victim_charges_total":                 after.Charges,
		"victim_charged_cents_total":           after.ChargedCents,
		"victim_duplicate_charges_total":       after.DuplicateCharges,
		"victim_duplicate_charged_cents_total": after.DuplicateCents,
	} {
		mfs, _ := reg.Gather()
		var got float64 = -1
		for _, mf := range mfs {
			if mf.GetName() == name {
				got = mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		if got != float64(want) {
			t.Errorf("%s = %v, want %d", name, got, want)
		}
	}
}

func TestOpenRejectsUnknownMode(t *testing.T) {
	if _, err := ledger.Open(t.TempDir(), "maybe", 0); err == nil {
		t.Error("unknown mode accepted")
	}
}
