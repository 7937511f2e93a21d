package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/cascadelab/cascadelab/victim/api"
)

// MaxBatch is the most charges one group-commit transaction holds.
const MaxBatch = 256

// maxChunk is the most orders one batch statement carries; a larger batch
// runs several statements in its one transaction. Statements exist for
// every power of two up to maxChunk, and a chunk is padded with NULL rows
// (filtered out by the statement) up to the next one, so eight statements
// of each kind serve every batch size.
const maxChunk = 128

// Option configures Open.
type Option func(*options)

type options struct {
	serial bool
}

// Serial makes every ModeCAS charge its own transaction on the caller's
// goroutine, as the ledger did before group commit. It is kept for
// comparison (BenchmarkChain); the guarantees are the same either way.
func Serial() Option { return func(o *options) { o.serial = true } }

// ErrClosed is returned by ChargeOrder once the store is closed.
var ErrClosed = errors.New("ledger: store closed")

// pending is one charge waiting for its batch.
type pending struct {
	ctx    context.Context
	id     string
	amount int64
	res    chan result // buffered: the writer never waits for the caller
}

type result struct {
	c   Charge
	err error
}

// claimSQL claims n orders at once: each absent order is inserted PAID,
// each order still PREPARE moves to PAID (keeping its stored amount), and
// RETURNING names exactly the orders this statement moved to PAID — the
// compare-and-set of qInsertPrepare and qClaim, for n orders in one
// statement. Orders already PAID are left alone and not returned.
func claimSQL(n int) string {
	return `INSERT INTO orders(id, amount_cents, status, updated_at)
		SELECT column1, column2, 'PAID', column3 FROM (VALUES ` + valuesRows(n) + `) WHERE column1 IS NOT NULL
		ON CONFLICT(id) DO UPDATE SET status='PAID', updated_at=excluded.updated_at WHERE status='PREPARE'
		RETURNING id, amount_cents`
}

// chargesSQL inserts the charges of n claimed orders, each recording
// whether its order had a charge before (qInsertCharge for n orders).
func chargesSQL(n int) string {
	return `INSERT INTO charges(order_id, amount_cents, duplicate, created_at)
		SELECT v.column1, v.column2, EXISTS(SELECT 1 FROM charges c WHERE c.order_id=v.column1), v.column3
		FROM (VALUES ` + valuesRows(n) + `) AS v WHERE v.column1 IS NOT NULL
		RETURNING order_id, duplicate`
}

func valuesRows(n int) string {
	return strings.TrimSuffix(strings.Repeat("(?, ?, ?),", n), ",")
}

// batchStmts are the prepared claim and charge statements by chunk size.
type batchStmts struct {
	claim, charges map[int]*sql.Stmt
}

func (s *Store) prepareBatch() error {
	s.batch = batchStmts{claim: map[int]*sql.Stmt{}, charges: map[int]*sql.Stmt{}}
	for n := 1; n <= maxChunk; n *= 2 {
		for _, q := range []struct {
			m   map[int]*sql.Stmt
			sql string
		}{{s.batch.claim, claimSQL(n)}, {s.batch.charges, chargesSQL(n)}} {
			st, err := s.w.Prepare(q.sql)
			if err != nil {
				return fmt.Errorf("ledger: preparing a batch statement: %w", err)
			}
			q.m[n] = st
		}
	}
	return nil
}

func (b batchStmts) all() []*sql.Stmt {
	var all []*sql.Stmt
	for _, m := range []map[int]*sql.Stmt{b.claim, b.charges} {
		for _, st := range m {
			all = append(all, st)
		}
	}
	return all
}

// chargeGrouped hands the charge to the writer goroutine and waits for the
// transaction holding it to commit.
func (s *Store) chargeGrouped(ctx context.Context, id string, amount int64) (Charge, error) {
	if err := ctx.Err(); err != nil {
		return Charge{}, err
	}
	p := &pending{ctx: ctx, id: id, amount: amount, res: make(chan result, 1)}
	select {
	case s.queue <- p:
	case <-s.quit:
		return Charge{}, ErrClosed
	case <-ctx.Done():
		return Charge{}, ctx.Err()
	}
	select {
	case r := <-p.res:
		return r.c, r.err
	case <-ctx.Done():
		// The batch may still commit this charge; the caller is told it
		// failed, and a retry is answered "already paid". Nothing
		// acknowledged is lost and nothing is charged twice.
		return Charge{}, ctx.Err()
	}
}

// drain appends the charges already waiting to batch, up to MaxBatch.
func drain(queue chan *pending, batch []*pending) []*pending {
	for len(batch) < MaxBatch {
		select {
		case p := <-queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// writer is the group-commit loop: take one waiting charge, then every
// other one already waiting (up to MaxBatch), and commit them together.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*pending, 0, MaxBatch)
	for {
		select {
		case <-s.quit:
			return
		case p := <-s.queue:
			batch = append(batch[:0], p)
		}
		// Let the goroutines that are runnable now (handlers about to hand
		// in their charges) run first: on a busy machine the batch grows
		// at no cost in CPU (measured: 1.4 → 2.3 charges a batch in
		// BenchmarkChain/orders-ledger); on an idle one Gosched returns at
		// once.
		runtime.Gosched()
		batch = drain(s.queue, batch)
		s.commitBatch(batch)
		s.batches.Add(1)
		s.batched.Add(int64(len(batch)))
		clear(batch)
	}
}

// commitBatch charges the batch in one transaction, commits, and only then
// answers each charge. The outcome is the one the batch's charges would
// have had one after another in transactions of their own: the first
// charge of an order claims it (if it is not PAID already) and is charged;
// every later one, in this batch or after, is answered "already paid" with
// the stored amount. A charge whose caller has already given up is skipped
// (as a cancelled transaction was before). If a statement fails the batch
// is rolled back and each charge runs again in a transaction of its own,
// so a failure is answered to its own caller only; if the commit fails,
// every charge in the batch gets the error and none was acknowledged.
func (s *Store) commitBatch(batch []*pending) {
	res := make([]result, len(batch))
	first := make(map[string]int, len(batch)) // order ID → its first live charge
	var firsts []int
	for i, p := range batch {
		if err := p.ctx.Err(); err != nil {
			res[i].err = err
			continue
		}
		if _, ok := first[p.id]; !ok {
			first[p.id] = i
			firsts = append(firsts, i)
		}
	}
	if len(firsts) > 0 {
		out, err := s.runBatch(batch, firsts)
		var ce commitError
		switch {
		case errors.As(err, &ce):
			for i := range res {
				if res[i].err == nil {
					res[i].err = ce.err
				}
			}
		case err != nil:
			s.chargeEach(batch)
			return
		default:
			for i, p := range batch {
				if res[i].err != nil {
					continue
				}
				o := out[p.id]
				if first[p.id] == i && o.charged {
					res[i].c = Charge{Order: api.Order{ID: p.id, AmountCents: o.amount, Status: api.StatusPaid}, Charged: true, Duplicate: o.duplicate}
				} else {
					res[i].c = Charge{Order: api.Order{ID: p.id, AmountCents: o.amount, Status: api.StatusPaid, AlreadyPaid: true}}
				}
			}
		}
	}
	for i, p := range batch {
		p.res <- res[i]
	}
}

// outcome is what a batch did to one order.
type outcome struct {
	charged, duplicate bool
	amount             int64 // the stored amount
}

// commitError is a failed commit: nothing in the batch was written.
type commitError struct{ err error }

func (e commitError) Error() string { return e.err.Error() }

// runBatch runs one transaction for the first charges (batch indexes) of
// distinct orders and returns each order's outcome.
func (s *Store) runBatch(batch []*pending, firsts []int) (map[string]outcome, error) {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := time.Now().UnixNano()
	out := make(map[string]outcome, len(firsts))
	// Claim.
	args := make([]any, 0, 3*min(len(firsts), maxChunk))
	err = chunks(len(firsts), func(lo, hi, size int) error {
		args = args[:0]
		for _, i := range firsts[lo:hi] {
			args = append(args, batch[i].id, batch[i].amount, now)
		}
		return s.queryChunk(ctx, tx, s.batch.claim[size], args, size, func(rows *sql.Rows) error {
			var id string
			var amount int64
			if err := rows.Scan(&id, &amount); err != nil {
				return err
			}
			out[id] = outcome{charged: true, amount: amount}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// Charge what was claimed; read the stored amount of what was not.
	var claimed []string
	status := tx.StmtContext(ctx, s.stmts[qStatus])
	for _, i := range firsts {
		id := batch[i].id
		if _, ok := out[id]; ok {
			claimed = append(claimed, id)
			continue
		}
		var st string
		var amount int64
		if err := status.QueryRowContext(ctx, id).Scan(&st, &amount); err != nil {
			return nil, err
		}
		out[id] = outcome{amount: amount}
	}
	err = chunks(len(claimed), func(lo, hi, size int) error {
		args = args[:0]
		for _, id := range claimed[lo:hi] {
			args = append(args, id, out[id].amount, now)
		}
		n := 0
		err := s.queryChunk(ctx, tx, s.batch.charges[size], args, size, func(rows *sql.Rows) error {
			var id string
			var dup bool
			if err := rows.Scan(&id, &dup); err != nil {
				return err
			}
			o := out[id]
			o.duplicate = dup
			out[id] = o
			n++
			return nil
		})
		if err == nil && n != hi-lo {
			err = fmt.Errorf("ledger: batch inserted %d charges, want %d", n, hi-lo)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, commitError{err}
	}
	return out, nil
}

// chunks calls f for consecutive slices [lo, hi) of n items, each at most
// maxChunk long, with the statement size (a power of two ≥ hi-lo) to run.
func chunks(n int, f func(lo, hi, size int) error) error {
	for lo := 0; lo < n; {
		hi := min(n, lo+maxChunk)
		size := 1
		for size < hi-lo {
			size *= 2
		}
		if err := f(lo, hi, size); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

// queryChunk runs a batch statement of size rows with args (3 per row),
// padded with NULL rows, and calls row for each row it returns.
func (s *Store) queryChunk(ctx context.Context, tx *sql.Tx, st *sql.Stmt, args []any, size int, row func(*sql.Rows) error) error {
	for len(args) < 3*size {
		args = append(args, nil, nil, nil)
	}
	rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// chargeEach is a failed batch's fallback: every charge in a transaction
// of its own.
func (s *Store) chargeEach(batch []*pending) {
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.res <- result{err: err}
			continue
		}
		c, err := s.chargeCAS(p.ctx, p.id, p.amount)
		p.res <- result{c: c, err: err}
	}
}

// BatchStats returns how many group-commit transactions the store has run
// and how many charges they held (zero without group commit).
func (s *Store) BatchStats() (transactions, charges int64) {
	return s.batches.Load(), s.batched.Load()
}
