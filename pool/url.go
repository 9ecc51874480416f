package pool

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-db/tollgate/internal/redact"
)

// NoQueueTimeout, as Config.QueueTimeout, lets a call wait for a slot
// until its ctx ends: what Prisma's pool_timeout=0 asks for.
const NoQueueTimeout = time.Duration(math.MaxInt64)

type tlsConfig = tls.Config

// URLSettings is what ParseURL reads out of a DATABASE_URL. Printing it
// (fmt's %v, %+v, %#v, %s) or logging it through log/slog shows only the
// redacted URL.
type URLSettings struct {
	// Redacted is the URL or DSN as written, secrets masked: safe to print.
	Redacted string
	// ConnectionLimit is connection_limit, 0 when absent.
	ConnectionLimit int
	// PoolTimeout is pool_timeout (whole seconds in the URL): 0 when absent,
	// NoQueueTimeout for pool_timeout=0.
	PoolTimeout time.Duration
	// PgBouncer is pgbouncer=true: the URL points at a transaction pooler.
	PgBouncer bool
	// ConnectTimeout is connect_timeout (whole seconds), 0 when absent or 0
	// (no limit, as in libpq and Prisma). pgx reads it itself.
	ConnectTimeout time.Duration
	// SocketTimeout is Prisma's socket_timeout (whole seconds), the longest
	// one call may take: it becomes OpTimeout. 0 when absent.
	SocketTimeout time.Duration
	// StatementCacheSize is statement_cache_size; -1 when absent.
	StatementCacheSize int
	// Schema is Prisma's schema, sent as search_path; "" when absent.
	Schema string
	// ApplicationName is application_name when the URL sets it.
	ApplicationName string

	p *parsed // behind a pointer, so that printing a struct holding URLSettings shows an address, never a secret
}

// parsed is what ParseURL got from pgx: it holds the password.
type parsed struct {
	config *pgx.ConnConfig
	masker *redact.Masker // every secret as written and as decoded
}

// ConnConfig returns a copy of the configuration pgx parsed from the URL,
// Prisma's parameters taken out: what the driver is given. It holds the
// password: never log it. It is nil for the zero URLSettings.
func (s URLSettings) ConnConfig() *pgx.ConnConfig {
	if s.p == nil {
		return nil
	}
	return s.p.config.Copy()
}

// String returns the redacted URL.
func (s URLSettings) String() string { return s.Redacted }

// GoString returns the redacted URL, for %#v.
func (s URLSettings) GoString() string { return "pool.URLSettings{" + strconv.Quote(s.Redacted) + "}" }

// LogValue logs the redacted URL and the Prisma settings read from it.
func (s URLSettings) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", s.Redacted),
		slog.Int("connection_limit", s.ConnectionLimit),
		slog.Duration("pool_timeout", s.PoolTimeout),
		slog.Bool("pgbouncer", s.PgBouncer),
	)
}

// Scrub returns msg with the URL's secrets, in every form they were
// given, and those of any DSN in msg, masked.
func (s URLSettings) Scrub(msg string) string {
	if s.p == nil {
		return redact.Text(msg)
	}
	return s.p.masker.Text(msg)
}

// ErrInvalidURL is wrapped by every error ParseURL returns. Its messages
// name the parameter or part at fault and never quote the URL's userinfo
// or query.
var ErrInvalidURL = errors.New("pool: invalid database URL")

// URLError is the error ParseURL returns: which parameter or part of the
// URL is wrong and why. It matches ErrInvalidURL.
type URLError struct {
	Param  string // the parameter or part of the URL at fault, "" when unknown
	Reason string // never quotes the URL's userinfo or query
}

func (e *URLError) Error() string {
	if e.Param == "" {
		return ErrInvalidURL.Error() + ": " + e.Reason
	}
	return ErrInvalidURL.Error() + ": " + e.Param + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidURL) true.
func (e *URLError) Is(target error) bool { return target == ErrInvalidURL }

// ParseURL parses a PostgreSQL URL ("postgres://…" or "postgresql://…")
// or keyword/value DSN with pgx's own parser (which reads both as libpq
// does, and the environment's PG* variables), then takes Prisma's
// parameters out of what pgx would send to the server as startup
// parameters and maps them (see Config.DatabaseURL). What the driver gets
// is what pgx parses from the string, minus Prisma's parameters. Leading
// and trailing white space is ignored.
func ParseURL(raw string) (URLSettings, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return URLSettings{}, &URLError{Reason: "empty (set DATABASE_URL or Config.DatabaseURL)"}
	}
	secrets := redact.Secrets(raw)
	if err := checkScheme(raw); err != nil {
		return URLSettings{}, err
	}
	cc, err := pgx.ParseConfig(raw)
	if err != nil {
		return URLSettings{}, explainParse(err, raw, secrets)
	}
	if cc.Password != "" { // also from PGPASSWORD or the passfile
		secrets = append(secrets, cc.Password)
	}
	if err := checkKeyCase(cc.RuntimeParams); err != nil {
		return URLSettings{}, err
	}
	s := URLSettings{Redacted: redact.DSN(raw), StatementCacheSize: -1, ConnectTimeout: cc.ConnectTimeout}
	if err := s.takePrisma(cc, raw); err != nil {
		return URLSettings{}, err
	}
	s.ApplicationName = cc.RuntimeParams["application_name"]
	s.p = &parsed{config: cc, masker: redact.NewMasker(secrets...)}
	return s, nil
}

// checkScheme refuses URLs pgx would read as keyword/value DSNs.
func checkScheme(raw string) error {
	i := strings.Index(raw, "://")
	if i <= 0 || strings.IndexFunc(raw[:i], func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
	}) >= 0 {
		return nil // no scheme: a keyword/value DSN
	}
	switch scheme := raw[:i]; {
	case scheme == "postgres" || scheme == "postgresql":
		return checkPath(raw[i+3:])
	case strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"):
		return &URLError{Param: "scheme", Reason: "write postgres:// or postgresql:// in lower case (pgx, like libpq, reads any other spelling as a keyword/value DSN)"}
	}
	return &URLError{Param: "scheme", Reason: "must be postgres:// or postgresql://"}
}

// checkPath refuses a raw '@' in the path: libpq ends the userinfo at the
// first '/', so postgres://u:2024/Secret@host/db reads host u, port 2024
// and database "Secret@host/db" — the password would travel, and be
// quoted, as a database name.
func checkPath(p string) error {
	if i := strings.IndexAny(p, "@/"); i >= 0 && p[i] == '@' {
		p = p[i+1:]
	}
	if q := strings.IndexByte(p, '?'); q >= 0 {
		p = p[:q]
	}
	if slash := strings.IndexByte(p, '/'); slash >= 0 && strings.Contains(p[slash:], "@") {
		return &URLError{Param: "userinfo", Reason: "a raw '@' after the first '/': a '/' in a password ends the userinfo early (libpq and pgx then read the rest as host, port and database); " +
			"percent-encode it as %2F (and '@' in a database name as %40)"}
	}
	return nil
}

// libpqKeys are the connection parameters pgx reads itself; a key that
// differs from one of them (or from Prisma's) only in case would go to the
// server as a startup parameter.
var libpqKeys = []string{
	"host", "hostaddr", "port", "dbname", "database", "user", "password", "passfile", "connect_timeout",
	"sslmode", "sslkey", "sslcert", "sslcertmode", "sslrootcert", "sslnegotiation", "sslpassword", "sslsni",
	"krbspn", "krbsrvname", "target_session_attrs", "service", "servicefile", "min_protocol_version",
	"max_protocol_version", "channel_binding", "require_auth", "application_name", "options",
	"statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode",
}

func checkKeyCase(params map[string]string) error {
	for k := range params {
		lk := strings.ToLower(k)
		if lk == k {
			continue
		}
		if isPrisma(lk) || contains(libpqKeys, lk) {
			return &URLError{Param: k, Reason: fmt.Sprintf("parameter names are lower case: write %s (pgx would send %s to the server as a startup parameter)", lk, k)}
		}
	}
	return nil
}

// prismaParams are Prisma's connection-URL parameters that pgx does not
// read itself. connect_timeout, sslcert and sslpassword are libpq's too:
// pgx reads them (see Config.DatabaseURL).
var prismaParams = []string{
	"connection_limit", "pool_timeout", "pgbouncer", "socket_timeout", "statement_cache_size",
	"schema", "sslidentity", "sslaccept",
}

func isPrisma(k string) bool { return contains(prismaParams, k) }

func contains(list []string, k string) bool {
	for _, p := range list {
		if k == p {
			return true
		}
	}
	return false
}

// takePrisma reads Prisma's parameters out of cc.RuntimeParams, deletes
// them and applies what pgx needs (search_path for schema).
func (s *URLSettings) takePrisma(cc *pgx.ConnConfig, raw string) error {
	rp := cc.RuntimeParams
	get := func(k string) (string, bool) {
		v, ok := rp[k]
		delete(rp, k)
		return v, ok
	}
	if v, ok := get("connection_limit"); ok {
		n, err := wholeNumber("connection_limit", v, 1, 100000)
		if err != nil {
			return err
		}
		s.ConnectionLimit = int(n)
	}
	if v, ok := get("pool_timeout"); ok {
		n, err := wholeNumber("pool_timeout", v, 0, 86400)
		if err != nil {
			return err
		}
		s.PoolTimeout = time.Duration(n) * time.Second
		if n == 0 {
			s.PoolTimeout = NoQueueTimeout // Prisma: 0 waits as long as it takes
		}
	}
	if v, ok := get("socket_timeout"); ok {
		n, err := wholeNumber("socket_timeout", v, 1, 86400)
		if err != nil {
			return err
		}
		s.SocketTimeout = time.Duration(n) * time.Second
	}
	if v, ok := get("statement_cache_size"); ok {
		n, err := wholeNumber("statement_cache_size", v, 0, 100000)
		if err != nil {
			return err
		}
		s.StatementCacheSize = int(n)
	}
	if v, ok := get("pgbouncer"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &URLError{Param: "pgbouncer", Reason: "must be true or false" + got(v)}
		}
		s.PgBouncer = b
	}
	if v, ok := get("schema"); ok {
		if v == "" {
			return &URLError{Param: "schema", Reason: "is empty"}
		}
		if _, both := rp["search_path"]; both {
			return &URLError{Param: "schema", Reason: "set together with search_path: keep one (Prisma's schema is sent as search_path)"}
		}
		// Quoted as Prisma quotes it: the name is taken as written.
		rp["search_path"] = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
		s.Schema = v
	}
	if _, ok := get("sslidentity"); ok {
		return &URLError{Param: "sslidentity", Reason: "Prisma's PKCS#12 client identity is not supported by pgx: " +
			"convert it to PEM (openssl pkcs12 -in id.p12 -clcerts -nokeys -out client.crt; openssl pkcs12 -in id.p12 -nocerts -nodes -out client.key) " +
			"and set sslcert and sslkey (sslpassword then decrypts an encrypted key, as in libpq)"}
	}
	if v, ok := get("sslaccept"); ok {
		if err := checkSSLAccept(v, cc); err != nil {
			return err
		}
	}
	if v, ok := redact.Param(raw, "connect_timeout"); ok {
		// pgx multiplies the seconds without an overflow check
		// (36028797018963968 becomes 0, no limit): keep them in range.
		if _, err := wholeNumber("connect_timeout", strings.TrimPrefix(strings.TrimSpace(v), "+"), 0, 86400); err != nil {
			return err
		}
	}
	return nil
}

// checkSSLAccept maps Prisma's sslaccept onto what sslmode already asked
// pgx for, and refuses a contradiction rather than guess.
func checkSSLAccept(v string, cc *pgx.ConnConfig) error {
	verifies, tls := true, false
	tcs := []*tlsConfig{cc.TLSConfig}
	for _, f := range cc.Fallbacks {
		tcs = append(tcs, f.TLSConfig)
	}
	for _, tc := range tcs {
		if tc == nil {
			verifies = false
			continue
		}
		tls = true
		if tc.InsecureSkipVerify && tc.VerifyPeerCertificate == nil {
			verifies = false
		}
	}
	switch v {
	case "strict":
		if !verifies {
			return &URLError{Param: "sslaccept", Reason: "strict asks for a verified server certificate, which pgx (like libpq) checks only with sslmode=verify-full (or verify-ca, or require with sslrootcert): set one of them"}
		}
	case "accept_invalid_certs":
		if tls && verifies {
			return &URLError{Param: "sslaccept", Reason: "accept_invalid_certs contradicts sslmode=verify-ca/verify-full (or sslrootcert): drop one of them"}
		}
	default:
		return &URLError{Param: "sslaccept", Reason: "must be strict or accept_invalid_certs" + got(v)}
	}
	return nil
}

// wholeNumber reads a decimal count of what name counts, from lo to hi,
// as Prisma (an unsigned integer) and libpq (strtol) read theirs: no
// fraction, exponent, hex, NaN or infinity.
func wholeNumber(name, v string, lo, hi uint64) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n < lo || n > hi || v == "" || v[0] < '0' || v[0] > '9' {
		reason := fmt.Sprintf("must be a whole number from %d to %d", lo, hi)
		if strings.HasSuffix(name, "timeout") {
			reason += " (seconds)"
		}
		if strings.ContainsAny(v, ".eEpPxX") {
			reason += "; Prisma and libpq read an integer"
		}
		return 0, &URLError{Param: name, Reason: reason + got(v)}
	}
	return n, nil
}

// got quotes a value of Prisma's parameters when it is short and plain
// enough to be no secret.
func got(v string) string {
	if len(v) > 24 || strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._+-", r))
	}) >= 0 {
		return ""
	}
	return fmt.Sprintf(", got %q", v)
}
