package pool

import (
	"context"
	"errors"
	"time"

	"github.com/avast/retry-go/v4"
)

// ErrRetryBudget is joined to an error that was retryable but was not
// retried because retries already used up their share of calls.
var ErrRetryBudget = errors.New("pool: retry budget exhausted")

// retryLoop re-runs a call whose first attempt failed with a retryable
// error; each retry takes a fresh slot at the back of the queue: no slot is
// held while backing off. Only this path pays for retry-go, which is why
// the first attempt runs before it (retry.Do costs allocations on every
// call it makes): retry-go's first invocation hands back that attempt's
// error, so that retry-go's delays (exponential, with jitter, capped) come
// before each real retry — retry-go has no option for a delay before its
// first invocation.
//
// The bound on attempts is RetryIf's, the one place that knows the class
// (Exhausted gets ExhaustedAttempts, the rest Attempts): retry.Attempts(0)
// leaves counting to it instead of a second, class-blind bound. A retry the
// budget refuses ends the loop with ErrRetryBudget joined to the error.
func (e *Executor) retryLoop(ctx context.Context, fn func(context.Context) error, o CallOption, first error, callSt *callState) error {
	calls := 0
	last := first
	st := *callSt // a copy, so that callSt stays on Run's stack
	defer func() { *callSt = st }()
	var backoff time.Duration
	delay := retry.CombineDelay(retry.BackOffDelay, retry.RandomDelay)
	err := retry.Do(
		func() error {
			calls++
			if calls == 1 {
				return first
			}
			if !e.budget.spend() {
				return errors.Join(last, ErrRetryBudget)
			}
			e.retried.Add(1)
			if e.cfg.OnRetry != nil || (st.traced && e.tr.retry != nil) {
				ev := RetryEvent{Attempt: calls, Class: e.cfg.Classify(last), Err: last, Backoff: backoff}
				if e.cfg.OnRetry != nil {
					e.cfg.OnRetry(ev)
				}
				if st.traced && e.tr.retry != nil {
					e.tr.retry.CallRetry(ctx, ev)
				}
			}
			err := e.attempt(ctx, fn, o.timeout, &st, true)
			if err != nil {
				last = err
			}
			return err
		},
		retry.Context(ctx),
		retry.Attempts(0), // bounded by RetryIf, per class
		retry.Delay(e.cfg.Retry.Backoff),
		retry.MaxDelay(e.cfg.Retry.MaxBackoff),
		retry.MaxJitter(e.cfg.Retry.Backoff),
		retry.DelayType(func(n uint, err error, c *retry.Config) time.Duration {
			backoff = min(delay(n, err, c), e.cfg.Retry.MaxBackoff) // as retry-go caps it
			return backoff
		}),
		retry.RetryIf(func(err error) bool {
			if errors.Is(err, ErrRetryBudget) || !e.retryable(err, o) {
				return false
			}
			if e.cfg.Classify(err) == Exhausted {
				return calls < e.cfg.Retry.ExhaustedAttempts
			}
			return calls < e.cfg.Retry.Attempts
		}),
	)
	if err != nil && ctx.Err() != nil && err == context.Cause(ctx) && err != last {
		// ctx ended during a backoff, and retry-go returned its cause (a
		// custom one, from context.WithCancelCause, matches no
		// context.Canceled): say that ctx ended, with its cause, and keep
		// what failed.
		return newCanceledError(ctx, last)
	}
	return err
}
