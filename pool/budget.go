package pool

import "sync/atomic"

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
