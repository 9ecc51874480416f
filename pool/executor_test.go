package pool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// Fake errors of each class, classified by fakeClassify.
var (
	errTransient = errors.New("fake: transient")
	errExhausted = errors.New("fake: exhausted")
	errLost      = errors.New("fake: connection lost")
	errPermanent = errors.New("fake: permanent")
)

func fakeClassify(err error) pool.Class {
	switch {
	case err == nil:
		return pool.OK
	case errors.Is(err, errTransient):
		return pool.Transient
	case errors.Is(err, errExhausted):
		return pool.Exhausted
	case errors.Is(err, errLost):
		return pool.ConnectionLost
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return pool.Canceled
	}
	return pool.Permanent
}

func newExec(t *testing.T, cfg pool.ExecutorConfig) *pool.Executor {
	t.Helper()
	if cfg.Classify == nil {
		cfg.Classify = fakeClassify
	}
	e, err := pool.NewExecutor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// hold occupies one slot until the returned func is called.
func hold(t *testing.T, e *pool.Executor) (release func()) {
	t.Helper()
	started, done := make(chan struct{}), make(chan struct{})
	go e.Run(context.Background(), func(context.Context) error {
		close(started)
		<-done
		return nil
	})
	<-started
	return func() { close(done) }
}

func TestExecutorFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1})
		release := hold(t, e)
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				e.Run(context.Background(), func(context.Context) error {
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
					return nil
				})
			})
			synctest.Wait() // caller i is queued before caller i+1 starts
		}
		if got := e.Stats().QueueLength; got != 50 {
			t.Fatalf("queue length = %d, want 50", got)
		}
		release()
		wg.Wait()
		for i, v := range order {
			if v != i {
				t.Fatalf("admission order %v is not FIFO", order)
			}
		}
	})
}

func TestExecutorQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1, MaxQueue: 2})
		release := hold(t, e)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { e.Run(context.Background(), func(context.Context) error { return nil }) })
		}
		synctest.Wait()
		ran := false
		err := e.Run(context.Background(), func(context.Context) error { ran = true; return nil })
		if !errors.Is(err, pool.ErrQueueFull) || ran {
			t.Fatalf("third waiter: err = %v, ran = %v; want ErrQueueFull without running", err, ran)
		}
		if s := e.Stats(); s.Rejected != 1 || s.QueueLength != 2 {
			t.Fatalf("stats = %+v, want Rejected 1 and QueueLength 2", s)
		}
		release()
		wg.Wait()
	})
}

func TestExecutorQueueTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1, QueueTimeout: 10 * time.Second})
		release := hold(t, e)
		defer release()
		start := time.Now()
		err := e.Run(context.Background(), func(context.Context) error { t.Error("ran after timing out"); return nil })
		if !errors.Is(err, pool.ErrQueueTimeout) {
			t.Fatalf("err = %v, want ErrQueueTimeout", err)
		}
		if waited := time.Since(start); waited != 10*time.Second {
			t.Fatalf("waited %s, want exactly QueueTimeout (10s)", waited)
		}
		if s := e.Stats(); s.TimedOut != 1 || s.QueueLength != 0 || s.Retried != 0 {
			t.Fatalf("stats = %+v, want TimedOut 1, empty queue, no retry", s)
		}
	})
}

func TestExecutorOpTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1, OpTimeout: 6 * time.Second})
		calls := 0
		start := time.Now()
		err := e.Run(context.Background(), func(ctx context.Context) error {
			calls++
			<-ctx.Done()
			return ctx.Err()
		}, pool.Idempotent())
		if !errors.Is(err, context.DeadlineExceeded) || calls != 1 {
			t.Fatalf("err = %v after %d calls, want DeadlineExceeded after 1", err, calls)
		}
		if d := time.Since(start); d != 6*time.Second {
			t.Fatalf("op ran %s, want OpTimeout (6s)", d)
		}
		// An earlier caller deadline wins over OpTimeout.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start = time.Now()
		e.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		if d := time.Since(start); d != time.Second {
			t.Fatalf("op ran %s, want the caller's 1s deadline", d)
		}
	})
}

func TestExecutorCancelWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1})
		release := hold(t, e)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- e.Run(ctx, func(context.Context) error { t.Error("canceled call ran"); return nil }) }()
		var ranLater atomic.Bool
		done := make(chan struct{})
		go func() {
			e.Run(context.Background(), func(context.Context) error { ranLater.Store(true); return nil })
			close(done)
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if s := e.Stats(); s.QueueLength != 1 || s.Canceled != 1 {
			t.Fatalf("stats = %+v, want the canceled caller gone from the queue", s)
		}
		release()
		<-done
		if !ranLater.Load() {
			t.Fatal("the caller behind the canceled one never ran")
		}
	})
}

func TestExecutorRetryPolicy(t *testing.T) {
	tests := []struct {
		name       string
		errs       []error // returned by successive attempts; nil after the list
		idempotent bool
		wantCalls  int
		wantErr    error
	}{
		{"success needs no retry", nil, false, 1, nil},
		{"transient is retried", []error{errTransient, errTransient}, false, 3, nil},
		{"exhausted is retried", []error{errExhausted}, false, 2, nil},
		{"exhaustion waits longer than Attempts", []error{errExhausted, errExhausted, errExhausted, errExhausted}, false, 5, nil},
		{"exhaustion is bounded too", repeat(errExhausted, 12), false, 10, errExhausted},
		{"a transient error after exhaustion keeps the short bound", []error{errExhausted, errExhausted, errExhausted, errTransient}, false, 4, errTransient},
		{"attempts are bounded", []error{errTransient, errTransient, errTransient, errTransient}, false, 3, errTransient},
		{"lost connection: write not retried", []error{errLost}, false, 1, errLost},
		{"lost connection: idempotent retried", []error{errLost}, true, 2, nil},
		{"permanent never retried", []error{errPermanent}, true, 1, errPermanent},
		{"cancellation never retried", []error{context.Canceled}, true, 1, context.Canceled},
		{"stops at a non-retryable error", []error{errTransient, errPermanent}, true, 2, errPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 2})
				calls := 0
				var opts []pool.CallOption
				if tt.idempotent {
					opts = append(opts, pool.Idempotent())
				}
				err := e.Run(context.Background(), func(context.Context) error {
					calls++
					if calls <= len(tt.errs) {
						return tt.errs[calls-1]
					}
					return nil
				}, opts...)
				if calls != tt.wantCalls {
					t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
				}
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if got := e.Stats().Retried; got != int64(tt.wantCalls-1) {
					t.Errorf("Retried = %d, want %d", got, tt.wantCalls-1)
				}
			})
		})
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

func TestExecutorNoRetryOption(t *testing.T) {
	e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1})
	calls := 0
	err := e.Run(context.Background(), func(context.Context) error { calls++; return errTransient }, pool.NoRetry())
	if calls != 1 || !errors.Is(err, errTransient) {
		t.Fatalf("calls = %d, err = %v; want one call", calls, err)
	}
}

// While a call backs off before its retry, its slot serves the queue.
func TestExecutorReleasesSlotDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1, Retry: pool.RetryConfig{Backoff: time.Second}})
		var mu sync.Mutex
		var log []string
		add := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }
		first := true
		var wg sync.WaitGroup
		wg.Go(func() {
			e.Run(context.Background(), func(context.Context) error {
				if first {
					first = false
					add("A fails")
					return errTransient
				}
				add("A retried")
				return nil
			})
		})
		synctest.Wait() // A is backing off
		if s := e.Stats(); s.InFlight != 0 {
			t.Fatalf("InFlight = %d during backoff, want 0", s.InFlight)
		}
		wg.Go(func() { e.Run(context.Background(), func(context.Context) error { add("B"); return nil }) })
		wg.Wait()
		want := []string{"A fails", "B", "A retried"}
		if fmt.Sprint(log) != fmt.Sprint(want) {
			t.Fatalf("order = %v, want %v", log, want)
		}
	})
}

func TestExecutorRetryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 4, Retry: pool.RetryConfig{Attempts: 2, Budget: 0.01, BudgetBurst: 10}})
		var budgetErrs int
		for range 50 {
			err := e.Run(context.Background(), func(context.Context) error { return errTransient })
			if errors.Is(err, pool.ErrRetryBudget) {
				budgetErrs++
			}
			if !errors.Is(err, errTransient) {
				t.Fatalf("err = %v, want the underlying transient error kept", err)
			}
		}
		// The burst allows 10 retries; nothing succeeded, so no tokens came back.
		if s := e.Stats(); s.Retried != 10 || budgetErrs != 40 {
			t.Fatalf("Retried = %d, budget refusals = %d; want 10 and 40", s.Retried, budgetErrs)
		}
	})
}

// The hammer: many goroutines, random failures and cancellations; at no
// moment do more calls run than the limit allows.
func TestExecutorHammer(t *testing.T) {
	const maxConc = 4
	e := newExec(t, pool.ExecutorConfig{MaxConcurrent: maxConc, QueueTimeout: 5 * time.Second, Retry: pool.RetryConfig{Backoff: time.Microsecond}})
	var running, peak, calls atomic.Int64
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				ctx, cancel := context.WithCancel(context.Background())
				if r.IntN(10) == 0 {
					cancel()
				}
				fail := r.IntN(5) == 0
				e.Run(ctx, func(context.Context) error {
					n := running.Add(1)
					defer running.Add(-1)
					calls.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					if lim := int64(e.Limit()); n > maxConc || n > lim+maxConc {
						t.Errorf("%d calls running, limit %d", n, lim)
					}
					// Yield while holding the slot, so that calls overlap
					// even on a loaded machine and the peak check below
					// cannot see 1 by scheduling luck.
					runtime.Gosched()
					if fail {
						return errTransient
					}
					return nil
				}, pool.Idempotent())
				cancel()
			}
		})
	}
	wg.Wait()
	s := e.Stats()
	if peak.Load() > maxConc || peak.Load() < 2 {
		t.Fatalf("peak concurrency = %d, want between 2 and %d", peak.Load(), maxConc)
	}
	if s.InFlight != 0 || s.QueueLength != 0 {
		t.Fatalf("after the hammer: %+v, want nothing in flight or queued", s)
	}
	if s.Processed+s.Failed != calls.Load() {
		t.Fatalf("processed %d + failed %d != %d attempts", s.Processed, s.Failed, calls.Load())
	}
}

func TestNewExecutorRejectsBadConfig(t *testing.T) {
	for _, cfg := range []pool.ExecutorConfig{
		{MaxConcurrent: -1},
		{MaxQueue: -5},
		{QueueTimeout: -time.Second},
		{MaxConcurrent: 2, MinConcurrent: 3},
		{Retry: pool.RetryConfig{Budget: 2}},
	} {
		if _, err := pool.NewExecutor(cfg); !errors.Is(err, pool.ErrInvalidConfig) {
			t.Errorf("NewExecutor(%+v) err = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestExecutorPanicFreesSlot(t *testing.T) {
	e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1})
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the panic to propagate", r)
			}
		}()
		e.Run(context.Background(), func(context.Context) error { panic("boom") })
	}()
	if s := e.Stats(); s.InFlight != 0 {
		t.Fatalf("InFlight = %d after a panic, want 0", s.InFlight)
	}
	if err := e.Run(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
