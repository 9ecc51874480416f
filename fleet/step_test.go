package fleet_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tollgate-db/tollgate/fleet"
)

// simFleet is a fake fleet table and the instances around it: each
// heartbeat writes the instance's row, reads the live ones, allocates and
// steps, as Member does, one instance at a time in random order.
type simFleet struct {
	capacity int
	table    map[string]fleet.Instance // live rows
	share    map[string]int            // what each running instance holds
}

// total is what the instances with a row hold; a joiner holds 1 more
// before its first heartbeat, which the Reserve is for.
func (f *simFleet) total() int {
	s := 0
	for id := range f.table {
		s += f.share[id]
	}
	return s
}

func (f *simFleet) beat(id string, demand float64, epoch int64) (raised bool) {
	me := fleet.Instance{ID: id, Demand: demand, MaxConns: 20, Share: f.share[id]}
	f.table[id] = me
	live := make([]fleet.Instance, 0, len(f.table))
	for _, r := range f.table {
		live = append(live, r)
	}
	targets := fleet.Allocate(f.capacity, epoch, live)
	next := fleet.Step(f.capacity, id, f.share[id], targets, live)
	raised = next > f.share[id]
	f.share[id] = next
	me.Share = next
	f.table[id] = me // published
	return raised
}

// TestStepNeverOversubscribes runs random fleets through joins, leaves,
// crashes, demand changes and rotations. A heartbeat never raises the
// total held above the capacity (only a joiner, which holds 1 before its
// row is in, can put it there, and the others' heartbeats take it back),
// and once nothing changes every instance reaches its target and the total
// is within the capacity.
func TestStepNeverOversubscribes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 300 {
		f := &simFleet{capacity: 2 + rng.IntN(40), table: map[string]fleet.Instance{}, share: map[string]int{}}
		demand := map[string]float64{}
		next := 0
		epoch := int64(0)
		for step := range 400 {
			switch r := rng.IntN(100); {
			case r < 6: // join at 1
				id := fmt.Sprintf("n%02d", next)
				next++
				f.share[id] = 1
				demand[id] = rng.Float64() * 25
			case r < 9 && len(f.share) > 0: // leave (Close) or crash: the row goes at once or after the TTL; either way it holds nothing
				ids := slices.Sorted(mapsKeys(f.share))
				id := ids[rng.IntN(len(ids))]
				delete(f.share, id)
				delete(f.table, id)
			case r < 14 && len(demand) > 0:
				for id := range demand {
					if rng.IntN(3) == 0 {
						demand[id] = rng.Float64() * 25
					}
				}
			case r < 18:
				epoch++
			}
			if len(f.share) == 0 {
				continue
			}
			ids := slices.Sorted(mapsKeys(f.share))
			id := ids[rng.IntN(len(ids))]
			before := f.total()
			if _, in := f.table[id]; !in {
				before += f.share[id] // a joiner's first row: it held that already
			}
			if f.beat(id, demand[id], epoch) && f.total() > f.capacity {
				t.Fatalf("iter %d step %d: %s raised its share: shares %v add up to %d, above the capacity %d", iter, step, id, f.share, f.total(), f.capacity)
			}
			if f.total() > max(before, f.capacity) {
				t.Fatalf("iter %d step %d: a heartbeat of %s raised the total from %d to %d, above the capacity %d", iter, step, id, before, f.total(), f.capacity)
			}
		}
		// Quiet: every instance heartbeats a few times; all reach their targets.
		ids := slices.Sorted(mapsKeys(f.share))
		for range 4 {
			for _, id := range ids {
				f.beat(id, demand[id], epoch)
			}
		}
		live := make([]fleet.Instance, 0, len(f.table))
		for _, r := range f.table {
			live = append(live, r)
		}
		targets := fleet.Allocate(f.capacity, epoch, live)
		if f.total() > max(f.capacity, len(ids)) {
			t.Fatalf("iter %d: after quiet rounds the shares add up to %d, above the capacity %d", iter, f.total(), f.capacity)
		}
		for _, id := range ids {
			if f.share[id] != targets[id] {
				t.Fatalf("iter %d: after quiet rounds %s holds %d, target %d (shares %v)", iter, id, f.share[id], targets[id], f.share)
			}
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
