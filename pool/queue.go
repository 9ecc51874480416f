package pool

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// waiter is one queued call. Its fields other than ready are written under
// Executor.mu, once, before the one send on ready that ends the wait; the
// waiter reads them after receiving.
type waiter struct {
	ready      chan struct{} // capacity 1: the send never blocks the sender
	prev, next *waiter
	done       bool  // granted a slot, or failed with err
	err        error // nil when granted
}

// newWaiter allocates a waiter. Only calls that must wait get one, and
// they are about to block anyway; not pooling them keeps each channel owned
// by one goroutine's wait (and testing/synctest bubbles apart).
func newWaiter() *waiter { return &waiter{ready: make(chan struct{}, 1)} }

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

// waitHistogram counts queue waits in power-of-two microsecond buckets:
// bucket 0 is "no wait", bucket i ≥ 1 holds waits in [2^(i-1), 2^i) µs.
// Quantiles are reported as a bucket's upper bound, so within a factor
// of two, which is what an operator needs from p50/p99.
type waitHistogram struct {
	buckets [40]atomic.Int64
	max     atomic.Int64
}

func (h *waitHistogram) observe(d time.Duration) {
	us := d.Microseconds()
	if us <= 0 {
		h.buckets[0].Add(1)
		return
	}
	i := min(bits.Len64(uint64(us)), len(h.buckets)-1)
	h.buckets[i].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (h *waitHistogram) quantile(q float64) time.Duration {
	var counts [len(h.buckets)]int64
	var total int64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			if i == 0 {
				return 0
			}
			return min(time.Duration(1<<i)*time.Microsecond, h.maxSeen())
		}
	}
	return h.maxSeen()
}

func (h *waitHistogram) maxSeen() time.Duration { return time.Duration(h.max.Load()) }

// retryBudget is a token bucket in thousandths of a retry: each success
// adds Budget×1000 tokens, each retry spends 1000, and the bucket holds at
// most BudgetBurst retries. Over time retries stay at most Budget ×
// successes (plus the burst), so a failing database is not hit by a retry
// storm.
type retryBudget struct {
	tokens atomic.Int64
	gain   int64
	cap    int64
}

func (b *retryBudget) init(ratio float64, burst int) {
	b.gain = int64(ratio * 1000)
	b.cap = int64(burst) * 1000
	b.tokens.Store(b.cap)
}

func (b *retryBudget) success() {
	if b.tokens.Load() < b.cap {
		b.tokens.Add(b.gain)
	}
}

// spend takes one retry's worth of tokens if there is one.
func (b *retryBudget) spend() bool {
	for {
		t := b.tokens.Load()
		if t < 1000 {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-1000) {
			return true
		}
	}
}
