package pool

import (
	"context"
	"time"
)

// Tracer observes calls through the executor, in the style of pgx's
// QueryTracer. CallStart runs on the caller's goroutine before the call
// queues; the ctx it returns is the one the call (and fn) runs under.
// CallEnd runs on the caller's goroutine once the call is over (after the
// last attempt), with the ctx CallStart returned. Both must be quick and
// must not block: they run on every call's path.
//
// A Tracer may also implement [AdmitTracer], [RetryTracer] and
// [EnabledTracer]; the
// executor checks once, when it is built, which of them it does.
// Calls that join a transaction (see [Pool.Transaction]) take no slot and
// are not traced; the Transaction itself is, as one call with Tx set.
type Tracer interface {
	CallStart(ctx context.Context, ev CallStartEvent) context.Context
	CallEnd(ctx context.Context, ev CallEndEvent)
}

// AdmitTracer is an optional extension of [Tracer]: CallAdmitted runs on
// the caller's goroutine each time an attempt of the call got its slot,
// before fn runs.
type AdmitTracer interface {
	CallAdmitted(ctx context.Context, ev AdmittedEvent)
}

// RetryTracer is an optional extension of [Tracer]: CallRetry runs on the
// caller's goroutine before each retry, after its backoff, before it queues
// for a slot again.
type RetryTracer interface {
	CallRetry(ctx context.Context, ev RetryEvent)
}

// EnabledTracer is an optional extension of [Tracer]: Enabled runs on the
// caller's goroutine before each call; when it reports false the call is
// not traced at all (none of the Tracer's methods run for it), and costs
// what an untraced call costs. A Tracer whose backend may record nothing
// (OpenTelemetry with no provider set) implements it to be free when off.
type EnabledTracer interface {
	Enabled(ctx context.Context) bool
}

// CallStartEvent describes a call as it enters the executor.
type CallStartEvent struct {
	// Operation and Collection name the call, from the [Operation] option:
	// db.operation.name and db.collection.name. Empty when not given.
	Operation, Collection string
	// Tx is set for a [Pool.Transaction].
	Tx bool
	// Queued is set when the call found no free slot and had to wait.
	Queued bool
}

// AdmittedEvent describes an attempt that got its slot.
type AdmittedEvent struct {
	// QueueWait is how long this attempt waited for its slot.
	QueueWait time.Duration
	// Attempt is 1 for the first attempt, 2 for the first retry.
	Attempt int
}

// RetryEvent describes a retry about to be made. It is also what
// ExecutorConfig.OnRetry receives.
type RetryEvent struct {
	// Attempt is the attempt about to run: 2 for the first retry.
	Attempt int
	// Class and Err are the previous attempt's failure.
	Class Class
	Err   error
	// Backoff is the delay waited before this retry.
	Backoff time.Duration
}

// CallEndEvent describes a finished call.
type CallEndEvent struct {
	// Err is what the call returns; Class is its class (OK when nil).
	Err   error
	Class Class
	// Attempts is how many attempts asked for a slot, retries included,
	// refused ones too.
	Attempts int
	// QueueWait is the time spent waiting for slots, over all attempts.
	QueueWait time.Duration
	// Duration is the whole call, from CallStart to CallEnd.
	Duration time.Duration
}

// Executor-level events, for the ExecutorConfig hooks. Each hook runs on
// the goroutine of the call that caused the event, after the executor's
// lock is released; a slow hook slows that call only, but it must not call
// back into the executor's Run from the same goroutine expecting a slot it
// holds.

// LimitChangeEvent says the adaptive limit changed.
type LimitChangeEvent struct {
	Old, New int
	// Reason is why: LimitExhausted, LimitRecovered, LimitProbe or LimitCeiling.
	Reason LimitReason
}

// LimitReason says why the adaptive limit changed.
type LimitReason string

// The reasons of a LimitChangeEvent.
const (
	LimitExhausted LimitReason = "exhausted" // pool exhaustion lowered it
	LimitRecovered LimitReason = "recovered" // successes raised it back
	LimitProbe     LimitReason = "probe"     // a rare step above where exhaustion struck
	LimitCeiling   LimitReason = "ceiling"   // SetCeiling moved it
)

// ExhaustedEvent says a pool-exhaustion error was seen and the limit was
// lowered (or already at its floor). It comes at most once per burst of
// such errors.
type ExhaustedEvent struct {
	// Limit is the limit after the decrease.
	Limit int
	// Err is the exhaustion error.
	Err error
	// Probe is set when the refusal met a probe above the plateau (see
	// Executor): the limit went back to where it held, and nothing else
	// is wrong, so there is nothing to clean up.
	Probe bool
}

// ErrorEvent is a failed attempt, or a call the queue refused.
type ErrorEvent struct {
	Class Class
	Err   error
}

// tracers holds the Tracer and the extensions it implements, resolved once.
type tracers struct {
	t       Tracer
	admit   AdmitTracer
	retry   RetryTracer
	enabled EnabledTracer
}

// on reports whether this call is traced.
func (tr *tracers) on(ctx context.Context) bool {
	return tr.t != nil && (tr.enabled == nil || tr.enabled.Enabled(ctx))
}

func newTracers(t Tracer) tracers {
	if t == nil {
		return tracers{}
	}
	tr := tracers{t: t}
	tr.admit, _ = t.(AdmitTracer)
	tr.retry, _ = t.(RetryTracer)
	tr.enabled, _ = t.(EnabledTracer)
	return tr
}
