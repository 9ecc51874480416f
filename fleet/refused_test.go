package fleet_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tollgate-db/tollgate/fleet"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// An instance that joins while its role has no connection left for it
// (CONNECTION LIMIT 1, the slot held by another connection, as when many
// instances start at once) waits the refusal out: Join succeeds once the
// slot comes free. With the slot held for longer than the pool's
// QueueTimeout, Join returns the refusal.
func TestJoinWaitsOutRefusedConnection(t *testing.T) {
	base := testdb.Postgres(t)
	name := testdb.CreateDatabase(t, "tollgate_fleet")
	direct := testdb.WithDatabase(t, base, name)
	roleURL := testdb.LimitedRole(t, direct, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, tc := range []struct {
		name     string
		hold     time.Duration
		joins    bool
		queueFor time.Duration
	}{
		{"slot freed after 400ms", 400 * time.Millisecond, true, 10 * time.Second},
		{"slot held past QueueTimeout", time.Minute, false, 700 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pool.Open(ctx, pool.Config{DatabaseURL: roleURL, MaxOpenConns: 1, QueueTimeout: tc.queueFor, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			p.SQL().SetMaxIdleConns(0) // Join needs a new connection
			holder, err := sql.Open("pgx", roleURL)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := holder.Conn(ctx)
			if err != nil {
				t.Fatalf("taking the role's slot: %v", err)
			}
			free := func() { conn.Close(); holder.Close() } // Close of a Conn alone would keep it open in holder
			release := time.AfterFunc(tc.hold, free)
			defer func() {
				release.Stop()
				free()
			}()
			start := time.Now()
			m, err := fleet.Join(ctx, p, fleet.Config{Name: "slots", Budget: 2, Period: fastPeriod, TTL: fastTTL, Logger: quiet})
			took := time.Since(start)
			if tc.joins {
				if err != nil {
					t.Fatalf("Join: %v (after %s)", err, took)
				}
				defer m.Close(context.Background())
				if took < tc.hold {
					t.Fatalf("Join returned after %s, before the slot came free (%s)", took, tc.hold)
				}
				return
			}
			if err == nil {
				m.Close(context.Background())
				t.Fatal("Join succeeded while the role had no slot")
			}
			if !pool.IsPoolExhausted(err) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Join = %v, want the refusal itself", err)
			}
			if took < 300*time.Millisecond || took > 10*time.Second {
				t.Fatalf("Join gave up after %s, want about QueueTimeout (%s)", took, tc.queueFor)
			}
		})
	}
}
