package otelpool_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tollgate-db/tollgate/otelpool"
	"github.com/tollgate-db/tollgate/pool"
)

// These tests drive a standalone executor with functions that return
// errors of known classes: the logic of the events, with no database.
// The conformance tests do the same against a real server.

func executor(t *testing.T, cfg pool.ExecutorConfig) *pool.Executor {
	t.Helper()
	e, err := pool.NewExecutor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func TestSpanNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  otelpool.Config
		opts []pool.CallOption
		want string
	}{
		{"operation and collection", otelpool.Config{Namespace: "app"}, []pool.CallOption{pool.Operation("SELECT", "users")}, "SELECT users"},
		{"operation, namespace", otelpool.Config{Namespace: "app"}, []pool.CallOption{pool.Operation("SELECT", "")}, "SELECT app"},
		{"namespace only", otelpool.Config{Namespace: "app"}, nil, "app"},
		{"server only", otelpool.Config{ServerAddress: "db.internal", ServerPort: 6432}, nil, "db.internal:6432"},
		{"nothing known", otelpool.Config{}, nil, "postgresql"},
		{"operation only", otelpool.Config{}, []pool.CallOption{pool.Operation("DELETE", "")}, "DELETE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSDK(t)
			e := executor(t, pool.ExecutorConfig{MaxConcurrent: 1, Tracer: observed(t, s.telemetry(t, tc.cfg))})
			if err := e.Run(context.Background(), noop, tc.opts...); err != nil {
				t.Fatal(err)
			}
			ended := s.spans.Ended()
			if len(ended) != 1 || ended[0].Name() != tc.want {
				t.Fatalf("spans %v, want one named %q", names(ended), tc.want)
			}
		})
	}
}

func TestQueueTimeoutSpan(t *testing.T) {
	s := newSDK(t)
	e := executor(t, pool.ExecutorConfig{MaxConcurrent: 1, QueueTimeout: 50 * time.Millisecond,
		Tracer: observed(t, s.telemetry(t, otelpool.Config{}))})
	hold, held := make(chan struct{}), make(chan struct{})
	go e.Run(context.Background(), func(context.Context) error { close(held); <-hold; return nil })
	<-held
	err := e.Run(context.Background(), noop, pool.Operation("SELECT", "users"))
	close(hold)
	if !errors.Is(err, pool.ErrQueueTimeout) {
		t.Fatalf("err = %v, want ErrQueueTimeout", err)
	}
	var sp = s.spans.Ended()
	if len(sp) == 0 || sp[0].Name() != "SELECT users" {
		t.Fatalf("spans %v", names(sp))
	}
	if sp[0].Status().Code != codes.Error {
		t.Errorf("status %v, want Error", sp[0].Status())
	}
	if v, _ := spanAttr(sp[0].Attributes(), semconv.ErrorTypeKey); v.AsString() != "queue_timeout" {
		t.Errorf("error.type %q, want queue_timeout", v.AsString())
	}
	if _, ok := spanAttr(sp[0].Attributes(), semconv.DBResponseStatusCodeKey); ok {
		t.Error("db.response.status_code set on an error that never reached the database")
	}
	if ev := sp[0].Events(); len(ev) == 0 || ev[0].Name != "queued" {
		t.Errorf("events %v, want queued first", ev)
	}
	if v, _ := spanAttr(sp[0].Attributes(), otelpool.AttrQueueWait); v.AsFloat64() < 0.05 {
		t.Errorf("%s = %v, want >= the 50 ms QueueTimeout", otelpool.AttrQueueWait, v.AsFloat64())
	}
}

func TestRetryEventsWithoutDatabase(t *testing.T) {
	s := newSDK(t)
	e := executor(t, pool.ExecutorConfig{MaxConcurrent: 1, Tracer: observed(t, s.telemetry(t, otelpool.Config{})),
		Retry: pool.RetryConfig{Attempts: 3, Backoff: time.Millisecond}})
	var n atomic.Int64
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	err := e.Run(context.Background(), func(context.Context) error {
		if n.Add(1) < 3 {
			return refused
		}
		return nil
	})
	if err != nil || n.Load() != 3 {
		t.Fatalf("err = %v after %d attempts, want success on the third", err, n.Load())
	}
	sp := s.spans.Ended()[0]
	var attempts []int64
	for _, ev := range sp.Events() {
		if ev.Name != "retry" {
			continue
		}
		v, _ := spanAttr(ev.Attributes, otelpool.AttrAttempt)
		attempts = append(attempts, v.AsInt64())
		if c, _ := spanAttr(ev.Attributes, otelpool.AttrErrorClass); c.AsString() != pool.Transient.String() {
			t.Errorf("retry class %q, want transient", c.AsString())
		}
		if b, _ := spanAttr(ev.Attributes, otelpool.AttrBackoff); b.AsFloat64() <= 0 {
			t.Errorf("retry backoff %v, want > 0", b.AsFloat64())
		}
	}
	if len(attempts) != 2 || attempts[0] != 2 || attempts[1] != 3 {
		t.Errorf("retry events for attempts %v, want [2 3]", attempts)
	}
	if sp.Status().Code == codes.Error {
		t.Errorf("status %v for a call that succeeded", sp.Status())
	}
}

// TestNoopProvidersAllocateNothing: explicit no-op providers cost what no
// Telemetry costs, in allocations.
func TestNoopProvidersAllocateNothing(t *testing.T) {
	tel, err := otelpool.New(otelpool.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	observed(t, tel)
	ctx := context.Background()
	with := executor(t, pool.ExecutorConfig{MaxConcurrent: 1, Tracer: tel})
	without := executor(t, pool.ExecutorConfig{MaxConcurrent: 1})
	a := testing.AllocsPerRun(500, func() { with.Run(ctx, noop) })
	b := testing.AllocsPerRun(500, func() { without.Run(ctx, noop) })
	if a != b {
		t.Errorf("%v allocations per call with no-op providers, %v without a Telemetry", a, b)
	}
}

func TestObserveOnce(t *testing.T) {
	s := newSDK(t)
	tel := s.telemetry(t, otelpool.Config{})
	src := fakeSource{}
	if err := tel.Observe(src); err != nil {
		t.Fatal(err)
	}
	if err := tel.Observe(src); err == nil {
		t.Error("a second Observe succeeded")
	}
	if err := tel.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tel.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := s.collect(t); len(got) != 0 {
		t.Errorf("after Close, %d metrics still reported", len(got))
	}
}

type fakeSource struct{}

func (fakeSource) Stats() pool.Stats   { return pool.Stats{} }
func (fakeSource) Config() pool.Config { return pool.Config{} }

// observed is tel observing a source with no figures: for a Telemetry on
// a standalone executor, which has no pool to observe.
func observed(t testing.TB, tel *otelpool.Telemetry) *otelpool.Telemetry {
	t.Helper()
	if err := tel.Observe(fakeSource{}); err != nil {
		t.Fatal(err)
	}
	return tel
}

// TestNothingBeforeObserve: calls before Observe (pool.Open's ping) are
// not reported, since their attributes are not known yet.
func TestNothingBeforeObserve(t *testing.T) {
	s := newSDK(t)
	tel := s.telemetry(t, otelpool.Config{})
	e := executor(t, pool.ExecutorConfig{MaxConcurrent: 1, Tracer: tel})
	e.Run(context.Background(), noop)
	if n := len(s.spans.Ended()); n != 0 {
		t.Errorf("%d spans before Observe", n)
	}
	observed(t, tel)
	e.Run(context.Background(), noop)
	if n := len(s.spans.Ended()); n != 1 {
		t.Errorf("%d spans after Observe, want 1", n)
	}
}
