// Package health reports whether the database behind a [pool.Pool] is
// usable, cheaply enough to be asked on every probe.
//
// [Checker.Check] pings the database at most once per Config.TTL (30 s),
// however many callers ask: the result is memoized through the cache
// package with single flight, so a thousand concurrent requests cost at
// most one ping. A failed ping is remembered for Config.FailureTTL (5 s)
// so that recovery shows quickly. The ping has its own short timeout and
// never waits in the executor's queue: when the pool is saturated (every
// slot in use, or callers queued) the Checker does not ping at all. It then
// answers from evidence: the last ping's result, marked "pingStale" once
// past its TTL, and the pool's last error when it is newer than that ping
// and within the TTL. Calls failing to reach the server (transient or
// connection_lost) make it "unhealthy", since a dead database under traffic
// keeps the pool saturated with calls stuck connecting; an exhausted server
// (no slot for us) or no recent error makes it "degraded".
//
// The report keeps the JSON shape of the seed's /api/health/database
// (database.healthy, database.connectionPool.{active,max,utilization},
// connectionManager.{healthy,queueLength,isProcessingQueue}, timestamp,
// environment, serverless) and adds status, ping latency, when the ping
// ran and whether it was memoized, the last classified error (with the
// password removed) and the wait figures that tell "the database is slow"
// apart from "we are out of connections".
//
// [Checker.Handler] serves the report and the seed's emergency cleanup,
// which it guards with a bearer token (Config.Token, trimmed, at least 16
// bytes: [NewChecker] refuses a shorter one with an error, [New] disables
// cleanup and reports a config_invalid warning); [Checker.LivenessHandler] never
// touches the database and [Checker.ReadinessHandler] answers from the
// memoized check. Point a liveness probe at the former only: a slow
// database must not get every instance restarted at once.
//
// The report also carries the seed's monitoring thresholds as "warnings":
// a list of {code, message, value, threshold}, empty when none is crossed.
// The codes are stable: pool_utilization_high and executor_utilization_high
// (at or above 80 % of MaxOpenConns, or of the executor's limit),
// queue_length_high (more than 2 calls waiting), error_rate_high (1 % or
// more of the database calls over the memo window failed; a caller's
// cancellation, a constraint violation and the application's own errors
// do not count) and
// limit_below_ceiling (the adaptive limit was lowered by exhaustion and
// has not climbed back). The thresholds are fields of Config. A warning
// never changes the status or the status code.
//
// Status codes: "healthy" and "degraded" answer 200 (a saturated pool is
// busy, still serving: taking the instance out of rotation would only move
// its load elsewhere), "unhealthy" answers 503.
//
// Prometheus metrics live in package metrics, so that importing health
// does not pull Prometheus in.
package health
