package pool

import (
	"context"
	"math"
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
	parent context.Context
	// The operation deadline, fixed when the attempt is admitted, before
	// fn runs: dl nanoseconds after *base (its opList's base, a reading
	// with the monotonic clock), so that admitting and watching it is
	// integer arithmetic; Deadline makes the time.Time.
	dl   int64
	base *time.Time

	// prev and next link the attempt in its opList, under the list's lock.
	prev, next *opCtx

	mu         sync.Mutex        // guards the fields below
	done       chan struct{}     // made on the first Done; closed when the context ends
	stopParent func() bool       // the parent watch, once Done registered it
	fns        [inlineFns]func() // AfterFunc callbacks not yet run or stopped (non-nil)
	fnIDs      [inlineFns]uint32 // their registrations' ids (apart from fns: no padding)
	moreFns    *[]afterFn        // beyond inlineFns; rare
	nextID     uint32
	listed     bool    // in its opList (under the list's lock, like prev and next)
	ended      endCode // why the context ended; 0 while it is live

	att attempt // what of this attempt reached the server (attempt.go)
}

func newOpCtx(parent context.Context) *opCtx { return &opCtx{parent: parent} }

// endCode is why an opCtx ended: a byte instead of an error value, which
// keeps the opCtx in a smaller allocation size class. The parent's error is
// read from the parent, whose Err, once set, does not change.
type endCode uint8

const (
	live            endCode = iota
	endedByEnd              // the attempt ended: Canceled
	endedByDeadline         // the operation deadline: DeadlineExceeded
	endedByParent           // the parent ended: its error
)

// errLocked is the context's error, nil while it is live.
func (c *opCtx) errLocked() error {
	switch c.ended {
	case endedByEnd:
		return context.Canceled
	case endedByDeadline:
		return context.DeadlineExceeded
	case endedByParent:
		return c.parent.Err()
	}
	return nil
}

func (c *opCtx) Deadline() (time.Time, bool) {
	dl := c.opDeadline()
	if d, ok := c.parent.Deadline(); ok && d.Before(dl) {
		return d, true
	}
	return dl, true
}

// opDeadline is the operation deadline (the parent's may be earlier); zero
// before the attempt is admitted.
func (c *opCtx) opDeadline() time.Time {
	if c.base == nil {
		return time.Time{}
	}
	return c.base.Add(time.Duration(c.dl))
}

// pastDeadline reports whether the operation deadline has passed; false
// before the attempt is admitted.
func (c *opCtx) pastDeadline() bool { return c.base != nil && int64(time.Since(*c.base)) >= c.dl }

func (c *opCtx) Done() <-chan struct{} {
	c.mu.Lock()
	if c.done != nil {
		d := c.done
		c.mu.Unlock()
		return d
	}
	c.done = make(chan struct{})
	d := c.done
	if c.ended != live {
		close(c.done)
		c.mu.Unlock()
		return d
	}
	watch := c.parent.Done() != nil
	c.mu.Unlock()
	if watch {
		stop := context.AfterFunc(c.parent, func() { c.cancel(endedByParent) })
		c.mu.Lock()
		if c.ended == live {
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
	err := c.errLocked()
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
		if c.fns[i] != nil && c.fnIDs[i] == id {
			c.fns[i], c.fnIDs[i] = nil, 0
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
	if c.ended != live {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.nextID++
	id := c.nextID
	placed := false
	for i := range c.fns {
		if c.fns[i] == nil {
			c.fns[i], c.fnIDs[i] = f, id
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

// cancel ends the context, once, for the reason why.
func (c *opCtx) cancel(why endCode) {
	c.mu.Lock()
	if c.ended != live {
		c.mu.Unlock()
		return
	}
	c.ended = why
	if c.done != nil {
		close(c.done)
	}
	if c.stopParent == nil && c.moreFns == nil && c.noInlineFnsLocked() {
		// Nothing watched it (a call that never waited on its ctx): no
		// callbacks to take out and run.
		c.mu.Unlock()
		return
	}
	fns, more, stop := c.fns, c.moreFns, c.stopParent
	c.fns, c.fnIDs, c.moreFns, c.stopParent = [inlineFns]func(){}, [inlineFns]uint32{}, nil, nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, f := range fns {
		if f != nil {
			go f()
		}
	}
	if more != nil {
		for _, a := range *more {
			go a.f()
		}
	}
}

// noInlineFnsLocked reports whether no AfterFunc registration is held inline.
func (c *opCtx) noInlineFnsLocked() bool {
	for i := range c.fns {
		if c.fns[i] != nil {
			return false
		}
	}
	return true
}

// end is the CancelFunc of the attempt: it runs when fn returns.
func (c *opCtx) end() { c.cancel(endedByEnd) }

// opList holds the attempts in flight that run under an opCtx, earliest
// deadline first, and one timer that fires at the earliest. Every method
// but fire runs with *mu held (the executor's mu: linking and unlinking
// ride on lock holds the executor makes anyway). The timer is re-armed
// lazily: it may fire for an attempt already gone, and then re-arms for
// the new head, so that a list whose attempts all finish well within
// their deadlines costs one timer fire per OpTimeout, not one per call.
type opList struct {
	mu         *sync.Mutex
	base       time.Time // deadlines are nanoseconds after it; it has a monotonic reading
	head, tail *opCtx
	timer      *time.Timer
	armed      bool  // the timer is pending
	armedAt    int64 // when it fires, after base
}

// newOpList returns a list whose methods run under *mu, with base for
// deadlines (see sinceBase).
func newOpList(mu *sync.Mutex, base time.Time) opList { return opList{mu: mu, base: base} }

// sinceBase is the time now, as deadlines are kept.
func (l *opList) sinceBase() int64 { return int64(time.Since(l.base)) }

// deadlineAfter is the deadline timeout after at (both after base), at
// most math.MaxInt64 however long timeout is.
func deadlineAfter(at int64, timeout time.Duration) int64 {
	if dl := at + int64(timeout); dl >= at {
		return dl
	}
	return math.MaxInt64
}

// addLocked lists c with deadline dl (nanoseconds after base).
func (l *opList) addLocked(c *opCtx, dl int64) {
	c.dl, c.base = dl, &l.base
	c.listed = true
	// Deadlines come in nearly sorted (same timeout, increasing admission
	// times): walk back from the tail.
	at := l.tail
	for at != nil && at.dl > dl {
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
	if l.head == nil || (l.armed && l.armedAt <= l.head.dl) {
		return
	}
	d := time.Duration(l.head.dl - l.sinceBase())
	l.armed, l.armedAt = true, l.head.dl
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
	now := l.sinceBase()
	var expired []*opCtx
	for c := l.head; c != nil && now >= c.dl; c = l.head {
		l.removeLocked(c)
		expired = append(expired, c)
	}
	l.armLocked()
	l.mu.Unlock()
	for _, c := range expired {
		c.cancel(endedByDeadline)
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
