package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
)

// roundFigures is what each mode did in one round of -rounds, and the
// ratios of tollgate to the other modes within that round: the machine's
// noise (other processes, CPU frequency) hits every mode of a round alike,
// so same-round ratios are what to compare.
type roundFigures struct {
	Round int                      `json:"round"`
	Modes map[string]roundMode     `json:"modes"`
	Vs    map[string]roundVsTarget `json:"tollgate_vs,omitempty"` // key: the other mode
}

type roundMode struct {
	ThroughputOpsS float64 `json:"throughput_ops_s"`
	P50MS          float64 `json:"p50_ms"`
	P99MS          float64 `json:"p99_ms"`
	CPUMicrosPerOp float64 `json:"cpu_us_per_op"`
	Errors         int64   `json:"errors"`
}

type roundVsTarget struct {
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
	CPUPerOp   float64 `json:"cpu_per_op"`
}

func newRound(n int, raws map[string]*rawResult) roundFigures {
	rf := roundFigures{Round: n, Modes: map[string]roundMode{}, Vs: map[string]roundVsTarget{}}
	for m, r := range raws {
		s := r.summary()
		rf.Modes[m] = roundMode{ThroughputOpsS: s.ThroughputOpsS, P50MS: s.LatencyMS.P50, P99MS: s.LatencyMS.P99, CPUMicrosPerOp: s.CPUMicrosPerOp, Errors: s.Errors}
	}
	if t, ok := rf.Modes[modeTollgate]; ok {
		for m, o := range rf.Modes {
			if m != modeTollgate {
				rf.Vs[m] = roundVsTarget{Throughput: ratioOf(t.ThroughputOpsS, o.ThroughputOpsS), P99: ratioOf(t.P99MS, o.P99MS),
					CPUPerOp: ratioOf(t.CPUMicrosPerOp, o.CPUMicrosPerOp)}
			}
		}
	}
	return rf
}

// mergeRound adds round r of a mode to acc: the rounds ran one after the
// other, so their durations add up (merge is for instances side by side).
func mergeRound(acc, r *rawResult) {
	elapsed, instances := acc.Elapsed+r.Elapsed, acc.Instances
	acc.merge(r)
	acc.Elapsed, acc.Instances = elapsed, instances
}

// printRounds writes the per-round ratios and their median.
func printRounds(w io.Writer, rep *report) {
	if len(rep.Rounds) < 2 {
		return
	}
	others := map[string]bool{}
	for _, rf := range rep.Rounds {
		for m := range rf.Vs {
			others[m] = true
		}
	}
	names := make([]string, 0, len(others))
	for m := range others {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		var tp, p99, cpu []float64
		fmt.Fprintf(w, "\nper round, tollgate/%s: throughput", m)
		for _, rf := range rep.Rounds {
			v := rf.Vs[m]
			tp, p99, cpu = append(tp, v.Throughput), append(p99, v.P99), append(cpu, v.CPUPerOp)
			fmt.Fprintf(w, " %.2f", v.Throughput)
		}
		for _, xs := range []struct {
			name string
			v    []float64
		}{{"p99", p99}, {"cpu/op", cpu}} {
			fmt.Fprintf(w, "; %s", xs.name)
			for _, v := range xs.v {
				fmt.Fprintf(w, " %.2f", v)
			}
		}
		fmt.Fprintf(w, "\n  median of %d rounds: throughput %.2f×, p99 %.2f×, client CPU per op %.2f×\n", len(tp), median(tp), median(p99), median(cpu))
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
