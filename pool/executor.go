package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ExecutorConfig configures a standalone [Executor]. Pool builds one from
// its Config; the fields mean the same as there.
type ExecutorConfig struct {
	// MaxConcurrent bounds the calls running at once. Default: 1.
	MaxConcurrent int
	// MinConcurrent is the floor of the adaptive limit. Default: 1.
	MinConcurrent int
	// MaxQueue bounds the waiting calls. Default: 10000.
	MaxQueue int
	// QueueTimeout bounds the wait for a slot. Default: 10s.
	QueueTimeout time.Duration
	// OpTimeout bounds one attempt once it holds a slot. Default: 6s.
	OpTimeout time.Duration
	// Retry bounds retries.
	Retry RetryConfig
	// Classify decides what an error means. Default: the package's Classify.
	Classify func(error) Class
	// Tracer observes every call (see [Tracer]); nil turns tracing off
	// and costs one nil check per call. Default: nil.
	Tracer Tracer

	// The hooks below run synchronously on the goroutine of the call that
	// caused the event, with no lock held. Default: nil each.

	// OnExhausted is called when an Exhausted error lowered the limit (or
	// found it at its floor), at most once per burst of such errors: on
	// the goroutine of the call whose attempt failed, after its slot was
	// released.
	OnExhausted func(ExhaustedEvent)
	// OnLimitChange is called when the adaptive limit changes: on the
	// goroutine of the call whose release changed it, or of SetCeiling.
	OnLimitChange func(LimitChangeEvent)
	// OnRetry is called before each retry, after its backoff, on the
	// retrying caller's goroutine. Attempt is 2 for the first retry.
	OnRetry func(RetryEvent)
	// OnError is called for every failed attempt and every call refused
	// by the queue, retried or not, except cancellations, on the caller's
	// goroutine.
	OnError func(ErrorEvent)
}

// Executor admits calls in FIFO order, at most Limit() at a time, with a
// bounded queue, a queue timeout, an operation timeout, safe retries and an
// adaptive limit. It is what every Pool call goes through; it is exported
// so that other work can share the same discipline, and so that it can be
// measured without a database. It is safe for concurrent use.
type Executor struct {
	cfg ExecutorConfig
	tr  tracers

	mu       sync.Mutex
	limit    int // min(target, ceiling)
	target   int // where the adaptive algorithm wants the limit
	ceiling  int // SetCeiling's bound, ≤ MaxConcurrent
	inFlight int
	queue    waitList
	closed   bool
	drained  chan struct{} // closed when closed && inFlight == 0

	successes    int       // successes since the limit last changed, under mu
	lastDecrease time.Time // under mu

	budget retryBudget
	waits  waitHistogram

	processed, failed, retried, rejected, timedOut, canceled atomic.Int64
	exhaustions, decreases, increases                        atomic.Int64
}

// NewExecutor returns an Executor; zero fields take their defaults. It
// fails on negative values and on MinConcurrent > MaxConcurrent.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = 1
	}
	// The same validation and defaults as a Pool's Config, with the
	// timeouts its doc promises (Production's: 10s in the queue, 6s a call).
	c, err := Config{
		Profile: Production, MaxOpenConns: max(cfg.MaxConcurrent, 1),
		MaxConcurrent: cfg.MaxConcurrent, MinConcurrent: cfg.MinConcurrent, MaxQueue: cfg.MaxQueue,
		QueueTimeout: cfg.QueueTimeout, OpTimeout: cfg.OpTimeout, Retry: cfg.Retry,
	}.withDefaults(nil)
	if err != nil {
		return nil, err
	}
	cfg.MinConcurrent, cfg.MaxQueue = c.MinConcurrent, c.MaxQueue
	cfg.QueueTimeout, cfg.OpTimeout, cfg.Retry = c.QueueTimeout, c.OpTimeout, c.Retry
	return newExecutor(cfg), nil
}

func newExecutor(cfg ExecutorConfig) *Executor {
	if cfg.Classify == nil {
		cfg.Classify = Classify
	}
	e := &Executor{cfg: cfg, tr: newTracers(cfg.Tracer), drained: make(chan struct{})}
	e.limit, e.target, e.ceiling = cfg.MaxConcurrent, cfg.MaxConcurrent, cfg.MaxConcurrent
	e.budget.init(cfg.Retry.Budget, cfg.Retry.BudgetBurst)
	return e
}

// CallOption changes how one call is run. Options are values: passing them
// costs no allocation.
type CallOption struct {
	op, coll   string // Operation's names, for telemetry
	idempotent bool
	noRetry    bool
	tx         bool          // a Transaction: retried only when BEGIN failed
	timeout    time.Duration // replaces OpTimeout when set
}

// Idempotent marks a call as safe to run more than once: it may be retried
// even when the connection was lost after the statement was sent. Reads
// are; an INSERT without a unique key is not.
func Idempotent() CallOption { return CallOption{idempotent: true} }

// Operation names the call for telemetry: name is the operation
// (db.operation.name, e.g. "SELECT") and collection the table or
// collection it works on (db.collection.name, e.g. "users"). A [Tracer]
// receives both in CallStartEvent. It costs no allocation.
func Operation(name, collection string) CallOption {
	return CallOption{op: name, coll: collection}
}

// NoRetry turns off every retry of this call, safe ones included.
func NoRetry() CallOption { return CallOption{noRetry: true} }

// Run runs fn once a slot is free, under OpTimeout, retrying as the
// error's class and the options allow. ctx bounds the whole call: the wait
// in the queue, every attempt and every backoff. The ctx given to fn is
// ctx with the operation deadline.
func (e *Executor) Run(ctx context.Context, fn func(context.Context) error, opts ...CallOption) error {
	var o CallOption
	for _, x := range opts {
		o.idempotent = o.idempotent || x.idempotent
		o.noRetry = o.noRetry || x.noRetry
		o.tx = o.tx || x.tx
		o.timeout = max(o.timeout, x.timeout)
		if x.op != "" || x.coll != "" {
			o.op, o.coll = x.op, x.coll
		}
	}
	if e.tr.t != nil {
		return e.runTraced(ctx, fn, o)
	}
	var st callState
	return e.run(ctx, fn, o, &st)
}

// callState is what one call's attempts share: for the tracer's events.
type callState struct {
	attempts int
	wait     time.Duration
}

func (e *Executor) run(ctx context.Context, fn func(context.Context) error, o CallOption, st *callState) error {
	err := e.attempt(ctx, fn, o.timeout, st)
	if err == nil || !e.retryable(err, o) {
		return err
	}
	return e.retryLoop(ctx, fn, o, err, st)
}

// runTraced is Run with the Tracer's events around it.
func (e *Executor) runTraced(ctx context.Context, fn func(context.Context) error, o CallOption) error {
	start := time.Now()
	e.mu.Lock()
	queued := e.queue.len > 0 || e.inFlight >= e.limit
	e.mu.Unlock()
	ctx = e.tr.t.CallStart(ctx, CallStartEvent{Operation: o.op, Collection: o.coll, Tx: o.tx, Queued: queued})
	var st callState
	err := e.run(ctx, fn, o, &st)
	e.tr.t.CallEnd(ctx, CallEndEvent{
		Err: err, Class: e.cfg.Classify(err), Attempts: st.attempts,
		QueueWait: st.wait, Duration: time.Since(start),
	})
	return err
}

// attempt is one pass: wait for a slot, run fn under OpTimeout, release.
func (e *Executor) attempt(ctx context.Context, fn func(context.Context) error, timeout time.Duration, st *callState) error {
	st.attempts++
	wait, err := e.acquire(ctx)
	st.wait += wait
	if err != nil {
		return err
	}
	if e.tr.admit != nil {
		e.tr.admit.CallAdmitted(ctx, AdmittedEvent{QueueWait: wait, Attempt: st.attempts})
	}
	if timeout == 0 {
		timeout = e.cfg.OpTimeout
	}
	panicked := true
	defer func() {
		if panicked { // fn panicked: free the slot, let the panic go on
			e.release(Permanent, nil)
		}
	}()
	err = e.call(ctx, fn, timeout)
	panicked = false
	c := e.cfg.Classify(err)
	e.release(c, err)
	if err != nil && c != Canceled && e.cfg.OnError != nil {
		e.cfg.OnError(ErrorEvent{Class: c, Err: err})
	}
	return err
}

func (e *Executor) call(ctx context.Context, fn func(context.Context) error, timeout time.Duration) error {
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > timeout {
		op := newOpCtx(ctx, timeout)
		defer op.end()
		return fn(op)
	}
	return fn(ctx)
}

// acquire takes a slot, waiting in FIFO order; it returns the wait.
func (e *Executor) acquire(ctx context.Context) (time.Duration, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return 0, ErrClosed
	}
	if e.inFlight < e.limit && e.queue.len == 0 {
		e.inFlight++
		e.mu.Unlock()
		e.waits.observe(0)
		return 0, nil
	}
	if e.queue.len >= e.cfg.MaxQueue {
		e.mu.Unlock()
		e.rejected.Add(1)
		if e.cfg.OnError != nil {
			e.cfg.OnError(ErrorEvent{Class: Permanent, Err: ErrQueueFull})
		}
		return 0, ErrQueueFull
	}
	if err := ctx.Err(); err != nil {
		e.mu.Unlock()
		return 0, err
	}
	w := newWaiter()
	e.queue.pushBack(w)
	e.mu.Unlock()

	// The caller parks on one channel receive, the shallowest wait there
	// is, so that 10 000 of them stay on their goroutines' smallest stacks;
	// the timeout and ctx's end wake it from callbacks.
	start := time.Now()
	timer := time.AfterFunc(e.cfg.QueueTimeout, func() { e.abandon(w, ErrQueueTimeout) })
	stop := context.AfterFunc(ctx, func() { e.abandon(w, ctx.Err()) })
	<-w.ready
	timer.Stop()
	stop()
	wait := time.Since(start)
	switch err := w.err; {
	case err == nil:
		e.waits.observe(wait)
		return wait, nil
	case err == ErrQueueTimeout:
		e.timedOut.Add(1)
		if e.cfg.OnError != nil {
			e.cfg.OnError(ErrorEvent{Class: Permanent, Err: ErrQueueTimeout})
		}
		return wait, err
	case err == ErrClosed:
		return wait, err
	default:
		e.canceled.Add(1)
		return wait, err
	}
}

// abandon takes w out of the queue with err, unless it was already
// granted a slot or failed by Close.
func (e *Executor) abandon(w *waiter, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w.done {
		return
	}
	e.queue.remove(w)
	w.done, w.err = true, err
	w.ready <- struct{}{}
}

// release frees a slot and, on exhaustion, lowers the limit. err is the
// attempt's error, c its class.
func (e *Executor) release(c Class, err error) {
	e.mu.Lock()
	ch := e.releaseLocked(c)
	e.mu.Unlock()
	e.report(ch, err)
}

// report runs the hooks for a limit change, without the lock.
func (e *Executor) report(ch limitChange, err error) {
	if !ch.happened {
		return
	}
	if ch.old != ch.new && e.cfg.OnLimitChange != nil {
		e.cfg.OnLimitChange(LimitChangeEvent{Old: ch.old, New: ch.new, Reason: ch.reason})
	}
	if ch.reason == LimitExhausted && e.cfg.OnExhausted != nil {
		e.cfg.OnExhausted(ExhaustedEvent{Limit: ch.new, Err: err})
	}
}

type limitChange struct {
	happened bool
	old, new int
	reason   LimitReason
}

// decreaseCooldown keeps a burst of exhaustion errors, all caused by the
// same oversubscription, from halving the limit once per error.
const decreaseCooldown = 250 * time.Millisecond

// setTargetLocked moves the adaptive target and recomputes the limit.
func (e *Executor) setTargetLocked(t int) {
	e.target = t
	e.limit = min(e.target, e.ceiling)
}

func (e *Executor) releaseLocked(c Class) (ch limitChange) {
	e.inFlight--
	switch c {
	case OK:
		e.processed.Add(1)
		e.budget.success()
		if e.limit < e.ceiling {
			e.successes++
			// Additive increase: one more slot per 8×limit successes, and
			// not within a second of a decrease.
			if e.successes >= 8*e.limit && time.Since(e.lastDecrease) > time.Second {
				ch = limitChange{true, e.limit, e.limit + 1, LimitRecovered}
				e.setTargetLocked(e.limit + 1)
				e.successes = 0
				e.increases.Add(1)
			}
		}
	case Exhausted:
		e.failed.Add(1)
		e.exhaustions.Add(1)
		if now := time.Now(); now.Sub(e.lastDecrease) > decreaseCooldown {
			// Multiplicative decrease, once per burst; at the floor the
			// change is still reported, so that cleanup runs.
			e.lastDecrease = now
			e.successes = 0
			n := max(e.limit/2, e.cfg.MinConcurrent)
			ch = limitChange{true, e.limit, n, LimitExhausted}
			if n < e.limit {
				e.setTargetLocked(n)
				e.decreases.Add(1)
			}
		}
	default:
		e.failed.Add(1)
	}
	e.grantLocked()
	return ch
}

// grantLocked hands free slots to the queue's head, in order.
func (e *Executor) grantLocked() {
	for e.queue.len > 0 && e.inFlight < e.limit {
		w := e.queue.popFront()
		w.done = true
		e.inFlight++
		w.ready <- struct{}{}
	}
	if e.closed && e.inFlight == 0 {
		select {
		case <-e.drained:
		default:
			close(e.drained)
		}
	}
}

// SetCeiling bounds the adaptive limit from now on: n ≥ 1, clamped to
// MaxConcurrent (and raised to MinConcurrent). Lowering it lowers the limit
// at once: calls in flight above it finish, and no new call is admitted
// until they are below it. Raising it lets the limit return to where the
// adaptive algorithm wants it, never above the ceiling. Package fleet uses
// it to keep this process within its share of a budget.
func (e *Executor) SetCeiling(n int) {
	n = max(min(n, e.cfg.MaxConcurrent), e.cfg.MinConcurrent, 1)
	e.mu.Lock()
	old := e.limit
	e.ceiling = n
	e.limit = min(e.target, e.ceiling)
	ch := limitChange{old != e.limit, old, e.limit, LimitCeiling}
	e.grantLocked()
	e.mu.Unlock()
	e.report(ch, nil)
}

func (e *Executor) retryable(err error, o CallOption) bool {
	if o.noRetry || max(e.cfg.Retry.Attempts, e.cfg.Retry.ExhaustedAttempts) <= 1 {
		return false
	}
	if o.tx {
		var be *beginError
		if !errors.As(err, &be) {
			return false
		}
	}
	switch e.cfg.Classify(err) {
	case Transient, Exhausted:
		return true
	case ConnectionLost:
		return o.idempotent
	}
	return false
}

// Stats is a value snapshot of the executor's gauges and counters.
func (e *Executor) Stats() ExecutorStats {
	e.mu.Lock()
	s := ExecutorStats{
		QueueLength: e.queue.len, InFlight: e.inFlight, Limit: e.limit, Ceiling: e.ceiling, MaxConcurrent: e.cfg.MaxConcurrent,
		MaxQueue: e.cfg.MaxQueue, Closed: e.closed,
	}
	e.mu.Unlock()
	s.Processed, s.Failed, s.Retried = e.processed.Load(), e.failed.Load(), e.retried.Load()
	s.Rejected, s.TimedOut, s.Canceled = e.rejected.Load(), e.timedOut.Load(), e.canceled.Load()
	s.Exhaustions, s.LimitDecreases, s.LimitIncreases = e.exhaustions.Load(), e.decreases.Load(), e.increases.Load()
	s.QueueWaitP50, s.QueueWaitP99, s.QueueWaitMax = e.waits.quantile(0.50), e.waits.quantile(0.99), e.waits.maxSeen()
	s.QueueWait = e.waits.snapshot()
	return s
}

// Limit is the current adaptive limit.
func (e *Executor) Limit() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.limit
}

// Close refuses new calls, fails the queued ones with ErrClosed and waits
// until the running ones finish or ctx ends. It is idempotent.
func (e *Executor) Close(ctx context.Context) error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		for e.queue.len > 0 {
			w := e.queue.popFront()
			w.done, w.err = true, ErrClosed
			w.ready <- struct{}{}
		}
		if e.inFlight == 0 {
			close(e.drained)
		}
	}
	e.mu.Unlock()
	select {
	case <-e.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ExecutorStats are the executor's gauges and counters.
type ExecutorStats struct {
	QueueLength   int  // calls waiting for a slot now
	InFlight      int  // calls holding a slot now
	Limit         int  // the adaptive limit now
	Ceiling       int  // the limit's bound set by SetCeiling; MaxConcurrent until then
	MaxConcurrent int  // the configured bound of Ceiling
	MaxQueue      int  // the queue's bound
	Closed        bool // Close was called

	Processed      int64 // attempts that succeeded
	Failed         int64 // attempts that failed
	Retried        int64 // retries made
	Rejected       int64 // calls refused with ErrQueueFull
	TimedOut       int64 // calls that gave up with ErrQueueTimeout
	Canceled       int64 // calls whose ctx ended while queued
	Exhaustions    int64 // attempts that failed with a pool-exhaustion error
	LimitDecreases int64 // times the adaptive limit was lowered
	LimitIncreases int64 // times it was raised back

	// QueueWaitP50 and QueueWaitP99 are the waits for a slot over the last
	// one to two minutes, within a factor of two (log-scale buckets).
	QueueWaitP50 time.Duration
	QueueWaitP99 time.Duration
	// QueueWaitMax is the longest wait since the executor started.
	QueueWaitMax time.Duration
	// QueueWait is the wait distribution since the executor started.
	QueueWait WaitHistogram
}
