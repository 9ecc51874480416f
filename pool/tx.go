package pool

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
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
		err = p.exec.Run(ctx, func(ctx context.Context) error {
			ctx, run := startAttempt(ctx)
			return run.finish(p.runTx(ctx, run.a, fn))
		}, CallOption{timeout: p.cfg.TxTimeout, tx: true})
		if err == nil || Classify(err) != Conflict || errors.Is(err, ErrCommitUnknown) {
			break
		}
		if run < runs {
			p.log.Debug("tollgate: re-running transaction", "run", run+1, "err", p.sanitize(err))
		}
	}
	return p.endCall(explain(err))
}

// runTx is one run: BEGIN, fn, COMMIT or ROLLBACK, on the slot's
// connection. att is the attempt's record of what was sent.
func (p *Pool) runTx(ctx context.Context, att *attempt, fn func(ctx context.Context) error) (err error) {
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
		rerr := tx.Rollback().Error
		// database/sql rolls back on its own once ctx ends (and then says
		// ErrTxDone); a rollback cut short by ctx ends with the connection,
		// which rolls back too. Neither is a second failure.
		if rerr != nil && ctx.Err() == nil && !errors.Is(rerr, sql.ErrTxDone) && !errors.Is(rerr, gorm.ErrInvalidTransaction) {
			return errors.Join(err, fmt.Errorf("pool: rollback: %w", rerr))
		}
		return err
	}
	committed = true
	if ctx.Err() != nil {
		// The caller is gone (or the deadline passed) as fn returned:
		// database/sql would refuse to send COMMIT, but it learns of ctx's
		// end a moment later than ctx.Err does. Do not send it.
		tx.Rollback()
		return fmt.Errorf("pool: COMMIT not sent, transaction rolled back: %w", newCanceledError(ctx, nil))
	}
	before := att.commitsBegun()
	cerr := tx.Commit().Error
	if cerr == nil {
		return nil
	}
	if !p.commitSent(att, before, cerr) {
		// database/sql refused to send COMMIT once ctx had ended, and
		// rolled the transaction back; or the write of COMMIT failed
		// before any byte left. Either way it was not committed.
		if ctx.Err() != nil {
			return fmt.Errorf("pool: COMMIT not sent, transaction rolled back: %w", newCanceledError(ctx, nil))
		}
		return fmt.Errorf("pool: COMMIT not sent, transaction rolled back: %w", cerr)
	}
	if serverAnswered(cerr) { // an error answer to COMMIT: not committed
		return fmt.Errorf("pool: commit: %w", cerr)
	}
	// Sent, and its answer lost: the connection broke, or ctx ended, while
	// COMMIT was in flight.
	return fmt.Errorf("%w: %w", ErrCommitUnknown, cerr)
}

// commitSent says whether COMMIT, which failed with cerr, may have reached
// the server. On the pool's own connections the pgx tracer counts the
// COMMITs pgx began: none since before means database/sql refused to call
// the driver (ctx had ended; it rolls back itself), and a pgx error that
// is SafeToRetry means nothing was written. On a Dialector there is no
// tracer: database/sql's ErrTxDone, and on SQLite (in process, where a
// bare ctx error can only be database/sql's refusal) ctx's error, say it
// was not sent; anything else may have been.
func (p *Pool) commitSent(att *attempt, before uint32, cerr error) bool {
	if p.cfg.Dialector == nil {
		return att.commitsBegun() != before && !pgconn.SafeToRetry(cerr)
	}
	if errors.Is(cerr, sql.ErrTxDone) {
		return false
	}
	bare := cerr == context.Canceled || cerr == context.DeadlineExceeded
	return !(bare && p.cfg.Dialector.Name() == "sqlite")
}

// serverAnswered reports whether cerr is the server's error answer to
// COMMIT, not the loss of the connection.
func serverAnswered(cerr error) bool {
	switch Classify(cerr) {
	case Conflict, Constraint, Permanent, PoolerMismatch:
		return true
	case Timeout:
		var pe *pgconn.PgError
		return errors.As(cerr, &pe) // 57014: the server cancelled it
	}
	return false
}

// beginError marks a failure of BEGIN: nothing ran, so the transaction
// may be retried when the class allows it.
type beginError struct{ err error }

func (e *beginError) Error() string { return "pool: begin: " + e.err.Error() }
func (e *beginError) Unwrap() error { return e.err }
