// Package metrics exports a pool's statistics to Prometheus.
//
// [NewCollector] returns a prometheus.Collector that reads Stats() at scrape
// time: no goroutine, no polling, and the figures are never older than the
// scrape. Gauges carry what is true now (connections, queue length, in
// flight, the adaptive limit, queue-wait percentiles, utilization); counters
// carry what has happened since the pool opened (executor outcomes, retries,
// exhaustion events, database/sql waits and closes, cleanups), so that a
// scrape every few minutes still integrates short saturation episodes.
//
// It lives apart from package health so that importing health does not pull
// Prometheus in.
package metrics
