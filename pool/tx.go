package pool

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

type txKey struct{}

type txValue struct {
	owner *Pool
	tx    *gorm.DB
}

func (p *Pool) txFrom(ctx context.Context) *gorm.DB {
	if v, ok := ctx.Value(txKey{}).(*txValue); ok && v.owner == p {
		return v.tx
	}
	return nil
}

// InTransaction reports whether ctx carries a transaction of this pool:
// whether a call made with ctx would join it.
func (p *Pool) InTransaction(ctx context.Context) bool { return p.txFrom(ctx) != nil }

// maxTxRuns bounds the re-runs of a transaction's function after
// serialization failures and deadlocks.
const maxTxRuns = 3

// Transaction runs fn inside one database transaction that holds one slot
// for its whole life. The ctx given to fn carries the transaction: every
// Do, and every repository call, made with that ctx joins it at once, takes
// no second slot and is never retried on its own. A call made with another
// ctx (the request's, say) does not join: it queues for a slot of its own,
// and with MaxConcurrent = 1 it would wait behind the very transaction
// that waits for it, until QueueTimeout.
//
// fn's error, or a panic in fn, rolls the transaction back. When the
// transaction fails with a serialization failure (40001) or a deadlock
// (40P01), fn is run again in a new transaction, up to three runs in all,
// unless Config.DisableTxRetry is set: fn must therefore have no effects
// outside the database. When the connection is lost during COMMIT the
// result is an error that matches ErrCommitUnknown: it is never re-run.
//
// A Transaction started with a ctx that already carries one becomes a
// savepoint of the outer transaction, with no re-run of its own.
//
// ctx bounds the whole transaction; so does Config.TxTimeout.
func (p *Pool) Transaction(ctx context.Context, fn func(ctx context.Context) error) error {
	if outer := p.txFrom(ctx); outer != nil {
		return outer.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(context.WithValue(ctx, txKey{}, &txValue{owner: p, tx: tx}))
		})
	}
	runs := maxTxRuns
	if p.cfg.DisableTxRetry {
		runs = 1
	}
	var err error
	for run := 1; run <= runs; run++ {
		err = p.exec.Run(ctx, func(ctx context.Context) error { return p.runTx(ctx, fn) },
			CallOption{timeout: p.cfg.TxTimeout, tx: true})
		if err == nil || Classify(err) != Conflict || errors.Is(err, ErrCommitUnknown) {
			break
		}
		if run < runs {
			p.log.Debug("tollgate: re-running transaction", "run", run+1, "err", p.sanitize(err))
		}
	}
	return p.endCall(explain(err))
}

// runTx is one run: BEGIN, fn, COMMIT or ROLLBACK, on the slot's connection.
func (p *Pool) runTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	tx := p.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return &beginError{tx.Error}
	}
	committed := false
	defer func() {
		if !committed {
			if r := recover(); r != nil {
				tx.Rollback()
				panic(r)
			}
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{}, &txValue{owner: p, tx: tx})); err != nil {
		if rerr := tx.Rollback().Error; rerr != nil && !errors.Is(rerr, gorm.ErrInvalidTransaction) {
			return errors.Join(err, fmt.Errorf("pool: rollback: %w", rerr))
		}
		return err
	}
	committed = true
	if cerr := tx.Commit().Error; cerr != nil {
		switch Classify(cerr) {
		case Conflict, Constraint, Permanent: // the server answered: it was not committed
			return fmt.Errorf("pool: commit: %w", cerr)
		}
		// Lost connection or cancellation while COMMIT was in flight.
		return fmt.Errorf("%w: %w", ErrCommitUnknown, cerr)
	}
	return nil
}

// beginError marks a failure of BEGIN: nothing ran, so the transaction
// may be retried when the class allows it.
type beginError struct{ err error }

func (e *beginError) Error() string { return "pool: begin: " + e.err.Error() }
func (e *beginError) Unwrap() error { return e.err }
