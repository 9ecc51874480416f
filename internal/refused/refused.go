// Package refused waits out connections refused for lack of slots: the
// server's or a role's too many clients (53300), a pooler's max_client_conn,
// Supavisor's max clients (pool.IsPoolExhausted). They come when many
// instances start at once, and nothing ran on a refused connection, so the
// step that met one can be tried again. The migrator and the fleet's
// join, which talk to the pool's *sql.DB directly and so get none of the
// executor's retries, use it.
package refused

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// First and Max bound the backoff between tries: it doubles from First to
// Max, each wait drawn from its upper half (jitter, so that instances
// refused together do not come back together).
const (
	First = 100 * time.Millisecond
	Max   = 2 * time.Second
)

// Waiter paces the tries of one step. The zero value is ready to use.
type Waiter struct {
	first time.Time
	delay time.Duration
	n     int
}

// Again reports whether the step that failed with err is to be tried
// again, after waiting its turn: only when err is a refusal for lack of
// slots, while ctx lasts, and for up to limit after the first refusal.
// notify, when not nil, hears of each refusal waited out before the wait.
func (w *Waiter) Again(ctx context.Context, err error, limit time.Duration, notify func(n int, in time.Duration)) bool {
	if err == nil || !pool.IsPoolExhausted(err) || ctx.Err() != nil {
		return false
	}
	now := time.Now()
	if w.n == 0 {
		w.first, w.delay = now, First
	}
	w.n++
	d := w.delay/2 + rand.N(w.delay/2+1)
	if now.Add(d).Sub(w.first) > limit {
		return false
	}
	if notify != nil {
		notify(w.n, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	w.delay = min(2*w.delay, Max)
	return true
}

// Final is the error to return for err, the last error of a step that
// Again said no more tries to: err itself, joined with ctx's error when
// ctx ended while refusals were being waited out.
func (w *Waiter) Final(ctx context.Context, err error) error {
	if err != nil && w.n > 0 && ctx.Err() != nil {
		return errors.Join(err, ctx.Err())
	}
	return err
}

// Retry runs step until it succeeds or fails with anything but a refusal
// Again would wait out.
func Retry(ctx context.Context, limit time.Duration, notify func(n int, in time.Duration, err error), step func() error) error {
	var w Waiter
	for {
		err := step()
		var hear func(int, time.Duration)
		if notify != nil {
			hear = func(n int, in time.Duration) { notify(n, in, err) }
		}
		if !w.Again(ctx, err, limit, hear) {
			return w.Final(ctx, err)
		}
	}
}
