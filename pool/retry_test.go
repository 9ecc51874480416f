package pool_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tollgate-db/tollgate/pool"
)

// retry-go is bounded by RetryIf alone, per class: Exhausted gets
// ExhaustedAttempts, Transient gets Attempts; an error that is not
// retryable ends the loop at once, and ctx ending in a backoff returns
// ctx's error with the last failure kept.
func TestRetryAttemptsPerClass(t *testing.T) {
	e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 1,
		Retry: pool.RetryConfig{Attempts: 2, ExhaustedAttempts: 5, Backoff: time.Microsecond, MaxBackoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	exhausted := &pgconn.PgError{Code: "53300", Message: "sorry, too many clients already"}
	safe := errSafeToRetry{}
	for _, tc := range []struct {
		name string
		errs []error // the error of each run; the last repeats
		runs int
	}{
		{"exhausted", []error{exhausted}, 5},
		{"transient", []error{safe}, 2},
		{"exhausted then transient", []error{exhausted, safe}, 2},
		{"transient then success", []error{safe, nil}, 2},
		{"permanent", []error{&pgconn.PgError{Code: "42601"}}, 1},
		{"application", []error{errors.New("no")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			err := e.Run(context.Background(), func(ctx context.Context) error {
				runs++
				return tc.errs[min(runs, len(tc.errs))-1]
			})
			if runs != tc.runs {
				t.Fatalf("%d runs, want %d (err %v)", runs, tc.runs, err)
			}
			if want := tc.errs[len(tc.errs)-1]; !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, want)
			}
		})
	}
	t.Run("ctx ends in a backoff", func(t *testing.T) {
		slow, _ := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 1,
			Retry: pool.RetryConfig{Attempts: 3, Backoff: time.Hour, MaxBackoff: time.Hour}})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := slow.Run(ctx, func(ctx context.Context) error { return safe })
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, safe) || pool.Classify(err) != pool.Canceled {
			t.Fatalf("err = %v (class %s), want the deadline with the failure kept", err, pool.Classify(err))
		}
	})
}

type errSafeToRetry struct{}

func (errSafeToRetry) Error() string     { return "nothing was written" }
func (errSafeToRetry) SafeToRetry() bool { return true }
