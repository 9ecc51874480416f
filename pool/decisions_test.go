package pool_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// Issue 9 case 1: an INSERT (autocommit) then a statement refused at
// connect (53300, the role's CONNECTION LIMIT 1). The INSERT ran, so the
// call is not re-run: fn once, one row, the error returned.
func TestIntegrationRefusedAfterWriteRunsOnce(t *testing.T) {
	u := testdb.Postgres(t)
	admin := openSQL(t, u)
	role := appName(t)
	table := role + "_t"
	for _, q := range []string{
		"create role " + role + " login connection limit 1",
		"create table " + table + " (id serial primary key)",
		"grant all on " + table + " to " + role,
		"grant usage on sequence " + table + "_id_seq to " + role,
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		admin.Exec("drop table if exists " + table)
		admin.Exec("drop role if exists " + role)
	})
	ru, _ := url.Parse(u)
	ru.User = url.User(role)
	p := openPool(t, ru.String(), pool.Config{MaxOpenConns: 2, MaxConcurrent: 1})

	runs := 0
	err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		runs++
		if err := db.Exec("insert into " + table + " default values").Error; err != nil {
			return err
		}
		// Hold the one connection the role may have and ask for a second.
		return db.Connection(func(c *gorm.DB) error {
			if err := c.Exec("select 1").Error; err != nil {
				return err
			}
			return db.Exec("select 1").Error
		})
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53300" || pool.Classify(err) != pool.Exhausted {
		t.Fatalf("err = %v, want the 53300 refusal returned", err)
	}
	if runs != 1 {
		t.Fatalf("fn ran %d times, want 1: the INSERT of the first run was committed", runs)
	}
	var n int
	if err := admin.QueryRow("select count(*) from " + table).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v), want 1", n, err)
	}
	s := p.Stats()
	if s.Executor.Retried != 0 || s.ExhaustedPostgres != 1 {
		t.Fatalf("retried %d, exhausted (postgres) %d; want 0 and 1", s.Executor.Retried, s.ExhaustedPostgres)
	}
}

// Issue 9 case 2: the exhaustion texts are values a request can send. As
// bound values quoted in a statement's error (22P02) they are not
// exhaustion: one run, the limit and the idle connections untouched.
func TestIntegrationExhaustionTextAsValueIsNotExhaustion(t *testing.T) {
	p := openPool(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 4, MaxConcurrent: 4})
	texts := []string{
		"sorry, too many clients already",
		"remaining connection slots are reserved for non-replication superuser connections",
		"no more connections allowed (max_client_conn)",
		"MaxClientsInSessionMode: max clients reached",
		"(EMAXCONNSESSION) max clients reached in session mode",
		"(EMAXCONN) max client connections reached, limit: 200",
		"Max client connections reached",
	}
	for _, v := range texts {
		runs := 0
		err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
			runs++
			var n int
			return db.Raw("select ?::int", v).Scan(&n).Error
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "22P02" || !strings.Contains(pe.Message, v) {
			t.Fatalf("err = %v, want 22P02 quoting %q", err, v)
		}
		if pool.IsPoolExhausted(err) || pool.Classify(err) != pool.Permanent || runs != 1 {
			t.Fatalf("%q: exhausted %v, class %s, %d runs; want not exhausted, permanent, 1 run",
				v, pool.IsPoolExhausted(err), pool.Classify(err), runs)
		}
	}
	s := p.Stats()
	if s.Executor.Limit != 4 || s.Executor.Exhaustions != 0 || s.Cleanups != 0 || s.Executor.Retried != 0 {
		t.Fatalf("limit %d, exhaustions %d, cleanups %d, retried %d; want 4, 0, 0, 0",
			s.Executor.Limit, s.Executor.Exhaustions, s.Cleanups, s.Executor.Retried)
	}
}

// Issue 9 case 3: the pool's OpTimeout and statement_timeout are timeouts:
// recorded, counted, shown in health; never retried, even when Idempotent.
func TestIntegrationTimeoutsAreRecorded(t *testing.T) {
	u := testdb.Postgres(t)
	cases := []struct {
		name string
		cfg  pool.Config
		fn   func(ctx context.Context, db *gorm.DB) error
		code string // the server's SQLSTATE, when it is the server that gave up
	}{
		{"OpTimeout", pool.Config{MaxOpenConns: 1, OpTimeout: 150 * time.Millisecond},
			func(ctx context.Context, db *gorm.DB) error { return db.Exec("select pg_sleep(2)").Error }, ""},
		{"statement_timeout", pool.Config{MaxOpenConns: 1},
			func(ctx context.Context, db *gorm.DB) error {
				return db.Connection(func(c *gorm.DB) error {
					if err := c.Exec("set statement_timeout = 100").Error; err != nil {
						return err
					}
					return c.Exec("select pg_sleep(2)").Error
				})
			}, "57014"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := openPool(t, u, tc.cfg)
			hc := health.New(p, health.Config{})
			t.Cleanup(hc.Close)
			if r := hc.Check(context.Background()); r.Status != health.StatusHealthy {
				t.Fatalf("status %s before any call, want healthy", r.Status)
			}
			const calls = 3
			for range calls {
				start := time.Now()
				err := p.Do(context.Background(), tc.fn, pool.Idempotent())
				if d := time.Since(start); d > time.Second {
					t.Fatalf("the call took %s, want it ended by the timeout", d)
				}
				if pool.Classify(err) != pool.Timeout {
					t.Fatalf("err = %v (class %s), want timeout", err, pool.Classify(err))
				}
				var pe *pgconn.PgError
				if tc.code != "" && (!errors.As(err, &pe) || pe.Code != tc.code) {
					t.Fatalf("err = %v, want SQLSTATE %s", err, tc.code)
				}
				if tc.code == "" && (!errors.Is(err, pool.ErrOpTimeout) || !errors.Is(err, context.DeadlineExceeded)) {
					t.Fatalf("err = %v, want ErrOpTimeout and DeadlineExceeded", err)
				}
			}
			s := p.Stats()
			if s.TimedOut != calls || s.LastError.Class != pool.Timeout || s.Executor.Retried != 0 || s.Executor.Failed != calls {
				t.Fatalf("timedOut %d, lastError %+v, retried %d, failed %d; want %d, timeout, 0, %d",
					s.TimedOut, s.LastError, s.Executor.Retried, s.Executor.Failed, calls, calls)
			}
			r := hc.Check(context.Background())
			if r.Status == health.StatusHealthy || r.LastError == nil || r.LastError.Class != "timeout" {
				t.Fatalf("health %s, lastError %+v; want not healthy, timeout", r.Status, r.LastError)
			}
		})
	}
}

// proxy is a loopback TCP proxy to PostgreSQL whose behaviour the test
// switches: forward, or accept and never answer (a server that hangs), or
// accept and close at once. It counts the connections it accepted.
type proxy struct {
	addr     string
	mode     atomic.Int32
	accepted atomic.Int64
}

const (
	forward int32 = iota
	silent
	slam
)

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	px := &proxy{}
	px.addr = fakeServer(t, func(c net.Conn) {
		px.accepted.Add(1)
		switch px.mode.Load() {
		case slam:
			return
		case silent:
			io.Copy(io.Discard, c)
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{})
		go func() { io.Copy(up, c); up.Close(); close(done) }()
		io.Copy(c, up)
		c.Close()
		<-done
	})
	return px
}

// viaProxy is rawURL with its host replaced by the proxy's, and the query
// parameters extra added.
func viaProxy(t *testing.T, rawURL string, px *proxy, extra string) (string, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	u.Host = px.addr
	q := u.Query()
	if extra != "" {
		for kv := range strings.SplitSeq(extra, "&") {
			k, v, _ := strings.Cut(kv, "=")
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), target
}

// Issue 9 case 3, connects: a server that accepts TCP and never answers,
// with connect_timeout=1, is a connect timeout: retried up to Attempts
// (nothing was sent), recorded, counted.
func TestIntegrationConnectTimeoutRetried(t *testing.T) {
	u := testdb.Postgres(t)
	pu, _ := url.Parse(u)
	px := newProxy(t, pu.Host)
	purl, _ := viaProxy(t, u, px, "connect_timeout=1")
	p := openPool(t, purl, pool.Config{MaxOpenConns: 1, Retry: pool.RetryConfig{Attempts: 3, Backoff: 10 * time.Millisecond}})
	if _, err := p.Cleanup(context.Background()); err != nil { // the next call must connect
		t.Fatal(err)
	}
	px.mode.Store(silent)
	before := px.accepted.Load()
	start := time.Now()
	err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("select 1").Error
	})
	elapsed := time.Since(start)
	var ce *pgconn.ConnectError
	if pool.Classify(err) != pool.Timeout || !errors.As(err, &ce) {
		t.Fatalf("err = %v (class %s), want a connect timeout", err, pool.Classify(err))
	}
	s := p.Stats()
	if got := px.accepted.Load() - before; got != 3 || s.Executor.Retried != 2 {
		t.Fatalf("%d connects, %d retries; want 3 and 2 (Attempts 3)", got, s.Executor.Retried)
	}
	if elapsed < 3*time.Second || elapsed > 6*time.Second {
		t.Fatalf("took %s, want about 3 × connect_timeout", elapsed)
	}
	if s.LastError.Class != pool.Timeout || s.TimedOut != 1 {
		t.Fatalf("lastError %+v, timedOut %d; want timeout, 1", s.LastError, s.TimedOut)
	}
}

// Issue 9 case 6: a cancel with a custom cause during a backoff returns an
// error that matches context.Canceled and the cause, and keeps the
// database's error.
func TestIntegrationCancelCauseDuringBackoff(t *testing.T) {
	u := testdb.Postgres(t)
	pu, _ := url.Parse(u)
	px := newProxy(t, pu.Host)
	purl, _ := viaProxy(t, u, px, "")
	p := openPool(t, purl, pool.Config{MaxOpenConns: 1, Retry: pool.RetryConfig{Attempts: 3, Backoff: 5 * time.Second}})
	p.Cleanup(context.Background())
	px.mode.Store(slam) // every connect fails at once: transient, retried after a backoff
	errGone := errors.New("client went away")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(200*time.Millisecond, func() { cancel(errGone) })
	start := time.Now()
	err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec("select 1").Error })
	if time.Since(start) > 3*time.Second {
		t.Fatalf("the call outlived its ctx by %s", time.Since(start))
	}
	var ce *pgconn.ConnectError
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errGone) || !errors.As(err, &ce) || pool.Classify(err) != pool.Canceled {
		t.Fatalf("err = %v (class %s), want context.Canceled, its cause and the connect error", err, pool.Classify(err))
	}
}

// Issue 9 case 4: the caller's ctx ends as fn returns. database/sql then
// sends no COMMIT and rolls back: ctx's error, never ErrCommitUnknown, no
// rollback error appended, nothing recorded.
func TestIntegrationCanceledBeforeCommit(t *testing.T) {
	p := openPool(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 2, MaxConcurrent: 2})
	table := txTable(t, p)
	for i := range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		failFn := i%2 == 1 // half return an error of their own after the cancel
		err := p.Transaction(ctx, func(ctx context.Context) error {
			if err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
				return db.Exec(fmt.Sprintf("insert into %s values (%d, 'x')", table, i)).Error
			}); err != nil {
				return err
			}
			cancel()
			if failFn {
				return ctx.Err()
			}
			return nil
		})
		cancel()
		if errors.Is(err, pool.ErrCommitUnknown) || !errors.Is(err, context.Canceled) || pool.Classify(err) != pool.Canceled {
			t.Fatalf("run %d: err = %v, want ctx's error and no ErrCommitUnknown", i, err)
		}
		if strings.Contains(err.Error(), "rollback") {
			t.Fatalf("run %d: err = %v, has a spurious rollback error", i, err)
		}
	}
	if n := countRows(t, p, table); n != 0 {
		var ids []int
		p.Gorm().Raw("select id from " + table + " order by id").Scan(&ids)
		t.Fatalf("%d rows %v, want 0: every transaction was rolled back", n, ids)
	}
	if s := p.Stats(); !s.LastError.At.IsZero() {
		t.Fatalf("lastError %+v; want none: the caller cancelled", s.LastError)
	}
}

// Issue 9 case 5: an error fn made itself is the application's.
func TestIntegrationApplicationErrorIsNotAFailure(t *testing.T) {
	p := openPool(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 1})
	errRule := errors.New("business rule violated")
	hc := health.New(p, health.Config{})
	t.Cleanup(hc.Close)
	runs := 0
	errTx := p.Transaction(context.Background(), func(ctx context.Context) error {
		runs++
		if err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec("select 1").Error }); err != nil {
			return err
		}
		return errRule
	})
	errDo := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		runs++
		if err := db.Exec("select 1").Error; err != nil {
			return err
		}
		return errRule
	}, pool.Idempotent())
	if errTx != errRule || errDo != errRule || runs != 2 {
		t.Fatalf("Transaction: %v, Do: %v, %d runs; want errRule itself from each, one run each", errTx, errDo, runs)
	}
	s := p.Stats()
	if !s.LastError.At.IsZero() || s.Executor.Failed != 0 || s.Executor.Retried != 0 || s.AppErrors != 2 {
		t.Fatalf("lastError %+v, failed %d, retried %d, appErrors %d; want none, 0, 0, 2",
			s.LastError, s.Executor.Failed, s.Executor.Retried, s.AppErrors)
	}
	if r := hc.Check(context.Background()); r.Status != health.StatusHealthy || r.LastError != nil {
		t.Fatalf("health %s, lastError %+v; want healthy, none", r.Status, r.LastError)
	}
}

// COMMIT on a backend terminated between the last statement and COMMIT,
// run many times: ErrCommitUnknown every time (the COMMIT went out, its
// answer was the connection's end).
func TestIntegrationCommitUnknownRepeated(t *testing.T) {
	u := testdb.Postgres(t)
	p := openPool(t, u, pool.Config{MaxOpenConns: 1})
	admin := openSQL(t, u)
	table := txTable(t, p)
	for i := range 5 {
		err := p.Transaction(context.Background(), func(ctx context.Context) error {
			var pid int
			if err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
				if err := db.Exec(fmt.Sprintf("insert into %s values (%d, 'x')", table, i)).Error; err != nil {
					return err
				}
				return db.Raw("select pg_backend_pid()").Scan(&pid).Error
			}); err != nil {
				return err
			}
			return terminate(admin, pid)
		})
		if !errors.Is(err, pool.ErrCommitUnknown) {
			t.Fatalf("run %d: err = %v, want ErrCommitUnknown", i, err)
		}
	}
}

// terminate ends the backend pid from another connection and waits until
// it is gone.
func terminate(admin *sql.DB, pid int) error {
	if _, err := admin.Exec("select pg_terminate_backend($1)", pid); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var alive bool
		if err := admin.QueryRow("select exists(select 1 from pg_stat_activity where pid = $1)", pid).Scan(&alive); err != nil {
			return err
		}
		if !alive {
			return nil
		}
		time.Sleep(5 * time.Millisecond) // polling the server, bounded by the deadline
	}
	return errors.New("backend did not die")
}

// Issue 9 case 1, the other way: the server goes away between two
// statements of one fn (connects refused from then on, class transient).
// The first statement ran, so the call is not re-run.
func TestIntegrationRefusedConnectAfterWriteRunsOnce(t *testing.T) {
	u := testdb.Postgres(t)
	pu, _ := url.Parse(u)
	px := newProxy(t, pu.Host)
	purl, _ := viaProxy(t, u, px, "")
	p := openPool(t, purl, pool.Config{MaxOpenConns: 2, MaxConcurrent: 1, Retry: pool.RetryConfig{Backoff: time.Millisecond}})
	table := txTable(t, p)
	runs := 0
	err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		runs++
		return db.Connection(func(c *gorm.DB) error {
			if err := c.Exec(fmt.Sprintf("insert into %s values (%d, 'x')", table, runs)).Error; err != nil {
				return err
			}
			px.mode.Store(slam) // from now on every new connection fails at once
			return db.Exec("select 1").Error
		})
	})
	px.mode.Store(forward)
	var ce *pgconn.ConnectError
	if pool.Classify(err) != pool.Transient || !errors.As(err, &ce) || runs != 1 {
		t.Fatalf("err = %v (class %s) after %d runs, want the transient connect error after 1", err, pool.Classify(err), runs)
	}
	if n := countRows(t, p, table); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
	// The same failure before anything was sent is retried.
	p.Cleanup(context.Background())
	px.mode.Store(slam)
	runs = 0
	err = p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		runs++
		return db.Exec("select 1").Error
	})
	px.mode.Store(forward)
	if pool.Classify(err) != pool.Transient || runs != 3 {
		t.Fatalf("err = %v (class %s) after %d runs, want transient after 3 (Attempts)", err, pool.Classify(err), runs)
	}
}
