package otelpool_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tollgate-db/tollgate/otelpool"
	"github.com/tollgate-db/tollgate/pool"
)

//go:noinline
func noop(context.Context) error { return nil }

// tracers are the configurations the overhead is measured in: no Tracer
// (the baseline), a Tracer that does nothing, a Telemetry with no provider
// configured (the global providers, never set in this test binary), and a
// Telemetry on the real
// SDK, sampling every span, with a no-op exporter behind a batcher and a
// manual reader that is never collected.
func tracers(tb testing.TB) []struct {
	name string
	tr   pool.Tracer
} {
	unset, err := otelpool.New(otelpool.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	observed(tb, unset)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tb.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	withSDK, err := otelpool.New(otelpool.Config{TracerProvider: tp, MeterProvider: mp,
		Namespace: "app", ServerAddress: "127.0.0.1", ServerPort: 5432})
	if err != nil {
		tb.Fatal(err)
	}
	observed(tb, withSDK)
	return []struct {
		name string
		tr   pool.Tracer
	}{{"none", nil}, {"empty", emptyTracer{}}, {"unset", unset}, {"sdk", withSDK}}
}

// emptyTracer does nothing: what the executor's traced path costs by
// itself (its clock reads, the hooks' dispatch), with no otelpool in it.
type emptyTracer struct{}

func (emptyTracer) CallStart(ctx context.Context, _ pool.CallStartEvent) context.Context { return ctx }
func (emptyTracer) CallAdmitted(context.Context, pool.AdmittedEvent)                     {}
func (emptyTracer) CallEnd(context.Context, pool.CallEndEvent)                           {}

// BenchmarkCall is a no-op call through the executor's fast path (a free
// slot, no database) with each tracer. Run the three in the same run and
// compare: tracer=unset minus tracer=none is what a call costs more with
// otelpool and no provider configured, tracer=empty minus tracer=none the
// executor's share of it.
func BenchmarkCall(b *testing.B) {
	for _, tc := range tracers(b) {
		b.Run("tracer="+tc.name, func(b *testing.B) {
			e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 4, Tracer: tc.tr})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			op := pool.Operation("SELECT", "users")
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Run(ctx, noop, op); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestUnsetProviderAllocatesNothing: with no provider configured, a call
// through a Telemetry allocates exactly what a call without one does.
func TestUnsetProviderAllocatesNothing(t *testing.T) {
	tcs := tracers(t)
	allocs := map[string]float64{}
	for _, tc := range tcs {
		if tc.name != "none" && tc.name != "unset" {
			continue
		}
		e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 4, Tracer: tc.tr})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		op := pool.Operation("SELECT", "users")
		allocs[tc.name] = testing.AllocsPerRun(1000, func() { e.Run(ctx, noop, op) })
	}
	if len(allocs) != 2 || allocs["unset"] != allocs["none"] {
		t.Errorf("a call allocates %v times with an unconfigured Telemetry, %v without one", allocs["unset"], allocs["none"])
	}
}

// BenchmarkHooks calls a Tracer's hooks for one call as the executor does
// on its fast path (Enabled first, when the Tracer has it), with no
// executor around them: tracer=unset is what otelpool's own code costs a
// call when no provider is set.
func BenchmarkHooks(b *testing.B) {
	for _, tc := range tracers(b)[1:] {
		b.Run("tracer="+tc.name, func(b *testing.B) {
			tr := tc.tr
			at := tr.(pool.AdmitTracer)
			en, _ := tr.(pool.EnabledTracer)
			ctx := context.Background()
			start := pool.CallStartEvent{Operation: "SELECT", Collection: "users"}
			b.ReportAllocs()
			for b.Loop() {
				if en != nil && !en.Enabled(ctx) {
					continue
				}
				c := tr.CallStart(ctx, start)
				at.CallAdmitted(c, pool.AdmittedEvent{Attempt: 1})
				tr.CallEnd(c, pool.CallEndEvent{Attempts: 1, Duration: 1000})
			}
		})
	}
}
