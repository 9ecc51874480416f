package fleet_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tollgate-db/tollgate/fleet"
)

func randomFleet(rng *rand.Rand) (capacity int, rows []fleet.Instance) {
	n := 1 + rng.IntN(20)
	capacity = 1 + rng.IntN(60)
	for i := range n {
		d := 0.0
		switch rng.IntN(4) {
		case 0: // idle
		case 1:
			d = rng.Float64() * 2
		default:
			d = rng.Float64() * 30
		}
		rows = append(rows, fleet.Instance{ID: fmt.Sprintf("i%03d-%d", rng.IntN(1000), i), Demand: d, MaxConns: 1 + rng.IntN(20), Share: rng.IntN(5)})
	}
	return capacity, rows
}

func want(r fleet.Instance) int {
	w := 0
	if r.Demand > 0 {
		w = int(r.Demand - 0.1 + 0.999999999)
	}
	return min(max(1, r.MaxConns), max(1, w))
}

// TestAllocateProperties checks, on random fleets: deterministic and
// independent of row order, every instance at least 1 and at most its
// MaxConns, never above capacity (unless there are more instances than
// capacity, when each gets exactly 1), work-conserving, and max-min fair.
func TestAllocateProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 5000 {
		capacity, rows := randomFleet(rng)
		epoch := rng.Int64N(100)
		got := fleet.Allocate(capacity, epoch, rows)
		shuffled := slices.Clone(rows)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if again := fleet.Allocate(capacity, epoch, shuffled); !maps.Equal(got, again) {
			t.Fatalf("iter %d: reordering the rows changed the allocation:\n%v\n%v", iter, got, again)
		}
		if len(got) != len(rows) {
			t.Fatalf("iter %d: %d shares for %d rows", iter, len(got), len(rows))
		}
		total, capSum := 0, 0
		unsatisfied := -1
		for _, r := range rows {
			a := got[r.ID]
			total += a
			capSum += max(1, r.MaxConns)
			if a < 1 || a > max(1, r.MaxConns) {
				t.Fatalf("iter %d: %s got %d, outside [1, %d]", iter, r.ID, a, r.MaxConns)
			}
			if a < want(r) && (unsatisfied < 0 || a < unsatisfied) {
				unsatisfied = a
			}
		}
		if len(rows) >= capacity {
			for _, r := range rows {
				if got[r.ID] != 1 {
					t.Fatalf("iter %d: %d instances for capacity %d, %s got %d, want 1", iter, len(rows), capacity, r.ID, got[r.ID])
				}
			}
			continue
		}
		if total > capacity {
			t.Fatalf("iter %d: total %d above capacity %d: %v", iter, total, capacity, got)
		}
		if total != min(capacity, capSum) {
			t.Fatalf("iter %d: total %d, want min(capacity %d, Σ MaxConns %d): not work-conserving", iter, total, capacity, capSum)
		}
		for _, r := range rows {
			a := got[r.ID]
			if unsatisfied >= 0 {
				// Someone is short of its demand: nobody holds more than
				// its demand, nor more than one above the shortest.
				if a > want(r) {
					t.Fatalf("iter %d: %s holds %d above its demand %d while another is short", iter, r.ID, a, want(r))
				}
				if a > unsatisfied+1 {
					t.Fatalf("iter %d: %s holds %d while another short instance holds %d: not max-min fair", iter, r.ID, a, unsatisfied)
				}
			} else if a < want(r) {
				t.Fatalf("iter %d: %s short of its demand with capacity left", iter, r.ID)
			}
		}
	}
}

// TestAllocateSkewed: two busy instances and six nearly idle ones: the
// busy ones share what the idle ones leave, the idle ones keep 1.
func TestAllocateSkewed(t *testing.T) {
	var rows []fleet.Instance
	for i := range 8 {
		d := 0.05
		if i < 2 {
			d = 20
		}
		rows = append(rows, fleet.Instance{ID: fmt.Sprintf("i%d", i), Demand: d, MaxConns: 20})
	}
	got := fleet.Allocate(14, 0, rows)
	want := map[string]int{"i0": 4, "i1": 4, "i2": 1, "i3": 1, "i4": 1, "i5": 1, "i6": 1, "i7": 1}
	if !maps.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestAllocateRotation: 14 connections for 8 saturated instances. Within
// an epoch 6 hold 2 and 2 hold 1; over 8 epochs each instance holds 2 in
// exactly 6 of them.
func TestAllocateRotation(t *testing.T) {
	var rows []fleet.Instance
	for i := range 8 {
		rows = append(rows, fleet.Instance{ID: fmt.Sprintf("i%d", i), Demand: 20, MaxConns: 20})
	}
	twos := map[string]int{}
	for epoch := int64(40); epoch < 48; epoch++ {
		got := fleet.Allocate(14, epoch, rows)
		n2 := 0
		for id, a := range got {
			if a == 2 {
				n2++
				twos[id]++
			} else if a != 1 {
				t.Fatalf("epoch %d: %s got %d", epoch, id, a)
			}
		}
		if n2 != 6 {
			t.Fatalf("epoch %d: %d instances hold 2, want 6", epoch, n2)
		}
	}
	for _, r := range rows {
		if twos[r.ID] != 6 {
			t.Fatalf("over 8 epochs %s held 2 in %d, want 6: %v", r.ID, twos[r.ID], twos)
		}
	}
}

func TestAllocateEmptyAndDuplicates(t *testing.T) {
	if got := fleet.Allocate(10, 0, nil); len(got) != 0 {
		t.Fatalf("no rows: got %v", got)
	}
	rows := []fleet.Instance{{ID: "a", Demand: 9, MaxConns: 9}, {ID: "a", Demand: 9, MaxConns: 9}, {ID: "b", Demand: 9, MaxConns: 9}}
	got := fleet.Allocate(10, 0, rows)
	if got["a"]+got["b"] != 10 || len(got) != 2 {
		t.Fatalf("duplicate rows: got %v", got)
	}
}
