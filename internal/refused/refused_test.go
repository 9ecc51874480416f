package refused

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

var tooMany = fmt.Errorf("connect: %w", &pgconn.PgError{Severity: "FATAL", Code: "53300", Message: `too many connections for role "app"`})

// Refusals are waited out with a growing, bounded, jittered backoff until
// the step succeeds.
func TestRetryWaitsOutRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		var waits []time.Duration
		start := time.Now()
		err := Retry(t.Context(), time.Minute, func(n int, in time.Duration, err error) {
			if n != len(waits)+1 || !errors.Is(err, tooMany) {
				t.Errorf("notify(%d, %s, %v): want refusal %d of tooMany", n, in, err, len(waits)+1)
			}
			waits = append(waits, in)
		}, func() error {
			if calls++; calls < 8 {
				return tooMany
			}
			return nil
		})
		if err != nil || calls != 8 {
			t.Fatalf("Retry = %v after %d calls, want nil after 8", err, calls)
		}
		var sum time.Duration
		for i, d := range waits {
			delay := min(First<<i, Max)
			if d < delay/2 || d > delay {
				t.Errorf("wait %d = %s, want within [%s, %s]", i+1, d, delay/2, delay)
			}
			sum += d
		}
		if took := time.Since(start); took != sum {
			t.Errorf("took %s, want the sum of the waits %s", took, sum)
		}
	})
}

// Any other error is returned at once, and so is success.
func TestRetryOnlyRefusals(t *testing.T) {
	for _, err := range []error{nil, errors.New("boom"), &pgconn.PgError{Code: "42P01", Message: "relation does not exist"}} {
		calls := 0
		got := Retry(context.Background(), time.Minute, nil, func() error { calls++; return err })
		if got != err || calls != 1 {
			t.Errorf("Retry with %v = %v after %d calls, want it back after 1", err, got, calls)
		}
	}
}

// A refusal that lasts is given up on before limit has passed since the
// first one, with the refusal as the error.
func TestRetryGivesUpAtLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		err := Retry(t.Context(), 5*time.Second, nil, func() error { return tooMany })
		took := time.Since(start)
		if !errors.Is(err, tooMany) {
			t.Fatalf("Retry = %v, want the refusal", err)
		}
		if took > 5*time.Second || took < 5*time.Second-Max {
			t.Fatalf("gave up after %s, want within Max of the 5s limit", took)
		}
	})
}

// The end of ctx ends the wait at once.
func TestRetryEndsWithCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := Retry(ctx, time.Hour, nil, func() error { return tooMany })
		if took := time.Since(start); took > 250*time.Millisecond {
			t.Fatalf("Retry returned %s after ctx ended (after %s)", err, took)
		}
		if !errors.Is(err, tooMany) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Retry = %v, want the last refusal joined with ctx's error", err)
		}
	})
}
