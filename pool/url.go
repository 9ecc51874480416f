package pool

import (
	"errors"
	"fmt"
	"github.com/tollgate-db/tollgate/internal/redact"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// URLSettings is what ParseURL reads out of a DATABASE_URL.
type URLSettings struct {
	// ConnString is the URL or DSN with the Prisma-style parameters removed:
	// what the driver is given. It still holds the password: never log it.
	ConnString string
	// Redacted is ConnString with the password replaced, safe to print.
	Redacted string
	// ConnectionLimit is connection_limit, 0 when absent.
	ConnectionLimit int
	// PoolTimeout is pool_timeout (seconds in the URL), 0 when absent.
	PoolTimeout time.Duration
	// PgBouncer is pgbouncer=true: the URL points at a transaction pooler.
	PgBouncer bool
	// ConnectTimeout is connect_timeout (seconds), 0 when absent. It stays in
	// ConnString too, since the driver understands it.
	ConnectTimeout time.Duration
	// StatementCacheSize is statement_cache_size; -1 when absent.
	StatementCacheSize int
	// ApplicationName is application_name when the URL sets it.
	ApplicationName string

	secrets []string // the password as written and decoded, for scrubbing
}

// ErrInvalidURL is wrapped by every error ParseURL returns. Its messages
// never contain the password or the full URL.
var ErrInvalidURL = errors.New("pool: invalid database URL")

// prismaParams are removed before the driver sees the URL: pgx would send
// unknown keys to the server as startup parameters, which PgBouncer rejects.
var prismaParams = []string{"connection_limit", "pool_timeout", "pgbouncer", "statement_cache_size", "schema"}

// ParseURL reads the Prisma-style parameters of a PostgreSQL URL
// ("postgres://…" or "postgresql://…") or keyword/value DSN and returns
// them with the string the driver should be given.
func ParseURL(raw string) (URLSettings, error) {
	s := URLSettings{StatementCacheSize: -1}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return s, fmt.Errorf("%w: empty (set DATABASE_URL or Config.DatabaseURL)", ErrInvalidURL)
	}
	params := map[string]string{}
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		u, err := url.Parse(raw)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // url.Error repeats the whole input, password included
			}
			return s, fmt.Errorf("%w: %s", ErrInvalidURL, unquote(scrub(err.Error(), raw)))
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return s, fmt.Errorf("%w: no host in %s", ErrInvalidURL, u.Redacted())
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return s, fmt.Errorf("%w: query string of %s: %s", ErrInvalidURL, redactURL(u), unquote(scrub(err.Error(), raw)))
		}
		for k, v := range q {
			if len(v) > 0 {
				params[k] = v[len(v)-1]
			}
		}
		if pw, ok := u.User.Password(); ok && pw != "" {
			s.secrets = append(s.secrets, pw)
		}
		if i := strings.Index(raw, "://"); i >= 0 {
			if pw := rawPassword(raw[i+3:]); pw != "" {
				s.secrets = append(s.secrets, pw)
			}
		}
		if pw := q.Get("password"); pw != "" {
			s.secrets = append(s.secrets, pw, url.QueryEscape(pw))
		}
		if v := q.Get("schema"); v != "" && !q.Has("search_path") {
			q.Set("search_path", v) // Prisma's schema is PostgreSQL's search_path
		}
		for _, k := range prismaParams {
			q.Del(k)
		}
		u.RawQuery = q.Encode()
		s.ConnString = u.String()
		s.Redacted = redactURL(u)
	} else if strings.Contains(raw, "://") {
		return s, fmt.Errorf("%w: scheme must be postgres:// or postgresql://", ErrInvalidURL)
	} else {
		kv, err := parseKeywordValue(raw)
		if err != nil {
			return s, fmt.Errorf("%w: %w", ErrInvalidURL, err)
		}
		var b, r strings.Builder
		for _, p := range kv {
			params[p.k] = p.v
			if isPrisma(p.k) {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
				r.WriteByte(' ')
			}
			b.WriteString(p.k + "=" + quoteDSN(p.v))
			if p.k == "password" {
				r.WriteString("password=xxxxx")
				if p.v != "" {
					s.secrets = append(s.secrets, p.v)
				}
			} else {
				r.WriteString(p.k + "=" + quoteDSN(p.v))
			}
		}
		s.ConnString, s.Redacted = b.String(), r.String()
	}

	if v, ok := params["connection_limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("%w: connection_limit must be a positive integer, got %q", ErrInvalidURL, v)
		}
		s.ConnectionLimit = n
	}
	for _, f := range []struct {
		key string
		dst *time.Duration
	}{{"pool_timeout", &s.PoolTimeout}, {"connect_timeout", &s.ConnectTimeout}} {
		if v, ok := params[f.key]; ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 0 || n > 86400 {
				return s, fmt.Errorf("%w: %s must be a number of seconds between 0 and 86400, got %q", ErrInvalidURL, f.key, v)
			}
			*f.dst = time.Duration(n * float64(time.Second))
		}
	}
	if v, ok := params["pgbouncer"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("%w: pgbouncer must be true or false, got %q", ErrInvalidURL, v)
		}
		s.PgBouncer = b
	}
	if v, ok := params["statement_cache_size"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s, fmt.Errorf("%w: statement_cache_size must be a non-negative integer, got %q", ErrInvalidURL, v)
		}
		s.StatementCacheSize = n
	}
	s.ApplicationName = params["application_name"]
	s.secrets = append(s.secrets, redact.Secrets(raw)...)
	s.Redacted = redact.DSN(s.ConnString)
	return s, nil
}

func isPrisma(k string) bool {
	for _, p := range prismaParams {
		if k == p {
			return true
		}
	}
	return false
}

func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), "xxxxx")
		}
	}
	q := c.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// scrub removes the password of raw from msg, whatever the parser quoted.
func scrub(msg, raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		if pw := rawPassword(raw[i+3:]); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

var quoted = regexp.MustCompile(`"[^"]*"`)

// unquote drops the quoted fragments net/url puts in its messages: they
// may hold part of a malformed password.
func unquote(msg string) string {
	return strings.Join(strings.Fields(quoted.ReplaceAllString(msg, "")), " ")
}

// rawPassword is the password part of "user:password@host…" as written.
func rawPassword(rest string) string {
	if end := strings.IndexAny(rest, "/?#"); end >= 0 && !strings.Contains(rest[:end], "@") {
		return ""
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if c := strings.Index(rest[:at], ":"); c >= 0 && c+1 < at {
			return rest[c+1 : at]
		}
	}
	return ""
}

// Scrub returns msg with the URL's secrets, in every form it was given,
// and those of any DSN in it, masked.
func (s URLSettings) Scrub(msg string) string {
	return redact.Text(msg, s.secrets...)
}

type kvPair struct{ k, v string }

// parseKeywordValue reads a libpq keyword/value string: key=value pairs
// separated by spaces, values optionally single-quoted with \ escapes.
func parseKeywordValue(s string) ([]kvPair, error) {
	var out []kvPair
	for {
		s = strings.TrimLeft(s, " \t\n\r")
		if s == "" {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, errors.New("keyword/value DSN: expected key=value")
		}
		key := strings.TrimSpace(s[:eq])
		if !validKey(key) {
			return nil, errors.New("keyword/value DSN: malformed key (want letters, digits and _)")
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for i := 0; i < len(s); i++ {
				switch s[i] {
				case '\\':
					if i+1 < len(s) {
						i++
						val.WriteByte(s[i])
					}
				case '\'':
					s, closed = s[i+1:], true
				default:
					val.WriteByte(s[i])
					continue
				}
				if closed {
					break
				}
			}
			if !closed {
				return nil, fmt.Errorf("keyword/value DSN: unterminated quote in %s", key)
			}
		} else {
			end := strings.IndexAny(s, " \t\n\r")
			if end < 0 {
				end = len(s)
			}
			val.WriteString(s[:end])
			s = s[end:]
		}
		out = append(out, kvPair{key, val.String()})
	}
}

func validKey(k string) bool {
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return k != ""
}

func quoteDSN(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\\t") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
