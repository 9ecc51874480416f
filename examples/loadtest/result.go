package main

import (
	"maps"
	"slices"
	"time"

	"github.com/tollgate-db/tollgate/examples/loadtest/internal/hist"
)

// bucketWidth is the resolution of the over-time series.
const bucketWidth = 250 * time.Millisecond

// rawResult is what one instance measured in one mode. Children send it to
// the parent as JSON; merging keeps full histograms, so that the merged
// percentiles are those of every sample.
type rawResult struct {
	Mode      string        `json:"mode"`
	Instances int           `json:"instances"`
	Elapsed   time.Duration `json:"elapsed_ns"`

	Ops          int64             `json:"ops"`
	OK           int64             `json:"ok"`
	Reads        int64             `json:"reads"`
	Writes       int64             `json:"writes"`
	Errors       map[string]int64  `json:"errors"`
	ErrorSamples map[string]string `json:"error_samples"`
	ErrTimeline  []int64           `json:"err_timeline"`
	OpsTimeline  []int64           `json:"ops_timeline"`

	CPU       time.Duration `json:"cpu_ns"`     // this process's CPU time while the users ran (processCPU)
	Latency   hist.Hist     `json:"latency"`    // successful operations
	QueueWait hist.Hist     `json:"queue_wait"` // tollgate: time before the call first ran

	// Baseline: database/sql's own waiting.
	WaitCount    int64         `json:"wait_count"`
	WaitDuration time.Duration `json:"wait_duration_ns"`

	// Tollgate: the executor's counters, summed over instances.
	Retried        int64 `json:"retried"`
	Exhaustions    int64 `json:"exhaustions"`
	LimitDecreases int64 `json:"limit_decreases"`
	LimitIncreases int64 `json:"limit_increases"`
	Cleanups       int64 `json:"cleanups"`
	FinalLimits    []int `json:"final_limits"`

	WriteOut writeTally `json:"write_outcomes"`

	// One instance's own series, every bucketWidth from its start (not
	// merged: the parent keeps them per instance, see fleetReport).
	Instance      int           `json:"instance"`
	StartOffset   time.Duration `json:"start_offset_ns"`
	LimitTimeline []int         `json:"limit_timeline,omitempty"`
	ShareTimeline []int         `json:"share_timeline,omitempty"`
	ExhTimeline   []int64       `json:"exhaustions_timeline,omitempty"` // cumulative
	FleetBudget   int           `json:"fleet_budget,omitempty"`         // as the member settled it
	FleetReserve  int           `json:"fleet_reserve,omitempty"`
	perInstance   []instanceRun // the parent's: each child's result, killed ones included
	ConnTimeline  []int         `json:"conn_timeline,omitempty"` // the parent's: most server connections per bucket
	ConnSamples   int           `json:"conn_samples,omitempty"`
	ConnOver      int           `json:"conn_samples_over_budget,omitempty"`

	// Set by the parent, which samples and injects.
	MaxServerConns int      `json:"max_server_conns"`
	Faults         int64    `json:"faults"`
	Terminated     int64    `json:"terminated"`
	FaultLog       []string `json:"fault_log,omitempty"`
}

// writeTally is what became of the writes.
type writeTally struct {
	Acknowledged int64  `json:"acknowledged"` // nil error
	Unknown      int64  `json:"unknown"`      // connection lost or commit unknown: may or may not be in
	Failed       int64  `json:"failed"`       // any other error: known not written
	Missing      int64  `json:"missing"`      // acknowledged but not in the table: must be 0
	Duplicated   int64  `json:"duplicated"`   // keys in the table more than once: must be 0
	UnknownIn    int64  `json:"unknown_in"`   // unknown writes found in the table
	Unexpected   int64  `json:"unexpected"`   // rows of the run whose write failed: must be 0
	Verified     bool   `json:"verified"`     // the table was checked
	VerifyError  string `json:"verify_error,omitempty"`
}

func newRaw(mode string) *rawResult {
	return &rawResult{Mode: mode, Instances: 1, Errors: map[string]int64{}, ErrorSamples: map[string]string{}, MaxServerConns: -1}
}

// merge adds o, measured by another instance over the same period, to r.
func (r *rawResult) merge(o *rawResult) {
	r.Instances += o.Instances
	r.Elapsed = max(r.Elapsed, o.Elapsed)
	r.Ops += o.Ops
	r.OK += o.OK
	r.Reads += o.Reads
	r.Writes += o.Writes
	for k, v := range o.Errors {
		r.Errors[k] += v
	}
	for k, v := range o.ErrorSamples {
		if _, ok := r.ErrorSamples[k]; !ok {
			r.ErrorSamples[k] = v
		}
	}
	r.ErrTimeline = addSeries(r.ErrTimeline, o.ErrTimeline)
	r.OpsTimeline = addSeries(r.OpsTimeline, o.OpsTimeline)
	r.CPU += o.CPU
	r.Latency.Merge(&o.Latency)
	r.QueueWait.Merge(&o.QueueWait)
	r.WaitCount += o.WaitCount
	r.WaitDuration += o.WaitDuration
	r.Retried += o.Retried
	r.Exhaustions += o.Exhaustions
	r.LimitDecreases += o.LimitDecreases
	r.LimitIncreases += o.LimitIncreases
	r.Cleanups += o.Cleanups
	r.FinalLimits = append(r.FinalLimits, o.FinalLimits...)
	w, x := &r.WriteOut, o.WriteOut
	w.Acknowledged += x.Acknowledged
	w.Unknown += x.Unknown
	w.Failed += x.Failed
	w.Missing += x.Missing
	w.Duplicated += x.Duplicated
	w.UnknownIn += x.UnknownIn
	w.Unexpected += x.Unexpected
	w.Verified = w.Verified || x.Verified
	if w.VerifyError == "" {
		w.VerifyError = x.VerifyError
	}
	r.MaxServerConns = max(r.MaxServerConns, o.MaxServerConns)
	r.Faults += o.Faults
	r.Terminated += o.Terminated
	r.FaultLog = append(r.FaultLog, o.FaultLog...)
}

func addSeries(a, b []int64) []int64 {
	if len(b) > len(a) {
		a = append(a, make([]int64, len(b)-len(a))...)
	}
	for i, v := range b {
		a[i] += v
	}
	return a
}

// errorCount is the total of failed operations.
func (r *rawResult) errorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// modeSummary is the figures of one mode, as printed and as JSON.
type modeSummary struct {
	Mode           string            `json:"mode"`
	Instances      int               `json:"instances"`
	Operations     int64             `json:"operations"`
	Succeeded      int64             `json:"succeeded"`
	Errors         int64             `json:"errors"`
	ErrorsByClass  map[string]int64  `json:"errors_by_class"`
	ErrorSamples   map[string]string `json:"error_samples,omitempty"`
	ErrorRatePct   float64           `json:"error_rate_pct"`
	DurationS      float64           `json:"duration_s"`
	ThroughputOpsS float64           `json:"throughput_ops_s"` // successful operations per second
	CPUMicrosPerOp float64           `json:"cpu_us_per_op"`    // the client process's CPU time per operation
	LatencyMS      percentiles       `json:"latency_ms"`
	QueueWaitMS    queueWait         `json:"queue_wait_ms"`
	MaxServerConns int               `json:"max_server_conns"` // -1: not sampled
	Retried        int64             `json:"retried"`
	Exhaustions    int64             `json:"exhaustions"`
	LimitDecreases int64             `json:"limit_decreases"`
	LimitIncreases int64             `json:"limit_increases"`
	Cleanups       int64             `json:"cleanups"`
	FinalLimits    []int             `json:"final_limits,omitempty"`
	Writes         *writeTally       `json:"writes,omitempty"`
	Faults         int64             `json:"faults,omitempty"`
	Terminated     int64             `json:"terminated_backends,omitempty"`
	FaultLog       []string          `json:"fault_log,omitempty"`
	ErrTimeline    []int64           `json:"errors_per_250ms"`
	OpsTimeline    []int64           `json:"ops_per_250ms"`
	ConnTimeline   []int             `json:"server_conns_per_250ms,omitempty"` // most seen per bucket
	Fleet          *fleetSummary     `json:"fleet,omitempty"`
}

type percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type queueWait struct {
	P50    float64 `json:"p50"`
	P99    float64 `json:"p99"`
	Source string  `json:"source"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *rawResult) summary() modeSummary {
	s := modeSummary{
		Mode: r.Mode, Instances: r.Instances, Operations: r.Ops, Succeeded: r.OK,
		Errors: r.errorCount(), ErrorsByClass: maps.Clone(r.Errors), ErrorSamples: maps.Clone(r.ErrorSamples),
		DurationS: r.Elapsed.Seconds(), MaxServerConns: r.MaxServerConns,
		Retried: r.Retried, Exhaustions: r.Exhaustions, LimitDecreases: r.LimitDecreases, LimitIncreases: r.LimitIncreases, Cleanups: r.Cleanups,
		FinalLimits: slices.Clone(r.FinalLimits), Faults: r.Faults, Terminated: r.Terminated, FaultLog: r.FaultLog,
		ErrTimeline: r.ErrTimeline, OpsTimeline: r.OpsTimeline, ConnTimeline: r.ConnTimeline,
	}
	if s.ErrTimeline == nil {
		s.ErrTimeline = []int64{}
	}
	if s.OpsTimeline == nil {
		s.OpsTimeline = []int64{}
	}
	if r.Ops > 0 {
		s.ErrorRatePct = 100 * float64(s.Errors) / float64(r.Ops)
	}
	if r.Ops > 0 {
		s.CPUMicrosPerOp = float64(r.CPU) / float64(time.Microsecond) / float64(r.Ops)
	}
	if r.Elapsed > 0 {
		s.ThroughputOpsS = float64(r.OK) / r.Elapsed.Seconds()
	}
	h := &r.Latency
	s.LatencyMS = percentiles{P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P95: ms(h.Quantile(0.95)),
		P99: ms(h.Quantile(0.99)), Max: ms(h.Max()), Mean: ms(h.Mean())}
	switch {
	case r.Mode == modeTollgate:
		s.QueueWaitMS = queueWait{P50: ms(r.QueueWait.Quantile(0.5)), P99: ms(r.QueueWait.Quantile(0.99)),
			Source: "measured per call: time from Do until the call first ran (matches Stats().Executor.QueueWait)"}
	case r.QueueWait.Count() > 0: // the semaphore mode measures its own wait
		s.QueueWaitMS = queueWait{P50: ms(r.QueueWait.Quantile(0.5)), P99: ms(r.QueueWait.Quantile(0.99)),
			Source: "measured per call: time spent acquiring the semaphore"}
	default:
		avg := 0.0
		if r.WaitCount > 0 {
			avg = ms(r.WaitDuration / time.Duration(r.WaitCount))
		}
		s.QueueWaitMS = queueWait{P50: avg, P99: avg, Source: "sql.DBStats WaitDuration/WaitCount (an average: database/sql has no percentiles)"}
	}
	if r.Writes > 0 {
		w := r.WriteOut
		s.Writes = &w
	}
	return s
}

// ratios compares tollgate with the baseline.
type ratios struct {
	P50           float64 `json:"p50_tollgate_over_baseline"`
	P99           float64 `json:"p99_tollgate_over_baseline"`
	Throughput    float64 `json:"throughput_tollgate_over_baseline"`
	BaselineP99Xs float64 `json:"baseline_p99_times_tollgate"`
}

func ratioOf(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func computeRatios(t, b modeSummary) *ratios {
	return &ratios{
		P50: ratioOf(t.LatencyMS.P50, b.LatencyMS.P50), P99: ratioOf(t.LatencyMS.P99, b.LatencyMS.P99),
		Throughput: ratioOf(t.ThroughputOpsS, b.ThroughputOpsS), BaselineP99Xs: ratioOf(b.LatencyMS.P99, t.LatencyMS.P99),
	}
}

// report is the whole run, the object -json prints.
type report struct {
	RunID      string                 `json:"run_id"`
	Database   string                 `json:"database"`
	Target     string                 `json:"target"`
	Workload   string                 `json:"workload"`
	Users      int                    `json:"users_per_instance"`
	Instances  int                    `json:"instances"`
	Limit      int                    `json:"limit"`
	MaxConc    int                    `json:"max_concurrent"`
	BaselineMO int                    `json:"baseline_max_open"` // 0 = unlimited
	QueryMS    float64                `json:"query_ms"`
	Fault      string                 `json:"fault"`
	Started    time.Time              `json:"started"`
	Modes      map[string]modeSummary `json:"modes"`
	Order      []string               `json:"order"`
	Ratios     *ratios                `json:"ratios,omitempty"`
	Rounds     []roundFigures         `json:"rounds,omitempty"` // -rounds > 1: each round's figures and same-round ratios
}
