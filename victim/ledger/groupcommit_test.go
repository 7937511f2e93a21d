package ledger_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cascadelab/cascadelab/victim/ledger"
)

// each runs f once with group commit and once with Serial.
func each(t *testing.T, f func(t *testing.T, opts ...ledger.Option)) {
	t.Run("group", func(t *testing.T) { f(t) })
	t.Run("serial", func(t *testing.T) { f(t, ledger.Serial()) })
}

// Many orders, each paid several times at once with different amounts:
// one charge per order, at the amount of the charge that won, and every
// other answer says "already paid" with that same amount.
func TestGroupCommitMixedBatches(t *testing.T) {
	each(t, func(t *testing.T, opts ...ledger.Option) {
		s, err := ledger.Open(t.TempDir(), ledger.ModeCAS, 0, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		const orders, ways = 50, 6
		type answer struct {
			charged bool
			amount  int64
		}
		got := make([][]answer, orders)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for o := range orders {
			for w := range ways {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := s.ChargeOrder(context.Background(), fmt.Sprintf("m-%d", o), int64(100*(w+1)))
					if err != nil {
						t.Error(err)
						return
					}
					if c.Order.Status != "PAID" || c.Charged == c.Order.AlreadyPaid {
						t.Errorf("order m-%d: %+v", o, c)
					}
					mu.Lock()
					got[o] = append(got[o], answer{c.Charged, c.Order.AmountCents})
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		var sum int64
		for o, as := range got {
			charged, amount := 0, int64(-1)
			for _, a := range as {
				if a.charged {
					charged++
					amount = a.amount
				}
			}
			if charged != 1 {
				t.Errorf("order m-%d charged %d times", o, charged)
				continue
			}
			sum += amount
			for _, a := range as {
				if a.amount != amount {
					t.Errorf("order m-%d: answers disagree on the amount: %+v", o, as)
					break
				}
			}
		}
		tot, err := s.Totals(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tot.Charges != orders || tot.PaidOrders != orders || tot.DuplicateCharges != 0 || !tot.Balanced || tot.ChargedCents != sum {
			t.Errorf("totals %+v, want %d charges of %d cents in all", tot, orders, sum)
		}
	})
}

// An order left PREPARE keeps its stored amount when claimed; an order with
// a charge but not PAID (a none-mode ledger killed between its two
// statements) is charged again and the charge is counted a duplicate; an
// order already PAID is not charged.
func TestGroupCommitExistingRows(t *testing.T) {
	each(t, func(t *testing.T, opts ...ledger.Option) {
		dir := t.TempDir()
		s, err := ledger.Open(dir, ledger.ModeCAS, 0, opts...)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		execRaw(t, dir,
			`INSERT INTO orders(id, amount_cents, status, updated_at) VALUES ('prep', 777, 'PREPARE', 1), ('paid', 555, 'PAID', 1)`,
			`INSERT INTO charges(order_id, amount_cents, duplicate, created_at) VALUES ('paid', 555, 0, 1), ('orphan', 300, 0, 1)`)
		s, err = ledger.Open(dir, ledger.ModeCAS, 0, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		for _, c := range []struct {
			id                          string
			amount, want                int64
			charged, duplicate, already bool
		}{
			{"prep", 100, 777, true, false, false},
			{"paid", 100, 555, false, false, true},
			{"orphan", 300, 300, true, true, false},
			{"prep", 100, 777, false, false, true},
		} {
			got, err := s.ChargeOrder(ctx, c.id, c.amount)
			if err != nil {
				t.Fatal(err)
			}
			if got.Charged != c.charged || got.Duplicate != c.duplicate || got.Order.AlreadyPaid != c.already || got.Order.AmountCents != c.want {
				t.Errorf("charge %s: got %+v, want charged=%v duplicate=%v already=%v amount=%d", c.id, got, c.charged, c.duplicate, c.already, c.want)
			}
		}
	})
}

// A statement that fails for one order (a trigger refuses its charge) in a
// batch with others: that caller gets the error and its order is not paid;
// the others are charged as if alone.
func TestGroupCommitFailureIsIsolated(t *testing.T) {
	each(t, func(t *testing.T, opts ...ledger.Option) {
		dir := t.TempDir()
		s, err := ledger.Open(dir, ledger.ModeCAS, 0, opts...)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		execRaw(t, dir, `CREATE TRIGGER refuse BEFORE INSERT ON charges WHEN NEW.order_id LIKE 'bad%'
			BEGIN SELECT RAISE(ABORT, 'refused by test'); END`)
		s, err = ledger.Open(dir, ledger.ModeCAS, 0, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var wg sync.WaitGroup
		for i := range 40 {
			id := fmt.Sprintf("good-%d", i)
			if i%8 == 0 {
				id = fmt.Sprintf("bad-%d", i)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.ChargeOrder(context.Background(), id, 100)
				switch bad := strings.HasPrefix(id, "bad"); {
				case bad && (err == nil || !strings.Contains(err.Error(), "refused by test")):
					t.Errorf("%s: got %+v, %v; want the trigger's error", id, c, err)
				case !bad && (err != nil || !c.Charged):
					t.Errorf("%s: got %+v, %v; want charged", id, c, err)
				}
			}()
		}
		wg.Wait()
		tot, err := s.Totals(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tot.Charges != 35 || tot.PaidOrders != 35 || !tot.Balanced {
			t.Errorf("totals %+v, want the 35 good orders only", tot)
		}
		for i := 0; i < 40; i += 8 {
			if o, ok, _ := s.Order(context.Background(), fmt.Sprintf("bad-%d", i)); ok {
				t.Errorf("refused order stored: %+v", o)
			}
		}
	})
}

// A caller that has given up is not charged; after Close, ChargeOrder says
// so instead of hanging.
func TestGroupCommitCancelAndClose(t *testing.T) {
	s, err := ledger.Open(t.TempDir(), ledger.ModeCAS, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.ChargeOrder(ctx, "c", 100); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled charge: %v", err)
	}
	if _, ok, _ := s.Order(context.Background(), "c"); ok {
		t.Error("cancelled charge stored")
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ChargeOrder(context.Background(), fmt.Sprintf("x-%d", i), 100)
			if err != nil && !errors.Is(err, ledger.ErrClosed) {
				t.Error(err)
			}
		}()
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	wg.Wait()
	if _, err := s.ChargeOrder(context.Background(), "after", 100); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("charge after Close: %v", err)
	}
	if txs, charges := s.BatchStats(); charges > 32 || txs > charges {
		t.Errorf("batch stats %d transactions, %d charges", txs, charges)
	}
}

// execRaw runs statements on the ledger database in dir, outside the store.
func execRaw(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}
