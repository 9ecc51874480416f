package fleet

import (
	"cmp"
	"math"
	"slices"
)

// Instance is one live row of the fleet table: what an instance said of
// itself at its last heartbeat.
type Instance struct {
	// ID names the instance; it is unique within the fleet.
	ID string
	// Demand is the connections it would use now: in-flight plus queued
	// calls, smoothed, capped at MaxConns.
	Demand float64
	// MaxConns is its own MaxOpenConns: it is never given more.
	MaxConns int
	// Share is the ceiling it holds now, as it last wrote it.
	Share int
}

// Allocate is the max-min fair division of capacity connections among
// the live instances, computed the same way by every instance from the same
// rows, so that they agree without talking. It returns each instance's
// target share by ID.
//
// Every instance gets at least 1. The rest is water-filled: first up to
// each instance's demand (rounded up), the smallest demands satisfied
// first, then, when every demand is met, up to each instance's MaxConns,
// as headroom for bursts. The units that cannot be split evenly (14
// connections for 8 busy instances: 6 of them get 2) go to the instances
// at positions epoch·k … epoch·k+k−1 (mod the candidates) of the
// candidates sorted by ID, so that they rotate when epoch changes and
// every instance holds the larger share equally often; a constant epoch
// gives them to the smallest IDs.
//
// The total never exceeds capacity, except when there are more live
// instances than capacity: then every instance gets 1 (see Stats'
// Oversubscribed). The result depends only on the set of rows, not on
// their order, and ignores Share.
func Allocate(capacity int, epoch int64, live []Instance) map[string]int {
	out := make(map[string]int, len(live))
	if len(live) == 0 {
		return out
	}
	rows := slices.Clone(live)
	slices.SortFunc(rows, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	rows = slices.CompactFunc(rows, func(a, b Instance) bool { return a.ID == b.ID })
	n := len(rows)
	alloc := make([]int, n)
	want := make([]int, n)
	caps := make([]int, n)
	for i, r := range rows {
		alloc[i] = 1
		caps[i] = max(1, r.MaxConns)
		want[i] = min(caps[i], max(1, demandUnits(r.Demand)))
	}
	if capacity > n {
		fill(alloc, want, capacity, epoch)
		fill(alloc, caps, capacity, epoch)
	}
	for i, r := range rows {
		out[r.ID] = alloc[i]
	}
	return out
}

// demandUnits rounds a smoothed demand up to whole connections, ignoring
// the last tenth so that 2.05 (noise around a demand of 2) asks for 2.
func demandUnits(d float64) int {
	if math.IsNaN(d) || d <= 0 {
		return 0
	}
	if d > 1e6 {
		return 1e6
	}
	return int(math.Ceil(d - 0.1))
}

// fill raises alloc towards upto (never lowering an entry) by water
// filling until the total is capacity or every entry is at upto: the
// highest integer level L with Σ max(alloc, min(upto, L)) ≤ capacity, then
// the leftover units, one each, to rotating candidates at level L.
func fill(alloc, upto []int, capacity int, epoch int64) {
	total := func(level int) int {
		s := 0
		for i := range alloc {
			s += max(alloc[i], min(upto[i], level))
		}
		return s
	}
	hi := 0
	for i := range alloc {
		hi = max(hi, upto[i], alloc[i])
	}
	if total(hi) <= capacity {
		for i := range alloc {
			alloc[i] = max(alloc[i], upto[i])
		}
		return
	}
	lo := 0 // total(lo) <= capacity < total(hi)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if total(mid) <= capacity {
			lo = mid
		} else {
			hi = mid
		}
	}
	var cand []int // entries that would go to lo+1
	used := 0
	for i := range alloc {
		alloc[i] = max(alloc[i], min(upto[i], lo))
		used += alloc[i]
		if alloc[i] == lo && upto[i] > lo {
			cand = append(cand, i)
		}
	}
	k := capacity - used // < len(cand), since total(lo+1) > capacity
	if k <= 0 || len(cand) == 0 {
		return
	}
	start := int((epoch%int64(len(cand)) + int64(len(cand))) % int64(len(cand)))
	start = int((int64(start) * int64(k)) % int64(len(cand)))
	for j := range k {
		alloc[cand[(start+j)%len(cand)]]++
	}
}

// Step is what one instance does with the allocation: the ceiling it may
// hold from now on. A lower target is taken at once. A higher one only as
// far as the connections the others hold now leave room: the room,
// capacity minus the shares every live instance holds (as written in its
// row; this instance's own is current), is handed to the instances below
// their target in ID order, each up to its target. Every instance computes
// the same hand-out, so that two of them never take the same room.
func Step(capacity int, self string, current int, targets map[string]int, live []Instance) int {
	t, ok := targets[self]
	if !ok {
		return min(current, 1)
	}
	if t <= current {
		return t
	}
	rows := slices.Clone(live)
	slices.SortFunc(rows, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	rows = slices.CompactFunc(rows, func(a, b Instance) bool { return a.ID == b.ID })
	room := capacity
	for _, r := range rows {
		if r.ID == self {
			room -= current
		} else {
			room -= r.Share
		}
	}
	for _, r := range rows {
		if room <= 0 {
			break
		}
		have := r.Share
		if r.ID == self {
			have = current
		}
		give := min(targets[r.ID]-have, room)
		if give <= 0 {
			continue
		}
		if r.ID == self {
			return current + give
		}
		room -= give
	}
	return current
}
