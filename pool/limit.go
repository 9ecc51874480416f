package pool

import "time"

// adaptiveLimit is the executor's concurrency limit. It exists for one
// signal: pool exhaustion at connect time (the server or a pooler refused
// a connection for lack of slots). Latency plays no part: the budget is a
// count of connections, and a refusal says exactly where it was crossed.
//
// What it does, and why (TCP's ssthresh and CUBIC's W_max are the anchors):
//
//   - It remembers where exhaustion struck: W, the attempts in flight
//     when a connection was refused. Like CUBIC's W_max, that is the best
//     estimate of the budget there is, so instead of halving (AIMD, which
//     left the limit at 1 for a budget of 2, and the throughput at 0.6×)
//     the limit goes straight to W−1, just under where it struck, and
//     stays there: that level is the plateau (TCP's ssthresh).
//   - An exhaustion at or below the plateau means the budget shrank (other
//     instances took connections): the plateau is no longer true, so the
//     limit halves from W, which converges in a few steps however far the
//     budget fell, and the plateau is the new limit.
//   - Above the plateau it probes, rarely: when the limit is saturated and
//     the probe interval has passed, one step up. A probe that meets
//     exhaustion costs one refused connect (retried, so the caller sees no
//     error) and sends the limit back to the plateau, and the interval
//     doubles (1 s, 2 s, … 16 s), as CUBIC flattens near W_max. A probe that
//     holds for an interval becomes the plateau, and the next step is twice
//     as large, as CUBIC accelerates away from W_max: a budget that grew is
//     found in a few intervals.
//   - A burst of refusals, all caused by one oversubscription, is one event
//     (decreaseCooldown): the refusals after the first only follow the
//     in-flight count down as the refused attempts let go of their slots,
//     which ends just above what the server holds.
//
// It never goes above ceiling (SetCeiling) nor below min. Every method runs
// under Executor.mu. The fast path pays one comparison when nothing was
// ever exhausted or the limit is at its ceiling.
type adaptiveLimit struct {
	limit   int // min(target, ceiling): what admission uses
	target  int // where the algorithm wants the limit
	ceiling int // SetCeiling's bound, ≤ max
	min     int
	max     int

	exhaustedAt  int       // in flight when exhaustion last struck; 0 = never
	plateau      int       // the level known to hold: W−1, or the last probe that held
	lastDecrease time.Time // for decreaseCooldown
	probeEvery   time.Duration
	nextProbe    time.Time // when the next probe (or a probe's confirmation) is due
	probing      bool      // target is above plateau, unconfirmed
	step         int       // the next probe's step
	successes    int       // since the last clock check

	decreases, increases int64
}

const (
	// decreaseCooldown keeps a burst of exhaustion errors, all caused by the
	// same oversubscription, from moving the limit once per error.
	decreaseCooldown = 250 * time.Millisecond
	// probeBase is the first interval between probes, and how long a probe
	// must hold to become the plateau.
	probeBase = time.Second
	// probeMax caps the interval between probes.
	probeMax = 16 * time.Second
	// probeCheckEvery is how many saturated successes pass between two
	// reads of the clock.
	probeCheckEvery = 16
)

func (l *adaptiveLimit) init(min, max int) {
	l.min, l.max = min, max
	l.limit, l.target, l.ceiling = max, max, max
	l.probeEvery, l.step = probeBase, 1
}

func (l *adaptiveLimit) setTarget(t int) {
	l.target = t
	l.limit = min(l.target, l.ceiling)
}

// limitChange says what a release or SetCeiling did to the limit.
type limitChange struct {
	happened bool // also set, with old == new, for an exhaustion at the floor
	old, new int
	reason   LimitReason
	probe    bool // an exhaustion that ended a probe
	burst    bool // a further exhaustion of a burst already reported: no OnExhausted
}

// successLocked accounts for an attempt that succeeded while inFlight
// attempts (itself included) held slots.
func (l *adaptiveLimit) successLocked(inFlight int) limitChange {
	if l.exhaustedAt == 0 || l.limit >= l.ceiling && !l.probing {
		return limitChange{}
	}
	if inFlight < l.limit { // not saturated: nothing to learn
		return limitChange{}
	}
	if l.successes++; l.successes < probeCheckEvery {
		return limitChange{}
	}
	l.successes = 0
	now := time.Now()
	if now.Before(l.nextProbe) {
		return limitChange{}
	}
	if l.probing { // the probe held for an interval: it is the plateau now
		l.probing = false
		l.plateau = l.target
		l.step *= 2
		l.probeEvery = probeBase
		l.nextProbe = now.Add(l.probeEvery)
		return limitChange{}
	}
	if l.target >= l.ceiling {
		return limitChange{}
	}
	old := l.limit
	l.setTarget(min(l.target+l.step, l.ceiling))
	l.probing = true
	l.nextProbe = now.Add(probeBase)
	l.increases++
	return limitChange{l.limit != old, old, l.limit, LimitProbe, false, false}
}

// exhaustedLocked accounts for an attempt refused for lack of connections
// while inFlight attempts (itself included) held slots.
func (l *adaptiveLimit) exhaustedLocked(inFlight int) limitChange {
	now := time.Now()
	if now.Sub(l.lastDecrease) <= decreaseCooldown {
		// The same burst: the attempts refused after the first one release
		// their slots one by one, so the in-flight count they see falls to
		// just above what the server holds. Follow it down (never below
		// the floor), without treating it as a new event.
		old := l.limit
		if t := max(inFlight-1, l.min); t < l.target {
			l.setTarget(t)
			l.plateau = t
			l.exhaustedAt = inFlight
		}
		return limitChange{l.limit != old, old, l.limit, LimitExhausted, false, true}
	}
	l.lastDecrease = now
	w := max(inFlight, 1)
	old := l.limit
	var t int
	probe := false
	switch {
	case l.probing:
		// The probe found the edge: back to just under it, probe later.
		probe = true
		t = w - 1
		l.probeEvery = min(2*l.probeEvery, probeMax)
		l.step = 1
	case l.exhaustedAt == 0 || w > l.plateau:
		// First exhaustion, or above what was known: just under it.
		t = w - 1
	default:
		// At or below the plateau: the budget shrank. Halve.
		t = w / 2
		l.probeEvery, l.step = probeBase, 1
	}
	t = max(min(t, l.max), l.min)
	l.exhaustedAt = w
	l.plateau = t
	l.probing = false
	l.successes = 0
	l.nextProbe = now.Add(l.probeEvery)
	l.setTarget(t)
	if l.limit < old {
		l.decreases++
	}
	return limitChange{true, old, l.limit, LimitExhausted, probe, false}
}

// setCeilingLocked bounds the limit by n (already clamped).
func (l *adaptiveLimit) setCeilingLocked(n int) limitChange {
	old := l.limit
	l.ceiling = n
	l.limit = min(l.target, l.ceiling)
	return limitChange{old != l.limit, old, l.limit, LimitCeiling, false, false}
}

// report runs the hooks for a limit change, without the lock.
func (e *Executor) report(ch limitChange, err error) {
	if !ch.happened {
		return
	}
	if ch.old != ch.new && e.cfg.OnLimitChange != nil {
		e.cfg.OnLimitChange(LimitChangeEvent{Old: ch.old, New: ch.new, Reason: ch.reason})
	}
	if ch.reason == LimitExhausted && !ch.burst && e.cfg.OnExhausted != nil {
		e.cfg.OnExhausted(ExhaustedEvent{Limit: ch.new, Err: err, Probe: ch.probe})
	}
}

// SetCeiling bounds the adaptive limit from now on: n ≥ 1, clamped to
// MaxConcurrent (and raised to MinConcurrent). Lowering it lowers the limit
// at once: calls in flight above it finish, and no new call is admitted
// until they are below it. Raising it lets the limit return to where the
// adaptive algorithm wants it, never above the ceiling. Package fleet uses
// it to keep this process within its share of a budget.
func (e *Executor) SetCeiling(n int) {
	n = max(min(n, e.cfg.MaxConcurrent), e.cfg.MinConcurrent, 1)
	e.mu.Lock()
	ch := e.lim.setCeilingLocked(n)
	e.grantLocked()
	e.mu.Unlock()
	e.report(ch, nil)
}
