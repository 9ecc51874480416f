package pool_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
	"gorm.io/gorm"
)

func TestProfileFromEnv(t *testing.T) {
	tests := []struct {
		appEnv, goEnv string
		want          pool.Profile
		wantErr       bool
	}{
		{"", "", pool.Development, false},
		{"production", "", pool.Production, false},
		{"", "production", pool.Production, false},
		{"prod", "development", pool.Production, false}, // APP_ENV wins
		{"serverless", "", pool.Serverless, false},
		{"test", "", pool.Development, false},
		{"staging", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.appEnv+"/"+tt.goEnv, func(t *testing.T) {
			t.Setenv("APP_ENV", tt.appEnv)
			t.Setenv("GO_ENV", tt.goEnv)
			got, err := pool.ProfileFromEnv()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ProfileFromEnv() = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func openSQLite(t *testing.T, cfg pool.Config) (*pool.Pool, error) {
	t.Helper()
	cfg.Dialector = sqlite.Open("file:" + t.TempDir() + "/db.sqlite")
	p, err := pool.Open(context.Background(), cfg)
	if err == nil {
		t.Cleanup(func() { p.Close(context.Background()) })
	}
	return p, err
}

func TestProfileDefaults(t *testing.T) {
	tests := []struct {
		profile                  pool.Profile
		maxOpen, maxConc, maxQue int
		queueTimeout, opTimeout  time.Duration
	}{
		{pool.Production, 5, 3, 10000, 10 * time.Second, 6 * time.Second},
		{pool.Development, 10, 5, 10000, 30 * time.Second, 30 * time.Second}, // relaxed for debugging
		{pool.Serverless, 2, 1, 10000, 10 * time.Second, 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(string(tt.profile), func(t *testing.T) {
			p, err := openSQLite(t, pool.Config{Profile: tt.profile})
			if err != nil {
				t.Fatal(err)
			}
			c := p.Config()
			if c.MaxOpenConns != tt.maxOpen || c.MaxConcurrent != tt.maxConc || c.MaxQueue != tt.maxQue ||
				c.QueueTimeout != tt.queueTimeout || c.OpTimeout != tt.opTimeout || c.TxTimeout != 2*tt.opTimeout || c.Retry.Attempts != 3 {
				t.Fatalf("config = %+v", c)
			}
			if s := p.Stats(); s.DB.MaxOpenConnections != tt.maxOpen || s.Executor.Limit != tt.maxConc {
				t.Fatalf("stats do not reflect the profile: %+v", s)
			}
		})
	}
}

// The URL's pool_timeout and the Config's own fields win over
// Development's relaxed timeouts, on a real PostgreSQL URL.
func TestDevelopmentTimeoutsGiveWay(t *testing.T) {
	u := testdb.Postgres(t)
	for _, tc := range []struct {
		name      string
		url       string
		cfg       pool.Config
		queue, op time.Duration
	}{
		{"profile", u, pool.Config{}, 30 * time.Second, 30 * time.Second},
		{"pool_timeout", u + "&pool_timeout=3", pool.Config{}, 3 * time.Second, 30 * time.Second},
		{"config", u + "&pool_timeout=3", pool.Config{QueueTimeout: time.Second, OpTimeout: 2 * time.Second}, time.Second, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DatabaseURL, tc.cfg.Profile = tc.url, pool.Development
			p, err := pool.Open(t.Context(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			if c := p.Config(); c.QueueTimeout != tc.queue || c.OpTimeout != tc.op {
				t.Fatalf("QueueTimeout %v, OpTimeout %v; want %v, %v", c.QueueTimeout, c.OpTimeout, tc.queue, tc.op)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  pool.Config
		want string
	}{
		{"negative open", pool.Config{MaxOpenConns: -1}, "MaxOpenConns must not be negative"},
		{"negative concurrent", pool.Config{MaxConcurrent: -3}, "MaxConcurrent must not be negative"},
		{"negative queue", pool.Config{MaxQueue: -1}, "MaxQueue must not be negative"},
		{"negative timeout", pool.Config{QueueTimeout: -1}, "QueueTimeout must not be negative"},
		{"concurrent above open", pool.Config{MaxOpenConns: 2, MaxConcurrent: 3}, "MaxConcurrent (3) must not exceed MaxOpenConns (2)"},
		{"unknown profile", pool.Config{Profile: "staging"}, `unknown profile "staging"`},
		{"budget", pool.Config{Retry: pool.RetryConfig{Budget: 1.5}}, "Retry.Budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openSQLite(t, tt.cfg)
			if !errors.Is(err, pool.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func TestOpenBadURL(t *testing.T) {
	const pw = "hunter2secret"
	for _, u := range []string{
		"",
		"mysql://root:" + pw + "@localhost/db",
		"postgres://u:" + pw + "@localhost:5432/db?connection_limit=-2",
		"postgres://u:" + pw + "@localhost:5432/db?pool_timeout=soon",
		"postgres://u:" + pw + "@:99999999/db",
	} {
		_, err := pool.Open(context.Background(), pool.Config{DatabaseURL: u})
		if !errors.Is(err, pool.ErrInvalidURL) {
			t.Errorf("Open(%q): err = %v, want ErrInvalidURL", u, err)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

// A query that finds no row is an answer, not a failure of the database:
// it counts as processed and is not the pool's last error.
func TestNotFoundIsNotAFailure(t *testing.T) {
	p, err := openSQLite(t, pool.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		var n int
		return db.Raw("select 1 where 1 = 0").First(&n).Error
	})
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Fatalf("err = %v, want ErrRecordNotFound passed through", err)
	}
	s := p.Stats()
	if s.Executor.Failed != 0 || s.LastError.Class != pool.OK {
		t.Fatalf("stats = %+v, last error %+v: not-found counted as a failure", s.Executor, s.LastError)
	}
}
