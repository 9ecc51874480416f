package pool

import (
	"context"
	"sync"
	"time"
)

// opCtx is the context a call runs under: its caller's ctx with the
// operation deadline added. It is context.WithDeadline built lazily: the
// real deadline context (timer, channel) is made on the first Done, or on
// an Err that finds the call already over, and everything is delegated to
// it from then on. A call that never blocks on ctx pays one allocation
// instead of WithDeadline's five; one that does pays one more than
// WithDeadline, and behaves exactly like it, because once armed it hands
// out the inner context's channel and, through Value, its cancelCtx, so
// that contexts derived from it attach to the inner one as usual.
type opCtx struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	inner  context.Context // nil until armed
	cancel context.CancelFunc
	ended  bool
}

func newOpCtx(parent context.Context, timeout time.Duration) *opCtx {
	return &opCtx{parent: parent, deadline: time.Now().Add(timeout)}
}

// armed returns the inner context, making it on first use.
func (c *opCtx) armed() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.cancel = context.WithDeadline(c.parent, c.deadline)
		if c.ended {
			c.cancel()
		}
	}
	return c.inner
}

func (c *opCtx) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *opCtx) Done() <-chan struct{} { return c.armed().Done() }

func (c *opCtx) Err() error {
	c.mu.Lock()
	inner, over := c.inner, c.ended || !time.Now().Before(c.deadline)
	c.mu.Unlock()
	if inner == nil && !over {
		return c.parent.Err()
	}
	return c.armed().Err()
}

func (c *opCtx) Value(key any) any {
	c.mu.Lock()
	inner := c.inner
	c.mu.Unlock()
	if inner != nil {
		return inner.Value(key)
	}
	return c.parent.Value(key)
}

// end is the CancelFunc of the call: it runs when fn returns.
func (c *opCtx) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
}
