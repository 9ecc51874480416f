package cache_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-db/tollgate/cache"
)

func TestGetOrLoadSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[int](cache.Config{})
		defer c.Close()
		release := make(chan struct{})
		var mu sync.Mutex
		loads := 0
		load := func(ctx context.Context) (int, error) {
			mu.Lock()
			loads++
			mu.Unlock()
			<-release
			return 42, nil
		}
		const n = 1000
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				v, err := c.GetOrLoad(t.Context(), "k", load)
				if err == nil && v != 42 {
					err = errors.New("wrong value")
				}
				errs <- err
			})
		}
		synctest.Wait() // every caller is now waiting for the one load
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if loads != 1 {
			t.Fatalf("loads = %d, want 1", loads)
		}
		st := c.Stats()
		if st.Loads != 1 || st.Shared != n || st.Misses != n {
			t.Fatalf("stats = %+v, want 1 load, %d shared, %d misses", st, n, n)
		}
		if v, err := c.GetOrLoad(t.Context(), "k", load); v != 42 || err != nil || loads != 1 {
			t.Fatalf("after load: %d, %v, loads %d", v, err, loads)
		}
	})
}

func TestTTLExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[string](cache.Config{TTL: 30 * time.Second, CleanupInterval: -1})
		defer c.Close()
		c.Set("a", "x")
		time.Sleep(29 * time.Second) // fake time: advances the bubble's clock
		if v, ok := c.Get("a"); !ok || v != "x" {
			t.Fatalf("at 29s: %q, %v; want x, true", v, ok)
		}
		time.Sleep(2 * time.Second)
		if _, ok := c.Get("a"); ok {
			t.Fatal("at 31s the value is still fresh")
		}
		c.SetWithTTL("b", "y", time.Second)
		time.Sleep(2 * time.Second)
		if _, ok := c.Get("b"); ok {
			t.Fatal("SetWithTTL ignored its ttl")
		}
	})
}

func TestGetOrLoadReloadsAfterTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[int](cache.Config{TTL: 10 * time.Second})
		defer c.Close()
		n := 0
		load := func(context.Context) (int, error) { n++; return n, nil }
		for _, step := range []struct {
			sleep time.Duration
			want  int
		}{{0, 1}, {9 * time.Second, 1}, {2 * time.Second, 2}, {5 * time.Second, 2}} {
			time.Sleep(step.sleep)
			if v, err := c.GetOrLoad(t.Context(), "k", load); err != nil || v != step.want {
				t.Fatalf("after %v: %d, %v; want %d", step.sleep, v, err, step.want)
			}
		}
	})
}

func TestFailureTTL(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name       string
		failureTTL time.Duration
		sleep      time.Duration
		wantLoads  int64
	}{
		{"failures not cached", 0, 0, 2},
		{"cached failure within its ttl", 5 * time.Second, 4 * time.Second, 1},
		{"cached failure after its ttl", 5 * time.Second, 6 * time.Second, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := cache.New[int](cache.Config{FailureTTL: tc.failureTTL})
				defer c.Close()
				load := func(context.Context) (int, error) { return 0, boom }
				for range 2 {
					if _, err := c.GetOrLoad(t.Context(), "k", load); !errors.Is(err, boom) {
						t.Fatalf("err = %v, want boom", err)
					}
					time.Sleep(tc.sleep)
				}
				if st := c.Stats(); st.Loads != tc.wantLoads || st.LoadErrors != tc.wantLoads {
					t.Fatalf("stats = %+v, want %d loads and load errors", st, tc.wantLoads)
				}
				if _, ok := c.Get("k"); ok {
					t.Fatal("Get returned a cached failure as a value")
				}
			})
		})
	}
}

func TestWaiterLeavesWithoutCancellingLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[int](cache.Config{})
		defer c.Close()
		release := make(chan struct{})
		loadErr := make(chan error, 1)
		load := func(ctx context.Context) (int, error) {
			<-release
			loadErr <- ctx.Err()
			return 7, nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		got := make(chan error, 1)
		go func() {
			_, err := c.GetOrLoad(ctx, "k", load)
			got <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-got; !errors.Is(err, context.Canceled) {
			t.Fatalf("waiter err = %v, want context.Canceled", err)
		}
		close(release)
		if err := <-loadErr; err != nil {
			t.Fatalf("the load's ctx ended with its caller: %v", err)
		}
		synctest.Wait()
		if v, ok := c.Get("k"); !ok || v != 7 {
			t.Fatalf("after the load: %d, %v; want 7, true", v, ok)
		}
	})
}

func TestLoadTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[int](cache.Config{LoadTimeout: time.Second})
		defer c.Close()
		start := time.Now()
		_, err := c.GetOrLoad(t.Context(), "k", func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("err = %v after %v, want deadline exceeded after 1s", err, time.Since(start))
		}
	})
}

func TestLoadPanicIsAnError(t *testing.T) {
	c := cache.New[int](cache.Config{})
	defer c.Close()
	_, err := c.GetOrLoad(t.Context(), "k", func(context.Context) (int, error) { panic("bad") })
	if err == nil {
		t.Fatal("a panicking load returned no error")
	}
	if st := c.Stats(); st.LoadErrors != 1 {
		t.Fatalf("LoadErrors = %d, want 1", st.LoadErrors)
	}
}

func TestCanceledCallerDoesNotLoad(t *testing.T) {
	c := cache.New[int](cache.Config{})
	defer c.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.GetOrLoad(ctx, "k", func(context.Context) (int, error) { return 1, nil })
	if !errors.Is(err, context.Canceled) || c.Stats().Loads != 0 {
		t.Fatalf("err = %v, loads = %d; want canceled, 0", err, c.Stats().Loads)
	}
}

func TestDeleteAndLookup(t *testing.T) {
	c := cache.New[int](cache.Config{})
	defer c.Close()
	c.Set("k", 1)
	if e, ok := c.Lookup("k"); !ok || e.Value != 1 || e.Err != nil || e.Expires.IsZero() {
		t.Fatalf("Lookup = %+v, %v", e, ok)
	}
	c.Delete("k")
	if _, ok := c.Get("k"); ok {
		t.Fatal("Delete left the value")
	}
	if st := c.Stats(); st.Hits != 1 || st.Misses != 1 || st.Items != 0 {
		t.Fatalf("stats = %+v, want 1 hit, 1 miss, 0 items", st)
	}
}

func TestJanitorSweepsAndCloseStopsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[int](cache.Config{TTL: time.Second, CleanupInterval: time.Minute})
		c.Set("k", 1)
		if c.Stats().Items != 1 {
			t.Fatal("Set stored nothing")
		}
		time.Sleep(time.Minute + time.Second)
		if n := c.Stats().Items; n != 0 {
			t.Fatalf("janitor left %d expired items", n)
		}
		c.Close()
		c.Close() // idempotent
		// synctest.Test fails if the janitor goroutine were still running.
	})
}

// A load that ignores its ctx must not hold the key forever: its waiters
// give up after LoadTimeout, and the next caller starts a new load.
func TestWaitersGiveUpOnLoadThatIgnoresCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[int](cache.Config{LoadTimeout: time.Second, CleanupInterval: -1})
		defer c.Close()
		stuck := make(chan struct{})
		var mu sync.Mutex
		loads := 0
		load := func(context.Context) (int, error) {
			mu.Lock()
			loads++
			n := loads
			mu.Unlock()
			if n == 1 {
				<-stuck // ignores ctx
			}
			return n, nil
		}
		start := time.Now()
		_, err := c.GetOrLoad(context.Background(), "k", load)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"k"`) || time.Since(start) != time.Second {
			t.Fatalf("err = %v after %v; want deadline exceeded naming the key after 1s", err, time.Since(start))
		}
		if n := c.Stats().Timeouts; n != 1 {
			t.Fatalf("Timeouts = %d, want 1", n)
		}
		// The stuck load is forgotten: the next caller loads afresh.
		if v, err := c.GetOrLoad(context.Background(), "k", load); err != nil || v != 2 {
			t.Fatalf("second caller: %d, %v; want 2, nil", v, err)
		}
		close(stuck)
		synctest.Wait()
		if v, ok := c.Get("k"); !ok || v != 2 {
			t.Fatalf("cached %d, %v; want 2: the abandoned load stored its late result", v, ok)
		}
	})
}

// Delete during a load: the load does not store its (older) result, and a
// caller after Delete does not join it but loads again.
func TestDeleteDuringLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.New[int](cache.Config{CleanupInterval: -1})
		defer c.Close()
		release := make(chan struct{})
		var mu sync.Mutex
		loads := 0
		load := func(context.Context) (int, error) {
			mu.Lock()
			loads++
			n := loads
			mu.Unlock()
			if n == 1 {
				<-release
			}
			return n, nil
		}
		first := make(chan int, 1)
		go func() {
			v, _ := c.GetOrLoad(t.Context(), "k", load)
			first <- v
		}()
		synctest.Wait() // load 1 is running
		c.Delete("k")
		if v, err := c.GetOrLoad(t.Context(), "k", load); err != nil || v != 2 {
			t.Fatalf("after Delete: %d, %v; want a new load (2)", v, err)
		}
		close(release)
		if v := <-first; v != 1 {
			t.Fatalf("first caller got %d, want 1", v)
		}
		synctest.Wait()
		if v, ok := c.Get("k"); !ok || v != 2 {
			t.Fatalf("cached %d, %v; want 2: the load started before Delete stored its result", v, ok)
		}
	})
}
