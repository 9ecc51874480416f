package pool

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
)

// attempt is what one attempt of a call knows of what reached the server:
// the statements it began and, of those, the ones that ended before
// anything was written (pgconn.SafeToRetry). It lives in the attempt's
// opCtx (no allocation) and is found through ctx.Value(attemptKey{}) by the
// pgx tracer (senttracer.go) and, on a Dialector, by GORM callbacks.
//
// A statement that began and has not ended counts as sent.
type attempt struct {
	started atomic.Uint32
	unsent  atomic.Uint32
	commits atomic.Uint32 // COMMITs begun (pgx sends the literal "commit")
}

// attemptKey is the ctx key of the current attempt.
type attemptKey struct{}

// attemptFrom returns the attempt ctx runs in, or nil outside the executor.
func attemptFrom(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// begin notes that a statement is about to go out.
func (a *attempt) begin() { a.started.Add(1) }

// end notes that a statement ended with err.
func (a *attempt) end(err error) {
	if err != nil && pgconn.SafeToRetry(err) {
		a.unsent.Add(1)
	}
}

// sent reports whether any statement of the attempt may have reached the
// server.
func (a *attempt) sent() bool { return a.started.Load() > a.unsent.Load() }

// commitsBegun is the number of COMMITs the attempt began so far.
func (a *attempt) commitsBegun() uint32 { return a.commits.Load() }

// attemptCtx carries an attempt for a call that runs without an opCtx
// (its caller's deadline is earlier than the operation timeout).
type attemptCtx struct {
	context.Context
	att attempt
}

func (c *attemptCtx) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return &c.att
	}
	return c.Context.Value(key)
}

// attemptRun is one attempt as the pool sees it: see startAttempt.
type attemptRun struct {
	parent context.Context // the caller's ctx
	op     *opCtx          // the attempt's opCtx, with the operation deadline; nil when the caller's is earlier
	a      *attempt
}

// startAttempt begins one attempt of a Pool call: ctx is the context the
// executor gave it. It returns the ctx the attempt's work runs under (ctx
// itself, or ctx with an attempt record when the executor made no opCtx:
// one allocation, only when the caller's deadline is the earlier one).
// The caller passes the work's error to finish.
func startAttempt(ctx context.Context) (context.Context, attemptRun) {
	if op, ok := ctx.(*opCtx); ok {
		return ctx, attemptRun{parent: op.parent, op: op, a: &op.att}
	}
	ac := &attemptCtx{Context: ctx}
	return ac, attemptRun{parent: ctx, a: &ac.att}
}

// finish turns the error of the attempt's work into what happened:
//
//   - the caller's ctx ended: a timeout, a lost connection or a failed
//     connect it caused is the caller's cancellation (class Canceled; the
//     error matches ctx's error and cause, and keeps the database error);
//   - the operation deadline expired while the caller's ctx was live: the
//     same errors are the pool's timeout (ErrOpTimeout, class Timeout);
//   - a failure that would be retried because nothing reached the server
//     (Transient, Exhausted, a connect timeout) is marked when a statement
//     of this attempt was in fact sent, so that only an Idempotent call is
//     retried.
//
// An error of any other class — the application's own among them — is
// returned as it is.
func (r attemptRun) finish(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrCommitUnknown) {
		return err // COMMIT was sent: that fact outranks why its answer was lost
	}
	c := Classify(err)
	switch c {
	case Timeout, ConnectionLost, Transient, Canceled:
		if r.parent.Err() != nil {
			if c == Canceled {
				return err
			}
			return newCanceledError(r.parent, err)
		}
		if r.op != nil && r.op.pastDeadline() {
			return &opTimeoutError{err: err}
		}
	}
	if (c == Transient || c == Exhausted || c == Timeout) && r.a.sent() {
		return &sentError{err}
	}
	return err
}

// sentError marks the error of an attempt that sent a statement before it
// failed: it is not retried unless the call is Idempotent. Its text is
// its cause's.
type sentError struct{ err error }

func (e *sentError) Error() string { return e.err.Error() }
func (e *sentError) Unwrap() error { return e.err }

// retryAfter says whether an attempt that failed with err, of class c, may
// be retried; idempotent is the call's Idempotent option. It is the
// executor's rule (retryable) once retries are allowed at all.
func retryAfter(c Class, err error, idempotent bool) bool {
	var se *sentError
	switch c {
	case Transient, Exhausted:
		return idempotent || !errors.As(err, &se)
	case Timeout:
		// A connect timeout, and only that: nothing ran.
		var ce *pgconn.ConnectError
		return !errors.Is(err, ErrOpTimeout) && errors.As(err, &ce) && (idempotent || !errors.As(err, &se))
	case ConnectionLost:
		return idempotent
	}
	return false
}
