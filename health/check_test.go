package health_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/pool"
)

func sqlStats(max, inUse, idle int) sql.DBStats {
	return sql.DBStats{MaxOpenConnections: max, OpenConnections: inUse + idle, InUse: inUse, Idle: idle}
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func decodeReport(t *testing.T, rec *httptest.ResponseRecorder) health.Report {
	t.Helper()
	var r health.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return r
}

func TestThousandGETsOnePingPerTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake()
		hc := health.New(src, health.Config{TTL: 30 * time.Second})
		defer hc.Close()
		h := hc.Handler()

		wave := func() (codes map[int]int) {
			release := make(chan struct{})
			src.mu.Lock()
			src.block = release
			src.mu.Unlock()
			var mu sync.Mutex
			codes = map[int]int{}
			var wg sync.WaitGroup
			for range 1000 {
				wg.Go(func() {
					rec := get(t, h, "/api/health/database")
					mu.Lock()
					codes[rec.Code]++
					mu.Unlock()
				})
			}
			synctest.Wait() // all 1000 requests are in flight, waiting for at most one ping
			close(release)
			wg.Wait()
			return codes
		}

		if codes := wave(); codes[200] != 1000 {
			t.Fatalf("first wave: codes %v, want 1000 × 200", codes)
		}
		if n := src.pings.Load(); n != 1 {
			t.Fatalf("first wave cost %d pings, want 1", n)
		}
		time.Sleep(10 * time.Second) // fake time, within the TTL
		if r := decodeReport(t, get(t, h, "/")); !r.Cached || src.pings.Load() != 1 {
			t.Fatalf("within the TTL: cached=%v, pings=%d; want true, 1", r.Cached, src.pings.Load())
		}
		time.Sleep(21 * time.Second) // past the TTL
		if codes := wave(); codes[200] != 1000 {
			t.Fatalf("second wave: codes %v, want 1000 × 200", codes)
		}
		if n := src.pings.Load(); n != 2 {
			t.Fatalf("after the second wave: %d pings, want 2", n)
		}
	})
}

func TestCheckStatus(t *testing.T) {
	boom := errors.New("connection refused")
	for _, tc := range []struct {
		name      string
		stats     func(*pool.Stats)
		pingErr   error
		want      health.Status
		wantCode  int
		wantPings int64
	}{
		{"healthy", nil, nil, health.StatusHealthy, 200, 1},
		{"ping fails", nil, boom, health.StatusUnhealthy, 503, 1},
		{"slots full", func(s *pool.Stats) { s.Executor.InFlight = 3 }, nil, health.StatusDegraded, 200, 0},
		{"queue", func(s *pool.Stats) { s.Executor.QueueLength = 4 }, nil, health.StatusDegraded, 200, 0},
		{"connections all in use", func(s *pool.Stats) { s.DB = sqlStats(5, 5, 0) }, nil, health.StatusDegraded, 200, 0},
		{"closed", func(s *pool.Stats) { s.Executor.Closed = true }, nil, health.StatusUnhealthy, 503, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newFake()
			src.pingErr = tc.pingErr
			if tc.stats != nil {
				src.set(tc.stats)
			}
			hc := health.New(src, health.Config{})
			defer hc.Close()
			rec := get(t, hc.Handler(), "/")
			r := decodeReport(t, rec)
			if rec.Code != tc.wantCode || r.Status != tc.want || src.pings.Load() != tc.wantPings {
				t.Fatalf("code %d, status %q, pings %d; want %d, %q, %d", rec.Code, r.Status, src.pings.Load(), tc.wantCode, tc.want, tc.wantPings)
			}
			if tc.pingErr != nil && (r.Database.Healthy || r.Database.Error == "") {
				t.Fatalf("failed ping reported as %+v", r.Database)
			}
		})
	}
}

func TestFailedPingMemoizedForFailureTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake()
		src.pingErr = errors.New("down")
		hc := health.New(src, health.Config{FailureTTL: 5 * time.Second})
		defer hc.Close()
		for _, step := range []struct {
			sleep     time.Duration
			wantPings int64
		}{{0, 1}, {4 * time.Second, 1}, {2 * time.Second, 2}} {
			time.Sleep(step.sleep)
			if r := hc.Check(t.Context()); r.Status != health.StatusUnhealthy || src.pings.Load() != step.wantPings {
				t.Fatalf("after %v: %q, %d pings; want unhealthy, %d", step.sleep, r.Status, src.pings.Load(), step.wantPings)
			}
		}
	})
}

func TestPingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake()
		src.block = make(chan struct{}) // never released: the ping hangs
		hc := health.New(src, health.Config{PingTimeout: time.Second})
		defer hc.Close()
		start := time.Now()
		r := hc.Check(t.Context())
		if r.Status != health.StatusUnhealthy || time.Since(start) != time.Second {
			t.Fatalf("status %q after %v; want unhealthy after 1s", r.Status, time.Since(start))
		}
	})
}

// Kubernetes' default probe timeout is 1 s: with the zero Config a hung
// ping must be given up within it.
func TestDefaultPingTimeoutFitsKubernetesProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake()
		src.block = make(chan struct{}) // never released: the ping hangs
		hc := health.New(src, health.Config{})
		defer hc.Close()
		start := time.Now()
		r := hc.Check(t.Context())
		if r.Status != health.StatusUnhealthy || time.Since(start) > time.Second {
			t.Fatalf("status %q after %v; want unhealthy within 1s", r.Status, time.Since(start))
		}
	})
}

// Every executor slot of a real pool is held: the check must not wait for
// one, and must not ping.
func TestSaturatedRealPoolAnswersDegradedFast(t *testing.T) {
	p := openSQLite(t, pool.Config{MaxOpenConns: 4, MaxConcurrent: 4})
	src := &pingCounter{Pool: p}
	hc := health.New(src, health.Config{})
	defer hc.Close()
	holdSlots(t, p, p.Stats().Executor.Limit)

	start := time.Now()
	rec := get(t, hc.Handler(), "/api/health/database")
	elapsed := time.Since(start)
	r := decodeReport(t, rec)
	if elapsed > time.Second || rec.Code != 200 || r.Status != health.StatusDegraded {
		t.Fatalf("answered %d %q in %v; want 200 degraded within 1s", rec.Code, r.Status, elapsed)
	}
	if src.pings.Load() != 0 || r.ConnectionManager.Healthy || r.ConnectionManager.InFlight != 4 || r.Database.ConnectionPool.Active != 4 {
		t.Fatalf("pings %d, report %+v", src.pings.Load(), r)
	}
}

func TestRealPoolHealthy(t *testing.T) {
	p := openSQLite(t, pool.Config{})
	src := &pingCounter{Pool: p}
	hc := health.New(src, health.Config{})
	defer hc.Close()
	r := hc.Check(t.Context())
	if r.Status != health.StatusHealthy || !r.Database.Healthy || r.CheckedAt == nil || src.pings.Load() != 1 {
		t.Fatalf("report %+v, pings %d", r, src.pings.Load())
	}
}

func TestReportJSONKeepsSeedShape(t *testing.T) {
	for _, tc := range []struct {
		name, env, envValue string
		wantServerless      bool
	}{
		{"plain", "", "", false},
		{"lambda", "AWS_LAMBDA_FUNCTION_NAME", "fn", true},
		{"vercel", "VERCEL", "1", true},
		{"cloud run", "K_SERVICE", "svc", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "VERCEL", "K_SERVICE", "FUNCTIONS_WORKER_RUNTIME", "NETLIFY", "APP_ENV", "GO_ENV"} {
				t.Setenv(k, "")
			}
			if tc.env != "" {
				t.Setenv(tc.env, tc.envValue)
			}
			hc := health.New(newFake(), health.Config{})
			defer hc.Close()
			var m map[string]any
			if err := json.Unmarshal(get(t, hc.Handler(), "/").Body.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			db, _ := m["database"].(map[string]any)
			cp, _ := db["connectionPool"].(map[string]any)
			cm, _ := m["connectionManager"].(map[string]any)
			for _, f := range []struct {
				obj map[string]any
				key string
			}{{db, "healthy"}, {cp, "active"}, {cp, "max"}, {cp, "utilization"}, {cm, "healthy"}, {cm, "queueLength"},
				{cm, "isProcessingQueue"}, {m, "timestamp"}, {m, "environment"}, {m, "serverless"}, {m, "status"},
				{m, "pingLatencyMs"}, {m, "checkedAt"}, {m, "cached"}, {m, "waits"}, {m, "warnings"}} {
				if _, ok := f.obj[f.key]; !ok {
					t.Errorf("key %q missing from %v", f.key, m)
				}
			}
			if _, err := time.Parse(time.RFC3339, m["timestamp"].(string)); err != nil {
				t.Errorf("timestamp: %v", err)
			}
			if m["serverless"] != tc.wantServerless || m["environment"] != "production" {
				t.Errorf("serverless %v, environment %v; want %v, production", m["serverless"], m["environment"], tc.wantServerless)
			}
		})
	}
}

func TestLivenessNeverTouchesTheDatabase(t *testing.T) {
	src := newFake()
	src.pingErr = errors.New("down")
	hc := health.New(src, health.Config{})
	defer hc.Close()
	if rec := get(t, hc.LivenessHandler(), "/livez"); rec.Code != 200 || src.pings.Load() != 0 {
		t.Fatalf("liveness: %d, %d pings", rec.Code, src.pings.Load())
	}
	rec := get(t, hc.ReadinessHandler(), "/readyz")
	if rec.Code != 503 || rec.Body.String() != `{"status":"unhealthy"}`+"\n" {
		t.Fatalf("readiness: %d %q", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	hc.LivenessHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/livez", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /livez: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}
