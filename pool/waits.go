package pool

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// WaitBuckets is the number of queue-wait histogram buckets.
const WaitBuckets = 40

// WaitBucketBound is the upper bound of queue-wait bucket i: bucket 0
// holds calls that did not wait, bucket i ≥ 1 waits below 2^i µs.
func WaitBucketBound(i int) time.Duration {
	if i <= 0 {
		return 0
	}
	return time.Duration(1<<i) * time.Microsecond
}

// waitWindow is how long one window of the recent-wait histogram lasts.
// Percentiles cover the current window and the one before: the last one
// to two minutes.
const waitWindow = time.Minute

// waitHistogram counts queue waits in power-of-two microsecond buckets,
// twice: since the executor started (for Prometheus histograms, which
// want cumulative counts) and over the last one to two minutes (for the
// p50/p99 that Stats reports as what is true now). Quantiles are reported
// as a bucket's upper bound, so within a factor of two. observe costs two
// atomic adds on the fast path and reads no clock there.
type waitHistogram struct {
	total  [WaitBuckets]atomic.Int64
	sum    atomic.Int64 // nanoseconds, since start
	max    atomic.Int64 // nanoseconds, since start
	recent [2][WaitBuckets]atomic.Int64
	cur    atomic.Int32 // which of recent is being filled
	since  atomic.Int64 // unix nanoseconds when cur started
}

func (h *waitHistogram) observe(d time.Duration) { h.observeAt(d, time.Time{}) }

// observeAt is observe for a wait that ended at now, when the caller has
// read the clock already; a zero now reads it when it is needed.
func (h *waitHistogram) observeAt(d time.Duration, now time.Time) {
	i := 0
	if us := d.Microseconds(); us > 0 {
		i = min(bits.Len64(uint64(us)), WaitBuckets-1)
		if now.IsZero() {
			now = time.Now()
		}
		h.rotate(now)
		h.sum.Add(int64(d))
		for {
			m := h.max.Load()
			if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
				break
			}
		}
	}
	h.total[i].Add(1)
	h.recent[h.cur.Load()][i].Add(1)
}

// rotate starts a new window when the current one is over, and drops
// both when the last observation is older than two windows.
func (h *waitHistogram) rotate(now time.Time) {
	since := h.since.Load()
	age := now.UnixNano() - since
	if since != 0 && age < int64(waitWindow) {
		return
	}
	if !h.since.CompareAndSwap(since, now.UnixNano()) {
		return // another goroutine rotates
	}
	next := 1 - h.cur.Load()
	for i := range h.recent[next] {
		h.recent[next][i].Store(0)
	}
	if age >= int64(2*waitWindow) { // nothing recent in the current one either
		for i := range h.recent[1-next] {
			h.recent[1-next][i].Store(0)
		}
	}
	h.cur.Store(next)
}

// quantile is the q-quantile of the recent waits.
func (h *waitHistogram) quantile(q float64) time.Duration {
	h.rotate(time.Now())
	var counts [WaitBuckets]int64
	var total int64
	for i := range counts {
		counts[i] = h.recent[0][i].Load() + h.recent[1][i].Load()
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
			return min(WaitBucketBound(i), h.maxSeen())
		}
	}
	return h.maxSeen()
}

func (h *waitHistogram) maxSeen() time.Duration { return time.Duration(h.max.Load()) }

// snapshot is the since-start histogram.
func (h *waitHistogram) snapshot() WaitHistogram {
	var w WaitHistogram
	for i := range h.total {
		w.Buckets[i] = h.total[i].Load()
		w.Count += w.Buckets[i]
	}
	w.Sum = time.Duration(h.sum.Load())
	return w
}

// WaitHistogram is the distribution of queue waits since the executor
// started: Buckets[i] calls waited up to WaitBucketBound(i) (and more than
// the bound of i-1). It is what a Prometheus histogram is built from.
type WaitHistogram struct {
	Buckets [WaitBuckets]int64
	Count   int64
	Sum     time.Duration
}
