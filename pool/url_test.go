package pool_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/internal/redact"
	"github.com/tollgate-db/tollgate/pool"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in                string
		limit             int
		poolTO, connTO    time.Duration
		sockTO            time.Duration
		pgbouncer         bool
		cache             int
		searchPath, appNm string
	}{
		{in: "postgres://u:pw@db.example.com:6543/app?pgbouncer=true&connection_limit=5&pool_timeout=10&sslmode=require",
			limit: 5, poolTO: 10 * time.Second, pgbouncer: true, cache: -1},
		{in: "postgresql://u@localhost/app?connect_timeout=3&statement_cache_size=0", connTO: 3 * time.Second, cache: 0},
		{in: "postgres://u@localhost/app?schema=tenant1", cache: -1, searchPath: `"tenant1"`},
		{in: `postgres://u@localhost/app?schema=My"Schema`, cache: -1, searchPath: `"My""Schema"`},
		{in: "host=localhost user=u password='p w' dbname=app connection_limit=7 pgbouncer=1", limit: 7, pgbouncer: true, cache: -1},
		{in: "postgres://u@localhost/app?pool_timeout=0", poolTO: pool.NoQueueTimeout, cache: -1},
		{in: "postgres://u@localhost/app?socket_timeout=30&application_name=api", sockTO: 30 * time.Second, cache: -1, appNm: "api"},
		{in: "postgres://u@localhost/app?sslaccept=accept_invalid_certs&sslmode=require", cache: -1},
		{in: "postgres://u@localhost/app?connect_timeout=0", cache: -1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := pool.ParseURL(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if s.ConnectionLimit != tt.limit || s.PoolTimeout != tt.poolTO || s.ConnectTimeout != tt.connTO ||
				s.SocketTimeout != tt.sockTO || s.PgBouncer != tt.pgbouncer || s.StatementCacheSize != tt.cache ||
				s.ApplicationName != tt.appNm {
				t.Fatalf("ParseURL = %+v %+v", s, []any{s.ConnectionLimit, s.PoolTimeout, s.ConnectTimeout, s.SocketTimeout, s.PgBouncer, s.StatementCacheSize})
			}
			cc := s.ConnConfig()
			for _, k := range []string{"connection_limit", "pool_timeout", "pgbouncer", "socket_timeout", "statement_cache_size", "schema", "sslidentity", "sslaccept"} {
				if _, ok := cc.RuntimeParams[k]; ok {
					t.Errorf("%s reaches the server as a startup parameter", k)
				}
			}
			if got := cc.RuntimeParams["search_path"]; got != tt.searchPath {
				t.Errorf("search_path = %q, want %q", got, tt.searchPath)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	const pw = "Sup3rS3cret"
	tests := []struct{ in, param, want string }{
		{"", "", "empty"},
		{"mysql://u:" + pw + "@h/db", "scheme", "must be postgres://"},
		{"POSTGRES://u:" + pw + "@h/db", "scheme", "lower case"},
		{"postgres://u:" + pw + "@h/db?connection_limit=0", "connection_limit", "whole number from 1 to 100000"},
		{"postgres://u:" + pw + "@h/db?connection_limit=ten", "connection_limit", `got "ten"`},
		{"postgres://u:" + pw + "@h/db?pool_timeout=-1", "pool_timeout", "whole number from 0 to 86400"},
		{"postgres://u:" + pw + "@h/db?pool_timeout=NaN", "pool_timeout", "whole number"},
		{"postgres://u:" + pw + "@h/db?pool_timeout=0x1p4", "pool_timeout", "read an integer"},
		{"postgres://u:" + pw + "@h/db?pool_timeout=2.5", "pool_timeout", "read an integer"},
		{"postgres://u:" + pw + "@h/db?pool_timeout=Inf", "pool_timeout", "whole number"},
		{"postgres://u:" + pw + "@h/db?connect_timeout=1.5", "connect_timeout", "whole number of seconds"},
		{"postgres://u:" + pw + "@h/db?connect_timeout=36028797018963968", "connect_timeout", "from 0 to 86400"},
		{"postgres://u:" + pw + "@h/db?socket_timeout=0", "socket_timeout", "from 1 to 86400"},
		{"postgres://u:" + pw + "@h/db?pgbouncer=maybe", "pgbouncer", "true or false"},
		{"postgres://u:" + pw + "@h/db?statement_cache_size=-4", "statement_cache_size", "whole number"},
		{"postgres://u:" + pw + "@h/db?sslidentity=id.p12&sslpassword=" + pw, "sslidentity", "PKCS#12"},
		{"postgres://u:" + pw + "@h/db?sslaccept=strict&sslmode=require", "sslaccept", "verify-full"},
		{"postgres://u:" + pw + "@h/db?sslaccept=accept_invalid_certs&sslmode=verify-full", "sslaccept", "contradicts"},
		{"postgres://u:" + pw + "@h/db?sslaccept=maybe&sslmode=disable", "sslaccept", "strict or accept_invalid_certs"},
		{"postgres://u:" + pw + "@h/db?sslmode=require&sslcert=/nonexistent/ca.pem", "sslcert", "sslrootcert"},
		{"postgres://u:" + pw + "@h/db?schema=a&search_path=b", "schema", "keep one"},
		{"postgres://u:" + pw + "@h:port/db", "port", "percent-encoded"},
		{"postgres://u:2024/" + pw + "@h/db", "userinfo", "%2F"},
		{"postgres://u:" + pw + "@h/db?a=%zz", "", "two hex digits"},
		{"postgres://h/db?password=" + pw + "%zz", "", "password has a '%'"},
		{"postgres://h/db?password=" + pw + ";XYZ&x", "", `has no "="`},
		{"postgres://h/db?PASSWORD=" + pw, "PASSWORD", "write password"},
		{"host=h PASSWORD=" + pw, "PASSWORD", "lower case"},
		{"host=h Password=" + pw, "Password", "lower case"},
		{"host=h SSLMODE=disable", "SSLMODE", "write sslmode"},
		{"host=h password='" + pw, "", "no closing quote"},
		{"host=h password " + pw, "", "expected key=value"},
		{"host=h pass word=" + pw, "", `not followed by "="`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := pool.ParseURL(tt.in)
			var ue *pool.URLError
			if !errors.Is(err, pool.ErrInvalidURL) || !errors.As(err, &ue) || ue.Param != tt.param || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a URLError on %q mentioning %q", err, tt.param, tt.want)
			}
			if strings.Contains(err.Error(), pw[:6]) {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

// Printing or logging URLSettings, a Config or a struct holding them shows
// only the redacted URL.
func TestSettingsPrintRedacted(t *testing.T) {
	const pw = "Qx7PASSWORDzz9"
	raw := "postgres://u:" + pw + "@h/db?sslpassword=" + pw + "k&connection_limit=3"
	s, err := pool.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg := pool.Config{DatabaseURL: raw}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Debug("settings", "url", s, "cfg", cfg)
	log.Debug("settings", "ptr", &s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("settings", "url", s, "cfg", cfg)
	holder := struct {
		S pool.URLSettings
		s pool.URLSettings
		C pool.Config
	}{s, s, cfg}
	out := buf.String() + fmt.Sprint(s, &s, cfg) + fmt.Sprintf("%v %+v %#v %s %+v %#v %+v", s, s, s, s, cfg, cfg, holder)
	if strings.Contains(out, pw) {
		t.Fatalf("printing leaks the password: %s", out)
	}
	if !strings.Contains(out, "postgres://u:xxxxx@h/db") {
		t.Fatalf("printing does not show the redacted URL: %s", out)
	}
}

// FuzzParseURL: for any password, and whatever surrounds it, the password
// never appears in any output (error, Redacted, String, fmt, slog, Scrub);
// Prisma's keys never reach the driver. CI runs the seed corpus; run it
// longer with `go test -run '^$' -fuzz FuzzParseURL -fuzztime 60s ./pool`.
func FuzzParseURL(f *testing.F) {
	for _, s := range [][2]string{
		{"Qx7Secret99", "h:5432/db?connection_limit=5"}, {"p@ss/w0rd?#x", "h/db?pgbouncer=true&pool_timeout=3"},
		{"a b'c\\d", ":99/x"}, {"S3cr3t;XYZ", "[::1]:5432/db"}, {"50%offSale", "h/db?connection_limit=%zz"},
		{"2024/Secret", "h/db?sslmode=disable&statement_cache_size=0"}, {"ünï¢ødé€", "@@@/"}, {"nul\x00byte", "h/db#frag"},
		{"amp&ersand=1", "h,h2:5433/db?target_session_attrs=any"}, {"PASSWORD=x", "%2Ftmp/db"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pw, rest string) {
		if len(pw) < 8 || strings.TrimSpace(pw) == "" || strings.Contains(rest, pw) || strings.Contains("postgres://user:@ host=h password= password sslpassword=xxxxx pool: invalid database URL", pw) {
			return // too short to tell apart from the rest of the output
		}
		kvq := func(pw string) string { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'" }
		for _, tmpl := range []func(pw string) string{
			func(pw string) string { return "postgres://user:" + pw + "@" + rest },
			func(pw string) string { return "postgres://user:" + url.PathEscape(pw) + "@" + rest },
			func(pw string) string { return "postgres://" + rest + "?password=" + url.QueryEscape(pw) },
			func(pw string) string { return "postgres://h/db?password=" + pw + "&" + rest },
			func(pw string) string { return "postgres://h/db?sslpassword=" + pw + "&" + rest },
			func(pw string) string { return "host=h password=" + kvq(pw) + " " + rest },
			func(pw string) string { return "host=h PassWord=" + pw + " " + rest },
			func(pw string) string { return "host=h password=" + pw + " " + rest },
		} {
			if strings.Contains(tmpl(redact.Mask), pw) {
				continue // the password is also written outside the secret's place
			}
			raw := tmpl(pw)
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			s, err := pool.ParseURL(raw)
			out := ""
			if err != nil {
				if !errors.Is(err, pool.ErrInvalidURL) {
					t.Fatalf("error is not ErrInvalidURL: %v", err)
				}
				log.Error("open", "err", err)
				out = err.Error() + buf.String()
			} else {
				log.Debug("settings", "url", s, "cfg", pool.Config{DatabaseURL: raw})
				out = s.Redacted + s.String() + fmt.Sprintf("%+v %#v", s, s) + buf.String() + s.Scrub("failed: "+raw)
				for _, k := range []string{"connection_limit", "pool_timeout", "pgbouncer", "socket_timeout", "statement_cache_size", "schema", "sslidentity", "sslaccept"} {
					if _, ok := s.ConnConfig().RuntimeParams[k]; ok {
						t.Fatalf("%s reaches the driver", k)
					}
				}
			}
			if strings.Contains(out, pw) {
				t.Fatalf("output leaks the password %q of %q:\n%s", pw, raw, out)
			}
		}
	})
}
