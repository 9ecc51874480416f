package pool_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// fakeBudget is a server with a connection budget: a call that would be
// connection budget+1 is refused at once with errExhausted.
type fakeBudget struct {
	budget, conns atomic.Int32
}

func (f *fakeBudget) call(d time.Duration) func(context.Context) error {
	return func(context.Context) error {
		if f.conns.Add(1) > f.budget.Load() {
			f.conns.Add(-1)
			return errExhausted
		}
		time.Sleep(d)
		f.conns.Add(-1)
		return nil
	}
}

// The adaptive limit finds a budget below MaxConcurrent and lives at it,
// finds it again when it grows and when it shrinks, and no caller sees an
// error: every refused connect is retried.
func TestAdaptiveLimitFindsTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const op = 10 * time.Millisecond
		srv := &fakeBudget{}
		srv.budget.Store(2)
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 8})
		var ok, failed atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := e.Run(context.Background(), srv.call(op)); err != nil {
						failed.Add(1)
						t.Errorf("a caller saw %v", err)
					} else {
						ok.Add(1)
					}
				}
			})
		}
		phase := func(budget int32, d time.Duration) int64 {
			srv.budget.Store(budget)
			before := ok.Load()
			time.Sleep(d)
			return ok.Load() - before
		}
		perSecond := func(budget int) float64 { return float64(budget) * float64(time.Second/op) }

		got := phase(2, 20*time.Second)
		if want := 0.9 * perSecond(2) * 20; float64(got) < want {
			t.Errorf("budget 2: %d calls in 20 s, want ≥ %.0f (0.9× a limit of exactly 2)", got, want)
		}
		t.Logf("budget 2: %.2f× the throughput of exactly 2; limit %d, exhaustions %d",
			float64(got)/(perSecond(2)*20), e.Limit(), e.Stats().Exhaustions)

		phase(5, 20*time.Second) // the limit finds the larger budget...
		got = phase(5, 20*time.Second)
		if want := 0.9 * perSecond(5) * 20; float64(got) < want {
			t.Errorf("budget 5: %d calls in the second 20 s, want ≥ %.0f", got, want)
		}
		t.Logf("budget 5: %.2f× exactly 5 after 20 s; limit %d", float64(got)/(perSecond(5)*20), e.Limit())

		phase(1, 5*time.Second)
		if l := e.Limit(); l != 1 {
			t.Errorf("budget 1: limit %d after 5 s, want 1", l)
		}
		close(stop)
		wg.Wait()
		s := e.Stats()
		if failed.Load() != 0 || s.InFlight != 0 || s.QueueLength != 0 {
			t.Fatalf("caller errors %d, stats %+v", failed.Load(), s)
		}
		t.Logf("exhaustions %d, retries %d, decreases %d, probes %d", s.Exhaustions, s.Retried, s.LimitDecreases, s.LimitIncreases)
	})
}
