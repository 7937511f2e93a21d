// Package ledger is the victim's system of record: it charges orders and
// remembers them across restarts in SQLite (modernc.org/sqlite, pure Go).
//
// Durability: the database runs in WAL mode with synchronous=NORMAL. Every
// committed transaction survives a process kill (kill -9, a pod kill); the
// last commits may be lost on power loss or an OS crash, which the kit's
// drills never cause. synchronous=FULL would close that gap at the cost of an
// fsync per commit.
//
// Idempotency is chosen by mode: ModeNone charges every charge it is asked for
// (the incident's ledger: the check is the caller's, in a call of its own, so
// two charges for one order that both passed it both go through); ModeCAS moves the
// order PREPARE→PAID with a compare-and-set and inserts the charge in the same
// transaction, so an order is charged at most once. In both modes every charge
// row records whether an earlier charge for the same order existed, so
// duplicates are counted exactly.
//
// Group commit (ModeCAS): one goroutine owns the writer connection. Charges
// that arrive while it is busy wait in line; when it comes back it takes all
// of them (up to MaxBatch) and runs their compare-and-sets in a single
// transaction (two multi-row statements: claim the orders, insert the
// charges of those claimed), then commits once and answers each of them. A
// charge is answered only after the transaction holding it has committed, so
// an acknowledged charge survives a process kill exactly as before. Each
// charge gets the outcome it would have had in a transaction of its own, in
// batch order: the first charge of an order claims it, a later one in the
// same batch is answered "already paid". Nothing waits for a batch to fill:
// a lone charge commits at once, and batches grow only with the load.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/cascadelab/cascadelab/victim/api"
)

// Idempotency modes, as accepted by the --idempotency flag.
const (
	ModeNone = "none"
	ModeCAS  = "cas"
)

const schema = `
CREATE TABLE IF NOT EXISTS orders (
	id           TEXT PRIMARY KEY,
	amount_cents INTEGER NOT NULL,
	status       TEXT NOT NULL,
	updated_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	order_id     TEXT NOT NULL,
	amount_cents INTEGER NOT NULL,
	duplicate    INTEGER NOT NULL,
	created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_order ON charges(order_id);
`

// Totals are the ledger's books.
type Totals struct {
	// Charges and ChargedCents count every charge row.
	Charges      int64 `json:"charges"`
	ChargedCents int64 `json:"charged_cents"`
	// PaidOrders and PaidCents sum over orders in status PAID.
	PaidOrders int64 `json:"paid_orders"`
	PaidCents  int64 `json:"paid_cents"`
	// DuplicateCharges and DuplicateCents count charges for an order that
	// had already been charged.
	DuplicateCharges int64 `json:"duplicate_charges"`
	DuplicateCents   int64 `json:"duplicate_cents"`
	// Balanced is ChargedCents == PaidCents.
	Balanced bool `json:"balanced"`
}

// Charge is the outcome of one charge call.
type Charge struct {
	Order api.Order
	// Charged is true when a charge row was written.
	Charged bool
	// Duplicate is true when that row duplicated an earlier charge.
	Duplicate bool
}

// Store is the ledger's SQLite database.
type Store struct {
	mode   string
	window time.Duration
	w      *sql.DB // one connection: SQLite has one writer anyway
	r      *sql.DB // readers (WAL lets them run beside the writer)
	stmts  map[string]*sql.Stmt

	// Group commit (ModeCAS unless Serial): charges go to the writer
	// goroutine through queue; quit stops it, done says it has stopped.
	batch     batchStmts
	queue     chan *pending
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	batches   atomic.Int64 // group-commit transactions
	batched   atomic.Int64 // charges they held
}

// Statements, prepared once on the writer: parsing SQL costs more than
// running it.
const (
	qInsertPrepare = `INSERT INTO orders(id, amount_cents, status, updated_at) VALUES (?, ?, 'PREPARE', ?) ON CONFLICT(id) DO NOTHING`
	qClaim         = `UPDATE orders SET status='PAID', updated_at=? WHERE id=? AND status='PREPARE' RETURNING amount_cents`
	qStatus        = `SELECT status, amount_cents FROM orders WHERE id=?`
	qMarkPaid      = `INSERT INTO orders(id, amount_cents, status, updated_at) VALUES (?, ?, 'PAID', ?)
		ON CONFLICT(id) DO UPDATE SET status='PAID', amount_cents=excluded.amount_cents, updated_at=excluded.updated_at`
	qInsertCharge = `INSERT INTO charges(order_id, amount_cents, duplicate, created_at)
		SELECT ?, ?, EXISTS(SELECT 1 FROM charges WHERE order_id=?), ? RETURNING duplicate`
)

// Open opens (creating if needed) the ledger database in dir. window is the
// pause before a charge is recorded in ModeNone, modelling the payment
// provider call; zero means none. In
// ModeCAS the store starts its group-commit writer (unless Serial is given);
// Close stops it.
func Open(dir, mode string, window time.Duration, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if mode != ModeNone && mode != ModeCAS {
		return nil, fmt.Errorf("unknown idempotency mode %q (want %q or %q)", mode, ModeNone, ModeCAS)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + filepath.Join(dir, "ledger.db") + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if _, err := w.Exec(schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("ledger schema: %w", err)
	}
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(ON)")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	st := &Store{mode: mode, window: window, w: w, r: r, stmts: map[string]*sql.Stmt{}}
	for _, q := range []string{qInsertPrepare, qClaim, qStatus, qMarkPaid, qInsertCharge} {
		stmt, err := w.Prepare(q)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("ledger: preparing %q: %w", q, err)
		}
		st.stmts[q] = stmt
	}
	if mode == ModeCAS && !o.serial {
		if err := st.prepareBatch(); err != nil {
			st.Close()
			return nil, err
		}
		st.queue = make(chan *pending)
		st.quit = make(chan struct{})
		st.done = make(chan struct{})
		go st.writer()
	}
	return st, nil
}

// Close stops the group-commit writer (charges already taken into a batch
// are committed and answered first; later ones get ErrClosed) and closes
// the database.
func (s *Store) Close() error {
	if s.queue != nil {
		s.closeOnce.Do(func() { close(s.quit) })
		<-s.done
	}
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	for _, st := range s.batch.all() {
		errs = append(errs, st.Close())
	}
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// Mode returns the idempotency mode.
func (s *Store) Mode() string { return s.mode }

// ChargeOrder charges orderID amount cents, under the store's idempotency
// mode, and returns the order's resulting state.
func (s *Store) ChargeOrder(ctx context.Context, orderID string, amount int64) (Charge, error) {
	if s.mode == ModeCAS {
		if s.queue != nil {
			return s.chargeGrouped(ctx, orderID, amount)
		}
		return s.chargeCAS(ctx, orderID, amount)
	}
	return s.chargeNone(ctx, orderID, amount)
}

// chargeNone is the incident's ledger: it charges whatever it is asked to
// and marks the order paid, trusting its caller to have checked first (the
// orders service reads the order's status in a call of its own). Two calls
// for one order that both passed that check are both charged; the second is
// recorded as a duplicate.
func (s *Store) chargeNone(ctx context.Context, id string, amount int64) (Charge, error) {
	if s.window > 0 {
		t := time.NewTimer(s.window) // the payment provider call
		select {
		case <-ctx.Done():
			t.Stop()
			return Charge{}, ctx.Err()
		case <-t.C:
		}
	}
	// The provider has charged: record it even if the caller gives up now,
	// or the books would show a charge without a paid order.
	ctx = context.WithoutCancel(ctx)
	now := time.Now().UnixNano()
	var dup bool
	if err := s.stmts[qInsertCharge].QueryRowContext(ctx, id, amount, id, now).Scan(&dup); err != nil {
		return Charge{}, err
	}
	if _, err := s.stmts[qMarkPaid].ExecContext(ctx, id, amount, now); err != nil {
		return Charge{}, err
	}
	return Charge{Order: api.Order{ID: id, AmountCents: amount, Status: api.StatusPaid}, Charged: true, Duplicate: dup}, nil
}

// chargeCAS claims the order PREPARE→PAID and inserts its charge in a
// transaction of its own (Serial, and a batch's fallback).
func (s *Store) chargeCAS(ctx context.Context, id string, amount int64) (Charge, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Charge{}, err
	}
	defer tx.Rollback()
	c, err := s.txStmts(ctx, tx).cas(ctx, id, amount)
	if err != nil {
		return Charge{}, err
	}
	if err := tx.Commit(); err != nil {
		return Charge{}, err
	}
	return c, nil
}

// casStmts are the CAS statements bound to one transaction.
type casStmts struct {
	insertPrepare, claim, status, insertCharge *sql.Stmt
}

func (s *Store) txStmts(ctx context.Context, tx *sql.Tx) casStmts {
	return casStmts{
		insertPrepare: tx.StmtContext(ctx, s.stmts[qInsertPrepare]),
		claim:         tx.StmtContext(ctx, s.stmts[qClaim]),
		status:        tx.StmtContext(ctx, s.stmts[qStatus]),
		insertCharge:  tx.StmtContext(ctx, s.stmts[qInsertCharge]),
	}
}

// cas is one charge's compare-and-set inside a transaction: insert the
// order PREPARE if absent, claim it PREPARE→PAID, and only if the claim
// changed a row (RETURNING gave a row: rows affected == 1) insert the
// charge. Every charge row still records whether the order had a charge
// before, so a broken CAS would show up as duplicates.
func (st casStmts) cas(ctx context.Context, id string, amount int64) (Charge, error) {
	now := time.Now().UnixNano()
	if _, err := st.insertPrepare.ExecContext(ctx, id, amount, now); err != nil {
		return Charge{}, err
	}
	var stored int64
	err := st.claim.QueryRowContext(ctx, now, id).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) { // not PREPARE: someone else claimed it
		var status string
		var paidAmount int64
		if err := st.status.QueryRowContext(ctx, id).Scan(&status, &paidAmount); err != nil {
			return Charge{}, err
		}
		return Charge{Order: api.Order{ID: id, AmountCents: paidAmount, Status: api.StatusPaid, AlreadyPaid: true}}, nil
	}
	if err != nil {
		return Charge{}, err
	}
	var dup bool
	if err := st.insertCharge.QueryRowContext(ctx, id, stored, id, now).Scan(&dup); err != nil {
		return Charge{}, err
	}
	return Charge{Order: api.Order{ID: id, AmountCents: stored, Status: api.StatusPaid}, Charged: true, Duplicate: dup}, nil
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (s *Store) status(ctx context.Context, db execer, id string) (string, int64, error) {
	var status string
	var amount int64
	err := db.QueryRowContext(ctx, qStatus, id).Scan(&status, &amount)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	return status, amount, err
}

// Order returns the stored order, or ok=false if the ledger never saw it.
func (s *Store) Order(ctx context.Context, id string) (o api.Order, ok bool, err error) {
	status, amount, err := s.status(ctx, s.r, id)
	if err != nil || status == "" {
		return api.Order{}, false, err
	}
	return api.Order{ID: id, AmountCents: amount, Status: status}, true, nil
}

// Totals computes the books from the database.
func (s *Store) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM charges),
		(SELECT coalesce(sum(amount_cents),0) FROM charges),
		(SELECT count(*) FROM orders WHERE status='PAID'),
		(SELECT coalesce(sum(amount_cents),0) FROM orders WHERE status='PAID'),
		(SELECT coalesce(sum(duplicate),0) FROM charges),
		(SELECT coalesce(sum(CASE WHEN duplicate THEN amount_cents ELSE 0 END),0) FROM charges)`).
		Scan(&t.Charges, &t.ChargedCents, &t.PaidOrders, &t.PaidCents, &t.DuplicateCharges, &t.DuplicateCents)
	t.Balanced = t.ChargedCents == t.PaidCents
	return t, err
}

// DefaultWindow is the default pause before a charge is recorded in
// ModeNone: a stand-in for the payment provider's authorisation call.
const DefaultWindow = 2 * time.Millisecond
