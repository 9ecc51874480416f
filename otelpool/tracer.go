package otelpool

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tollgate-db/tollgate/pool"
)

var (
	_ pool.Tracer      = (*Telemetry)(nil)
	_ pool.AdmitTracer = (*Telemetry)(nil)
	_ pool.RetryTracer = (*Telemetry)(nil)
)

// unsetTracerProvider and unsetMeterProvider are the global providers'
// stand-ins while none has been set: otel.GetTracerProvider and
// otel.GetMeterProvider return them until otel.SetTracerProvider and
// otel.SetMeterProvider are called. Nothing they make records, so a
// Telemetry on the global providers skips its work, and its allocations,
// until then. Each is nil when a provider was already set during init, or
// when the stand-in's type is not the one recognised here (a later otel
// release), in which case the work is always done: slower, never wrong.
var (
	unsetTracerProvider = unsetGlobal(otel.GetTracerProvider(), "*global.tracerProvider")
	unsetMeterProvider  = unsetGlobal(otel.GetMeterProvider(), "*global.meterProvider")
)

func unsetGlobal[P any](p P, typeName string) any {
	if fmt.Sprintf("%T", p) == typeName {
		return p
	}
	return nil
}

// tracing reports whether spans would record anything.
func (t *Telemetry) tracing() bool {
	if t.fixedTP {
		return t.tpOn
	}
	tp := otel.GetTracerProvider()
	if unsetTracerProvider != nil && any(tp) == unsetTracerProvider {
		return false
	}
	_, isNoop := tp.(tracenoop.TracerProvider)
	return !isNoop
}

// metering reports whether the call histograms would record anything.
func (t *Telemetry) metering(ctx context.Context) bool {
	if t.fixedMP {
		if !t.mpOn {
			return false
		}
	} else {
		mp := otel.GetMeterProvider()
		if unsetMeterProvider != nil && any(mp) == unsetMeterProvider {
			return false
		}
		if _, isNoop := mp.(metricnoop.MeterProvider); isNoop {
			return false
		}
	}
	return t.inst.duration.Enabled(ctx) || t.inst.wait.Enabled(ctx) || t.inst.use.Enabled(ctx) || t.inst.rows.Enabled(ctx)
}

var _ pool.EnabledTracer = (*Telemetry)(nil)

// Enabled implements pool.EnabledTracer: a call is traced only when a
// span or a call histogram would record it, and only after Observe. When
// it is not, the executor runs it as if there were no Tracer.
func (t *Telemetry) Enabled(ctx context.Context) bool {
	return t.attrs.Load() != nil && (t.tracing() || t.metering(ctx))
}

// call is what CallStart learns and the later events need.
type call struct {
	span     trace.Span // nil when not tracing
	op, coll string
	queued   bool
	metrics  bool
	admitted time.Time // when the running attempt got its slot
	attrs    *callAttrs
	rows     atomic.Int64 // rows its SELECTs returned (statements.go)
	selected atomic.Bool  // whether it ran a SELECT
}

type callKey struct{}

// callCtx carries a call in the context the call runs under: one
// allocation for both.
type callCtx struct {
	context.Context
	c call
}

func (c *callCtx) Value(key any) any {
	if _, ok := key.(callKey); ok {
		return &c.c
	}
	return c.Context.Value(key)
}

// callOf returns the call CallStart put into ctx, or nil. The executor
// hands every later hook the ctx CallStart returned, so that a type check
// finds it, and finds nothing, at no cost, when CallStart returned ctx
// unchanged because nothing records.
func callOf(ctx context.Context) *call {
	if cc, ok := ctx.(*callCtx); ok {
		return &cc.c
	}
	return nil
}

// CallStart starts the call's CLIENT span, named as the conventions say:
// "{db.operation.name} {target}" with db.collection.name as the target,
// else db.namespace, else server.address:server.port; an event "queued"
// marks a call that had to wait for a slot. With no provider configured,
// or before Observe, it returns ctx as it is.
func (t *Telemetry) CallStart(ctx context.Context, ev pool.CallStartEvent) context.Context {
	tr, m := t.tracing(), t.metering(ctx)
	if !tr && !m {
		return ctx
	}
	a := t.attrs.Load()
	if a == nil { // before Observe
		return ctx
	}
	cc := &callCtx{c: call{op: ev.Operation, coll: ev.Collection, queued: ev.Queued, metrics: m, attrs: a}}
	if tr {
		sh := t.shape(a, ev.Operation, ev.Collection, ev.Tx)
		ctx, cc.c.span = t.tracer.Start(ctx, sh.name, sh.opts...)
		if ev.Queued {
			cc.c.span.AddEvent("queued")
		}
	}
	cc.Context = ctx
	return cc
}

// CallAdmitted records db.client.connection.wait_time and, on a call that
// waited or is a retry, an event "admitted" with the wait.
func (t *Telemetry) CallAdmitted(ctx context.Context, ev pool.AdmittedEvent) {
	c := callOf(ctx)
	if c == nil {
		return
	}
	if c.metrics {
		t.inst.wait.Inst().Record(ctx, ev.QueueWait.Seconds(), c.attrs.poolOpt)
		c.admitted = time.Now()
	}
	if c.span != nil && (c.queued || ev.Attempt > 1) {
		c.span.AddEvent("admitted", trace.WithAttributes(
			AttrQueueWait.Float64(ev.QueueWait.Seconds()), AttrAttempt.Int(ev.Attempt)))
	}
}

// CallRetry records the failed attempt's use time and an event "retry"
// with the attempt, the error's class and SQLSTATE, and the backoff.
func (t *Telemetry) CallRetry(ctx context.Context, ev pool.RetryEvent) {
	c := callOf(ctx)
	if c == nil {
		return
	}
	// The executor calls CallRetry after the backoff: the slot was
	// released before it.
	t.endUse(ctx, c, ev.Backoff)
	if c.span != nil {
		code, etype := errorAttrs(ev.Err, ev.Class)
		kvs := []attribute.KeyValue{AttrAttempt.Int(ev.Attempt), AttrErrorClass.String(ev.Class.String()),
			semconv.ErrorTypeKey.String(etype), AttrBackoff.Float64(ev.Backoff.Seconds())}
		if code != "" {
			kvs = append(kvs, semconv.DBResponseStatusCode(code))
		}
		if src := pool.ExhaustionSource(ev.Err); src != "" {
			kvs = append(kvs, AttrExhaustionSource.String(src))
		}
		c.span.AddEvent("retry", trace.WithAttributes(kvs...))
	}
}

// CallEnd records db.client.operation.duration (the whole call: queue,
// every attempt, every backoff) and ends the span.
func (t *Telemetry) CallEnd(ctx context.Context, ev pool.CallEndEvent) {
	c := callOf(ctx)
	if c == nil {
		return
	}
	failed := ev.Err != nil && ev.Class != pool.OK
	var code, etype string
	if failed {
		code, etype = errorAttrs(ev.Err, ev.Class)
	}
	if c.metrics {
		t.endUse(ctx, c, 0)
		opt := t.durationOpt(c, code, etype)
		t.inst.duration.Inst().Record(ctx, ev.Duration.Seconds(), opt)
		if c.selected.Load() {
			t.inst.rows.Inst().Record(ctx, c.rows.Load(), opt)
		}
	}
	if c.span != nil {
		kvs := make([]attribute.KeyValue, 2, 4)
		kvs[0], kvs[1] = AttrQueueWait.Float64(ev.QueueWait.Seconds()), AttrAttempts.Int(ev.Attempts)
		if code != "" {
			kvs = append(kvs, semconv.DBResponseStatusCode(code))
		}
		if failed {
			kvs = append(kvs, semconv.ErrorTypeKey.String(etype))
		}
		c.span.SetAttributes(kvs...)
		if failed {
			// The error's text is left out: a database's messages can
			// quote row values (a duplicate key's, say).
			c.span.SetStatus(codes.Error, etype)
		}
		c.span.End()
	}
}

// endUse records the use time of the attempt that held a slot, if any:
// from its admission to now, less the time since it released the slot.
func (t *Telemetry) endUse(ctx context.Context, c *call, sinceRelease time.Duration) {
	if !c.metrics || c.admitted.IsZero() {
		return
	}
	t.inst.use.Inst().Record(ctx, max(time.Since(c.admitted)-sinceRelease, 0).Seconds(), c.attrs.poolOpt)
	c.admitted = time.Time{}
}

// spanName follows the conventions: "{db.operation.name} {target}", else
// the one known, else db.system.name.
func spanName(op, target, system string) string {
	switch {
	case op != "" && target != "":
		return op + " " + target
	case op != "":
		return op
	case target != "":
		return target
	}
	return system
}

// errorAttrs returns db.response.status_code (the SQLSTATE, when the
// database answered) and error.type (the SQLSTATE again, as the
// conventions ask, else a fixed name of tollgate's: queue_timeout,
// queue_full, pool_closed, commit_unknown, or the error's pool.Class).
func errorAttrs(err error, class pool.Class) (code, etype string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code != "" {
		return pe.Code, pe.Code
	}
	switch {
	case errors.Is(err, pool.ErrQueueTimeout):
		return "", "queue_timeout"
	case errors.Is(err, pool.ErrQueueFull):
		return "", "queue_full"
	case errors.Is(err, pool.ErrClosed):
		return "", "pool_closed"
	case errors.Is(err, pool.ErrCommitUnknown):
		return "", "commit_unknown"
	}
	if class == pool.OK {
		return "", semconv.ErrorTypeOther.Value.AsString()
	}
	return "", class.String()
}
