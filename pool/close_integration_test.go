package pool_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// Pool.Close drains on a real database: 20 calls of 50 ms on 5 slots all
// finish within a 10 s ctx, and a call after Close is refused; with a 60 ms
// ctx the calls still queued fail with ErrClosed and the others succeed.
func TestIntegrationPoolCloseDrains(t *testing.T) {
	u := testdb.Postgres(t)
	for _, tt := range []struct {
		name      string
		ctx       time.Duration
		minOK     int64 // the first two rounds of 5 can finish within 60 ms only if nothing is slow
		wantErr   error
		wantAllOK bool
	}{
		{"10s", 10 * time.Second, 20, nil, true},
		{"60ms", 60 * time.Millisecond, 5, context.DeadlineExceeded, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := pool.Open(context.Background(), pool.Config{DatabaseURL: u, Profile: pool.Production,
				MaxOpenConns: 5, MaxConcurrent: 5, ApplicationName: appName(t), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			// Warm the 5 connections, so that the calls measure queries, not connects.
			var warm sync.WaitGroup
			for range 5 {
				warm.Go(func() {
					p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error { return db.Exec("select pg_sleep(0.01)").Error })
				})
			}
			warm.Wait()
			var ok, closed atomic.Int64
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
						return db.Exec("select pg_sleep(0.05)").Error
					})
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, pool.ErrClosed):
						closed.Add(1)
					default:
						t.Errorf("a call failed with %v", err)
					}
				})
			}
			waitFor(t, "20 calls in", func() bool { s := p.Stats().Executor; return s.InFlight+s.QueueLength == 20 })
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctx)
			defer cancel()
			err = p.Close(ctx)
			wg.Wait()
			if !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Fatalf("Close = %v, want %v", err, tt.wantErr)
			}
			if tt.wantAllOK && (ok.Load() != 20 || closed.Load() != 0) {
				t.Fatalf("%d succeeded, %d ErrClosed; want all 20 to succeed", ok.Load(), closed.Load())
			}
			if !tt.wantAllOK && (ok.Load() < tt.minOK || closed.Load() == 0 || ok.Load()+closed.Load() != 20) {
				t.Fatalf("%d succeeded, %d ErrClosed; want the running ones to succeed and the queued to fail with ErrClosed", ok.Load(), closed.Load())
			}
			if err := p.Do(context.Background(), func(context.Context, *gorm.DB) error { return nil }); !errors.Is(err, pool.ErrClosed) {
				t.Fatalf("Do after Close: %v, want ErrClosed", err)
			}
			t.Logf("ctx %s: %d succeeded, %d failed with ErrClosed, Close = %v", tt.ctx, ok.Load(), closed.Load(), err)
		})
	}
}
