package pool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// closeRun starts n calls of d on e, then Close with a ctx of closeAfter,
// and reports how the calls ended and when Close returned.
func closeRun(t *testing.T, e *pool.Executor, n int, d, closeAfter time.Duration) (ok, closed int, closeErr error, took time.Duration) {
	t.Helper()
	var okN, closedN atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err := e.Run(context.Background(), func(context.Context) error { time.Sleep(d); return nil })
			switch {
			case err == nil:
				okN.Add(1)
			case errors.Is(err, pool.ErrClosed):
				closedN.Add(1)
			default:
				t.Errorf("a call failed with %v", err)
			}
		})
		synctest.Wait() // queued in order
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), closeAfter)
	defer cancel()
	closeErr = e.Close(ctx)
	took = time.Since(start)
	wg.Wait()
	return int(okN.Load()), int(closedN.Load()), closeErr, took
}

// Close drains: the calls already queued still run, and Close returns once
// they are done; a call made after Close is refused.
func TestExecutorCloseDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 5})
		ok, closed, err, took := closeRun(t, e, 20, 50*time.Millisecond, 10*time.Second)
		if ok != 20 || closed != 0 || err != nil || took != 200*time.Millisecond {
			t.Fatalf("ok %d, ErrClosed %d, Close = %v after %s; want 20, 0, nil after 200ms", ok, closed, err, took)
		}
		if err := e.Run(context.Background(), noop); !errors.Is(err, pool.ErrClosed) {
			t.Fatalf("after Close: %v, want ErrClosed", err)
		}
		if err := e.Close(context.Background()); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// When Close's ctx ends first, the calls still queued fail with ErrClosed,
// the running ones finish, and Close returns ctx's error after them.
func TestExecutorCloseDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 5})
		ok, closed, err, took := closeRun(t, e, 20, 50*time.Millisecond, 60*time.Millisecond)
		// 0-50 ms: the first 5; 50-100 ms: the next 5; at 60 ms 10 are queued.
		if ok != 10 || closed != 10 || !errors.Is(err, context.DeadlineExceeded) || took != 100*time.Millisecond {
			t.Fatalf("ok %d, ErrClosed %d, Close = %v after %s; want 10, 10, DeadlineExceeded after 100ms", ok, closed, err, took)
		}
		if s := e.Stats(); s.InFlight != 0 || s.QueueLength != 0 || !s.Closed {
			t.Fatalf("stats %+v", s)
		}
	})
}

// A call admitted before Close may still retry while the executor drains.
func TestExecutorCloseLetsRetriesFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1, Retry: pool.RetryConfig{Backoff: 10 * time.Millisecond}})
		tries := 0
		done := make(chan error, 1)
		go func() {
			done <- e.Run(context.Background(), func(context.Context) error {
				tries++
				if tries == 1 {
					time.Sleep(5 * time.Millisecond)
					return errTransient
				}
				return nil
			})
		}()
		synctest.Wait()
		closed := make(chan error, 1)
		go func() { closed <- e.Close(context.Background()) }()
		if err := <-done; err != nil || tries != 2 {
			t.Fatalf("call: %v after %d tries, want success on the retry", err, tries)
		}
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
	})
}

// A caller whose ctx ends while queued leaves at once, and a slot granted
// to it just as its ctx ended is not lost.
func TestExecutorCancelWhileQueuedFreesSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1})
		release := hold(t, e)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx, noop) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
		if s := e.Stats(); s.QueueLength != 0 || s.Canceled != 1 {
			t.Fatalf("stats %+v, want an empty queue and 1 canceled", s)
		}
		// An already-canceled call is refused even with a slot free.
		release()
		synctest.Wait()
		ran := false
		if err := e.Run(ctx, func(context.Context) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("canceled ctx with a free slot: err %v, ran %v; want Canceled without running", err, ran)
		}
		if s := e.Stats(); s.InFlight != 0 || s.Canceled != 2 || s.Failed != 0 {
			t.Fatalf("stats %+v, want nothing in flight, 2 canceled, 0 failed", s)
		}
	})
}
