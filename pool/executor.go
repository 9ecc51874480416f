package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Executor admits calls in FIFO order, at most Limit() at a time, with a
// bounded queue, a queue timeout, an operation timeout, safe retries and an
// adaptive limit. It is what every Pool call goes through; it is exported
// so that other work can share the same discipline, and so that it can be
// measured without a database. It is safe for concurrent use.
//
// The limit adapts to one signal, pool exhaustion at connect time: it goes
// straight to just under the number of calls in flight when a connection
// was refused, stays there, and probes one step above rarely (after 1 s,
// then 2, 4, … 16 s while probes keep failing; a probe that holds becomes
// the new level and the next step doubles). An exhaustion at or below that
// level means the budget shrank, and the limit halves. A refused connect is
// retried, so callers see no error. SetCeiling bounds it from outside.
//
// What a call costs: on the fast path (a free slot, nobody queued) one
// lock hold to take the slot, one to give it back, and one allocation for
// the operation context. A call that queues parks on its own channel
// (reused, one per executor's waiter), with no timer and no callback of
// its own: one timer serves the queue's head, one the earliest operation
// deadline, and a ctx that can end is watched by the wait itself.
type Executor struct {
	cfg  ExecutorConfig
	tr   tracers
	base time.Time // for now: a reading with the monotonic clock

	// mu guards every field below it up to the counters. It is a leaf
	// lock: nothing else is locked while it is held (an opCtx's own lock is
	// taken only without it), and hooks and tracers run after it is
	// released. A slot is counted in inFlight from its grant to its one
	// release, both under mu.
	//
	// Invariants, true whenever mu is free:
	//   - queue non-empty implies inFlight >= limit: no waiter sits while
	//     a slot is free (every change that frees a slot or raises the
	//     limit ends with grantLocked);
	//   - MinConcurrent <= limit = min(target, ceiling) <= ceiling <= MaxConcurrent;
	//   - inFlight may exceed limit after a decrease (exhaustion or
	//     SetCeiling): the calls running finish, none is admitted until
	//     inFlight is below limit again;
	//   - a waiter's done is set once, by a grant, the queue timer, Close,
	//     or its own ctx's end, and only the first three send on ready.
	mu       sync.Mutex
	inFlight int
	queue    waitList
	free     *waiter // waiters kept for reuse, linked by next
	nfree    int
	qt       *time.Timer // the queue head's timeout
	qtArmed  bool
	qtAt     time.Time
	ops      opList // attempts in flight under an opCtx, by deadline
	lim      adaptiveLimit

	closed   bool          // Close was called: new calls are refused
	hard     bool          // Close's ctx ended: queued calls were failed, retries refused
	retrying int           // calls between attempts (backing off), counted while closing
	drained  chan struct{} // closed once closed, nothing runs, and nothing is left to run
	isDrain  bool          // drained is closed

	budget retryBudget
	waits  waitHistogram

	processed, failed, retried, rejected, timedOut, canceled, exhaustions atomic.Int64
}

// NewExecutor returns an Executor; zero fields take their defaults. It
// fails on negative values and on MinConcurrent > MaxConcurrent.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return newExecutor(cfg), nil
}

// newExecutor builds an Executor from a config whose defaults are filled in.
func newExecutor(cfg ExecutorConfig) *Executor {
	if cfg.Classify == nil {
		cfg.Classify = Classify
	}
	e := &Executor{cfg: cfg, tr: newTracers(cfg.Tracer), base: time.Now(), drained: make(chan struct{})}
	e.ops = newOpList(&e.mu, e.base)
	e.lim.init(cfg.MinConcurrent, cfg.MaxConcurrent)
	e.budget.init(cfg.Retry.Budget, cfg.Retry.BudgetBurst)
	return e
}

// now is the time for admissions and deadlines: base plus the monotonic
// time since, which reads one clock where time.Now reads two (on some
// virtual machines a clock read is the fast path's dearest step).
func (e *Executor) now() time.Time { return e.base.Add(time.Since(e.base)) }

// mono is now as nanoseconds after base, which is how the operation
// deadlines are kept (opList): no time.Time to build on the fast path.
func (e *Executor) mono() int64 { return int64(time.Since(e.base)) }

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
// ctx with the operation deadline; it is canceled when fn returns.
//
// Run returns fn's last error, or: ErrQueueFull (MaxQueue calls already
// waiting), ErrQueueTimeout (no slot within QueueTimeout), ErrClosed
// (Close was called, or its ctx ended while this call was still queued),
// ctx's error (ctx ended first; a call whose ctx has already ended is
// refused even when a slot is free), or fn's error joined with
// ErrRetryBudget when a retry was due but the budget was spent.
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
	if e.tr.on(ctx) {
		return e.runTraced(ctx, fn, o)
	}
	// The first attempt, spelled out here rather than through attempt, so
	// that a caller parked in the queue has only Run and park on its stack.
	var st callState
	st.attempts = 1
	var p pending
	e.enter(ctx, o.timeout, false, &p)
	if p.w != nil {
		e.park(ctx, &p)
	}
	err := e.admitted(ctx, fn, &p, &st)
	if err == nil || !e.retryable(err, o) {
		return err
	}
	return e.retry(ctx, fn, o, err, &st)
}

// callState is what one call's attempts share.
type callState struct {
	attempts int
	wait     time.Duration
	traced   bool // the Tracer's events run for this call
}

// retry runs the retries of a call whose attempt failed with err.
func (e *Executor) retry(ctx context.Context, fn func(context.Context) error, o CallOption, err error, st *callState) error {
	e.mu.Lock()
	e.retrying++
	e.mu.Unlock()
	err = e.retryLoop(ctx, fn, o, err, st)
	e.mu.Lock()
	e.retrying--
	e.checkDrainedLocked()
	e.mu.Unlock()
	return err
}

// runTraced is Run with the Tracer's events around it.
func (e *Executor) runTraced(ctx context.Context, fn func(context.Context) error, o CallOption) error {
	start := time.Now()
	e.mu.Lock()
	queued := e.queue.len > 0 || e.inFlight >= e.lim.limit
	e.mu.Unlock()
	ctx = e.tr.t.CallStart(ctx, CallStartEvent{Operation: o.op, Collection: o.coll, Tx: o.tx, Queued: queued})
	st := callState{traced: true}
	err := e.attempt(ctx, fn, o.timeout, &st, false)
	if err != nil && e.retryable(err, o) {
		err = e.retry(ctx, fn, o, err, &st)
	}
	e.tr.t.CallEnd(ctx, CallEndEvent{
		Err: err, Class: e.cfg.Classify(err), Attempts: st.attempts,
		QueueWait: st.wait, Duration: time.Since(start),
	})
	return err
}

// attempt is one pass: wait for a slot, run fn under the operation
// deadline, release. retry says it is a retry of a call already admitted
// (which a draining executor still lets through).
func (e *Executor) attempt(ctx context.Context, fn func(context.Context) error, timeout time.Duration, st *callState, retry bool) error {
	st.attempts++
	var p pending
	e.enter(ctx, timeout, retry, &p)
	if p.w != nil {
		e.park(ctx, &p)
	}
	return e.admitted(ctx, fn, &p, st)
}

// pending is one attempt on its way to a slot.
type pending struct {
	op      *opCtx    // the attempt's context; nil when fn runs on ctx itself
	w       *waiter   // set while queued, and after a grant until release
	now     time.Time // when it entered; set only when it queues
	timeout time.Duration
	wait    time.Duration
	err     error // why it got no slot
}

// enter takes a free slot at once, or refuses the attempt, or queues it
// (p.w set: park next).
func (e *Executor) enter(ctx context.Context, timeout time.Duration, retry bool, p *pending) {
	// As x/sync's semaphore: an attempt whose ctx has ended fails even when
	// a slot is free, so that nothing runs after its caller gave up.
	if err := ctx.Err(); err != nil {
		e.canceled.Add(1)
		p.err = err
		return
	}
	if timeout == 0 {
		timeout = e.cfg.OpTimeout
	}
	p.timeout = timeout
	mono := e.mono()
	dl := deadlineAfter(mono, timeout)
	if d, ok := ctx.Deadline(); !ok || d.Sub(e.base) > time.Duration(dl) {
		p.op = newOpCtx(ctx) // else ctx's own deadline comes first: fn runs on ctx
	}
	e.mu.Lock()
	if e.closed && (!retry || e.hard) {
		e.mu.Unlock()
		p.err = ErrClosed
		return
	}
	if e.inFlight < e.lim.limit && e.queue.len == 0 {
		e.inFlight++
		if p.op != nil {
			e.ops.addLocked(p.op, dl)
		}
		e.mu.Unlock()
		e.waits.observe(0)
		return
	}
	if e.queue.len >= e.cfg.MaxQueue {
		e.mu.Unlock()
		e.rejected.Add(1)
		if e.cfg.OnError != nil {
			e.cfg.OnError(ErrorEvent{Class: Permanent, Err: ErrQueueFull})
		}
		p.err = ErrQueueFull
		return
	}
	w := e.getWaiterLocked()
	p.now = e.base.Add(time.Duration(mono))
	w.enqueued, w.op, w.timeout = p.now, p.op, timeout
	e.queue.pushBack(w)
	e.armQueueTimerLocked()
	e.mu.Unlock()
	p.w = w
}

// park waits for a queued attempt's turn: a grant, the queue timeout,
// Close, or the end of ctx. It parks on the waiter's channel, and on
// ctx's when ctx can end, on a shallow stack, so that 10 000 waiters stay
// on their goroutines' smallest stacks. The timeout comes from the queue's
// one timer; a grant or Close from whoever holds mu.
func (e *Executor) park(ctx context.Context, p *pending) {
	w := p.w
	if done := ctx.Done(); done == nil {
		<-w.ready
	} else {
		select {
		case <-w.ready:
		case <-done:
			e.left(ctx, p)
			return
		}
	}
	e.woken(p)
}

// left handles a waiter whose ctx ended: it leaves the queue at once, or,
// when a grant (or the timer, or Close) came first, takes that outcome,
// and gives a granted slot back unused.
func (e *Executor) left(ctx context.Context, p *pending) {
	w := p.w
	e.mu.Lock()
	if !w.done { // still queued: leave at once
		e.queue.remove(w)
		e.putWaiterLocked(w)
		e.mu.Unlock()
		p.w, p.err, p.wait = nil, ctx.Err(), time.Since(p.now)
		e.canceled.Add(1)
		return
	}
	e.mu.Unlock()
	<-w.ready // the grant, timeout or Close already sent
	if w.err != nil {
		e.woken(p)
		return
	}
	p.wait = w.granted.Sub(p.now)
	if p.op != nil {
		p.op.end()
	}
	e.mu.Lock()
	e.inFlight--
	if p.op != nil {
		e.ops.removeLocked(p.op)
	}
	e.putWaiterLocked(w)
	e.grantLocked()
	e.mu.Unlock()
	p.w, p.err = nil, ctx.Err()
	e.canceled.Add(1)
}

// woken reads the outcome of a wait that ended with a send on ready.
func (e *Executor) woken(p *pending) {
	w := p.w
	switch err := w.err; {
	case err == nil: // granted: w stays with p until release recycles it
		p.wait = w.granted.Sub(p.now)
		e.waits.observeAt(p.wait, w.granted)
	case err == ErrQueueTimeout:
		p.w, p.err, p.wait = nil, err, e.cfg.QueueTimeout
		e.recycle(w)
		e.timedOut.Add(1)
		if e.cfg.OnError != nil {
			e.cfg.OnError(ErrorEvent{Class: Permanent, Err: ErrQueueTimeout})
		}
	default: // ErrClosed
		p.w, p.err, p.wait = nil, err, time.Since(p.now)
		e.recycle(w)
	}
}

// admitted runs fn for an attempt that got its slot, and releases it; for
// one that got none it returns why.
func (e *Executor) admitted(ctx context.Context, fn func(context.Context) error, p *pending, st *callState) error {
	st.wait += p.wait
	if p.err != nil {
		return p.err
	}
	if st.traced && e.tr.admit != nil {
		e.tr.admit.CallAdmitted(ctx, AdmittedEvent{QueueWait: p.wait, Attempt: st.attempts})
	}
	runCtx := ctx
	if p.op != nil {
		runCtx = p.op
	}
	panicked := true
	defer func() {
		if panicked { // fn panicked: free the slot, let the panic go on
			if p.op != nil {
				p.op.end()
			}
			e.release(Permanent, nil, p.op, p.w)
		}
	}()
	err := fn(runCtx)
	panicked = false
	if p.op != nil {
		p.op.end()
	}
	c := e.cfg.Classify(err)
	e.release(c, err, p.op, p.w)
	if err != nil && c != Canceled && e.cfg.OnError != nil {
		e.cfg.OnError(ErrorEvent{Class: c, Err: err})
	}
	return err
}

// recycle puts back a waiter that holds no slot.
func (e *Executor) recycle(w *waiter) {
	e.mu.Lock()
	e.putWaiterLocked(w)
	e.mu.Unlock()
}

// release frees a slot: it accounts for the attempt's class c (and err,
// for the hooks), adapts the limit and hands free slots to the queue.
func (e *Executor) release(c Class, err error, op *opCtx, w *waiter) {
	e.mu.Lock()
	e.inFlight--
	if op != nil {
		e.ops.removeLocked(op)
	}
	if w != nil {
		e.putWaiterLocked(w)
	}
	var ch limitChange
	switch c {
	case OK, Application: // an error of the caller's own: the database did its part
		e.processed.Add(1)
		e.budget.success()
		ch = e.lim.successLocked(e.inFlight + 1)
	case Exhausted:
		e.failed.Add(1)
		e.exhaustions.Add(1)
		ch = e.lim.exhaustedLocked(e.inFlight + 1)
	default:
		e.failed.Add(1)
	}
	e.grantLocked()
	e.mu.Unlock()
	e.report(ch, err)
}

// grantLocked hands free slots to the queue's head, in order, and closes
// drained when a closing executor has nothing left. A granted waiter's
// slot is counted before it runs: the hand-off is direct, the waiter does
// not take mu again to claim it.
func (e *Executor) grantLocked() {
	if e.queue.len > 0 && e.inFlight < e.lim.limit {
		mono := e.mono()
		now := e.base.Add(time.Duration(mono))
		for e.queue.len > 0 && e.inFlight < e.lim.limit {
			w := e.queue.popFront()
			w.done = true
			w.granted = now
			e.inFlight++
			if w.op != nil {
				e.ops.addLocked(w.op, deadlineAfter(mono, w.timeout))
			}
			w.ready <- struct{}{}
		}
	}
	e.checkDrainedLocked()
}

func (e *Executor) checkDrainedLocked() {
	if e.closed && !e.isDrain && e.inFlight == 0 && (e.hard || (e.queue.len == 0 && e.retrying == 0)) {
		e.isDrain = true
		close(e.drained)
	}
}

// retryable says whether err, the error of a call with options o, may be
// retried.
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
	return retryAfter(e.cfg.Classify(err), err, o.idempotent) // attempt.go: what the attempt sent
}

// Stats is a value snapshot of the executor's gauges and counters.
func (e *Executor) Stats() ExecutorStats {
	e.mu.Lock()
	s := ExecutorStats{
		QueueLength: e.queue.len, InFlight: e.inFlight, Limit: e.lim.limit, Ceiling: e.lim.ceiling,
		MaxConcurrent: e.cfg.MaxConcurrent, MaxQueue: e.cfg.MaxQueue, Closed: e.closed,
		ExhaustedAt: e.lim.exhaustedAt,
	}
	e.mu.Unlock()
	s.Processed, s.Failed, s.Retried = e.processed.Load(), e.failed.Load(), e.retried.Load()
	s.Rejected, s.TimedOut, s.Canceled = e.rejected.Load(), e.timedOut.Load(), e.canceled.Load()
	s.Exhaustions, s.LimitDecreases, s.LimitIncreases = e.exhaustions.Load(), e.lim.decreases, e.lim.increases
	s.QueueWaitP50, s.QueueWaitP99, s.QueueWaitMax = e.waits.quantile(0.50), e.waits.quantile(0.99), e.waits.maxSeen()
	s.QueueWait = e.waits.snapshot()
	return s
}

// Limit is the current adaptive limit.
func (e *Executor) Limit() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lim.limit
}

// Close shuts the executor down gracefully, like http.Server.Shutdown: it
// refuses new calls with ErrClosed at once, lets the calls already queued
// (and the retries of calls already admitted) run, and returns nil once
// all of them are over. When ctx ends first, the calls still queued fail
// with ErrClosed, no retry is admitted any more, and Close waits for the
// calls running (each bounded by its operation timeout) before it returns
// ctx's error. Close is idempotent; a later call waits in the same way.
func (e *Executor) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.checkDrainedLocked()
	e.mu.Unlock()
	select {
	case <-e.drained:
		e.stopTimers()
		return nil
	case <-ctx.Done():
	}
	e.mu.Lock()
	e.hard = true // from now on retries are refused too
	for e.queue.len > 0 {
		w := e.queue.popFront()
		w.done, w.err = true, ErrClosed
		w.ready <- struct{}{}
	}
	e.checkDrainedLocked()
	e.mu.Unlock()
	<-e.drained
	e.stopTimers()
	return ctx.Err()
}

// stopTimers stops the queue's and the deadlines' timers once nothing runs.
func (e *Executor) stopTimers() {
	e.mu.Lock()
	if e.qt != nil {
		e.qt.Stop()
		e.qtArmed = false
	}
	e.mu.Unlock()
	e.ops.stop()
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

	Processed      int64 // attempts that succeeded (or failed with the application's own error)
	Failed         int64 // attempts that failed
	Retried        int64 // retries made
	Rejected       int64 // calls refused with ErrQueueFull
	TimedOut       int64 // calls that gave up with ErrQueueTimeout
	Canceled       int64 // attempts whose ctx ended before they ran: while queued, or before they asked for a slot
	Exhaustions    int64 // attempts that failed with a pool-exhaustion error
	LimitDecreases int64 // times the adaptive limit was lowered
	LimitIncreases int64 // times it was raised (probes above the plateau)
	// ExhaustedAt is how many calls were in flight when pool exhaustion
	// last struck: the limit stays just under it. 0 when it never did.
	ExhaustedAt int

	// QueueWaitP50 and QueueWaitP99 are the waits for a slot over the last
	// one to two minutes, within a factor of two (log-scale buckets).
	QueueWaitP50 time.Duration
	QueueWaitP99 time.Duration
	// QueueWaitMax is the longest wait since the executor started.
	QueueWaitMax time.Duration
	// QueueWait is the wait distribution since the executor started.
	QueueWait WaitHistogram
}
