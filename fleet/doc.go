// Package fleet shares one declared connection budget fairly among every
// instance of a service, coordinated through a table in the database
// itself: no extra service, no proxy in the data path.
//
// Each instance joins with [Join]: its pool runs at one connection until
// its row is in, then at its share of Budget − Reserve. Every Period each
// instance runs one statement over its own pool's connections: it upserts
// its row (its demand, the in-flight plus queued calls of its executor,
// smoothed and capped at its MaxOpenConns; the share it holds; a heartbeat
// on the database's clock) and reads the live rows. From those rows every
// instance computes the same max-min fair allocation ([Allocate]: at least
// 1 each, demands water-filled smallest first, spare capacity handed out as
// headroom, the connections that cannot be split evenly rotating), so they
// agree without talking. It takes a lower share at once and a higher one as
// far as the shares the others still hold leave room ([Step]), and sets its
// pool's ceiling: the executor's limit and database/sql's MaxOpenConns and
// MaxIdleConns, idle connections above it closed (behind a session pooler an
// idle connection holds a slot). The pool's adaptive limit stays beneath
// the share as the safety net against exhaustion.
//
// A crashed instance's row stops being live after TTL, and the others take
// its share at their next heartbeat; [Member.Close] deletes the row at once.
// An instance that cannot heartbeat keeps its share until TTL, then falls
// back to SafeShare, since by then the others have stopped counting it.
// The statements are single statements without named prepared statements,
// so the fleet works through transaction-mode PgBouncer too.
//
// # What the budget does not see: frozen instances
//
// A serverless platform freezes an idle instance (AWS Lambda between
// invocations, Cloud Run with CPU throttling) with its process, goroutines
// and sockets intact: its pool keeps its idle connections open, but nothing
// of it runs, heartbeats included. After TTL the others stop counting it
// and share its connections among themselves, while the frozen instance
// still holds up to its last share in open connections (database/sql's
// ConnMaxIdleTime cannot close them: its cleaner is frozen too). So the
// fleet then holds up to Σ(frozen instances' idle connections) more than
// Budget: behind PgBouncer in session mode or Supavisor, those clients take
// slots and the others meet exhaustion errors (the executor's adaptive
// limit and retries absorb them at the price of latency); directly on
// PostgreSQL they take backends. When a frozen instance thaws, its first
// tick sees its last heartbeat older than TTL and falls back to SafeShare
// before it heartbeats again, closing its idle connections above it; it
// then rejoins like a new instance.
//
// Measured (4 instances × 20 users through a session PgBouncer with 15
// client slots, Budget 15, one instance SIGSTOPped for 6 s while holding 4
// connections): after the TTL the other three rose from 3–4 to 4–5
// connections each; with the frozen instance's connections still open the 15
// client slots of the pooler were all taken for about 4 s, 4 connects were refused
// (exhausted, retried by the executor: 0 errors), and the frozen
// instance's own callers waited up to 6.1 s. On SIGCONT it fell back to 1
// at once and was back at its fair share within two periods.
//
// The damage is bounded by what the frozen instances hold, and only a
// timeout enforced by the server side can close a frozen client's
// connections: PostgreSQL's idle_session_timeout (PostgreSQL 14+, for
// example ALTER ROLE app SET idle_session_timeout = '10s'), PgBouncer's
// client_idle_timeout, or the platform's own idle client timeout. Set it to
// about TTL: a frozen instance then gives its connections back at about the
// moment the others take its share. Keep Reserve at least the number of
// instances that may freeze holding connections within one TTL, and a
// small MaxIdleConns for serverless pools (the Serverless profile's 2
// connections bound what one frozen instance can hold).
//
// # Cost
//
// One statement per instance per Period (two when its share changes, and
// one every two fifths of a Period while it waits for room to reach its
// target), a
// row per instance in an UNLOGGED table (no WAL), and one connection wait
// at most: the heartbeat does not queue in the executor, it takes the next
// connection database/sql frees.
package fleet
