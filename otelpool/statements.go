package otelpool

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tollgate-db/tollgate/pool"
)

var (
	_ pgx.QueryTracer   = (*Telemetry)(nil)
	_ pgx.ConnectTracer = (*Telemetry)(nil)
)

// stmtCtx carries a statement's span from TraceQueryStart to TraceQueryEnd.
type stmtCtx struct {
	context.Context
	span trace.Span
}

type stmtKey struct{}

func (c *stmtCtx) Value(key any) any {
	if _, ok := key.(stmtKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// TraceQueryStart implements pgx.QueryTracer: it starts a CLIENT span for
// one statement, a child of the span in ctx (the call's, when the
// statement runs inside a pool call). A statement with no recording span
// above it (the pool's own pings, say) gets none. The span is named
// "{db.operation.name} {db.namespace}" once the server's command tag
// says what the statement was. db.query.text is set only with
// Config.QueryText, and the arguments never.
func (t *Telemetry) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if t.cfg.DisableStatementSpans || !t.tracing() || !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	a := t.attrs.Load()
	if a == nil { // before Observe
		return ctx
	}
	kvs := make([]attribute.KeyValue, 0, len(a.base)+1)
	kvs = append(kvs, a.base...)
	if t.cfg.QueryText {
		kvs = append(kvs, semconv.DBQueryText(data.SQL))
	}
	ctx, span := t.tracer.Start(ctx, spanName("", a.target, a.system),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(kvs...))
	return &stmtCtx{Context: ctx, span: span}
}

// TraceQueryEnd implements pgx.QueryTracer: it names the statement's span
// after its command tag, sets the SQLSTATE of a failure and ends it, and
// adds a SELECT's rows to its call's.
func (t *Telemetry) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if data.CommandTag.Select() && t.inst.rows.Enabled(ctx) {
		// The rows a SELECT returned count towards its call's
		// db.client.response.returned_rows.
		if c, _ := ctx.Value(callKey{}).(*call); c != nil && c.metrics {
			c.rows.Add(data.CommandTag.RowsAffected())
			c.selected.Store(true)
		}
	}
	sc, ok := ctx.(*stmtCtx)
	if !ok {
		if sc, ok = ctx.Value(stmtKey{}).(*stmtCtx); !ok {
			return
		}
	}
	span := sc.span
	if op := commandName(data.CommandTag.String()); op != "" {
		a := t.attrs.Load()
		span.SetName(spanName(op, a.target, a.system))
		span.SetAttributes(semconv.DBOperationName(op))
		if data.CommandTag.Select() {
			span.SetAttributes(semconv.DBResponseReturnedRows(int(data.CommandTag.RowsAffected())))
		}
	}
	if data.Err != nil {
		code, etype := errorAttrs(data.Err, pool.Classify(data.Err))
		if code != "" {
			span.SetAttributes(semconv.DBResponseStatusCode(code))
		}
		span.SetAttributes(semconv.ErrorTypeKey.String(etype))
		span.SetStatus(codes.Error, etype)
	}
	span.End()
}

// commandName is the command of a tag: "SELECT" of "SELECT 3", "INSERT"
// of "INSERT 0 1", "CREATE TABLE" of "CREATE TABLE". It is the server's
// word for what ran, not a parse of the query text.
func commandName(tag string) string {
	return strings.TrimRightFunc(tag, func(r rune) bool { return r == ' ' || (r >= '0' && r <= '9') })
}

// connectCtx carries a connection attempt's start.
type connectCtx struct {
	context.Context
	start time.Time
}

type connectKey struct{}

func (c *connectCtx) Value(key any) any {
	if _, ok := key.(connectKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// TraceConnectStart implements pgx.ConnectTracer, for
// db.client.connection.create_time.
func (t *Telemetry) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	if t.attrs.Load() == nil || !t.inst.create.Enabled(ctx) {
		return ctx
	}
	return &connectCtx{Context: ctx, start: time.Now()}
}

// TraceConnectEnd implements pgx.ConnectTracer: it records the time a
// successful connect took, TLS and authentication included.
func (t *Telemetry) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	cc, ok := ctx.(*connectCtx)
	if !ok {
		if cc, ok = ctx.Value(connectKey{}).(*connectCtx); !ok {
			return
		}
	}
	if data.Err == nil {
		t.inst.create.Inst().Record(ctx, time.Since(cc.start).Seconds(), t.attrs.Load().poolOpt)
	}
}
