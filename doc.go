// Package tollgate is a toolkit between Go services and PostgreSQL that
// keeps an application inside its database connection budget: every
// database call goes through one shared, fair, throttled executor with
// safe retries; connection-pool exhaustion (PostgreSQL's "too many
// clients", Supavisor's MaxClientsInSessionMode, PgBouncer's
// max_client_conn) is recognised, reported and recovered from; health and
// pool statistics are cheap to ask for; migrations run safely from many
// instances. This package holds no code: it is the map.
//
//   - [github.com/tollgate-db/tollgate/pool]: connection settings
//     (Prisma-style DATABASE_URL parameters, PgBouncer mode), the FIFO
//     throttled executor (Do, Idempotent), transactions carried in ctx
//     (Transaction), error classification, Stats, Cleanup and Close.
//   - [github.com/tollgate-db/tollgate/repo]: typed repositories on GORM's
//     generics API, Repository[T] with Create, Get, Find, Update, Upsert,
//     Page, Each...; field names checked against the model's schema and
//     values bound, so sort and filter fields from requests cannot inject
//     SQL; keyset pagination with opaque cursors; ErrNotFound and
//     ErrConflict.
//   - [github.com/tollgate-db/tollgate/cache]: a typed memo with
//     single-flight loading.
//   - [github.com/tollgate-db/tollgate/health]: a memoized health Checker
//     and its net/http Handler (GET report, token-guarded cleanup).
//   - [github.com/tollgate-db/tollgate/migrations]: versioned migrations
//     with a lock that works behind connection poolers.
//   - examples/: runnable programs. examples/quickstart runs with no setup
//     on an embedded SQLite (or on PostgreSQL when DATABASE_URL is set):
//     go run github.com/tollgate-db/tollgate/examples/quickstart
//
// A service opens one pool and builds its repositories on it:
//
//	p, err := pool.Open(ctx, pool.Config{DatabaseURL: os.Getenv("DATABASE_URL")})
//	if err != nil {
//		return err
//	}
//	defer p.Close(ctx)
//
//	users := repo.New[User](p)
//	u, err := users.Get(ctx, 42)
//	list, err := users.Find(ctx, repo.Where("email", repo.Eq, "a@b.c").
//		OrderBy("created_at", repo.Desc).Limit(20))
//
//	err = p.Transaction(ctx, func(ctx context.Context) error {
//		// calls made with this ctx join the transaction and take no second slot
//		return users.Create(ctx, &User{Email: "x@y.z"})
//	})
//
//	st := p.Stats() // pool and executor figures, a value snapshot
package tollgate
