package pool

import (
	"context"
	"errors"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrQueueFull: MaxQueue calls were already waiting; the call was
	// refused at once and nothing was sent.
	ErrQueueFull = errors.New("pool: queue full")
	// ErrQueueTimeout: the call waited QueueTimeout for a slot and gave
	// up; nothing was sent.
	ErrQueueTimeout = errors.New("pool: timed out waiting in queue")
	// ErrClosed: the pool is closed or closing.
	ErrClosed = errors.New("pool: closed")
	// ErrCommitUnknown: the connection was lost while COMMIT was in flight,
	// so the transaction may or may not have been committed. It is never
	// retried; check the data (or use an idempotency key) before re-running.
	ErrCommitUnknown = errors.New("pool: commit outcome unknown")
)

// ErrOpTimeout is matched (errors.Is) by the error of a call whose
// operation deadline — Config.OpTimeout, or TxTimeout for a Transaction —
// expired while the caller's ctx was still live. Such an error also
// matches context.DeadlineExceeded, and classifies as Timeout. A deadline
// of the caller's own ctx is not an ErrOpTimeout: it is the caller's
// cancellation (class Canceled).
var ErrOpTimeout = errors.New("pool: operation timed out")

// opTimeoutError marks an attempt that failed because the pool's own
// deadline expired.
type opTimeoutError struct{ err error }

func (e *opTimeoutError) Error() string { return "pool: operation timed out: " + e.err.Error() }
func (e *opTimeoutError) Unwrap() error { return e.err }
func (e *opTimeoutError) Is(target error) bool {
	return target == ErrOpTimeout || target == context.DeadlineExceeded
}

// canceledError is the error of a call that ended because the caller's
// ctx ended: it matches ctx's error (context.Canceled or
// context.DeadlineExceeded), ctx's cause when one was given
// (context.WithCancelCause), and the database error seen last.
type canceledError struct {
	ctxErr, cause, err error // cause is nil when it is ctxErr itself
}

func newCanceledError(ctx context.Context, err error) *canceledError {
	e := &canceledError{ctxErr: ctx.Err(), err: err}
	if c := context.Cause(ctx); c != nil && c != e.ctxErr {
		e.cause = c
	}
	return e
}

func (e *canceledError) Error() string {
	msg := e.ctxErr.Error()
	if e.cause != nil {
		msg += " (" + e.cause.Error() + ")"
	}
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *canceledError) Unwrap() []error {
	errs := make([]error, 0, 3)
	for _, x := range [...]error{e.ctxErr, e.cause, e.err} {
		if x != nil {
			errs = append(errs, x)
		}
	}
	return errs
}
