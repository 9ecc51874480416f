package pool

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// What one statement and one attempt cost the hot path: the tracer's two
// ctx lookups and atomic adds, the attempt's start and finish. No
// allocation.
func TestAttemptBookkeepingDoesNotAllocate(t *testing.T) {
	tr := newSentTracer(nil)
	op := newOpCtx(context.Background())
	n := testing.AllocsPerRun(1000, func() {
		ctx, run := startAttempt(op)
		qctx := tr.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: "select 1"})
		tr.TraceQueryEnd(qctx, nil, pgx.TraceQueryEndData{})
		if err := run.finish(nil); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per attempt, want 0", n)
	}
}

func TestAttemptRecordsWhatWasSent(t *testing.T) {
	tr := newSentTracer(nil)
	op := newOpCtx(context.Background())
	ctx, run := startAttempt(op)
	refused := &pgconn.ConnectError{}
	if err := run.finish(refused); errors.As(err, new(*sentError)) {
		t.Fatal("nothing was sent, yet the error is marked")
	}
	// A statement that failed before any byte left does not count.
	qctx := tr.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: "insert"})
	tr.TraceQueryEnd(qctx, nil, pgx.TraceQueryEndData{Err: errSafe{}})
	if run.a.sent() {
		t.Fatal("a statement that was never written counts as sent")
	}
	qctx = tr.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: "insert"})
	if !run.a.sent() {
		t.Fatal("a statement in flight does not count as sent")
	}
	tr.TraceQueryEnd(qctx, nil, pgx.TraceQueryEndData{})
	err := run.finish(refused)
	if !errors.As(err, new(*sentError)) || retryAfter(Classify(err), err, false) || !retryAfter(Classify(err), err, true) {
		t.Fatalf("after a sent statement: %v, want it marked, retried only when Idempotent", err)
	}
	if run.a.commitsBegun() != 0 {
		t.Fatal("an insert counted as a COMMIT")
	}
	tr.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: "commit"})
	if run.a.commitsBegun() != 1 {
		t.Fatal("the COMMIT was not counted")
	}
}

type errSafe struct{}

func (errSafe) Error() string     { return "write failed before sending" }
func (errSafe) SafeToRetry() bool { return true }

// A user's pgx tracer is chained: it sees every event, and its ctx.
func TestSentTracerChainsTheUsers(t *testing.T) {
	u := &userTracer{}
	tr := newSentTracer(u)
	ctx, run := startAttempt(newOpCtx(context.Background()))
	qctx := tr.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: "select 1"})
	if qctx.Value(userKey{}) != "mine" {
		t.Fatal("the user's ctx was not passed on")
	}
	tr.TraceQueryEnd(qctx, nil, pgx.TraceQueryEndData{})
	bctx := tr.TraceBatchStart(ctx, nil, pgx.TraceBatchStartData{})
	tr.TraceBatchEnd(bctx, nil, pgx.TraceBatchEndData{})
	if u.starts != 1 || u.ends != 1 || u.batches != 2 || !run.a.sent() || run.a.started.Load() != 2 {
		t.Fatalf("user tracer saw %d/%d/%d, attempt started %d", u.starts, u.ends, u.batches, run.a.started.Load())
	}
}

type userKey struct{}

type userTracer struct{ starts, ends, batches int }

func (u *userTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	u.starts++
	return context.WithValue(ctx, userKey{}, "mine")
}
func (u *userTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) { u.ends++ }
func (u *userTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	u.batches++
	return ctx
}
func (u *userTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (u *userTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     { u.batches++ }

func BenchmarkAttemptBookkeeping(b *testing.B) {
	tr := newSentTracer(nil)
	op := newOpCtx(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		ctx, run := startAttempt(op)
		qctx := tr.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: "select 1"})
		tr.TraceQueryEnd(qctx, nil, pgx.TraceQueryEndData{})
		_ = run.finish(nil)
	}
}
