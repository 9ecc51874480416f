package hist_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/examples/loadtest/internal/hist"
)

// exact is the nearest-rank quantile of sorted samples.
func exact(sorted []time.Duration, q float64) time.Duration {
	if q >= 1 {
		return sorted[len(sorted)-1]
	}
	r := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[r-1]
}

func within(got, want time.Duration, rel float64) bool {
	return math.Abs(float64(got-want)) <= rel*float64(want)+1
}

func TestQuantileMatchesExactRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		gen  func() time.Duration
	}{
		{"tiny exact values", func() time.Duration { return time.Duration(rng.IntN(100)) }},
		{"uniform 1ms-2ms", func() time.Duration { return time.Millisecond + time.Duration(rng.Int64N(int64(time.Millisecond))) }},
		{"log-normal around 5ms", func() time.Duration { return time.Duration(5e6 * math.Exp(rng.NormFloat64())) }},
		{"bimodal with a slow tail", func() time.Duration {
			if rng.IntN(100) == 0 {
				return 300*time.Millisecond + time.Duration(rng.Int64N(int64(time.Second)))
			}
			return time.Duration(rng.Int64N(int64(2 * time.Millisecond)))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h hist.Hist
			samples := make([]time.Duration, 20000)
			for i := range samples {
				samples[i] = tc.gen()
				h.Record(samples[i])
			}
			slices.Sort(samples)
			for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
				got, want := h.Quantile(q), exact(samples, q)
				if !within(got, want, 1.0/128) {
					t.Errorf("q=%v: got %v, want %v ± 0.8%%", q, got, want)
				}
			}
			if h.Max() != samples[len(samples)-1] || h.Min() != samples[0] {
				t.Errorf("min/max = %v/%v, want %v/%v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
			}
			if h.Count() != uint64(len(samples)) {
				t.Errorf("count = %d", h.Count())
			}
		})
	}
}

// Merging per-process histograms must give the percentiles of all samples
// together, which averaging per-process percentiles does not.
func TestMergeEqualsRecordingEverything(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var all hist.Hist
	parts := make([]hist.Hist, 4)
	var samples []time.Duration
	for i := range parts {
		scale := time.Duration(i+1) * time.Millisecond // each "process" sees a different load
		for range 5000 + 1000*i {
			d := time.Duration(rng.Int64N(int64(scale))) + scale
			parts[i].Record(d)
			all.Record(d)
			samples = append(samples, d)
		}
	}
	var merged hist.Hist
	for i := range parts {
		merged.Merge(&parts[i])
	}
	merged.Merge(nil)
	merged.Merge(&hist.Hist{})
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.95, 0.99, 1} {
		if m, a := merged.Quantile(q), all.Quantile(q); m != a {
			t.Errorf("q=%v: merged %v, recorded together %v", q, m, a)
		}
		if got, want := merged.Quantile(q), exact(samples, q); !within(got, want, 1.0/128) {
			t.Errorf("q=%v: merged %v, exact %v", q, got, want)
		}
	}
	if merged.Count() != all.Count() || merged.Max() != all.Max() || merged.Min() != all.Min() || merged.Mean() != all.Mean() {
		t.Errorf("merged n/min/max/mean %d/%v/%v/%v, want %d/%v/%v/%v",
			merged.Count(), merged.Min(), merged.Max(), merged.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
}

func TestJSONRoundTripKeepsEveryBucket(t *testing.T) {
	var h hist.Hist
	for _, d := range []time.Duration{0, 1, 127, 128, 129, time.Microsecond, time.Millisecond, 3 * time.Second, time.Hour, math.MaxInt64} {
		h.Record(d)
		h.Record(d)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back hist.Hist
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0, 0.1, 0.3, 0.5, 0.7, 0.9, 1} {
		if back.Quantile(q) != h.Quantile(q) {
			t.Errorf("q=%v: %v after round trip, %v before", q, back.Quantile(q), h.Quantile(q))
		}
	}
	if back.Count() != h.Count() || back.Max() != h.Max() {
		t.Errorf("count/max changed: %d/%v vs %d/%v", back.Count(), back.Max(), h.Count(), h.Max())
	}
}

func TestUnmarshalRejectsInconsistentInput(t *testing.T) {
	for name, in := range map[string]string{
		"counts do not add up": `{"n":3,"min_ns":1,"max_ns":1,"buckets":[[1,2]]}`,
		"index out of range":   `{"n":1,"min_ns":1,"max_ns":1,"buckets":[[99999999,1]]}`,
		"max below min":        `{"n":1,"min_ns":5,"max_ns":1,"buckets":[[1,1]]}`,
		"not an object":        `[1,2]`,
	} {
		var h hist.Hist
		if err := json.Unmarshal([]byte(in), &h); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestEmptyAndNegative(t *testing.T) {
	var h hist.Hist
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	h.Record(-time.Second)
	if h.Quantile(0.5) != 0 || h.Count() != 1 {
		t.Fatalf("a negative duration must count as zero, got %v", h.Quantile(0.5))
	}
}

func BenchmarkRecord(b *testing.B) {
	var h hist.Hist
	d := 1500 * time.Microsecond
	for b.Loop() {
		h.Record(d)
	}
}
