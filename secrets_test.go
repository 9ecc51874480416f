package tollgate_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
)

// hostileCase is a DATABASE_URL written as a careless or hostile user
// would; secrets are what must appear in no output. HP stands for the
// test server's host:port, PORT for its port.
type hostileCase struct {
	name    string
	raw     string
	secrets []string
}

func hostileCases() []hostileCase {
	const sec = "Secret1x"
	cs := []hostileCase{
		// The cases.
		{"sslpassword in query", "postgres://postgres@HP/test?sslmode=disable&sslpassword=SslPw" + sec, []string{"SslPw" + sec}},
		{"sslpassword keyword", "host=127.0.0.1 port=PORT user=postgres dbname=test sslmode=disable sslpassword=SslKw" + sec, []string{"SslKw" + sec}},
		{"semicolon in query password", "postgres://postgres@HP/test?sslmode=disable&password=S3cr3t;XYZ" + sec, []string{"S3cr3t;XYZ" + sec}},
		{"percent in query password", "postgres://postgres@HP/test?password=50%off" + sec + "&sslmode=disable", []string{"50%off" + sec}},
		{"no host, query password", "postgres:///test?host=127.0.0.1&port=PORT&user=postgres&sslmode=disable&password=NoHost" + sec, []string{"NoHost" + sec}},
		{"no host at all", "postgres:///test?sslmode=disable&password=Sock" + sec, []string{"Sock" + sec}},
		{"digits then slash", "postgres://postgres:2024/" + sec + "@HP/test?sslmode=disable", []string{"2024/" + sec, sec}},
		{"PASSWORD keyword", "host=127.0.0.1 port=PORT user=postgres dbname=test sslmode=disable PASSWORD=Upper" + sec, []string{"Upper" + sec}},
		{"Password keyword", "host=127.0.0.1 port=PORT user=postgres dbname=test sslmode=disable Password=Mixed" + sec, []string{"Mixed" + sec}},
		{"PASSWORD query", "postgres://postgres@HP/test?sslmode=disable&PASSWORD=UpQ" + sec, []string{"UpQ" + sec}},
		{"encoded password key", "postgres://postgres@HP/test?sslmode=disable&pass%77ord=Enc" + sec, []string{"Enc" + sec}},
		{"space in query password", "postgres://postgres@HP/test?sslmode=disable&password=my%20" + sec, []string{"my " + sec, "my%20" + sec}},
		{"options with spaces", "postgres://postgres:Opt" + sec + "@HP/test?sslmode=disable&options=-c%20statement_timeout%3D1234", []string{"Opt" + sec}},
		{"backslash keyword", `host=127.0.0.1 port=PORT user=postgres dbname=test sslmode=disable password=ab\\cd` + sec, []string{`ab\cd` + sec, `ab\\cd` + sec}},
		{"escaped space keyword", `host=127.0.0.1 port=PORT user=postgres dbname=test sslmode=disable password=a\ b` + sec, []string{"a b" + sec, `a\ b` + sec}},
		{"connect_timeout=1.5", "postgres://postgres:Ct" + sec + "@HP/test?sslmode=disable&connect_timeout=1.5", []string{"Ct" + sec}},
		{"pool_timeout=NaN", "postgres://postgres:Nan" + sec + "@HP/test?sslmode=disable&pool_timeout=NaN", []string{"Nan" + sec}},
		{"pool_timeout=0x1p4", "postgres://postgres:Hex" + sec + "@HP/test?sslmode=disable&pool_timeout=0x1p4", []string{"Hex" + sec}},
		{"pool_timeout=0", "postgres://postgres:Zero" + sec + "@HP/test?sslmode=disable&pool_timeout=0", []string{"Zero" + sec}},
		{"socket_timeout", "postgres://postgres:Sock" + sec + "@HP/test?sslmode=disable&socket_timeout=5", []string{"Sock" + sec}},
		{"sslaccept", "postgres://postgres:Acc" + sec + "@HP/test?sslmode=disable&sslaccept=accept_invalid_certs", []string{"Acc" + sec}},
		{"sslidentity", "postgres://postgres:Id" + sec + "@HP/test?sslmode=disable&sslidentity=id.p12&sslpassword=IdPw" + sec, []string{"Id" + sec, "IdPw" + sec}},
		{"all of Prisma's", "postgres://postgres:All" + sec + "@HP/test?sslmode=disable&connection_limit=3&pool_timeout=2&pgbouncer=false&connect_timeout=3&socket_timeout=4&statement_cache_size=0&schema=public", []string{"All" + sec}},
		// Malformed escapes, NUL, unicode, sizes.
		{"bad escape in userinfo", "postgres://postgres:Bad%zz" + sec + "@HP/test", []string{"Bad%zz" + sec}},
		{"bad escape in query key", "postgres://postgres:Key" + sec + "@HP/test?a%zz=1", []string{"Key" + sec}},
		{"%00 in password", "postgres://postgres:Nul%00" + sec + "@HP/test", []string{"Nul%00" + sec, "Nul\x00" + sec}},
		{"raw NUL in password", "postgres://postgres:Nul\x00" + sec + "@HP/test", []string{"Nul\x00" + sec}},
		{"raw NUL keyword", "host=127.0.0.1 port=PORT password=Nk\x00" + sec, []string{"Nk\x00" + sec}},
		{"unicode password", "postgres://postgres:ünï¢ødé€" + sec + "@HP/test?sslmode=disable", []string{"ünï¢ødé€" + sec}},
		{"encoded unicode", "postgres://postgres:" + url.PathEscape("пароль") + sec + "@HP/test?sslmode=disable", []string{"пароль" + sec, url.PathEscape("пароль") + sec}},
		{"1 MB userinfo", "postgres://postgres:" + strings.Repeat("M", 1<<20) + "@HP/test?sslmode=disable", []string{strings.Repeat("M", 64)}},
		{"1 MB query", "postgres://postgres@HP/test?sslmode=disable&password=" + strings.Repeat("Q", 1<<20), []string{strings.Repeat("Q", 64)}},
		{"1 MB keyword", "host=127.0.0.1 port=PORT user=postgres dbname=test sslmode=disable password='" + strings.Repeat("K", 1<<20) + "'", []string{strings.Repeat("K", 64)}},
		{"unterminated quote", "host=127.0.0.1 port=PORT password='Unterm" + sec, []string{"Unterm" + sec}},
		{"password without =", "host=127.0.0.1 port=PORT password Noeq" + sec, []string{"Noeq" + sec}},
		// Hosts.
		{"multi-host", "postgres://postgres:Multi" + sec + "@127.0.0.1:1,HP/test?sslmode=disable", []string{"Multi" + sec}},
		{"multi-host keyword", "host=127.0.0.1,127.0.0.1 port=1,PORT user=postgres dbname=test sslmode=disable password=MultiKw" + sec, []string{"MultiKw" + sec}},
		{"ipv6", "postgres://postgres:Six" + sec + "@[::1]:PORT/test?sslmode=disable", []string{"Six" + sec}},
		{"ipv6 unclosed", "postgres://postgres:Six" + sec + "@[::1:PORT/test", []string{"Six" + sec}},
		{"unix socket query", "postgres://postgres:Unix" + sec + "@/test?host=/var/run/postgresql&port=PORT", []string{"Unix" + sec}},
		{"unix socket encoded", "postgres://postgres:UnixE" + sec + "@%2Fvar%2Frun%2Fpostgresql:PORT/test", []string{"UnixE" + sec}},
		{"unix socket keyword", "host=/var/run/postgresql port=PORT user=postgres dbname=test password=UnixK" + sec, []string{"UnixK" + sec}},
		{"wrong scheme", "mysql://postgres:My" + sec + "@HP/test", []string{"My" + sec}},
		{"upper scheme", "POSTGRES://postgres:Up" + sec + "@HP/test", []string{"Up" + sec}},
	}
	// Every ASCII punctuation character, in a userinfo and in a query
	// password, written raw.
	for _, c := range "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" {
		pw := "Pu" + string(c) + sec
		cs = append(cs,
			hostileCase{fmt.Sprintf("userinfo %q", c), "postgres://postgres:" + pw + "@HP/test?sslmode=disable", []string{pw}},
			hostileCase{fmt.Sprintf("query %q", c), "postgres://postgres@HP/test?sslmode=disable&password=" + pw, []string{pw}},
		)
	}
	return cs
}

// TestHostileURLs: for every hostile DATABASE_URL, no password appears in
// an error, Redacted, Target, Config, Stats, the pool's slog output at
// debug, the health JSON, or a migrations error.
func TestHostileURLs(t *testing.T) {
	u, err := url.Parse(testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	hp, port := u.Host, u.Port()
	cases := hostileCases()
	if len(cases) < 60 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	var opened, retried atomic.Int64
	t.Run("group", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel() // GOMAXPROCS at a time: 2 on CI
				raw := strings.NewReplacer("HP", hp, "PORT", port).Replace(tc.raw)
				closed := strings.NewReplacer("HP", "127.0.0.1:1", "PORT", "1").Replace(tc.raw)
				var out strings.Builder // every output of the pool, health and migrations
				var logs bytes.Buffer
				logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()

				s, err := pool.ParseURL(raw)
				if err != nil {
					fmt.Fprintln(&out, err)
				} else {
					fmt.Fprintln(&out, s.Redacted, s, fmt.Sprintf("%+v %#v", s, s))
					logger.Debug("settings", "url", s)
				}
				cfg := pool.Config{DatabaseURL: raw, Logger: logger, MaxOpenConns: 2, OpTimeout: 3 * time.Second, Retry: pool.RetryConfig{Attempts: 2, ExhaustedAttempts: 2}}
				logger.Debug("config", "cfg", cfg)
				fmt.Fprintf(&out, "%v %+v\n", cfg, cfg)
				if p, err := pool.Open(ctx, cfg); err != nil {
					fmt.Fprintln(&out, "open:", err)
				} else {
					opened.Add(1)
					exercise(ctx, t, p, &out)
					p.Close(ctx)
				}
				cfg.DatabaseURL = closed // a server that is down: connect errors and retries
				if p, err := pool.Open(ctx, cfg); err != nil {
					fmt.Fprintln(&out, "open down:", err)
					if !errors.Is(err, pool.ErrInvalidURL) {
						retried.Add(1)
						if !strings.Contains(logs.String(), "tollgate: retrying") {
							t.Errorf("no retry logged at debug for a server that is down: the log path is not exercised")
						}
					}
				} else {
					p.Close(ctx)
				}
				m, err := migrations.New(nil, migrations.Config{DirectURL: closed, Logger: logger, LockTimeout: 2 * time.Second,
					GoMigrations: []migrations.Migration{{Version: 1, Up: func(context.Context, *sql.Tx) error { return nil }}}})
				if err != nil {
					fmt.Fprintln(&out, "migrations:", err)
				} else {
					_, err := m.Up(ctx)
					fmt.Fprintln(&out, "migrations up:", err)
					m.Close()
				}
				all := out.String() + logs.String()
				for _, sec := range tc.secrets {
					if strings.Contains(all, sec) {
						i := strings.Index(all, sec)
						t.Fatalf("%q appears in the output: …%s…", sec[:min(len(sec), 40)], all[max(0, i-200):min(len(all), i+len(sec)+50)])
					}
				}
			})
		}
	})
	t.Logf("%d hostile URLs, %d opened against the real server, %d retried against a closed port", len(cases), opened.Load(), retried.Load())
	if opened.Load() < 20 {
		t.Errorf("only %d of the hostile URLs opened: the output of an open pool is hardly covered", opened.Load())
	}
}

// exercise makes an open pool produce every output a user sees: a failed
// call, Target, Config, Stats, cleanup logs and the health JSON.
func exercise(ctx context.Context, t *testing.T, p *pool.Pool, out io.Writer) {
	t.Helper()
	err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("SELECT * FROM no_such_table_tollgate").Error
	})
	fmt.Fprintln(out, "do:", err, p.Ping(ctx))
	p.Cleanup(ctx)
	fmt.Fprintf(out, "%s %v %+v %#v %+v\n", p.Target(), p.Config(), p.Config(), p.Config(), p.Stats())
	hc := health.New(p, health.Config{})
	rep := hc.Check(ctx)
	b, _ := json.Marshal(rep)
	fmt.Fprintln(out, string(b))
	rec := httptest.NewRecorder()
	hc.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/health/database", nil))
	fmt.Fprintln(out, rec.Body.String())
}
