package pool_test

import (
	"context"
	"runtime"
	"testing"

	"golang.org/x/sync/semaphore"

	"github.com/tollgate-db/tollgate/pool"
)

//go:noinline
func noop(context.Context) error { return nil }

// spin is a few microseconds of CPU work, standing in for what a call does
// while it holds a slot, in the contended benchmarks.
//
//go:noinline
func spin() uint64 {
	x := uint64(1)
	for i := range 2000 {
		x = x*6364136223846793005 + uint64(i)
	}
	return x
}

var sink uint64

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

// contended runs 200 goroutines (at least) through gate, each call doing
// spin's few microseconds of work while it holds one of 5 slots. withCancel
// gives each goroutine a ctx that can end, as a request's ctx can.
func contended(b *testing.B, withCancel bool, gate func(ctx context.Context) error) {
	b.SetParallelism((200 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		if withCancel {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
		}
		for pb.Next() {
			if err := gate(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkExecutorContended is the queue's slow path under contention:
// 200 goroutines, MaxConcurrent 5, no database, a few µs of work in fn.
// The semaphore sub-benchmarks do the same behind golang.org/x/sync's
// semaphore.Weighted (FIFO too, no timeouts, no retries): run them in the
// same run and compare ns/op.
func BenchmarkExecutorContended(b *testing.B) {
	for _, c := range []struct {
		name       string
		withCancel bool
	}{{"ctx=background", false}, {"ctx=cancelable", true}} {
		b.Run("executor/"+c.name, func(b *testing.B) {
			e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 5})
			if err != nil {
				b.Fatal(err)
			}
			fn := func(context.Context) error { sink = spin(); return nil }
			contended(b, c.withCancel, func(ctx context.Context) error { return e.Run(ctx, fn) })
		})
		b.Run("semaphore/"+c.name, func(b *testing.B) {
			sem := semaphore.NewWeighted(5)
			contended(b, c.withCancel, func(ctx context.Context) error {
				if err := sem.Acquire(ctx, 1); err != nil {
					return err
				}
				sink = spin()
				sem.Release(1)
				return nil
			})
		})
	}
}
