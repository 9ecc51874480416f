package pool_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// memInUse is heap plus goroutine stacks in use, after a GC.
func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TestQueueMemory: 10 000 callers waiting in the queue cost the executor
// less than 5 MiB (the requirement is 20 MiB) over what the same number of
// goroutines parked on a bare channel cost. Each waiter parks on a single
// channel receive so that its goroutine keeps its smallest stack: a select
// with a timer in the same place doubled every stack, about 20 MiB.
func TestQueueMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory of 10 000 goroutines")
	}
	const callers = 10000
	const limit = 5 << 20

	// Baseline: goroutines parked on a channel, doing nothing else.
	before := memInUse()
	gate := make(chan struct{})
	var parked sync.WaitGroup
	for range callers {
		parked.Go(func() { <-gate })
	}
	waitFor(t, "parked goroutines", func() bool { return runtime.NumGoroutine() >= callers })
	bare := memInUse() - before
	close(gate)
	parked.Wait()

	e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 1, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	release := hold(t, e)
	before = memInUse()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() { e.Run(context.Background(), noop) })
	}
	waitFor(t, "a full queue", func() bool { return e.Stats().QueueLength == callers })
	queued := memInUse() - before
	release()
	wg.Wait()

	t.Logf("%d queued callers: %.1f MiB in all (%.0f B each); bare parked goroutines: %.1f MiB; executor's share: %.1f MiB",
		callers, float64(queued)/(1<<20), float64(queued)/callers, float64(bare)/(1<<20), (float64(queued)-float64(bare))/(1<<20))
	if share := int64(queued) - int64(bare); share >= limit {
		t.Fatalf("%d queued callers cost the executor %.1f MiB, want < 5 MiB", callers, float64(share)/(1<<20))
	}
	if s := e.Stats(); s.Processed != callers+1 || s.QueueLength != 0 {
		t.Fatalf("stats = %+v", s)
	}
}
