package pool

import (
	"context"
	"sync"
	"time"
)

// opCtx is the context one attempt runs under: its caller's ctx with the
// operation deadline added. It behaves like context.WithDeadline, at a
// lower price, because what makes WithDeadline dear is not needed here:
//
//   - No timer of its own. An attempt's deadline is watched by its
//     executor's opList, which holds the attempts in flight (at most
//     MaxConcurrent) in deadline order and keeps one timer for the earliest.
//   - The channel is made on the first Done only, and the parent is
//     watched (one context.AfterFunc) only from then on, and only when the
//     parent can end at all.
//   - It implements AfterFunc itself, so that context.AfterFunc on it (pgx
//     watches every query's ctx that way) and contexts derived from it
//     register here, not in a map of the parent's, and start no goroutine.
//
// Once the attempt ends (end, the CancelFunc of the call) the context is
// canceled, as WithDeadline's would be; Err is DeadlineExceeded after the
// deadline, the parent's error after the parent ended, Canceled after end.
type opCtx struct {
	parent   context.Context
	deadline time.Time // fixed when the attempt is admitted, before fn runs

	// prev and next link the attempt in its opList, under the list's lock.
	prev, next *opCtx

	mu         sync.Mutex // guards the fields below
	err        error
	done       chan struct{}      // made on the first Done; closed when err is set
	stopParent func() bool        // the parent watch, once Done registered it
	fns        [inlineFns]afterFn // AfterFunc callbacks not yet run or stopped (f != nil)
	moreFns    *[]afterFn         // beyond inlineFns; rare
	nextID     uint32
	listed     bool // in its opList (under the list's lock, like prev and next)

	att attempt // what of this attempt reached the server (attempt.go)
}

func newOpCtx(parent context.Context) *opCtx { return &opCtx{parent: parent} }

func (c *opCtx) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *opCtx) Done() <-chan struct{} {
	c.mu.Lock()
	if c.done != nil {
		d := c.done
		c.mu.Unlock()
		return d
	}
	c.done = make(chan struct{})
	d := c.done
	if c.err != nil {
		close(c.done)
		c.mu.Unlock()
		return d
	}
	watch := c.parent.Done() != nil
	c.mu.Unlock()
	if watch {
		stop := context.AfterFunc(c.parent, func() { c.cancel(c.parent.Err()) })
		c.mu.Lock()
		if c.err == nil {
			c.stopParent = stop
			stop = nil
		}
		c.mu.Unlock()
		if stop != nil { // ended meanwhile
			stop()
		}
	}
	return d
}

func (c *opCtx) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.parent.Err() // the parent's end may not have reached us yet
}

func (c *opCtx) Value(key any) any {
	if _, ok := key.(attemptKey); ok { // the pgx tracer's lookup, per statement
		return &c.att
	}
	return c.parent.Value(key)
}

// inlineFns is how many AfterFunc registrations an opCtx holds without
// allocating: a query through database/sql and pgx makes two (pgx's
// context watcher, database/sql's Rows).
const inlineFns = 2

// afterFn is one AfterFunc registration.
type afterFn struct {
	id uint32
	f  func()
}

// removeFn is the stop function of registration id, as context.AfterFunc's.
func (c *opCtx) removeFn(id uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.fns {
		if c.fns[i].f != nil && c.fns[i].id == id {
			c.fns[i] = afterFn{}
			return true
		}
	}
	if c.moreFns != nil {
		more := *c.moreFns
		for i, x := range more {
			if x.id == id {
				*c.moreFns = append(more[:i], more[i+1:]...)
				return true
			}
		}
	}
	return false
}

// AfterFunc makes opCtx an afterFuncer for the context package: f runs in
// its own goroutine once the context is done, as context.AfterFunc says.
// A registration costs one allocation, its stop function.
func (c *opCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.nextID++
	id := c.nextID
	placed := false
	for i := range c.fns {
		if c.fns[i].f == nil {
			c.fns[i] = afterFn{id: id, f: f}
			placed = true
			break
		}
	}
	if !placed {
		if c.moreFns == nil {
			c.moreFns = new([]afterFn)
		}
		*c.moreFns = append(*c.moreFns, afterFn{id: id, f: f})
	}
	c.mu.Unlock()
	return func() bool { return c.removeFn(id) }
}

// cancel ends the context with err, once.
func (c *opCtx) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	fns, more, stop := c.fns, c.moreFns, c.stopParent
	c.fns, c.moreFns, c.stopParent = [inlineFns]afterFn{}, nil, nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, a := range fns {
		if a.f != nil {
			go a.f()
		}
	}
	if more != nil {
		for _, a := range *more {
			go a.f()
		}
	}
}

// end is the CancelFunc of the attempt: it runs when fn returns.
func (c *opCtx) end() { c.cancel(context.Canceled) }

// opList holds the attempts in flight that run under an opCtx, earliest
// deadline first, and one timer that fires at the earliest. Every method
// but fire runs with *mu held (the executor's mu: linking and unlinking
// ride on lock holds the executor makes anyway). The timer is re-armed
// lazily: it may fire for an attempt already gone, and then re-arms for
// the new head, so that a list whose attempts all finish well within
// their deadlines costs one timer fire per OpTimeout, not one per call.
type opList struct {
	mu         *sync.Mutex
	head, tail *opCtx
	timer      *time.Timer
	armed      bool      // the timer is pending
	armedAt    time.Time // when it fires
}

// addLocked lists c with the given deadline.
func (l *opList) addLocked(c *opCtx, deadline time.Time) {
	c.deadline = deadline
	c.listed = true
	// Deadlines come in nearly sorted (same timeout, increasing admission
	// times): walk back from the tail.
	at := l.tail
	for at != nil && at.deadline.After(deadline) {
		at = at.prev
	}
	c.prev = at
	if at == nil {
		c.next = l.head
		l.head = c
	} else {
		c.next = at.next
		at.next = c
	}
	if c.next == nil {
		l.tail = c
	} else {
		c.next.prev = c
	}
	if l.head == c {
		l.armLocked()
	}
}

// removeLocked unlists c; the timer is left as it is (see opList).
func (l *opList) removeLocked(c *opCtx) {
	if !c.listed {
		return
	}
	c.listed = false
	if c.prev == nil {
		l.head = c.next
	} else {
		c.prev.next = c.next
	}
	if c.next == nil {
		l.tail = c.prev
	} else {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
}

// armLocked makes the timer fire no later than the head's deadline.
func (l *opList) armLocked() {
	if l.head == nil || (l.armed && !l.armedAt.After(l.head.deadline)) {
		return
	}
	d := time.Until(l.head.deadline)
	l.armed, l.armedAt = true, l.head.deadline
	if l.timer == nil {
		l.timer = time.AfterFunc(d, l.fire)
	} else {
		l.timer.Reset(d)
	}
}

// fire cancels every attempt past its deadline and re-arms for the next.
func (l *opList) fire() {
	l.mu.Lock()
	l.armed = false
	now := time.Now()
	var expired []*opCtx
	for c := l.head; c != nil && !now.Before(c.deadline); c = l.head {
		l.removeLocked(c)
		expired = append(expired, c)
	}
	l.armLocked()
	l.mu.Unlock()
	for _, c := range expired {
		c.cancel(context.DeadlineExceeded)
	}
}

// stop stops the timer, for Close.
func (l *opList) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
		l.armed = false
	}
}
