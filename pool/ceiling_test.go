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
	"gorm.io/gorm"
)

func TestSetCeilingLowersAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []pool.LimitChangeEvent
		e := newExec(t, pool.ExecutorConfig{
			MaxConcurrent: 4,
			OnLimitChange: func(ev pool.LimitChangeEvent) { changes = append(changes, ev) },
		})
		var releases []func()
		for range 4 {
			releases = append(releases, hold(t, e))
		}
		e.SetCeiling(2)
		if s := e.Stats(); s.Limit != 2 || s.Ceiling != 2 || s.InFlight != 4 {
			t.Fatalf("after SetCeiling(2): %+v, want limit 2, ceiling 2, the 4 in flight kept", s)
		}
		if len(changes) != 1 || changes[0] != (pool.LimitChangeEvent{Old: 4, New: 2, Reason: pool.LimitCeiling}) {
			t.Fatalf("changes = %+v, want 4 -> 2 ceiling", changes)
		}
		// A new call waits until in-flight is below the new limit.
		var ran atomic.Int32
		go e.Run(context.Background(), func(context.Context) error { ran.Add(1); return nil })
		synctest.Wait()
		for i := range 2 {
			releases[i]()
			synctest.Wait()
			if ran.Load() != 0 {
				t.Fatalf("a call ran with %d in flight and a ceiling of 2", 4-i-1)
			}
		}
		releases[2]()
		synctest.Wait()
		if ran.Load() != 1 {
			t.Fatal("the queued call did not run once in flight fell below the ceiling")
		}
		releases[3]()
	})
}

func TestSetCeilingNeverExceeded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 8})
		e.SetCeiling(3)
		var running, peak atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for range 100 { // 5000 successes: the additive increase would have passed 3 long ago
					e.Run(context.Background(), func(context.Context) error {
						n := running.Add(1)
						defer running.Add(-1)
						for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
						}
						time.Sleep(time.Millisecond)
						return nil
					})
				}
			})
		}
		wg.Wait()
		if peak.Load() != 3 || e.Limit() != 3 {
			t.Fatalf("peak %d, limit %d under a ceiling of 3; want 3 and 3", peak.Load(), e.Limit())
		}
		// Exhaustion under the ceiling lowers the limit below it; the
		// ceiling raised later is a bound, not a jump past the adaptive limit.
		e.Run(context.Background(), func(context.Context) error { return errExhausted }, pool.NoRetry())
		if got := e.Limit(); got != 1 {
			t.Fatalf("limit after exhaustion at 3 = %d, want 1", got)
		}
		e.SetCeiling(100)
		if s := e.Stats(); s.Ceiling != 8 || s.Limit != 1 {
			t.Fatalf("after SetCeiling(100): ceiling %d, limit %d; want clamped to 8, limit still 1", s.Ceiling, s.Limit)
		}
	})
}

func TestSetCeilingRaiseRestores(t *testing.T) {
	e := newExec(t, pool.ExecutorConfig{MaxConcurrent: 6})
	e.SetCeiling(2)
	e.SetCeiling(0) // clamped to 1
	if got := e.Limit(); got != 1 {
		t.Fatalf("limit after SetCeiling(0) = %d, want 1", got)
	}
	e.SetCeiling(5)
	if s := e.Stats(); s.Limit != 5 || s.Ceiling != 5 {
		t.Fatalf("after SetCeiling(5): %+v, want limit and ceiling 5", s)
	}
}

func TestPoolSetCeiling(t *testing.T) {
	p, err := openSQLite(t, pool.Config{Profile: pool.Production, MaxOpenConns: 6, MaxConcurrent: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetCeiling(0); !errors.Is(err, pool.ErrInvalidConfig) {
		t.Fatalf("SetCeiling(0) = %v, want ErrInvalidConfig", err)
	}
	for _, tt := range []struct{ conns, open, ceiling int }{
		{2, 2, 2},
		{5, 5, 4},
		{100, 6, 4},
		{1, 1, 1},
	} {
		if err := p.SetCeiling(tt.conns); err != nil {
			t.Fatal(err)
		}
		st := p.Stats()
		if st.DB.MaxOpenConnections != tt.open || st.Executor.Ceiling != tt.ceiling || st.Executor.Limit != tt.ceiling {
			t.Fatalf("SetCeiling(%d): MaxOpenConnections %d, ceiling %d, limit %d; want %d, %d, %d", tt.conns,
				st.DB.MaxOpenConnections, st.Executor.Ceiling, st.Executor.Limit, tt.open, tt.ceiling, tt.ceiling)
		}
	}
	// Idle connections above the new cap are closed: open 4 at once, then lower.
	if err := p.SetCeiling(4); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	var in atomic.Int32
	for range 4 {
		wg.Go(func() {
			err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
				return db.Connection(func(*gorm.DB) error {
					in.Add(1)
					<-gate
					return nil
				})
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "4 connections held", func() bool { return in.Load() == 4 })
	close(gate)
	wg.Wait()
	if open := p.Stats().DB.OpenConnections; open != 4 {
		t.Fatalf("open connections = %d, want 4 before lowering", open)
	}
	if err := p.SetCeiling(2); err != nil {
		t.Fatal(err)
	}
	if open := p.Stats().DB.OpenConnections; open > 2 {
		t.Fatalf("open connections = %d after SetCeiling(2), want at most 2", open)
	}
}
