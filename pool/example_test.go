package pool_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/pool"
)

// A pool over an embedded SQLite database: every call goes through the
// executor; reads are marked idempotent so they may be retried.
func Example() {
	ctx := context.Background()
	p, err := pool.Open(ctx, pool.Config{
		Dialector: sqlite.Open("file:example?mode=memory&cache=shared"),
		Profile:   pool.Production,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	var n int
	err = p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return db.Raw("select 40 + 2").Scan(&n).Error
	}, pool.Idempotent())
	fmt.Println(n, err)

	s := p.Stats()
	fmt.Println("max open:", s.DB.MaxOpenConnections, "limit:", s.Executor.Limit, "processed:", s.Executor.Processed)
	// Output:
	// 42 <nil>
	// max open: 5 limit: 3 processed: 2
}

// pgx parses the URL; Prisma's parameters are read and taken out of what
// it would send to the server. The redacted form is safe to log.
func ExampleParseURL() {
	s, err := pool.ParseURL("postgres://app:s3cret@db.internal:6543/app?pgbouncer=true&connection_limit=5&pool_timeout=10")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s) // the redacted URL, as written
	fmt.Println(s.PgBouncer, s.ConnectionLimit, s.PoolTimeout)
	cc := s.ConnConfig()
	fmt.Println(cc.Host, cc.Port, cc.Database, len(cc.RuntimeParams))
	_, err = pool.ParseURL("postgres://app:s3cret@db.internal/app?pool_timeout=1.5")
	fmt.Println(err)
	// Output:
	// postgres://app:xxxxx@db.internal:6543/app?pgbouncer=true&connection_limit=5&pool_timeout=10
	// true 5 10s
	// db.internal 6543 app 0
	// pool: invalid database URL: pool_timeout: must be a whole number from 0 to 86400 (seconds); Prisma and libpq read an integer, got "1.5"
}

// Classify reads the texts of PostgreSQL, PgBouncer and Supavisor.
func ExampleClassify() {
	for _, err := range []error{
		&pgconn.PgError{Code: "53300", Message: "sorry, too many clients already"},
		// A statement's error is classified by its code alone: this
		// message quotes a value the request sent.
		&pgconn.PgError{Code: "22P02", Message: `invalid input syntax for type integer: "sorry, too many clients already"`},
		&pgconn.PgError{Code: "40001", Message: "could not serialize access"},
		&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"},
		&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"},
		fmt.Errorf("read: %w", io.ErrUnexpectedEOF),
		errors.New("business rule violated"),
	} {
		fmt.Println(pool.Classify(err), pool.IsPoolExhausted(err))
	}
	// Output:
	// exhausted true
	// permanent false
	// conflict false
	// constraint false
	// timeout false
	// connection_lost false
	// application false
}

// The executor can throttle any work, not only database calls.
func ExampleExecutor() {
	e, _ := pool.NewExecutor(pool.ExecutorConfig{MaxConcurrent: 2})
	var b strings.Builder
	_ = e.Run(context.Background(), func(ctx context.Context) error {
		b.WriteString("ran inside a slot")
		return nil
	})
	fmt.Println(b.String(), e.Stats().Processed)
	// Output: ran inside a slot 1
}
