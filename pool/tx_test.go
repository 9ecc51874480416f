package pool_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// txTable makes a table of the test's own and returns its name.
func txTable(t *testing.T, p *pool.Pool) string {
	t.Helper()
	name := appName(t)
	err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("create table " + name + " (id int primary key, v text)").Error
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Gorm().Exec("drop table if exists " + name)
	})
	return name
}

func countRows(t *testing.T, p *pool.Pool, table string) int64 {
	t.Helper()
	var n int64
	if err := p.Gorm().Raw("select count(*) from " + table).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

const raise40001 = `do $$ begin raise exception 'forced' using errcode = '40001'; end $$`

func TestIntegrationTransactionRerunsOnConflict(t *testing.T) {
	p := openPool(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 2, MaxConcurrent: 1})
	table := txTable(t, p)
	runs := 0
	err := p.Transaction(context.Background(), func(ctx context.Context) error {
		runs++
		return p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
			if err := db.Exec("insert into " + table + " values (1, 'x')").Error; err != nil {
				return err
			}
			if runs == 1 {
				return db.Exec(raise40001).Error
			}
			return nil
		})
	})
	if err != nil || runs != 2 {
		t.Fatalf("err = %v after %d runs, want success on the second run", err, runs)
	}
	if n := countRows(t, p, table); n != 1 {
		t.Fatalf("%d rows, want 1: the first run must have been rolled back", n)
	}
}

func TestIntegrationTransactionRerunCanBeDisabled(t *testing.T) {
	p := openPool(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 1, DisableTxRetry: true})
	runs := 0
	err := p.Transaction(context.Background(), func(ctx context.Context) error {
		runs++
		return p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec(raise40001).Error })
	})
	if runs != 1 || pool.Classify(err) != pool.Conflict {
		t.Fatalf("runs = %d, err = %v; want one run and the conflict returned", runs, err)
	}
}

func TestIntegrationTransactionRollsBack(t *testing.T) {
	p := openPool(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 1})
	table := txTable(t, p)
	insert := func(ctx context.Context) error {
		return p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
			return db.Exec("insert into " + table + " values (1, 'x')").Error
		})
	}
	errBoom := errors.New("boom")
	if err := p.Transaction(context.Background(), func(ctx context.Context) error {
		if err := insert(ctx); err != nil {
			return err
		}
		return errBoom
	}); !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want fn's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "panic in fn" {
				t.Fatalf("recovered %v, want fn's panic to propagate", r)
			}
		}()
		p.Transaction(context.Background(), func(ctx context.Context) error {
			insert(ctx)
			panic("panic in fn")
		})
	}()
	if n := countRows(t, p, table); n != 0 {
		t.Fatalf("%d rows after a failed and a panicking transaction, want 0", n)
	}
	if s := p.Stats(); s.DB.InUse != 0 || s.Executor.InFlight != 0 {
		t.Fatalf("a connection or slot leaked: %+v", s)
	}
	// The pool still works with its single connection.
	if err := p.Transaction(context.Background(), insert); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, p, table); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func TestIntegrationNestedTransactionIsSavepoint(t *testing.T) {
	p := openPool(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 1})
	table := txTable(t, p)
	exec := func(ctx context.Context, q string) error {
		return p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec(q).Error })
	}
	err := p.Transaction(context.Background(), func(ctx context.Context) error {
		if err := exec(ctx, "insert into "+table+" values (1, 'outer')"); err != nil {
			return err
		}
		inner := p.Transaction(ctx, func(ctx context.Context) error {
			if err := exec(ctx, "insert into "+table+" values (2, 'inner')"); err != nil {
				return err
			}
			return errors.New("undo the inner part")
		})
		if inner == nil {
			return errors.New("inner transaction should have failed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	p.Gorm().Raw("select id from " + table + " order by id").Scan(&ids)
	if len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("rows %v, want only the outer insert", ids)
	}
}

// The connection dies after fn returns and before COMMIT is answered: the
// outcome is unknown to the client, so it is reported, never re-run.
func TestIntegrationCommitUnknown(t *testing.T) {
	u := testdb.Postgres(t)
	p := openPool(t, u, pool.Config{MaxOpenConns: 1})
	admin := openSQL(t, u)
	table := txTable(t, p)
	runs := 0
	err := p.Transaction(context.Background(), func(ctx context.Context) error {
		runs++
		var pid int
		if err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
			if err := db.Exec("insert into " + table + " values (1, 'x')").Error; err != nil {
				return err
			}
			return db.Raw("select pg_backend_pid()").Scan(&pid).Error
		}); err != nil {
			return err
		}
		if _, err := admin.Exec("select pg_terminate_backend($1)", pid); err != nil {
			return err
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			var alive bool
			admin.QueryRow("select exists(select 1 from pg_stat_activity where pid = $1)", pid).Scan(&alive)
			if !alive {
				return nil
			}
			time.Sleep(5 * time.Millisecond) // polling the server, bounded by the deadline
		}
		return errors.New("backend did not die")
	})
	if !errors.Is(err, pool.ErrCommitUnknown) || runs != 1 {
		t.Fatalf("err = %v after %d runs, want ErrCommitUnknown after one run", err, runs)
	}
}

func TestIntegrationPoolerMismatchIsExplained(t *testing.T) {
	u := testdb.PgBouncerTx(t)
	// Without pgbouncer=true pgx prepares named statements, which the
	// transaction pooler hands to other clients' server connections.
	p := openPool(t, u, pool.Config{MaxOpenConns: 20, MaxConcurrent: 20})
	var mismatches atomic.Int64
	var sample atomic.Value
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			for j := range 10 {
				err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
					var n int
					return db.Raw("select ?::int * ?::int + pg_backend_pid() * 0", i, j).Scan(&n).Error
				})
				if pool.Classify(err) == pool.PoolerMismatch {
					mismatches.Add(1)
					sample.Store(err.Error())
				}
			}
		})
	}
	wg.Wait()
	if mismatches.Load() == 0 {
		t.Skip("no prepared-statement clash happened in this run; nothing to check")
	}
	if msg := sample.Load().(string); !strings.Contains(msg, "pgbouncer=true") {
		t.Fatalf("error %q does not say how to fix it", msg)
	}
}

func TestIntegrationCleanupClosesIdle(t *testing.T) {
	p := openPool(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 4, MaxConcurrent: 4})
	var wg sync.WaitGroup
	gate := make(chan struct{})
	var started sync.WaitGroup
	for range 4 {
		started.Add(1)
		wg.Go(func() {
			p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
				// Pin one connection while waiting: a bare Exec hands its
				// connection back as soon as it returns.
				return db.Connection(func(conn *gorm.DB) error {
					err := conn.Exec("select 1").Error
					started.Done()
					<-gate
					return err
				})
			})
		})
	}
	started.Wait()
	close(gate)
	wg.Wait()
	if idle := p.Stats().DB.Idle; idle != 4 {
		t.Fatalf("idle = %d before cleanup, want 4", idle)
	}
	r, err := p.Cleanup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if r.IdleClosed != 4 || r.OpenAfter != 0 || s.DB.Idle != 0 || s.Cleanups != 1 {
		t.Fatalf("cleanup = %+v, stats = %+v", r, s.DB)
	}
	if err := p.Ping(context.Background()); err != nil {
		t.Fatalf("the pool does not reopen after cleanup: %v", err)
	}
}
