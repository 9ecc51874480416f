package pool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type ctxKey struct{}

// listedOp is an opCtx watched by a list of its own, as an executor's
// admitted attempt is.
func listedOp(parent context.Context, timeout time.Duration) *opCtx {
	var mu sync.Mutex
	l := newOpList(&mu, time.Now())
	c := newOpCtx(parent)
	mu.Lock()
	l.addLocked(c, deadlineAfter(l.sinceBase(), timeout))
	mu.Unlock()
	return c
}

// The list keeps its attempts in deadline order whatever order they come
// in, cancels each at its own deadline with DeadlineExceeded, and leaves
// alone those removed before.
func TestOpListDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		start := time.Now()
		l := newOpList(&mu, start)
		timeouts := []time.Duration{5, 1, 3, 2, 4, 6} // seconds
		ops := make([]*opCtx, len(timeouts))
		mu.Lock()
		for i, d := range timeouts {
			ops[i] = newOpCtx(context.Background())
			l.addLocked(ops[i], int64(d*time.Second))
		}
		var prev time.Time
		for c := l.head; c != nil; c = c.next {
			if c.opDeadline().Before(prev) {
				t.Fatal("list out of deadline order")
			}
			prev = c.opDeadline()
		}
		l.removeLocked(ops[2]) // the 3 s one finished in time
		mu.Unlock()
		ops[2].end()
		ended := make([]time.Duration, len(ops))
		var wg sync.WaitGroup
		for i, c := range ops {
			wg.Go(func() {
				<-c.Done()
				ended[i] = time.Since(start)
			})
		}
		wg.Wait()
		for i, d := range timeouts {
			want := d * time.Second
			if i == 2 {
				want = 0
				if !errors.Is(ops[i].Err(), context.Canceled) {
					t.Fatalf("removed op: Err = %v, want Canceled", ops[i].Err())
				}
				continue
			}
			if ended[i] != want || !errors.Is(ops[i].Err(), context.DeadlineExceeded) {
				t.Fatalf("op %d ended after %s with %v, want %s and DeadlineExceeded", i, ended[i], ops[i].Err(), want)
			}
		}
		if l.head != nil {
			t.Fatal("expired ops left in the list")
		}
	})
}

func TestOpCtxDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent := context.WithValue(context.Background(), ctxKey{}, "v")
		c := listedOp(parent, time.Second)
		defer c.end()
		if d, ok := c.Deadline(); !ok || !d.Equal(time.Now().Add(time.Second)) {
			t.Fatalf("Deadline = %v, %v", d, ok)
		}
		if c.Value(ctxKey{}) != "v" || c.Err() != nil {
			t.Fatal("a fresh opCtx must pass values through and not be done")
		}
		start := time.Now()
		<-c.Done()
		if time.Since(start) != time.Second || !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("done after %s with %v, want 1s and DeadlineExceeded", time.Since(start), c.Err())
		}
	})
}

// Without anyone asking for Done, Err still reports the expiry, and a
// later Done is already closed.
func TestOpCtxErrWithoutDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := listedOp(context.Background(), time.Second)
		time.Sleep(time.Second) // fake clock
		synctest.Wait()         // the list's timer has fired
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err = %v", c.Err())
		}
		select {
		case <-c.Done():
		default:
			t.Fatal("Done is not closed although Err is set")
		}
	})
}

func TestOpCtxParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		c := listedOp(parent, time.Hour)
		if d, _ := c.Deadline(); !d.Equal(time.Now().Add(time.Millisecond)) {
			t.Fatalf("Deadline = %v, want the parent's earlier one", d)
		}
		<-c.Done()
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err = %v", c.Err())
		}

		parent2, cancel2 := context.WithCancel(context.Background())
		c2 := listedOp(parent2, time.Hour)
		done := c2.Done()
		cancel2()
		<-done
		if !errors.Is(c2.Err(), context.Canceled) {
			t.Fatalf("Err = %v, want the parent's Canceled", c2.Err())
		}
	})
}

// Contexts derived from an opCtx, and context.AfterFunc on it, follow it
// and end when the call ends.
func TestOpCtxChildren(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := listedOp(context.Background(), time.Hour)
		child, cancel := context.WithCancel(c)
		defer cancel()
		ran := make(chan struct{})
		stop := context.AfterFunc(c, func() { close(ran) })
		stopped := context.AfterFunc(c, func() { t.Error("a stopped AfterFunc ran") })
		if !stopped() {
			t.Fatal("stop before the end must report true")
		}
		synctest.Wait()
		if child.Err() != nil || c.Err() != nil {
			t.Fatal("ended early")
		}
		c.end()
		<-child.Done()
		<-ran
		if !errors.Is(child.Err(), context.Canceled) || !errors.Is(c.Err(), context.Canceled) || stop() {
			t.Fatalf("child err = %v, err = %v; stop after the end must report false", child.Err(), c.Err())
		}
	})
}

// end before anyone asked for Done still cancels.
func TestOpCtxEndBeforeDone(t *testing.T) {
	c := listedOp(context.Background(), time.Hour)
	if c.Err() != nil {
		t.Fatal("a fresh opCtx must not be done")
	}
	c.end()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err after end = %v", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done is open after end")
	}
}

// More AfterFunc registrations than fit inline, stopped out of order: the
// live ones run once at the end, the stopped ones never.
func TestOpCtxManyAfterFuncs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := listedOp(context.Background(), time.Hour)
		var ran [5]atomicBool
		stops := make([]func() bool, 5)
		for i := range stops {
			stops[i] = c.AfterFunc(func() { ran[i].set() })
		}
		if !stops[1]() || !stops[3]() || stops[3]() {
			t.Fatal("stop must report true once, then false")
		}
		c.end()
		synctest.Wait()
		for i := range ran {
			if want := i != 1 && i != 3; ran[i].get() != want {
				t.Fatalf("callback %d ran = %v, want %v", i, ran[i].get(), want)
			}
		}
		if stops[0]() {
			t.Fatal("stop after the end must report false")
		}
	})
}

type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (b *atomicBool) set() { b.mu.Lock(); b.v = true; b.mu.Unlock() }
func (b *atomicBool) get() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.v
}

// registered counts the AfterFunc registrations c holds.
func registered(c *opCtx) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.fns {
		if f != nil {
			n++
		}
	}
	if c.moreFns != nil {
		n += len(*c.moreFns)
	}
	return n
}

// A statement's ctx, the query log's wrapper around the attempt's, hands
// AfterFunc registrations to the opCtx: database/sql's WithCancel and pgx's
// context.AfterFunc on it register there and start no goroutine (before,
// the context package met a wrapper it did not know and watched it from a
// goroutine of its own, one per query), and they run when the attempt ends.
func TestStmtCtxRegistersOnOpCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := listedOp(parent, time.Minute)
	sc := &stmtCtx{Context: c}
	derived, stopDerived := context.WithCancel(sc)
	defer stopDerived()
	ran := make(chan struct{})
	context.AfterFunc(sc, func() { close(ran) })
	if n := registered(c); n != 2 {
		t.Fatalf("registrations on the attempt's ctx = %d, want 2 (WithCancel and AfterFunc on the statement ctx)", n)
	}
	c.end()
	select {
	case <-derived.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a ctx derived from the statement ctx did not end with the attempt")
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("an AfterFunc on the statement ctx did not run when the attempt ended")
	}
	if !errors.Is(derived.Err(), context.Canceled) {
		t.Fatalf("derived ctx error = %v, want context.Canceled", derived.Err())
	}
}

// Over a ctx that is no opCtx (a call on a transaction's ctx), the
// statement ctx's AfterFunc is context.AfterFunc on it.
func TestStmtCtxAfterFuncOnPlainCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	sc := &stmtCtx{Context: parent}
	ran := make(chan struct{})
	stop := context.AfterFunc(sc, func() { close(ran) })
	stopped := make(chan struct{})
	stop2 := sc.AfterFunc(func() { close(stopped) })
	if !stop2() {
		t.Fatal("stopping a registration before the ctx ended reported false")
	}
	cancel()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc on the statement ctx did not run when its ctx was canceled")
	}
	select {
	case <-stopped:
		t.Fatal("a stopped registration ran")
	case <-time.After(20 * time.Millisecond):
	}
	if stop() {
		t.Fatal("stop after the callback ran reported true")
	}
}
