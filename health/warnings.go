package health

import (
	"fmt"
	"sync"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// Warning says that one of the seed's monitoring thresholds is crossed.
// Warnings tell an operator where to look; they never change the Status
// (a pool at 90 % is still serving, and answering 503 for it would only
// move its load elsewhere).
type Warning struct {
	// Code is stable and machine-readable: one of the Warn constants.
	Code string `json:"code"`
	// Message is one sentence for a person: the figures and what to check.
	Message string `json:"message"`
	// Value is the figure measured, Threshold the one it crossed, in the
	// unit of the code (percent, or calls waiting, or slots).
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
}

// The warning codes. The seed's "Monitoring Metrics": connection pool
// utilization should stay below 80 % under normal load, the queue length
// should remain low (0–2), the error rate should be below 1 %.
const (
	// WarnPoolUtilization: connections in use are at or above
	// Config.UtilizationWarn percent of MaxOpenConns.
	WarnPoolUtilization = "pool_utilization_high"
	// WarnExecutorUtilization: calls running are at or above
	// Config.UtilizationWarn percent of the executor's limit now.
	WarnExecutorUtilization = "executor_utilization_high"
	// WarnQueueLength: more than Config.QueueLengthWarn calls wait for a slot.
	WarnQueueLength = "queue_length_high"
	// WarnErrorRate: at least Config.ErrorRateWarn percent of the database
	// calls over the last Config.TTL failed.
	WarnErrorRate = "error_rate_high"
	// WarnLimitReduced: the adaptive limit is below its ceiling: the pool
	// met exhaustion and has not climbed back yet.
	WarnLimitReduced = "limit_below_ceiling"
)

// Defaults of the warning thresholds in Config.
const (
	DefaultUtilizationWarn    = 80.0 // percent
	DefaultQueueLengthWarn    = 2    // calls waiting
	DefaultErrorRateWarn      = 1.0  // percent
	DefaultErrorRateMinSample = 20   // database calls in the window
)

// warnings returns the thresholds st crosses, in the order of the codes
// above; never nil, so that the JSON always holds a list. rate is the
// error rate over the window, nil when the window holds too few calls.
func (c *Checker) warnings(st pool.Stats, rate *errorRate) []Warning {
	w := []Warning{}
	cfg := c.cfg
	if cfg.UtilizationWarn >= 0 {
		if max := st.DB.MaxOpenConnections; max > 0 && st.Utilization >= cfg.UtilizationWarn {
			w = append(w, Warning{
				Code: WarnPoolUtilization, Value: st.Utilization, Threshold: cfg.UtilizationWarn,
				Message: fmt.Sprintf("%d of %d connections in use (%.0f%%), at or above %g%%: check for slow queries, long transactions and calls made on Gorm() outside the executor",
					st.DB.InUse, max, st.Utilization, cfg.UtilizationWarn),
			})
		}
		if lim := st.Executor.Limit; lim > 0 {
			u := 100 * float64(st.Executor.InFlight) / float64(lim)
			if u >= cfg.UtilizationWarn {
				w = append(w, Warning{
					Code: WarnExecutorUtilization, Value: u, Threshold: cfg.UtilizationWarn,
					Message: fmt.Sprintf("%d of %d executor slots busy (%.0f%%), at or above %g%%: new calls are about to queue",
						st.Executor.InFlight, lim, u, cfg.UtilizationWarn),
				})
			}
		}
	}
	if cfg.QueueLengthWarn >= 0 && st.Executor.QueueLength > cfg.QueueLengthWarn {
		w = append(w, Warning{
			Code: WarnQueueLength, Value: float64(st.Executor.QueueLength), Threshold: float64(cfg.QueueLengthWarn),
			Message: fmt.Sprintf("%d calls wait for a slot, more than %d: optimize slow queries, look for long-running transactions, or raise MaxConcurrent if the database has connections to spare",
				st.Executor.QueueLength, cfg.QueueLengthWarn),
		})
	}
	if rate != nil && cfg.ErrorRateWarn >= 0 && rate.percent() >= cfg.ErrorRateWarn {
		w = append(w, Warning{
			Code: WarnErrorRate, Value: rate.percent(), Threshold: cfg.ErrorRateWarn,
			Message: fmt.Sprintf("%d of %d database calls failed over the last %s (%.1f%%), at or above %g%%: see lastError",
				rate.failures, rate.calls, rate.span.Round(time.Second), rate.percent(), cfg.ErrorRateWarn),
		})
	}
	if ceil := ceiling(st.Executor); st.Executor.Limit > 0 && st.Executor.Limit < ceil {
		w = append(w, Warning{
			Code: WarnLimitReduced, Value: float64(st.Executor.Limit), Threshold: float64(ceil),
			Message: fmt.Sprintf("the adaptive limit is %d, below its ceiling of %d: the pool was exhausted (%d times so far) and climbs back one slot per run of successes; check the connection budget of the database or pooler",
				st.Executor.Limit, ceil, st.Executor.Exhaustions),
		})
	}
	return w
}

// ceiling is the most the adaptive limit may climb to.
func ceiling(s pool.ExecutorStats) int {
	if s.Ceiling > 0 { // SetCeiling's (a fleet share): the limit is not reduced by being under it
		return s.Ceiling
	}
	return s.MaxConcurrent
}

// dbCounts returns the database failures and the attempts they are a
// share of, as counters since the pool started: see
// pool.Stats.DatabaseFailures (cancellations, constraint violations and
// the application's own errors are not failures; calls the queue refused
// are).
func dbCounts(st pool.Stats) (failures, calls int64) {
	e := st.Executor
	return st.DatabaseFailures, e.Processed + e.Failed + e.Rejected + e.TimedOut
}

// errorRate is the share of failed database calls over a span.
type errorRate struct {
	failures, calls int64
	span            time.Duration
}

func (r *errorRate) percent() float64 { return 100 * float64(r.failures) / float64(r.calls) }

// counterSample is dbCounts at one moment.
type counterSample struct {
	at              time.Time
	failures, calls int64
}

func sample(at time.Time, st pool.Stats) counterSample {
	f, n := dbCounts(st)
	return counterSample{at: at, failures: f, calls: n}
}

// rateWindow turns the pool's counters, which only grow, into a rate over
// the last span: it keeps a few samples, about one per span/8 plus the
// newest, and measures from the newest sample at least span old (or the
// oldest it has, when the checker is younger than span).
type rateWindow struct {
	span    time.Duration
	min     int64 // fewest calls for a rate
	mu      sync.Mutex
	samples []counterSample // oldest first
}

func newRateWindow(span time.Duration, min int64, first counterSample) *rateWindow {
	return &rateWindow{span: span, min: min, samples: []counterSample{first}}
}

// observe records now and returns the rate since the window's start, or
// nil when fewer than min calls were made in it.
func (w *rateWindow) observe(now counterSample) *errorRate {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Drop the samples the window has moved past, keeping one at or
	// before its start as the baseline.
	for len(w.samples) > 1 && !w.samples[1].at.After(now.at.Add(-w.span)) {
		w.samples = w.samples[1:]
	}
	base := w.samples[0]
	// The newest check is always kept, since it may become the baseline;
	// it replaces the one before when that is less than span/8 after the
	// sample preceding it, so that at most about nine are kept.
	if n := len(w.samples); n >= 2 && now.at.Sub(w.samples[n-2].at) < w.span/8 {
		w.samples[n-1] = now
	} else {
		w.samples = append(w.samples, now)
	}
	r := &errorRate{failures: now.failures - base.failures, calls: now.calls - base.calls, span: now.at.Sub(base.at)}
	if r.calls < max(w.min, 1) || r.failures < 0 {
		return nil
	}
	return r
}
