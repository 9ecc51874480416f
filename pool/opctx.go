package pool

import (
	"context"
	"sync"
	"time"
)

// opCtx is the context a call runs under: its caller's ctx with the
// operation deadline added. It does what context.WithDeadline does, but
// builds its timer, channel and parent watch only when someone asks for
// Done: a call that never blocks on ctx pays one allocation instead of
// five, and one that does pays about the same as WithDeadline.
//
// It implements AfterFunc, so contexts derived from it (context.WithCancel
// and friends, as drivers do) hook into it without a goroutine each.
type opCtx struct {
	parent   context.Context
	deadline time.Time

	mu         sync.Mutex
	done       chan struct{} // made on the first Done or AfterFunc
	err        error
	timer      *time.Timer
	stopParent func() bool
	afters     map[*afterFunc]struct{}
}

type afterFunc struct{ f func() }

func newOpCtx(parent context.Context, timeout time.Duration) *opCtx {
	return &opCtx{parent: parent, deadline: time.Now().Add(timeout)}
}

func (c *opCtx) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *opCtx) Value(key any) any { return c.parent.Value(key) }

func (c *opCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pollLocked()
	return c.err
}

// pollLocked notices an expiry or a parent's end that no timer reported
// because nobody has asked for Done yet.
func (c *opCtx) pollLocked() {
	if c.err != nil {
		return
	}
	if err := c.parent.Err(); err != nil {
		c.cancelLocked(err)
	} else if !time.Now().Before(c.deadline) {
		c.cancelLocked(context.DeadlineExceeded)
	}
}

func (c *opCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	return c.done
}

// armLocked makes the channel and, unless already ended, the timer and the
// watch on the parent.
func (c *opCtx) armLocked() {
	if c.done != nil {
		return
	}
	c.done = make(chan struct{})
	if c.pollLocked(); c.err != nil {
		close(c.done)
		return
	}
	c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.cancel(context.DeadlineExceeded) })
	if c.parent.Done() != nil {
		c.stopParent = context.AfterFunc(c.parent, func() { c.cancel(c.parent.Err()) })
	}
}

// AfterFunc runs f in its own goroutine once c is done; stop unregisters
// it and reports whether it had not run yet.
func (c *opCtx) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	if c.afters == nil {
		c.afters = make(map[*afterFunc]struct{})
	}
	c.afters[a] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, pending := c.afters[a]
		delete(c.afters, a)
		return pending
	}
}

func (c *opCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelLocked(err)
}

func (c *opCtx) cancelLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stopParent != nil {
		c.stopParent()
	}
	for a := range c.afters {
		go a.f()
	}
	c.afters = nil
}

// end is the CancelFunc of the call: it runs when fn returns.
func (c *opCtx) end() { c.cancel(context.Canceled) }
