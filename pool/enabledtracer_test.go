package pool_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// countingTracer counts its events; Enabled answers on.
type countingTracer struct {
	on                          atomic.Bool
	enabled, start, admit, retr atomic.Int64
	end                         atomic.Int64
}

func (c *countingTracer) Enabled(context.Context) bool { c.enabled.Add(1); return c.on.Load() }
func (c *countingTracer) CallStart(ctx context.Context, _ pool.CallStartEvent) context.Context {
	c.start.Add(1)
	return ctx
}
func (c *countingTracer) CallAdmitted(context.Context, pool.AdmittedEvent) { c.admit.Add(1) }
func (c *countingTracer) CallRetry(context.Context, pool.RetryEvent)       { c.retr.Add(1) }
func (c *countingTracer) CallEnd(context.Context, pool.CallEndEvent)       { c.end.Add(1) }

// An EnabledTracer that answers false gets none of a call's events, its
// retries' included; one that answers true gets them all.
func TestEnabledTracer(t *testing.T) {
	tr := &countingTracer{}
	e, err := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 1, Tracer: tr,
		Retry: pool.RetryConfig{Attempts: 2, Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	call := func() {
		n := 0
		err := e.Run(context.Background(), func(context.Context) error {
			if n++; n == 1 {
				return refused
			}
			return nil
		})
		if err != nil && !errors.Is(err, refused) {
			t.Fatal(err)
		}
	}
	call()
	if tr.enabled.Load() != 1 || tr.start.Load()+tr.admit.Load()+tr.retr.Load()+tr.end.Load() != 0 {
		t.Fatalf("disabled: Enabled %d times, events start %d admit %d retry %d end %d; want 1 and none",
			tr.enabled.Load(), tr.start.Load(), tr.admit.Load(), tr.retr.Load(), tr.end.Load())
	}
	tr.on.Store(true)
	call()
	if tr.start.Load() != 1 || tr.admit.Load() != 2 || tr.retr.Load() != 1 || tr.end.Load() != 1 {
		t.Fatalf("enabled: start %d admit %d retry %d end %d; want 1, 2, 1, 1",
			tr.start.Load(), tr.admit.Load(), tr.retr.Load(), tr.end.Load())
	}
}
