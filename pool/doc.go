// Package pool keeps a Go service inside its PostgreSQL connection budget.
//
// A [Pool] is a GORM database behind one shared [Executor]. Every call made
// through [Pool.Do] or [Pool.Transaction]:
//
//  1. joins a FIFO queue; at most MaxConcurrent calls run at once, and
//     MaxConcurrent never exceeds MaxOpenConns, so database/sql never queues
//     callers itself (its hand-off to waiters is random, which is what makes
//     its tail latency bad);
//  2. fails at once with [ErrQueueFull] when MaxQueue calls already wait, and
//     with [ErrQueueTimeout] after QueueTimeout in the queue; a caller whose
//     ctx ends while queued leaves at once;
//  3. runs under OpTimeout unless ctx ends sooner;
//  4. is retried, with exponential backoff and jitter through retry-go and
//     with its slot released while backing off, only when that is safe:
//     nothing reached the server, the server refused the connection for lack
//     of slots, or the call was marked [Idempotent] and the connection was
//     lost. A retry budget stops retry storms. A write whose outcome is
//     unknown is never retried.
//
// Pool exhaustion — PostgreSQL's 53300 ("sorry, too many clients already",
// "remaining connection slots are reserved"), PgBouncer's "no more
// connections allowed (max_client_conn)", Supavisor's
// "MaxClientsInSessionMode", "(EMAXCONNSESSION)" and "(EMAXCONN)" — is
// recognised by [Classify] and [IsPoolExhausted]. It halves the executor's
// limit (additive increase brings it back on success), caps the idle
// connections kept to the new limit and closes the idle ones, so that
// several instances sharing one budget converge instead of failing.
//
// # Transactions
//
// [Pool.Transaction] holds one slot for its whole life and puts the
// transaction in the ctx it gives its function. Calls made with that ctx —
// Do, and every repository call — join the transaction at once and never
// wait for a second slot. A call made inside the function with any other
// ctx is a new call: it queues like any other, and with MaxConcurrent = 1
// it waits behind the very transaction that waits for it, until
// QueueTimeout. Always pass the function's ctx down.
//
// # Configuration
//
// [Config]'s zero value works: it reads DATABASE_URL and picks the profile
// from APP_ENV or GO_ENV. Prisma-style URL parameters (connection_limit,
// pool_timeout, pgbouncer, connect_timeout, statement_cache_size) are
// honoured and removed before the driver sees the URL; pgbouncer=true turns
// off named prepared statements for transaction poolers. No error, log line
// or Stats field shows the password.
//
// The profiles (see [Profile]) carry the seed's budgets: Production 5
// connections and 3 calls at a time, Development 10 and 5, Serverless 2
// and 1; a call waits at most 10 s for a slot and runs at most 6 s, except
// in Development, whose timeouts are relaxed for debugging to 30 s and 30 s.
// Development is what an unset APP_ENV gives: set APP_ENV=production in
// production.
//
// # Observing
//
// [Pool.Stats] is a value snapshot: every sql.DBStats field, utilization,
// the executor's queue length, in-flight calls, current limit, counters and
// queue-wait percentiles, and the last classified error. The pool logs
// exhaustion (Warn), limit changes and cleanups (Info) and retries (Debug)
// through log/slog.
package pool
