package pool_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// fakeTracer records every event it receives, in order.
type fakeTracer struct {
	mu     sync.Mutex
	events []string
	starts []pool.CallStartEvent
	admits []pool.AdmittedEvent
	rets   []pool.RetryEvent
	ends   []pool.CallEndEvent
	ctxOK  bool // every later event saw the ctx CallStart returned
}

type traceKey struct{}

func (f *fakeTracer) CallStart(ctx context.Context, ev pool.CallStartEvent) context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, "start")
	f.starts = append(f.starts, ev)
	f.ctxOK = true
	return context.WithValue(ctx, traceKey{}, "span")
}

func (f *fakeTracer) check(ctx context.Context) {
	if ctx.Value(traceKey{}) != "span" {
		f.ctxOK = false
	}
}

func (f *fakeTracer) CallAdmitted(ctx context.Context, ev pool.AdmittedEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.check(ctx)
	f.events = append(f.events, "admitted")
	f.admits = append(f.admits, ev)
}

func (f *fakeTracer) CallRetry(ctx context.Context, ev pool.RetryEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.check(ctx)
	f.events = append(f.events, "retry")
	f.rets = append(f.rets, ev)
}

func (f *fakeTracer) CallEnd(ctx context.Context, ev pool.CallEndEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.check(ctx)
	f.events = append(f.events, "end")
	f.ends = append(f.ends, ev)
}

func TestTracerEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &fakeTracer{}
		e := newExec(t, pool.ExecutorConfig{
			MaxConcurrent: 1, Tracer: tr,
			Retry: pool.RetryConfig{Attempts: 3, Backoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond},
		})
		release := hold(t, e) // traced too: one start, one admit
		done := make(chan error, 1)
		var sawSpan bool
		fails := 1
		go func() {
			done <- e.Run(context.Background(), func(ctx context.Context) error {
				sawSpan = ctx.Value(traceKey{}) == "span"
				if fails > 0 {
					fails--
					return errTransient
				}
				return nil
			}, pool.Operation("SELECT", "users"))
		}()
		synctest.Wait()
		time.Sleep(5 * time.Millisecond) // fake clock: the call waits 5 ms in the queue
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()

		tr.mu.Lock()
		defer tr.mu.Unlock()
		// The holder: start, admitted, (end after release). The call: start,
		// admitted, retry, admitted, end.
		if len(tr.starts) != 2 || tr.starts[0].Queued || !tr.starts[1].Queued {
			t.Fatalf("starts = %+v, want the holder not queued and the call queued", tr.starts)
		}
		if s := tr.starts[1]; s.Operation != "SELECT" || s.Collection != "users" || s.Tx {
			t.Fatalf("start event = %+v, want Operation SELECT, Collection users", s)
		}
		if len(tr.admits) != 3 || tr.admits[1].Attempt != 1 || tr.admits[1].QueueWait != 5*time.Millisecond ||
			tr.admits[2].Attempt != 2 || tr.admits[2].QueueWait != 0 {
			t.Fatalf("admits = %+v, want attempt 1 after a 5ms wait, then attempt 2 at once", tr.admits)
		}
		if len(tr.rets) != 1 {
			t.Fatalf("retries = %+v, want one", tr.rets)
		}
		if r := tr.rets[0]; r.Attempt != 2 || r.Class != pool.Transient || !errors.Is(r.Err, errTransient) ||
			r.Backoff <= 0 || r.Backoff > 10*time.Millisecond {
			t.Fatalf("retry event = %+v, want attempt 2 after a Transient error with a backoff in (0, 10ms]", r)
		}
		if len(tr.ends) != 2 {
			t.Fatalf("ends = %+v, want two", tr.ends)
		}
		end := tr.ends[1]
		if end.Err != nil || end.Class != pool.OK || end.Attempts != 2 || end.QueueWait != 5*time.Millisecond ||
			end.Duration != 5*time.Millisecond+tr.rets[0].Backoff {
			t.Fatalf("end event = %+v, want OK after 2 attempts, 5ms queued, 5ms + backoff %v in all", end, tr.rets[0].Backoff)
		}
		if !tr.ctxOK || !sawSpan {
			t.Fatalf("ctx from CallStart reached the events: %v, reached fn: %v; want both", tr.ctxOK, sawSpan)
		}
	})
}

func TestTracerSeesRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &fakeTracer{}
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1, MaxQueue: 1, Tracer: tr})
		release := hold(t, e)
		go e.Run(context.Background(), noop)
		synctest.Wait()
		if err := e.Run(context.Background(), noop); !errors.Is(err, pool.ErrQueueFull) {
			t.Fatalf("err = %v, want ErrQueueFull", err)
		}
		release()
		synctest.Wait()
		tr.mu.Lock()
		defer tr.mu.Unlock()
		var full *pool.CallEndEvent
		for i := range tr.ends {
			if errors.Is(tr.ends[i].Err, pool.ErrQueueFull) {
				full = &tr.ends[i]
			}
		}
		if full == nil || full.Attempts != 1 || full.QueueWait != 0 {
			t.Fatalf("ends = %+v, want one ErrQueueFull after 1 attempt without wait", tr.ends)
		}
		if len(tr.starts) != 3 || len(tr.ends) != 3 || len(tr.admits) != 2 {
			t.Fatalf("starts %d, admits %d, ends %d; want 3, 2, 3", len(tr.starts), len(tr.admits), len(tr.ends))
		}
	})
}

// A Tracer with neither extension gets only CallStart and CallEnd.
type startEndTracer struct{ starts, ends int }

func (s *startEndTracer) CallStart(ctx context.Context, _ pool.CallStartEvent) context.Context {
	s.starts++
	return ctx
}
func (s *startEndTracer) CallEnd(context.Context, pool.CallEndEvent) { s.ends++ }

func TestTracerWithoutExtensions(t *testing.T) {
	tr := &startEndTracer{}
	e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 1, Tracer: tr})
	for range 3 {
		if err := e.Run(context.Background(), noop); err != nil {
			t.Fatal(err)
		}
	}
	if tr.starts != 3 || tr.ends != 3 {
		t.Fatalf("starts %d, ends %d; want 3 each", tr.starts, tr.ends)
	}
}

func TestExecutorHooksTakeEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var limits []pool.LimitChangeEvent
		var exhausted []pool.ExhaustedEvent
		var retries []pool.RetryEvent
		var errs []pool.ErrorEvent
		e := newExec(t, pool.ExecutorConfig{
			MaxConcurrent: 4,
			Retry:         pool.RetryConfig{Attempts: 2, ExhaustedAttempts: 2, Backoff: time.Millisecond},
			OnLimitChange: func(ev pool.LimitChangeEvent) { mu.Lock(); limits = append(limits, ev); mu.Unlock() },
			OnExhausted:   func(ev pool.ExhaustedEvent) { mu.Lock(); exhausted = append(exhausted, ev); mu.Unlock() },
			OnRetry:       func(ev pool.RetryEvent) { mu.Lock(); retries = append(retries, ev); mu.Unlock() },
			OnError:       func(ev pool.ErrorEvent) { mu.Lock(); errs = append(errs, ev); mu.Unlock() },
		})
		n := 0
		err := e.Run(context.Background(), func(context.Context) error {
			n++
			if n == 1 {
				return errExhausted
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(limits) != 1 || limits[0] != (pool.LimitChangeEvent{Old: 4, New: 1, Reason: pool.LimitExhausted}) {
			t.Fatalf("limit events = %+v, want 4 -> 1 exhausted (refused with 1 in flight)", limits)
		}
		if len(exhausted) != 1 || exhausted[0].Limit != 1 || !errors.Is(exhausted[0].Err, errExhausted) {
			t.Fatalf("exhausted events = %+v, want one at limit 2 carrying the error", exhausted)
		}
		if len(retries) != 1 || retries[0].Attempt != 2 || retries[0].Class != pool.Exhausted {
			t.Fatalf("retry events = %+v, want attempt 2 after Exhausted", retries)
		}
		if len(errs) != 1 || errs[0].Class != pool.Exhausted {
			t.Fatalf("error events = %+v, want the one Exhausted attempt", errs)
		}
	})
}
