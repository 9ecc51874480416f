package pool

import (
	"testing"
	"testing/synctest"
	"time"
)

// Percentiles describe the last one to two minutes; the since-start
// histogram keeps everything.
func TestWaitHistogramWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h waitHistogram
		for range 100 {
			h.observe(500 * time.Millisecond)
		}
		if p := h.quantile(0.99); p != 500*time.Millisecond {
			t.Fatalf("p99 = %s, want 500ms (the max caps the bucket bound)", p)
		}
		time.Sleep(90 * time.Second) // fake clock: one window later
		for range 100 {
			h.observe(0)
		}
		if p := h.quantile(0.50); p != 0 {
			t.Fatalf("p50 = %s, want 0: half the recent calls did not wait", p)
		}
		if p := h.quantile(0.99); p != 500*time.Millisecond {
			t.Fatalf("p99 = %s, want the slow calls of the previous window still counted", p)
		}
		time.Sleep(3 * time.Minute)
		h.observe(0)
		if p := h.quantile(0.99); p != 0 {
			t.Fatalf("p99 = %s three minutes later, want 0: old waits must age out", p)
		}
		s := h.snapshot()
		if s.Count != 201 || s.Sum != 50*time.Second || s.Buckets[0] != 101 || h.maxSeen() != 500*time.Millisecond {
			t.Fatalf("since-start histogram = %+v", s)
		}
		var inBound int64
		for i, c := range s.Buckets {
			if c > 0 && i > 0 && WaitBucketBound(i) < 500*time.Millisecond {
				t.Fatalf("a 500ms wait landed in bucket %d (bound %s)", i, WaitBucketBound(i))
			}
			inBound += c
		}
		if inBound != s.Count {
			t.Fatalf("bucket counts %d != Count %d", inBound, s.Count)
		}
	})
}
