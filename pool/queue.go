package pool

import (
	"time"
)

// waiter is one queued attempt. Its fields other than ready are written
// under Executor.mu; whoever sets done (a grant, the queue timer, Close, or
// the waiter itself when its ctx ended) sends once on ready in the same
// lock hold, unless it is the waiter itself. The waiter reads them after
// receiving, or under the lock.
type waiter struct {
	ready      chan struct{} // capacity 1: the send never blocks the sender
	prev, next *waiter
	enqueued   time.Time // when it joined the queue; its QueueTimeout runs from here
	granted    time.Time // when it was granted a slot
	op         *opCtx    // the attempt's context, listed at the grant; nil when fn runs on ctx itself
	timeout    time.Duration
	done       bool  // granted a slot, or failed with err
	err        error // nil when granted
}

// waitList is an intrusive doubly linked FIFO: O(1) push, pop and removal
// of a caller that gives up, with no allocation of its own.
type waitList struct {
	head, tail *waiter
	len        int
}

func (l *waitList) pushBack(w *waiter) {
	w.prev, w.next = l.tail, nil
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
	l.len++
}

func (l *waitList) popFront() *waiter {
	w := l.head
	l.remove(w)
	return w
}

func (l *waitList) remove(w *waiter) {
	if w.prev == nil {
		l.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	l.len--
}

// maxFreeWaiters bounds the waiters an Executor keeps for reuse: enough for
// a steady queue, not a copy of the largest burst.
const maxFreeWaiters = 256

// getWaiterLocked takes a waiter from the free list or makes one. Each
// executor keeps its own list: a waiter's channel is used by one executor's
// goroutines only (and so stays inside one testing/synctest bubble).
func (e *Executor) getWaiterLocked() *waiter {
	w := e.free
	if w == nil {
		return &waiter{ready: make(chan struct{}, 1)}
	}
	e.free = w.next
	e.nfree--
	w.next = nil
	return w
}

// putWaiterLocked returns a waiter whose wait is over, its channel empty.
func (e *Executor) putWaiterLocked(w *waiter) {
	if e.nfree >= maxFreeWaiters {
		return
	}
	*w = waiter{ready: w.ready, next: e.free}
	e.free = w
	e.nfree++
}

// The queue timeout: every waiter has the same QueueTimeout and the queue
// is FIFO, so the head always expires first, and one timer, armed for the
// head, serves the whole queue. It is re-armed lazily: when it fires for a
// head already granted, it re-arms for the new head. A queue that keeps
// moving costs one timer fire per QueueTimeout, not one timer per waiter.

// armQueueTimerLocked makes the timer fire no later than the head's expiry.
func (e *Executor) armQueueTimerLocked() {
	h := e.queue.head
	if h == nil {
		return
	}
	at := h.enqueued.Add(e.cfg.QueueTimeout)
	if e.qtArmed && !e.qtAt.After(at) {
		return
	}
	e.qtArmed, e.qtAt = true, at
	d := time.Until(at)
	if e.qt == nil {
		e.qt = time.AfterFunc(d, e.expireQueue)
	} else {
		e.qt.Reset(d)
	}
}

// expireQueue fails every waiter that has waited QueueTimeout.
func (e *Executor) expireQueue() {
	e.mu.Lock()
	e.qtArmed = false
	now := time.Now()
	for w := e.queue.head; w != nil && !now.Before(w.enqueued.Add(e.cfg.QueueTimeout)); w = e.queue.head {
		e.queue.remove(w)
		w.done, w.err = true, ErrQueueTimeout
		w.ready <- struct{}{}
	}
	e.armQueueTimerLocked()
	e.mu.Unlock()
}
