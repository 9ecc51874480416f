package pool_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in        string
		conn      string // the string pgx is given
		limit     int
		poolTO    time.Duration
		connTO    time.Duration
		pgbouncer bool
		cache     int
	}{
		{
			in:   "postgres://u:pw@db.example.com:6543/app?pgbouncer=true&connection_limit=5&pool_timeout=10&sslmode=require",
			conn: "postgres://u:pw@db.example.com:6543/app?sslmode=require", limit: 5, poolTO: 10 * time.Second, pgbouncer: true, cache: -1,
		},
		{
			in:   "postgresql://u@localhost/app?connect_timeout=3&statement_cache_size=0",
			conn: "postgresql://u@localhost/app?connect_timeout=3", connTO: 3 * time.Second, cache: 0,
		},
		{
			in:   "postgres://u@localhost/app?schema=tenant1",
			conn: "postgres://u@localhost/app?search_path=tenant1", cache: -1,
		},
		{
			in:   "host=localhost user=u password='p w' dbname=app connection_limit=7 pgbouncer=1",
			conn: "host=localhost user=u password='p w' dbname=app", limit: 7, pgbouncer: true, cache: -1,
		},
		{
			in:   "postgres://u@localhost/app?pool_timeout=2.5",
			conn: "postgres://u@localhost/app", poolTO: 2500 * time.Millisecond, cache: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := pool.ParseURL(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if s.ConnString != tt.conn || s.ConnectionLimit != tt.limit || s.PoolTimeout != tt.poolTO ||
				s.ConnectTimeout != tt.connTO || s.PgBouncer != tt.pgbouncer || s.StatementCacheSize != tt.cache {
				t.Fatalf("ParseURL = %+v", s)
			}
			if strings.Contains(s.Redacted, "pw") || strings.Contains(s.Redacted, "p w") {
				t.Fatalf("Redacted keeps the password: %s", s.Redacted)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	const pw = "Sup3rS3cret"
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"mysql://u:" + pw + "@h/db", "scheme"},
		{"postgres://u:" + pw + "@h/db?connection_limit=0", "connection_limit must be a positive integer"},
		{"postgres://u:" + pw + "@h/db?connection_limit=ten", "connection_limit"},
		{"postgres://u:" + pw + "@h/db?pool_timeout=-1", "pool_timeout"},
		{"postgres://u:" + pw + "@h/db?pgbouncer=maybe", "pgbouncer must be true or false"},
		{"postgres://u:" + pw + "@h/db?statement_cache_size=-4", "statement_cache_size"},
		{"postgres://u:" + pw + "@h:port/db", "invalid port"},
		{"postgres://u:" + pw + "@h/db?a=%zz", "query string"},
		{"host=h password='" + pw, "unterminated quote"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := pool.ParseURL(tt.in)
			if !errors.Is(err, pool.ErrInvalidURL) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidURL mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

// FuzzParseURL: whatever surrounds it, a password never appears in an
// error, in Redacted, or in Scrub's output; the Prisma keys never reach
// the driver.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"h:5432/db?connection_limit=5", "h/db?pgbouncer=true&pool_timeout=3", ":99/x", "[::1]:5432/db",
		"h/db?connection_limit=%zz", "h/db?sslmode=disable&statement_cache_size=0", "@@@/", "h/db#frag",
	} {
		f.Add(s)
	}
	const pw = "Qx7PASSWORDzz9"
	f.Fuzz(func(t *testing.T, rest string) {
		for _, raw := range []string{
			"postgres://user:" + pw + "@" + rest,
			"postgres://user:" + url.QueryEscape(pw) + "@" + rest,
			"host=h password=" + pw + " " + rest,
		} {
			s, err := pool.ParseURL(raw)
			if err != nil {
				if strings.Contains(err.Error(), pw) {
					t.Fatalf("error leaks the password: %v", err)
				}
				if !errors.Is(err, pool.ErrInvalidURL) {
					t.Fatalf("error is not ErrInvalidURL: %v", err)
				}
				continue
			}
			if strings.Contains(s.Redacted, pw) {
				t.Fatalf("Redacted leaks the password: %s", s.Redacted)
			}
			if strings.Contains(s.Scrub("failed: "+raw+" / "+s.ConnString), pw) {
				t.Fatalf("Scrub leaves the password")
			}
			if q, err := url.Parse(s.ConnString); err == nil && strings.HasPrefix(raw, "postgres://") {
				for _, k := range []string{"connection_limit", "pool_timeout", "pgbouncer", "statement_cache_size"} {
					if q.Query().Has(k) {
						t.Fatalf("%s reaches the driver: %s", k, s.Redacted)
					}
				}
			}
		}
	})
}
