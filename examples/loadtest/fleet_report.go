package main

import (
	"time"
)

// instanceRun is one child as the parent saw it.
type instanceRun struct {
	n        int
	start    time.Duration // from the run's start
	killed   bool
	killedAt time.Duration
	res      *rawResult // nil when killed
}

// instanceSummary is one instance's line of the fleet table.
type instanceSummary struct {
	Instance   int     `json:"instance"`
	StartS     float64 `json:"start_s"`
	Killed     bool    `json:"killed,omitempty"`
	KilledS    float64 `json:"killed_s,omitempty"`
	FinalLimit int     `json:"final_limit"`
	MeanLimit  float64 `json:"mean_limit_in_window"`
	Ops        int64   `json:"ops"`
	OpsPerS    float64 `json:"ok_ops_s_in_window"`
	P99MS      float64 `json:"p99_ms"`
	Limits     []int   `json:"limit_per_250ms"` // from the run's start; -1 where it did not run
}

// fleetSummary is what the fleet scenarios report.
type fleetSummary struct {
	Budget   int `json:"budget"`
	Reserve  int `json:"reserve"`
	Capacity int `json:"capacity"` // Budget − Reserve
	// The window the fairness figures cover: from FairFrom to the end,
	// instances that ran all through it.
	WindowFromS     float64 `json:"window_from_s"`
	WindowToS       float64 `json:"window_to_s"`
	JainLimits      float64 `json:"jain_mean_limits"`  // of each instance's mean limit over the window
	JainFinalLimits float64 `json:"jain_final_limits"` // of the limits at the end
	JainThroughput  float64 `json:"jain_throughput"`   // of each instance's successful ops/s over the window
	JainLimitsMin   float64 `json:"jain_limits_min_1s"`
	MeanLimitSum    float64 `json:"mean_limit_sum"` // Σ limits, averaged over the window
	UsePct          float64 `json:"use_pct_of_capacity"`
	ConnSamples     int     `json:"conn_samples"`
	ConnOver        int     `json:"conn_samples_over_budget"`
	MaxServerConns  int     `json:"max_server_conns"`
	ExhaustionsLate int64   `json:"exhaustions_after_2s"`
	// ReclaimS is how long after the kill the survivors held the
	// capacity again (at most one connection short, for a rotation in
	// flight); -1 when nothing was killed or it never happened.
	ReclaimS  float64           `json:"reclaim_s"`
	Instances []instanceSummary `json:"instances"`
	LimitSum  []int             `json:"limit_sum_per_250ms"`
}

func jain(x []float64) float64 {
	var s, s2 float64
	for _, v := range x {
		s += v
		s2 += v * v
	}
	if s2 == 0 {
		return 0
	}
	return s * s / (float64(len(x)) * s2)
}

func bucketOf(d time.Duration) int { return int(d / bucketWidth) }

// fleetReport builds the fleet figures of a run of children.
func fleetReport(c *config, r *rawResult) *fleetSummary {
	if c.FleetBudget == 0 || len(r.perInstance) == 0 {
		return nil
	}
	budget, reserve := c.FleetBudget, c.FleetReserve
	for _, in := range r.perInstance {
		if in.res != nil && in.res.FleetBudget > 0 { // as the members settled them (-1: from the server)
			budget, reserve = in.res.FleetBudget, in.res.FleetReserve
			break
		}
	}
	if reserve == 0 {
		reserve = max(1, (budget+19)/20) // fleet's default
	}
	f := &fleetSummary{Budget: budget, Reserve: reserve, Capacity: budget - reserve,
		ConnSamples: r.ConnSamples, ConnOver: r.ConnOver, MaxServerConns: r.MaxServerConns, ReclaimS: -1}
	if c.FleetBudget < 0 { // the observer did not know the budget: count the 250 ms buckets above it
		f.ConnOver = 0
		for _, v := range r.ConnTimeline {
			if v > budget {
				f.ConnOver++
			}
		}
	}
	n := bucketOf(c.Duration) + 1
	from := c.fleetOpts.fairFrom(c.Duration)
	wFrom, wTo := bucketOf(from), bucketOf(c.Duration)
	f.WindowFromS, f.WindowToS = from.Seconds(), c.Duration.Seconds()
	f.LimitSum = make([]int, n)
	var means, tputs, finals []float64
	for _, in := range r.perInstance {
		s := instanceSummary{Instance: in.n, StartS: in.start.Seconds(), Killed: in.killed, Limits: make([]int, n)}
		for i := range s.Limits {
			s.Limits[i] = -1
		}
		off := bucketOf(in.start)
		if in.killed {
			s.KilledS = in.killedAt.Seconds()
		}
		if in.res != nil {
			res := in.res
			for i, l := range res.LimitTimeline {
				if b := off + i; b < n {
					s.Limits[b] = l
					f.LimitSum[b] += l
				}
			}
			if len(res.FinalLimits) > 0 {
				s.FinalLimit = res.FinalLimits[0]
			}
			s.Ops = res.Ops
			s.P99MS = ms(res.Latency.Quantile(0.99))
			for i, e := range res.ExhTimeline {
				prev := int64(0) // a late joiner's first sample holds those of its start
				if i > 0 {
					prev = res.ExhTimeline[i-1]
				} else if in.start < 2*time.Second {
					continue
				}
				if time.Duration(off+i)*bucketWidth > 2*time.Second {
					f.ExhaustionsLate += e - prev
				}
			}
			full := off <= wFrom
			var lsum, cnt float64
			var ok int64
			for b := wFrom; b < wTo; b++ {
				if s.Limits[b] >= 0 {
					lsum += float64(s.Limits[b])
					cnt++
				}
				if i := b - off; i >= 0 && i < len(res.OpsTimeline) {
					ok += res.OpsTimeline[i]
					if i < len(res.ErrTimeline) {
						ok -= res.ErrTimeline[i]
					}
				}
			}
			if cnt > 0 {
				s.MeanLimit = lsum / cnt
			}
			if span := float64(wTo-wFrom) * bucketWidth.Seconds(); span > 0 {
				s.OpsPerS = float64(ok) / span
			}
			if full && !in.killed {
				means = append(means, s.MeanLimit)
				tputs = append(tputs, s.OpsPerS)
				finals = append(finals, float64(s.FinalLimit))
			}
		}
		f.Instances = append(f.Instances, s)
	}
	f.JainLimits, f.JainThroughput, f.JainFinalLimits = jain(means), jain(tputs), jain(finals)
	// The worst Jain's index of limits averaged over any 1 s within the window.
	f.JainLimitsMin = 1
	for b := wFrom; b+4 <= wTo; b++ {
		var x []float64
		for _, s := range f.Instances {
			if s.Killed || bucketOf(time.Duration(s.StartS*float64(time.Second))) > wFrom {
				continue
			}
			v := 0.0
			for k := b; k < b+4; k++ {
				v += float64(max(s.Limits[k], 0))
			}
			x = append(x, v/4)
		}
		if len(x) > 0 {
			f.JainLimitsMin = min(f.JainLimitsMin, jain(x))
		}
	}
	var sum float64
	for b := wFrom; b < wTo; b++ {
		sum += float64(f.LimitSum[b])
	}
	if wTo > wFrom {
		f.MeanLimitSum = sum / float64(wTo-wFrom)
		f.UsePct = 100 * f.MeanLimitSum / float64(f.Capacity)
	}
	killedAt := time.Duration(-1)
	for _, in := range r.perInstance {
		if in.killed {
			killedAt = max(killedAt, in.killedAt)
		}
	}
	if killedAt >= 0 {
		for b := bucketOf(killedAt) + 1; b < n; b++ {
			if f.LimitSum[b] >= f.Capacity-1 {
				f.ReclaimS = (time.Duration(b)*bucketWidth - killedAt).Seconds()
				break
			}
		}
	}
	return f
}
