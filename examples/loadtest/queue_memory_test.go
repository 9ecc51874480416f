package main_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// memInUse is heap plus goroutine stacks after a collection.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
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

const queuedCallers = 10000

// 10 000 callers parked in the executor's queue cost less than 20 MiB
// (issue 6). The callers' goroutines are the application's cost either
// way: they are measured parked on a plain channel first, and the
// executor's share is what parking them in the queue adds.
func TestTenThousandQueuedCallersCostUnder20MiB(t *testing.T) {
	// The goroutines alone, parked on a channel.
	before := memInUse()
	release := make(chan struct{})
	var wg sync.WaitGroup
	var parked sync.WaitGroup
	parked.Add(queuedCallers)
	for range queuedCallers {
		wg.Go(func() {
			parked.Done()
			<-release
		})
	}
	parked.Wait()
	goroutines := int64(memInUse()) - int64(before)
	close(release)
	wg.Wait()

	// The same callers queued in the executor behind one held slot.
	e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 1, MaxQueue: 2 * queuedCallers, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	holding := make(chan struct{})
	wg.Go(func() {
		_ = e.Run(context.Background(), func(context.Context) error { close(holding); <-hold; return nil })
	})
	<-holding
	before = memInUse()
	ctx := context.Background()
	errs := make(chan error, queuedCallers)
	for range queuedCallers {
		wg.Go(func() {
			if err := e.Run(ctx, func(context.Context) error { return nil }); err != nil {
				errs <- err
			}
		})
	}
	waitFor(t, "10 000 queued callers", func() bool { return e.Stats().QueueLength == queuedCallers })
	queued := int64(memInUse()) - int64(before)
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a queued call failed: %v", err)
	}
	if st := e.Stats(); st.Processed != queuedCallers+1 {
		t.Errorf("processed %d calls, want %d", st.Processed, queuedCallers+1)
	}
	executor := queued - goroutines
	t.Logf("%d callers: parked on a channel %.1f MiB, queued in the executor %.1f MiB, the executor's share %.1f MiB (%.0f B per caller)",
		queuedCallers, mib(goroutines), mib(queued), mib(executor), float64(executor)/queuedCallers)
	if executor > 20<<20 {
		t.Errorf("the executor's queue costs %.1f MiB for %d callers: want under 20 MiB", mib(executor), queuedCallers)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
