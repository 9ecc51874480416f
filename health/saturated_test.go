package health_test

import (
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/pool"
)

// While the pool is saturated no ping runs. The report must then say what
// the last ping found, marked stale, and believe the pool's recent errors:
// a database that is down under traffic keeps the pool saturated with
// calls stuck connecting, and must not be reported healthy.
func TestSaturatedReportUsesEvidence(t *testing.T) {
	down := errors.New("connection refused")
	for _, tc := range []struct {
		name        string
		pingErr     error         // of the one ping made before saturation
		noPing      bool          // no ping before saturation at all
		freshPing   bool          // the ping is still within its TTL
		class       pool.Class    // of the pool's last error; OK: none
		errAge      time.Duration // how long ago it happened
		wantStatus  health.Status
		wantCode    int
		wantHealthy bool
	}{
		{"transient error", nil, false, false, pool.Transient, time.Second, health.StatusUnhealthy, 503, false},
		{"connection lost", nil, false, false, pool.ConnectionLost, time.Second, health.StatusUnhealthy, 503, false},
		{"transient error, no ping ever", nil, true, false, pool.Transient, time.Second, health.StatusUnhealthy, 503, false},
		{"transient error after a fresh ping", nil, false, true, pool.Transient, time.Second, health.StatusUnhealthy, 503, false},
		{"exhausted: server up, out of slots", nil, false, false, pool.Exhausted, time.Second, health.StatusDegraded, 200, true},
		{"exhausted after a failed ping", down, false, false, pool.Exhausted, time.Second, health.StatusDegraded, 200, false},
		{"old transient error", nil, false, false, pool.Transient, 31 * time.Second, health.StatusDegraded, 200, true},
		{"constraint error says nothing of health", nil, false, false, pool.Constraint, time.Second, health.StatusDegraded, 200, true},
		{"no error, stale ok ping", nil, false, false, pool.OK, 0, health.StatusDegraded, 200, true},
		{"no error, stale failed ping", down, false, false, pool.OK, 0, health.StatusUnhealthy, 503, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := newFake()
				src.pingErr = tc.pingErr
				hc := health.New(src, health.Config{TTL: 30 * time.Second, FailureTTL: 5 * time.Second})
				defer hc.Close()
				var pingedAt time.Time
				if !tc.noPing {
					pingedAt = time.Now()
					hc.Check(t.Context())
				}
				if tc.freshPing {
					time.Sleep(10 * time.Second)
				} else {
					time.Sleep(40 * time.Second) // past both TTLs
				}
				src.set(func(s *pool.Stats) {
					s.Executor.InFlight = s.Executor.Limit // every slot stuck
					s.Executor.QueueLength = 50
					if tc.class != pool.OK {
						s.LastError = pool.ErrorInfo{Class: tc.class, Message: "dial tcp 10.0.0.1:5432: connect: connection refused", At: time.Now().Add(-tc.errAge)}
					}
				})
				pings := src.pings.Load()
				rec := get(t, hc.Handler(), "/api/health/database")
				r := decodeReport(t, rec)
				if rec.Code != tc.wantCode || r.Status != tc.wantStatus || r.Database.Healthy != tc.wantHealthy {
					t.Fatalf("%d %q healthy=%v; want %d %q healthy=%v; report %s", rec.Code, r.Status, r.Database.Healthy, tc.wantCode, tc.wantStatus, tc.wantHealthy, rec.Body)
				}
				if src.pings.Load() != pings {
					t.Fatal("a saturated pool was pinged")
				}
				switch {
				case tc.noPing:
					if r.CheckedAt != nil || r.PingStale {
						t.Fatalf("no ping was ever made, yet checkedAt %v, pingStale %v", r.CheckedAt, r.PingStale)
					}
				case r.CheckedAt == nil || !r.CheckedAt.Equal(pingedAt) || r.PingStale == tc.freshPing || !r.Cached:
					t.Fatalf("checkedAt %v (want %v), pingStale %v (want %v), cached %v", r.CheckedAt, pingedAt, r.PingStale, !tc.freshPing, r.Cached)
				}
				if !tc.wantHealthy && r.Database.Error == "" {
					t.Fatal("unhealthy database without an error")
				}
				ready := get(t, hc.ReadinessHandler(), "/readyz")
				if ready.Code != tc.wantCode {
					t.Fatalf("/readyz: %d %s, want %d", ready.Code, ready.Body, tc.wantCode)
				}
			})
		})
	}
}

// The report of a saturated pool changes as its evidence does: once the
// errors stop being recent it is degraded again, and once the pool has
// room the next check pings.
func TestSaturatedRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake()
		hc := health.New(src, health.Config{})
		defer hc.Close()
		hc.Check(t.Context())
		time.Sleep(31 * time.Second)
		src.set(func(s *pool.Stats) {
			s.Executor.InFlight = s.Executor.Limit
			s.LastError = pool.ErrorInfo{Class: pool.Transient, Message: "connection refused", At: time.Now()}
		})
		if r := hc.Check(t.Context()); r.Status != health.StatusUnhealthy {
			t.Fatalf("down under traffic: %q", r.Status)
		}
		time.Sleep(31 * time.Second) // the error is no longer recent
		if r := hc.Check(t.Context()); r.Status != health.StatusDegraded || !r.PingStale {
			t.Fatalf("old error: %q, stale %v", r.Status, r.PingStale)
		}
		src.set(func(s *pool.Stats) { s.Executor.InFlight = 0 })
		if r := hc.Check(t.Context()); r.Status != health.StatusHealthy || r.PingStale || r.Cached || src.pings.Load() != 2 {
			t.Fatalf("room again: %q, stale %v, cached %v, pings %d", r.Status, r.PingStale, r.Cached, src.pings.Load())
		}
		if code := get(t, hc.Handler(), "/").Code; code != http.StatusOK {
			t.Fatalf("code %d", code)
		}
	})
}
