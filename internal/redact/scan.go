package redact

import "strings"

// urlSpans finds the secrets of the URL s whose scheme ends at rest (just
// past "://"). It follows libpq's reading (userinfo ends at the first '@'
// met before any '/'; hosts end at '/' or '?'; '&'-separated query pairs)
// and widens it where a raw '@', '/', '?', '#' or ':' in a password would
// make libpq read part of the password as a host, port or path.
func urlSpans(s string, rest int) []span {
	var out []span
	p := s[rest:]
	hostStart := rest
	if i := strings.IndexAny(p, "@/"); i >= 0 && p[i] == '@' {
		// Userinfo, up to the last '@' before the query: a raw '@' or '/'
		// in the password is then hidden with it.
		at := i
		if q := strings.IndexByte(p, '?'); q > i {
			at = strings.LastIndexByte(p[:q], '@')
		} else if q < 0 {
			at = strings.LastIndexByte(p, '@')
		}
		if c := strings.IndexByte(p[:at], ':'); c >= 0 {
			out = append(out, span{rest + c + 1, rest + at})
		}
		hostStart = rest + at + 1
	} else if c := strings.IndexByte(p[:hostListEnd(p)], ':'); c >= 0 {
		// No userinfo as libpq reads it. An '@' in the path, or ports that
		// are no ports followed by an '@' anywhere, mean a password with a
		// raw '/', '?' or '#' cut the userinfo short: hide up to that '@'.
		a := p[:hostListEnd(p)]
		q := strings.IndexByte(p, '?')
		if q < 0 {
			q = len(p)
		}
		if at := strings.LastIndexByte(p[:q], '@'); at > len(a) {
			out = append(out, span{rest + c + 1, rest + at})
			hostStart = rest + at + 1
		} else if at := strings.LastIndexByte(p, '@'); at > len(a) && !validHostList(a) {
			out = append(out, span{rest + c + 1, rest + at})
			hostStart = rest + at + 1
		}
	}
	h := s[hostStart:]
	hl := h[:hostListEnd(h)]
	out = append(out, badPorts(hl, hostStart)...)
	q := strings.IndexByte(h, '?')
	if q < 0 {
		return out
	}
	pos := hostStart + q + 1
	afterSecret := false
	for _, pair := range strings.Split(h[q+1:], "&") {
		eq := strings.IndexByte(pair, '=')
		switch {
		case eq < 0:
			// Not a pair: maybe the tail of a password with a raw '&'.
			out = append(out, span{pos, pos + len(pair)})
		case looksSecret(lenientDecode(pair[:eq])):
			out = append(out, span{pos + eq + 1, pos + len(pair)})
			afterSecret = true
		case afterSecret && !knownKey(lenientDecode(pair[:eq])):
			// A pair no one would write, right after a secret: maybe the
			// tail of a password with a raw '&' in it.
			out = append(out, span{pos, pos + len(pair)})
		default:
			afterSecret = false
		}
		pos += len(pair) + 1
	}
	return out
}

// knownKeys are the parameters a connection string commonly carries:
// libpq's, pgx's, Prisma's and frequent server settings. A pair with
// another key right after a secret is hidden with it.
var knownKeys = []string{
	"host", "hostaddr", "port", "dbname", "database", "user", "passfile", "connect_timeout",
	"sslmode", "sslkey", "sslcert", "sslcertmode", "sslrootcert", "sslnegotiation", "sslsni", "sslcrl", "sslcrldir",
	"krbspn", "krbsrvname", "gssencmode", "target_session_attrs", "load_balance_hosts", "service", "servicefile",
	"min_protocol_version", "max_protocol_version", "channel_binding", "require_auth", "application_name",
	"fallback_application_name", "options", "client_encoding", "keepalives", "keepalives_idle", "ssl",
	"statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode",
	"pool_max_conns", "pool_min_conns", "pool_max_conn_lifetime", "pool_max_conn_idle_time", "pool_health_check_period",
	"connection_limit", "pool_timeout", "pgbouncer", "socket_timeout", "statement_cache_size", "schema",
	"sslidentity", "sslaccept", "search_path", "timezone", "statement_timeout", "lock_timeout",
	"idle_in_transaction_session_timeout", "datestyle", "intervalstyle", "work_mem", "role",
}

func knownKey(k string) bool {
	k = asciiLower(strings.Trim(k, " "))
	for _, n := range knownKeys {
		if k == n {
			return true
		}
	}
	return false
}

// hostListEnd is where the host list of p (what follows the userinfo)
// ends: at the path or the query.
func hostListEnd(p string) int {
	if i := strings.IndexAny(p, "/?"); i >= 0 {
		return i
	}
	return len(p)
}

// validHostList reports whether a is host[:port][,host[:port]]… with
// numeric ports, IPv6 addresses in brackets.
func validHostList(a string) bool {
	return len(badPorts(a, 0)) == 0
}

// badPorts returns the spans of the ports in the host list hl (at offset
// off in the string) that are not numbers: text there may be a password.
func badPorts(hl string, off int) []span {
	var out []span
	pos := off
	for _, h := range strings.Split(hl, ",") {
		hp := h
		if strings.HasPrefix(h, "[") {
			if end := strings.IndexByte(h, ']'); end >= 0 {
				hp = h[end+1:]
			} else {
				out = append(out, span{pos, pos + len(h)})
				pos += len(h) + 1
				continue
			}
		}
		if c := strings.IndexByte(hp, ':'); c >= 0 {
			port := strings.Trim(hp[c+1:], " ")
			if !allDigits(port) {
				start := pos + (len(h) - len(hp)) + c + 1
				out = append(out, span{start, pos + len(h)})
			}
		}
		pos += len(h) + 1
	}
	return out
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// kvSpans finds the secrets of a keyword/value DSN, read as libpq reads
// it (key = value, values quoted with '…' or bare, backslash escapes in
// both). From the first malformed byte on, the rest is hidden.
func kvSpans(s string) []span {
	var out []span
	pos := 0
	afterSecret := false
	for {
		for pos < len(s) && isSpace(s[pos]) {
			pos++
		}
		if pos == len(s) {
			return out
		}
		eq := strings.IndexByte(s[pos:], '=')
		if eq < 0 {
			return append(out, span{pos, len(s)})
		}
		key := strings.Trim(s[pos:pos+eq], " \t\n\r\v\f")
		if key == "" || strings.IndexAny(key, " \t\n\r\v\f") >= 0 {
			return append(out, span{pos, len(s)})
		}
		v := pos + eq + 1
		for v < len(s) && isSpace(s[v]) {
			v++
		}
		end, ok := kvValueEnd(s, v)
		if !ok {
			return append(out, span{v, len(s)})
		}
		switch {
		case looksSecret(key):
			out = append(out, span{v, end})
			afterSecret = true
		case afterSecret && !knownKey(key):
			// A key no one would write, right after a secret: maybe the
			// tail of a password with a raw space in it.
			out = append(out, span{pos, end})
		default:
			afterSecret = false
		}
		pos = end
	}
}

// kvValueEnd returns the end of the keyword/value value starting at v
// (past the closing quote of a quoted one); ok is false for an
// unterminated quote.
func kvValueEnd(s string, v int) (end int, ok bool) {
	if v < len(s) && s[v] == '\'' {
		for i := v + 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '\'':
				return i + 1, true
			}
		}
		return len(s), false
	}
	i := v
	for i < len(s) && !isSpace(s[i]) {
		if s[i] == '\\' {
			i++
		}
		i++
	}
	return min(i, len(s)), true
}

// textSpans finds secrets in free text: the userinfo and secret query
// values of every URL in it, and every password= or sslpassword= value
// (in any case, with or without spaces around '=').
func textSpans(s string) []span {
	var out []span
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		j += i
		start := j
		for start > 0 && isSchemeByte(s[start-1], false) {
			start--
		}
		for start < j && !isSchemeByte(s[start], true) {
			start++
		}
		end := j + 3
		for end < len(s) && !isSpace(s[end]) {
			end++
		}
		if start < j {
			for _, sp := range urlSpans(s[start:end], j+3-start) {
				out = append(out, span{sp.start + start, sp.end + start})
			}
		}
		i = j + 3
	}
	lower := asciiLower(s)
	for i := 0; ; {
		j := strings.Index(lower[i:], "password")
		if j < 0 {
			break
		}
		j += i
		i = j + len("password")
		k := i
		for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		if k == len(s) || s[k] != '=' {
			continue
		}
		k++
		for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		key := j
		if key >= 3 && lower[key-3:key] == "ssl" {
			key -= 3
		}
		var end int
		if key > 0 && (s[key-1] == '?' || s[key-1] == '&') {
			end = k
			for end < len(s) && s[end] != '&' && !isSpace(s[end]) {
				end++
			}
		} else {
			end, _ = kvValueEnd(s, k)
		}
		out = append(out, span{k, end})
		i = max(i, end)
	}
	return out
}

// asciiLower lower-cases ASCII letters only, so that indices stay those
// of s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Param returns the value of the last key=value pair of the DSN s whose
// key is exactly key, decoded as libpq would (percent-escapes in a URL's
// query, quotes and backslashes in a keyword/value DSN). It reads
// leniently and is meant for explaining errors, not for connecting.
func Param(s, key string) (string, bool) {
	var val string
	var found bool
	if rest := schemeEnd(s); rest >= 0 {
		q := strings.IndexByte(s[rest:], '?')
		if q < 0 {
			return "", false
		}
		for _, pair := range strings.Split(s[rest+q+1:], "&") {
			k, v, ok := strings.Cut(pair, "=")
			if ok && strings.Trim(lenientDecode(k), " ") == key {
				val, found = strings.Trim(lenientDecode(v), " "), true
			}
		}
		return val, found
	}
	pos := 0
	for {
		for pos < len(s) && isSpace(s[pos]) {
			pos++
		}
		eq := strings.IndexByte(s[pos:], '=')
		if pos == len(s) || eq < 0 {
			return val, found
		}
		k := strings.Trim(s[pos:pos+eq], " \t\n\r\v\f")
		v := pos + eq + 1
		for v < len(s) && isSpace(s[v]) {
			v++
		}
		end, ok := kvValueEnd(s, v)
		if k == key {
			val, found = unescapeKV(s[v:end]), true
		}
		if !ok || strings.IndexAny(k, " \t\n\r\v\f") >= 0 {
			return val, found
		}
		pos = end
	}
}
