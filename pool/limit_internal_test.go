package pool

import (
	"testing"
	"testing/synctest"
	"time"
)

// The limit's steps, one by one: just under where exhaustion struck, a
// probe after an interval, back on a failed probe with the interval
// doubled, a held probe becoming the plateau with a doubled step, halving
// when the budget shrank below the plateau.
func TestAdaptiveLimitSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l adaptiveLimit
		l.init(1, 16)
		saturated := func(n int) limitChange { // n saturated successes
			var last limitChange
			for range n {
				if ch := l.successLocked(l.limit); ch.happened {
					last = ch
				}
			}
			return last
		}
		if ch := saturated(100); ch.happened || l.limit != 16 {
			t.Fatalf("never exhausted: limit %d, change %+v; want 16 and none", l.limit, ch)
		}
		ch := l.exhaustedLocked(6)
		if l.limit != 5 || ch != (limitChange{true, 16, 5, LimitExhausted, false, false}) || l.exhaustedAt != 6 {
			t.Fatalf("after exhaustion at 6: limit %d, change %+v; want 5 (just under)", l.limit, ch)
		}
		if ch := l.exhaustedLocked(6); ch.happened || l.limit != 5 {
			t.Fatalf("same burst, same level: change %+v, limit %d; want none", ch, l.limit)
		}
		if ch := l.exhaustedLocked(5); ch != (limitChange{true, 5, 4, LimitExhausted, false, true}) {
			t.Fatalf("same burst, one fewer in flight: change %+v; want 5 -> 4 as part of the burst", ch)
		}
		if ch := saturated(1000); ch.happened {
			t.Fatalf("probe within the interval: %+v", ch)
		}
		if ch := l.successLocked(2); ch.happened {
			t.Fatalf("unsaturated success changed the limit: %+v", ch)
		}
		time.Sleep(probeBase)
		if ch := saturated(probeCheckEvery); ch != (limitChange{true, 4, 5, LimitProbe, false, false}) {
			t.Fatalf("after the interval: %+v, want a probe 4 -> 5", ch)
		}
		time.Sleep(probeBase)
		saturated(probeCheckEvery) // 5 holds: the plateau
		time.Sleep(probeBase)
		if ch := saturated(probeCheckEvery); ch != (limitChange{true, 5, 7, LimitProbe, false, false}) {
			t.Fatalf("next probe: %+v, want 5 -> 7 (step 2)", ch)
		}
		// It fails at 6 in flight: back to 5.
		time.Sleep(decreaseCooldown + time.Millisecond)
		if ch := l.exhaustedLocked(6); ch != (limitChange{true, 7, 5, LimitExhausted, true, false}) || l.probeEvery != 2*probeBase || l.step != 1 {
			t.Fatalf("failed probe: %+v, interval %s, step %d; want 7 -> 5, 2s, 1", ch, l.probeEvery, l.step)
		}
		time.Sleep(2 * probeBase)
		if ch := saturated(probeCheckEvery); ch != (limitChange{true, 5, 6, LimitProbe, false, false}) {
			t.Fatalf("after 2 s: %+v, want a probe 5 -> 6", ch)
		}
		// This probe fails too: back to 5, next probe in 4 s.
		time.Sleep(decreaseCooldown + time.Millisecond)
		if ch := l.exhaustedLocked(6); ch != (limitChange{true, 6, 5, LimitExhausted, true, false}) || l.probeEvery != 4*probeBase {
			t.Fatalf("failed probe: %+v, interval %s; want 6 -> 5 and 4s", ch, l.probeEvery)
		}
		time.Sleep(2 * probeBase)
		if ch := saturated(10 * probeCheckEvery); ch.happened {
			t.Fatalf("probe 2 s after a second failed one: %+v, want none before 4 s", ch)
		}
		time.Sleep(2 * probeBase)
		if ch := saturated(probeCheckEvery); ch != (limitChange{true, 5, 6, LimitProbe, false, false}) {
			t.Fatalf("probe after 4 s: %+v", ch)
		}
		// It holds for an interval: plateau 6, next step 2.
		time.Sleep(probeBase)
		saturated(probeCheckEvery)
		if l.plateau != 6 || l.probing || l.step != 2 {
			t.Fatalf("held probe: plateau %d probing %v step %d; want 6, false, 2", l.plateau, l.probing, l.step)
		}
		time.Sleep(probeBase)
		if ch := saturated(probeCheckEvery); ch != (limitChange{true, 6, 8, LimitProbe, false, false}) {
			t.Fatalf("next probe: %+v, want 6 -> 8", ch)
		}
		time.Sleep(probeBase)
		saturated(probeCheckEvery) // 8 holds
		// The budget shrinks below the plateau: halve from where it struck.
		if ch := l.exhaustedLocked(7); ch != (limitChange{true, 8, 3, LimitExhausted, false, false}) {
			t.Fatalf("shrunk budget: %+v, want 8 -> 3 (7/2)", ch)
		}
		// A ceiling bounds everything, and the floor holds.
		if ch := l.setCeilingLocked(2); ch != (limitChange{true, 3, 2, LimitCeiling, false, false}) {
			t.Fatalf("ceiling: %+v", ch)
		}
		time.Sleep(time.Second)
		if ch := l.exhaustedLocked(1); l.limit != 1 || !ch.happened || ch.old != 2 {
			t.Fatalf("at one in flight: %+v, limit %d; want the floor 1, reported", ch, l.limit)
		}
		time.Sleep(time.Second)
		if ch := l.exhaustedLocked(1); l.limit != 1 || !ch.happened || ch.old != 1 {
			t.Fatalf("at the floor: %+v, want reported (cleanup runs) with the limit kept", ch)
		}
	})
}
