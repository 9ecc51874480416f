package migrations_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
)

// withoutSlots is a fresh database with a role that may hold two
// connections (CONNECTION LIMIT 2; a migrator needs two, one for the
// lock) and create tables, a pool of that role with no connection of its
// own left open, and the role's slots taken by other connections: every
// connection the pool opens is refused with 53300, as when many instances
// start at once. free gives the slots back.
func withoutSlots(t *testing.T, ctx context.Context, lockTimeout time.Duration, log *slog.Logger) (m *migrations.Migrator, admin *sql.DB, free func()) {
	t.Helper()
	tg := freshDatabase(t, false)
	roleURL := testdb.LimitedRole(t, tg.direct, 2)
	admin, err := sql.Open("pgx", tg.direct)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	p := openPool(t, ctx, pool.Config{DatabaseURL: roleURL, MaxOpenConns: 2, Logger: log})
	p.SQL().SetMaxIdleConns(0) // the connection Open pinged with is closed: the migrator needs a new one
	m = newMigrator(t, p, migrations.Config{FS: schemaFS(), LockTimeout: lockTimeout, Logger: log})

	holder, err := sql.Open("pgx", roleURL)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*sql.Conn
	for range 2 {
		c, err := holder.Conn(ctx)
		if err != nil {
			t.Fatalf("taking the role's slots: %v", err)
		}
		conns = append(conns, c)
	}
	var once sync.Once
	free = func() {
		once.Do(func() {
			for _, c := range conns {
				c.Close()
			}
			holder.Close()
		})
	}
	t.Cleanup(free)
	return m, admin, free
}

// An instance that starts while the server has no slot for it waits the
// refusal out as it waits for another instance's lock: Up succeeds once a
// slot comes free, every migration applied once.
func TestUpWaitsOutRefusedConnection(t *testing.T) {
	ctx := testCtx(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, admin, free := withoutSlots(t, ctx, 30*time.Second, log)
	const hold = 400 * time.Millisecond
	time.AfterFunc(hold, free)
	start := time.Now()
	res, err := m.Up(ctx)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Up: %v (after %s)", err, took)
	}
	if got := versions(res); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("applied %v, want [1 2]", got)
	}
	if took < hold {
		t.Fatalf("Up returned after %s, before the slot came free (%s): it did not wait", took, hold)
	}
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM mig_log").Scan(&n); err != nil || n != 2 {
		t.Fatalf("mig_log rows = %d (%v), want 2: each migration once", n, err)
	}
	mu.Lock()
	text := logs.String()
	mu.Unlock()
	if !strings.Contains(text, "connection refused for lack of slots") {
		t.Fatalf("no warning logged for the refusals; log:\n%s", text)
	}
	t.Logf("Up waited %s for the slot; log:\n%s", took.Round(time.Millisecond), text)
}

// A refusal that lasts is not waited out for ever: past LockTimeout the
// call returns the refusal, recognisable with pool.IsPoolExhausted, and
// nothing applied.
func TestUpGivesUpOnLastingRefusal(t *testing.T) {
	ctx := testCtx(t)
	m, _, _ := withoutSlots(t, ctx, 700*time.Millisecond, quiet)
	start := time.Now()
	res, err := m.Up(ctx)
	took := time.Since(start)
	if err == nil || !pool.IsPoolExhausted(err) {
		t.Fatalf("Up = %v, want the refusal (pool.IsPoolExhausted)", err)
	}
	if len(res) != 0 {
		t.Fatalf("applied %v, want none", versions(res))
	}
	if took < 300*time.Millisecond || took > 10*time.Second {
		t.Fatalf("Up gave up after %s, want about LockTimeout (700ms)", took)
	}
	if errors.Is(err, migrations.ErrLocked) {
		t.Fatalf("Up = %v: a refused connection is not a held lock", err)
	}
	if _, err := m.Status(ctx); !pool.IsPoolExhausted(err) {
		t.Fatalf("Status = %v, want the refusal too", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
