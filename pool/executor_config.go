package pool

import (
	"errors"
	"fmt"
	"time"
)

// ExecutorConfig configures a standalone [Executor]. Pool builds one from
// its Config; the fields mean the same as there. The zero value works.
type ExecutorConfig struct {
	// MaxConcurrent bounds the calls running at once. Default: 1.
	MaxConcurrent int
	// MinConcurrent is the floor of the adaptive limit. Default: 1.
	MinConcurrent int
	// MaxQueue bounds the waiting calls; past it a call fails at once with
	// ErrQueueFull. Default: 10000.
	MaxQueue int
	// QueueTimeout bounds one attempt's wait for a slot (ErrQueueTimeout).
	// Default: 10s.
	QueueTimeout time.Duration
	// OpTimeout bounds one attempt once it holds a slot, unless the call's
	// ctx ends sooner. Default: 6s.
	OpTimeout time.Duration
	// Retry bounds retries; its zero fields take RetryConfig's defaults.
	Retry RetryConfig
	// Classify decides what an error means. Default: the package's Classify.
	Classify func(error) Class
	// Tracer observes every call (see [Tracer]); nil turns tracing off
	// and costs one nil check per call. Default: nil.
	Tracer Tracer

	// The hooks below run synchronously on the goroutine of the call that
	// caused the event, with no lock held. Default: nil each.

	// OnExhausted is called when an Exhausted error lowered the limit (or
	// found it at its floor), at most once per burst of such errors: on
	// the goroutine of the call whose attempt failed, after its slot was
	// released.
	OnExhausted func(ExhaustedEvent)
	// OnLimitChange is called when the adaptive limit changes: on the
	// goroutine of the call whose release changed it, or of SetCeiling.
	OnLimitChange func(LimitChangeEvent)
	// OnRetry is called before each retry, after its backoff, on the
	// retrying caller's goroutine. Attempt is 2 for the first retry.
	OnRetry func(RetryEvent)
	// OnError is called for every failed attempt and every call refused
	// by the queue, retried or not, except cancellations, on the caller's
	// goroutine.
	OnError func(ErrorEvent)
}

// withDefaults validates c and fills in its zero fields. It is the
// executor's own: Config.withDefaults checks the pool's fields and leaves
// the executor's to this.
func (c ExecutorConfig) withDefaults() (ExecutorConfig, error) {
	var errs []error
	for name, v := range map[string]int{
		"MaxConcurrent": c.MaxConcurrent, "MinConcurrent": c.MinConcurrent, "MaxQueue": c.MaxQueue,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", name, v))
		}
	}
	if c.QueueTimeout < 0 || c.OpTimeout < 0 {
		errs = append(errs, fmt.Errorf("QueueTimeout and OpTimeout must not be negative, got %s and %s", c.QueueTimeout, c.OpTimeout))
	}
	r, rerrs := c.Retry.withDefaults()
	errs = append(errs, rerrs...)
	if len(errs) > 0 {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	c.Retry = r
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 1
	}
	if c.MinConcurrent == 0 {
		c.MinConcurrent = 1
	}
	if c.MinConcurrent > c.MaxConcurrent {
		return c, fmt.Errorf("%w: MinConcurrent (%d) must not exceed MaxConcurrent (%d)", ErrInvalidConfig, c.MinConcurrent, c.MaxConcurrent)
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.QueueTimeout == 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.Classify == nil {
		c.Classify = Classify
	}
	return c, nil
}

// withDefaults validates r and fills in its zero fields.
func (r RetryConfig) withDefaults() (RetryConfig, []error) {
	var errs []error
	if r.Attempts < 0 || r.ExhaustedAttempts < 0 || r.BudgetBurst < 0 {
		errs = append(errs, fmt.Errorf("Retry.Attempts, Retry.ExhaustedAttempts and Retry.BudgetBurst must not be negative, got %d, %d and %d",
			r.Attempts, r.ExhaustedAttempts, r.BudgetBurst))
	}
	if r.Backoff < 0 || r.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("Retry.Backoff and Retry.MaxBackoff must not be negative, got %s and %s", r.Backoff, r.MaxBackoff))
	}
	if r.Budget < 0 || r.Budget > 1 {
		errs = append(errs, fmt.Errorf("Retry.Budget must be between 0 and 1, got %g", r.Budget))
	}
	if len(errs) > 0 {
		return r, errs
	}
	if r.Attempts == 0 {
		r.Attempts = DefaultRetryAttempts
	}
	if r.ExhaustedAttempts == 0 {
		r.ExhaustedAttempts = max(DefaultExhaustedTries, r.Attempts)
		if r.Attempts == 1 {
			r.ExhaustedAttempts = 1 // retries turned off means off
		}
	}
	if r.Backoff == 0 {
		r.Backoff = DefaultRetryBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = DefaultRetryMaxBackoff
	}
	if r.Budget == 0 {
		r.Budget = DefaultRetryBudget
	}
	if r.BudgetBurst == 0 {
		r.BudgetBurst = DefaultRetryBurst
	}
	return r, nil
}
