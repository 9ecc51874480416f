package health_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/pool"
)

func codes(ws []health.Warning) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.Code)
	}
	return out
}

// Each threshold, at and just short of its default, on a fake source.
func TestWarningThresholds(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  health.Config
		set  func(*pool.Stats)
		want []string
	}{
		{"idle", health.Config{}, func(*pool.Stats) {}, []string{}},
		{"4 of 5 connections", health.Config{}, func(s *pool.Stats) {
			s.DB = sqlStats(5, 4, 1)
			s.Utilization = 80
		}, []string{health.WarnPoolUtilization}},
		{"3 of 5 connections", health.Config{}, func(s *pool.Stats) {
			s.DB = sqlStats(5, 3, 1)
			s.Utilization = 60
		}, []string{}},
		{"4 of 5 slots", health.Config{}, func(s *pool.Stats) {
			s.Executor.Limit, s.Executor.MaxConcurrent, s.Executor.InFlight = 5, 5, 4
		}, []string{health.WarnExecutorUtilization}},
		{"3 of 5 slots", health.Config{}, func(s *pool.Stats) {
			s.Executor.Limit, s.Executor.MaxConcurrent, s.Executor.InFlight = 5, 5, 3
		}, []string{}},
		{"utilization warnings off", health.Config{UtilizationWarn: -1}, func(s *pool.Stats) {
			s.DB, s.Utilization = sqlStats(5, 5, 0), 100
			s.Executor.InFlight = s.Executor.Limit
		}, []string{}},
		{"lower utilization threshold", health.Config{UtilizationWarn: 50}, func(s *pool.Stats) {
			s.DB, s.Utilization = sqlStats(5, 3, 0), 60
		}, []string{health.WarnPoolUtilization}},
		{"3 queued", health.Config{}, func(s *pool.Stats) {
			s.Executor.InFlight, s.Executor.QueueLength = 1, 3
		}, []string{health.WarnQueueLength}},
		{"2 queued", health.Config{}, func(s *pool.Stats) {
			s.Executor.InFlight, s.Executor.QueueLength = 1, 2
		}, []string{}},
		{"queue warning off", health.Config{QueueLengthWarn: -1}, func(s *pool.Stats) {
			s.Executor.InFlight, s.Executor.QueueLength = 1, 500
		}, []string{}},
		{"limit below ceiling", health.Config{}, func(s *pool.Stats) {
			s.Executor.Limit, s.Executor.Exhaustions = 1, 4
		}, []string{health.WarnLimitReduced}},
		{"limit at a lowered ceiling", health.Config{}, func(s *pool.Stats) {
			s.Executor.Limit, s.Executor.Ceiling = 2, 2 // the fleet's share
		}, []string{}},
		{"limit below a lowered ceiling", health.Config{}, func(s *pool.Stats) {
			s.Executor.Limit, s.Executor.Ceiling = 1, 2
		}, []string{health.WarnLimitReduced}},
		{"saturated", health.Config{}, func(s *pool.Stats) {
			s.DB, s.Utilization = sqlStats(5, 3, 0), 60
			s.Executor.InFlight, s.Executor.QueueLength = 3, 40
		}, []string{health.WarnExecutorUtilization, health.WarnQueueLength}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newFake()
			src.set(tc.set)
			hc := health.New(src, tc.cfg)
			defer hc.Close()
			r := hc.Check(t.Context())
			if got := codes(r.Warnings); !slices.Equal(got, tc.want) {
				t.Fatalf("warnings %v, want %v: %+v", got, tc.want, r.Warnings)
			}
			for _, w := range r.Warnings {
				if w.Message == "" || w.Threshold == 0 && w.Code != health.WarnQueueLength {
					t.Fatalf("warning without its sentence or threshold: %+v", w)
				}
			}
			// A warning does not change the status.
			sat := r.ConnectionManager.Healthy
			if want := map[bool]health.Status{true: health.StatusHealthy, false: health.StatusDegraded}[sat]; r.Status != want {
				t.Fatalf("status %q, want %q", r.Status, want)
			}
			if code := get(t, hc.Handler(), "/").Code; code != 200 {
				t.Fatalf("code %d with warnings %v", code, codes(r.Warnings))
			}
		})
	}
}

// The JSON always holds the list, empty when nothing is wrong, so that a
// consumer can iterate it without a null check.
func TestWarningsJSON(t *testing.T) {
	hc := health.New(newFake(), health.Config{})
	defer hc.Close()
	body := get(t, hc.Handler(), "/").Body.String()
	if !strings.Contains(body, `"warnings":[]`) {
		t.Fatalf("no empty warnings list in %s", body)
	}
	src := newFake()
	src.set(func(s *pool.Stats) { s.Executor.InFlight, s.Executor.QueueLength = 1, 7 })
	hc2 := health.New(src, health.Config{})
	defer hc2.Close()
	var r struct {
		Warnings []map[string]any `json:"warnings"`
	}
	if err := json.Unmarshal(get(t, hc2.Handler(), "/").Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"code": "queue_length_high", "value": 7.0, "threshold": 2.0}
	if len(r.Warnings) != 1 {
		t.Fatalf("warnings %v", r.Warnings)
	}
	for k, v := range want {
		if r.Warnings[0][k] != v {
			t.Fatalf("%s = %v, want %v in %v", k, r.Warnings[0][k], v, r.Warnings[0])
		}
	}
}

// The error rate is measured over the memo window: failures long past do
// not count, and a window with too few calls is not judged.
func TestWarningErrorRateWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake()
		hc := health.New(src, health.Config{TTL: 30 * time.Second})
		defer hc.Close()
		calls := func(ok, failed int64) {
			src.set(func(s *pool.Stats) {
				s.Executor.Processed += ok
				s.Executor.Failed += failed
				s.DatabaseFailures += failed
			})
		}
		rate := func() (float64, bool) {
			for _, w := range hc.Check(t.Context()).Warnings {
				if w.Code == health.WarnErrorRate {
					return w.Value, true
				}
			}
			return 0, false
		}

		calls(95, 5) // 5 %
		if v, ok := rate(); !ok || v != 5 {
			t.Fatalf("5 of 100 failed: warning %v, value %v", ok, v)
		}
		calls(991, 9) // 14 of 1100 since the start: 1.27 %
		if v, ok := rate(); !ok || v < 1.27 || v > 1.28 {
			t.Fatalf("14 of 1100: warning %v, value %v", ok, v)
		}
		time.Sleep(31 * time.Second)
		calls(990, 9) // the window now holds only these: 0.9 %
		if v, ok := rate(); ok {
			t.Fatalf("9 of 999 within the window: warned at %v", v)
		}
		time.Sleep(31 * time.Second)
		calls(9, 1) // 10 % of too few calls
		if v, ok := rate(); ok {
			t.Fatalf("1 of 10 calls: warned at %v", v)
		}
		calls(10, 0) // 1 of 20: judged now
		if v, ok := rate(); !ok || v != 5 {
			t.Fatalf("1 of 20: warning %v, value %v", ok, v)
		}
		for range 20 { // frequent checks keep the window at about TTL
			time.Sleep(3 * time.Second)
			calls(100, 0)
			hc.Check(t.Context())
		}
		if v, ok := rate(); ok {
			t.Fatalf("no failure for 60 s: warned at %v", v)
		}
	})
}
