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
//     the attempt failed connecting (refused, timed out, or no slot left)
//     or before anything was written, and no statement of that attempt had
//     been sent; or the call was marked [Idempotent] and the connection was
//     lost. A retry budget stops retry storms. A write whose outcome is
//     unknown is never retried.
//
// Pool exhaustion — PostgreSQL's 53300 ("sorry, too many clients already",
// "remaining connection slots are reserved"), and, while connecting,
// PgBouncer's "no more connections allowed (max_client_conn)" and
// Supavisor's "MaxClientsInSessionMode", "(EMAXCONNSESSION)",
// "(EMAXCONN)" and "Max client connections reached" — is recognised by
// [Classify] and [IsPoolExhausted] ([ExhaustionSource] says who refused).
// It halves the executor's limit (additive increase brings it back on
// success), caps the idle connections kept to the new limit and closes
// the idle ones, so that several instances sharing one budget converge
// instead of failing.
//
// # Error classes
//
// [Classify] decides from the error's structure, never from text a
// statement's error may carry (the server quotes values the request sent
// in its messages): the SQLSTATE of a *pgconn.PgError found with
// errors.As, the phase the error arrived in (while connecting: a
// *pgconn.ConnectError; before anything was written: pgconn.SafeToRetry,
// driver.ErrBadConn; after a statement was sent: the rest), and the
// driver's, the network's and SQLite's error types and codes. The only
// text matched is the message of a pooler's refusal received while
// connecting, because Supavisor's XX000 and PgBouncer's 08P01 say nothing
// by themselves; no err.Error() is ever searched. Rules, first match wins:
//
//	signal                                          class            retried
//	ErrCommitUnknown (COMMIT sent, answer lost)     connection_lost  never
//	ErrOpTimeout: OpTimeout/TxTimeout expired       timeout          never
//	the caller's ctx ended (the executor marks it;  canceled         never; not a failure
//	  context.Canceled)
//	at connect: 53300, or a pooler's text above     exhausted        if nothing sent (*)
//	at connect: 57P03, class 08                     transient        if nothing sent (*)
//	at connect: other SQLSTATE (28P01 auth, ...)    by code, below
//	at connect: timeout (connect_timeout)           timeout          if nothing sent (*)
//	at connect: no server answer (refused, DNS)     transient        if nothing sent (*)
//	53300                                           exhausted        if nothing sent (*)
//	context.DeadlineExceeded (the caller's own)     canceled         never; not a failure
//	40001, 40P01                                    conflict         Transaction re-runs fn
//	42P05, 26000                                    pooler_mismatch  never; "use pgbouncer=true"
//	57014 (statement_timeout, cancel request)       timeout          never
//	57P01, 57P02, 57P03, class 08                   connection_lost  only Idempotent calls
//	class 23; SQLITE_CONSTRAINT; GORM's translated  constraint       never
//	any other SQLSTATE                              permanent        never
//	SQLITE_BUSY, SQLITE_LOCKED                      transient        if nothing sent (*)
//	SQLITE_INTERRUPT (ctx ended)                    canceled         never
//	other SQLite result codes                       permanent        never
//	pgconn.SafeToRetry, driver.ErrBadConn           transient        if nothing sent (*)
//	EOF, ECONNRESET, EPIPE, closed conn, net.Error  connection_lost  only Idempotent calls
//	database/sql, pgx, GORM sentinels and types     permanent        never
//	anything else: the application's own error      application      never; not a failure
//
// (*) A call whose attempt failed so is retried without [Idempotent] only
// when no statement of that attempt was sent to the server: on PostgreSQL a
// pgx tracer on the pool's connections marks every statement (queries,
// BEGIN, COMMIT, prepares, batches, COPY) of the attempt as it goes out;
// on a Dialector (SQLite) any statement GORM completed counts as sent.
// [Idempotent] calls are retried after a lost connection as well.
//
// A timeout is recorded (Stats.LastError, Stats.TimedOut) and shown in
// health; the caller's own cancellation is not. An application error is
// returned as is and counted in Stats.AppErrors only. Wrap errors with %w
// to keep their class.
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
// from APP_ENV or GO_ENV. The URL is parsed by pgx, as libpq parses it;
// Prisma's parameters (connection_limit, pool_timeout, pgbouncer,
// socket_timeout, statement_cache_size, schema, sslaccept, sslidentity)
// are mapped or refused with an error naming them, and never sent to the
// server; pgbouncer=true turns off named prepared statements for
// transaction poolers. [ParseURL] shows what is read. No error, log line
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
//
// SQL statements go to the same Config.Logger through GORM's own slog
// logger (component=tollgate/sql): in Development every statement at
// Debug, with its duration, rows and placeholders ($1, $2) but never the
// bound values; in every profile statements slower than
// Config.SlowQueryThreshold (200 ms) at Warn and failed ones at Error,
// except a query that found no row and a statement the caller canceled.
// Config.LogQueryValues shows the values. Every line passes through the
// redactor: the pool's password never shows, and neither does a bound
// value that a database error quotes back (unless LogQueryValues). A
// Config.Gorm with its own Logger replaces all of this.
package pool
