package pool_test

import (
	"crypto/tls"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tollgate-db/tollgate/pool"
)

// TestDriverConfigParity: the configuration tollgate hands to pgx equals
// what pgx.ParseConfig gives for the same string without Prisma's keys
// (host, port, user, password, database, TLS, fallbacks, runtime
// parameters, connect timeout, target_session_attrs), apart from
// application_name, which tollgate sets (the URL's, else "tollgate").
func TestDriverConfigParity(t *testing.T) {
	cases := []struct{ in, without string }{
		{"postgres://u:pw@h:5432/db", ""},
		{"postgresql://u:pw@h/db?sslmode=disable", ""},
		{"postgres://u:my%20secret@h/db", ""},
		{"postgres://u:p%40ss%2Fw0rd%3F%23@h/db", ""},
		{"postgres://u@h/db?password=my%20secret", ""},
		{"postgres://u@h/db?password=a+b", ""},
		{"postgres://u:pw@h/db?options=-c%20statement_timeout%3D1234", ""},
		{"postgres://u:pw@h/db?options=-c%20search_path%3Dapp,public%20-c%20work_mem%3D8MB", ""},
		{"postgres://u:pw@h/db?application_name=api&sslmode=require", ""},
		{"postgres://u:pw@h/db?sslmode=verify-full&sslsni=0", ""},
		{"postgres://u:pw@h/db?sslmode=prefer", ""},
		{"postgres://u:pw@h/db?sslmode=allow", ""},
		{"postgres://u:pw@h1:5432,h2:5433,h3/db?target_session_attrs=read-write", ""},
		{"postgres://u:pw@h1,h2/db?target_session_attrs=primary", ""},
		{"postgres://u:pw@h/db?target_session_attrs=prefer-standby", ""},
		{"postgres://u:pw@[::1]:5432/db", ""},
		{"postgres://u:pw@[2001:db8::1],[::1]:5433/db", ""},
		{"postgres://u:pw@%2Fvar%2Frun%2Fpostgresql/db", ""},
		{"postgres://u:pw@/db?host=/var/run/postgresql&port=5433", ""},
		{"postgres:///db?host=/tmp", ""},
		{"postgres://u@h/db?connect_timeout=7", ""},
		{"postgres://u@h/db?search_path=app&timezone=UTC&statement_timeout=5000", ""},
		{"postgres://u:pw@h/db?connection_limit=5&pool_timeout=10", "postgres://u:pw@h/db"},
		{"postgres://u:pw@h/db?pgbouncer=true&sslmode=disable", "postgres://u:pw@h/db?sslmode=disable"},
		{"postgres://u:pw@h/db?sslmode=disable&statement_cache_size=0&socket_timeout=9", "postgres://u:pw@h/db?sslmode=disable"},
		{"postgres://u:pw@h/db?connection_limit=1&connect_timeout=4&options=-c%20jit%3Doff", "postgres://u:pw@h/db?connect_timeout=4&options=-c%20jit%3Doff"},
		{"postgres://u:pw@h/db?schema=tenant1", `host=h user=u password=pw dbname=db search_path='"tenant1"'`},
		{"postgres://u:pw@h/db?sslaccept=accept_invalid_certs&sslmode=require", "postgres://u:pw@h/db?sslmode=require"},
		{"postgres://u:pw@h/db?pool_timeout=0&application_name=w%20orker", "postgres://u:pw@h/db?application_name=w%20orker"},
		{"host=h user=u password=pw dbname=db", ""},
		{"host=h user=u password='my secret' dbname=db", ""},
		{`host=h user=u password=ab\\cd dbname=db`, ""},
		{`host=h user=u password=a\ b dbname=db`, ""},
		{`host=h user=u password='it\'s' dbname=db`, ""},
		{`host=h user=u password="dq" dbname=db`, ""},
		{"host = h  user = u   password = pw dbname = db", ""},
		{"host=h options='-c statement_timeout=1234' dbname=db", ""},
		{"host=h1,h2 port=5432,5433 user=u dbname=db target_session_attrs=read-only", ""},
		{"host=/var/run/postgresql port=5432 user=u dbname=db", ""},
		{"host=h dbname=db sslmode=verify-ca sslrootcert=system", ""},
		{"host=h dbname=db connection_limit=3 pgbouncer=true", "host=h dbname=db"},
		{"host=h dbname=db pool_timeout=5 schema=x statement_cache_size=10", `host=h dbname=db search_path='"x"'`},
		{"host=h dbname=db application_name='my app' socket_timeout=3", "host=h dbname=db application_name='my app'"},
		{"  postgres://u:pw@h/db?sslmode=disable \n", "postgres://u:pw@h/db?sslmode=disable"},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d parity cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			without := tc.without
			if without == "" {
				without = tc.in
			}
			got, err := pool.DriverConfig(tc.in, pool.Config{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := pgx.ParseConfig(without)
			if err != nil {
				t.Fatal(err)
			}
			app := want.RuntimeParams["application_name"]
			if app == "" {
				app = "tollgate"
			}
			if got.RuntimeParams["application_name"] != app {
				t.Errorf("application_name = %q, want %q", got.RuntimeParams["application_name"], app)
			}
			delete(got.RuntimeParams, "application_name")
			delete(want.RuntimeParams, "application_name")
			if !reflect.DeepEqual(got.RuntimeParams, want.RuntimeParams) {
				t.Errorf("RuntimeParams = %q, want %q", got.RuntimeParams, want.RuntimeParams)
			}
			if got.Host != want.Host || got.Port != want.Port || got.User != want.User || got.Password != want.Password ||
				got.Database != want.Database || got.ConnectTimeout != want.ConnectTimeout || got.SSLNegotiation != want.SSLNegotiation {
				t.Errorf("got %s:%d user %q db %q timeout %s, want %s:%d user %q db %q timeout %s (passwords equal: %t)",
					got.Host, got.Port, got.User, got.Database, got.ConnectTimeout,
					want.Host, want.Port, want.User, want.Database, want.ConnectTimeout, got.Password == want.Password)
			}
			if !sameTLS(got.TLSConfig, want.TLSConfig) {
				t.Errorf("TLS differs")
			}
			if len(got.Fallbacks) != len(want.Fallbacks) {
				t.Fatalf("%d fallbacks, want %d", len(got.Fallbacks), len(want.Fallbacks))
			}
			for i := range got.Fallbacks {
				g, w := got.Fallbacks[i], want.Fallbacks[i]
				if g.Host != w.Host || g.Port != w.Port || !sameTLS(g.TLSConfig, w.TLSConfig) {
					t.Errorf("fallback %d = %s:%d, want %s:%d", i, g.Host, g.Port, w.Host, w.Port)
				}
			}
			if fn(got.ValidateConnect) != fn(want.ValidateConnect) {
				t.Errorf("target_session_attrs check differs")
			}
		})
	}
}

func sameTLS(a, b *tls.Config) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ServerName == b.ServerName && a.InsecureSkipVerify == b.InsecureSkipVerify &&
		(a.RootCAs == nil) == (b.RootCAs == nil) && (a.VerifyPeerCertificate == nil) == (b.VerifyPeerCertificate == nil) &&
		len(a.Certificates) == len(b.Certificates)
}

func fn(f pgconn.ValidateConnectFunc) uintptr {
	if f == nil {
		return 0
	}
	return reflect.ValueOf(f).Pointer()
}
