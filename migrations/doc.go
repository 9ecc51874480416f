// Package migrations applies versioned schema migrations, SQL files and Go
// functions, safely from many instances at once: it is built on the
// pressly/goose v3 Provider and keeps goose's types out of its API.
//
// Every migration runs in its own transaction together with the row that
// records it, so a failing migration leaves the recorded version at the last
// one that succeeded, and the error names the migration that failed (see
// [MigrationError]). Running Up again after the fix continues from there.
//
// # Many instances, and transaction poolers
//
// On PostgreSQL, Up and Down first take a lock held as a row in a table
// (goose's table locker: a lease renewed by a heartbeat), not a session
// advisory lock. A session lock belongs to one server connection, which a
// transaction pooler such as PgBouncer in transaction mode or Supabase's
// Supavisor on port 6543 hands to another client after every transaction:
// the lock would be lost or leak to a stranger. The row lock survives that,
// so migrations work through the pool's own URL with pgbouncer=true. When
// the lock cannot be had within Config.LockTimeout, Up returns [ErrLocked].
// If an instance dies while it holds the lock, the lease (30 s) expires and
// the next instance takes it.
//
// Config.DirectURL is Prisma's directUrl: a direct connection (for example
// Supabase's port 5432) used for migrations only, while the application's
// pool goes through the pooler.
//
// # Connections
//
// Without DirectURL the migrator uses the pool's *sql.DB ([pool.Pool.SQL])
// directly, not the pool's throttled executor: a migration may run far
// longer than the pool's OpTimeout. It holds one connection for the run and
// briefly a second one for the lock, so the pool needs MaxOpenConns >= 2
// unless the lock is disabled. Run migrations at startup, before the pool
// takes traffic.
//
// # SQLite
//
// On SQLite (a pool opened with a gorm.Dialector such as
// github.com/glebarez/sqlite) there is no lock table: a process-wide mutex
// serialises the migrators of the process.
package migrations
