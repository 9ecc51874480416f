package pool

import "errors"

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
