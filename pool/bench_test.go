package pool_test

import (
	"context"
	"testing"

	"github.com/tollgate-db/tollgate/pool"
)

//go:noinline
func noop(context.Context) error { return nil }

// BenchmarkExecutorOverhead is a no-op through the executor's fast path: a
// free slot, no queue, no database. Compare with BenchmarkExecutorBaseline
// in the same run: the difference is what the executor costs per call.
func BenchmarkExecutorOverhead(b *testing.B) {
	e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 4})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Run(ctx, noop); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecutorOverheadIdempotent is the same with a call option.
func BenchmarkExecutorOverheadIdempotent(b *testing.B) {
	e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 4})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Run(ctx, noop, pool.Idempotent()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecutorBaseline calls the same no-op directly.
func BenchmarkExecutorBaseline(b *testing.B) {
	ctx := context.Background()
	fn := noop
	b.ReportAllocs()
	for b.Loop() {
		if err := fn(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecutorContended runs the no-op from GOMAXPROCS×8 goroutines
// through 4 slots: the queue's slow path under contention.
func BenchmarkExecutorContended(b *testing.B) {
	e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := e.Run(ctx, noop); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
