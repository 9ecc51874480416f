package redact

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Mask replaces every secret.
const Mask = "xxxxx"

// SecretKeys are the connection parameters libpq treats as secrets,
// matched case-insensitively: a key spelled PASSWORD is still one the user
// meant as a password.
var SecretKeys = []string{"password", "sslpassword"}

// IsSecretKey reports whether key, percent-decoded and in any case, names
// a secret parameter.
func IsSecretKey(key string) bool {
	key = strings.Trim(key, " \t\n\r\v\f")
	for _, k := range SecretKeys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// looksSecret is what the redactor hides: any key with "password" in it,
// in any case, so that a key pgx would mangle or forward (?password,
// PGPASSWORD, password_) is hidden too.
func looksSecret(key string) bool {
	return strings.Contains(asciiLower(key), "password")
}

// DSN returns s, a PostgreSQL URL ("scheme://…") or keyword/value DSN,
// with every secret replaced by [Mask] and everything else kept as
// written. It never fails: a string that does not parse is masked
// generously (from the first suspicious byte to where the secret may end),
// since showing a little too little beats leaking part of a password.
func DSN(s string) string {
	return apply(s, spans(s))
}

// Secrets returns the secret values written in the DSN s, as written and
// percent-decoded, for [Text] to hide wherever another layer quotes them.
func Secrets(s string) []string {
	var out []string
	for _, sp := range spans(s) {
		v := s[sp.start:sp.end]
		out = append(out, v)
		if d := lenientDecode(v); d != v {
			out = append(out, d)
		}
		if u := unescapeKV(v); u != v {
			out = append(out, u)
		}
	}
	return out
}

// Text returns s, free text such as an error message, with every given
// secret (as is and in the encoded forms other layers print: URL query
// and path escaping, Go quoting, libpq quoting) and the secrets of every
// DSN it contains (URL userinfo, password= and sslpassword= values)
// replaced by [Mask]. Empty secrets are ignored; a short secret masks each
// of its occurrences, even inside other words. A caller that masks many
// texts with the same secrets should keep a [Masker] instead.
func Text(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" && len(sec) <= len(s) { // every encoded form is as long or longer
			return NewMasker(secrets...).Text(s)
		}
	}
	return apply(s, textSpans(s))
}

// Masker masks a fixed set of secrets, their encoded forms computed once.
// It is safe for concurrent use.
type Masker struct {
	variants []string // longest first
}

// NewMasker prepares the secrets for [Masker.Text].
func NewMasker(secrets ...string) *Masker {
	var all []string
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		all = append(all, sec, url.QueryEscape(sec), url.PathEscape(sec),
			strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(sec))
		if q := strconv.Quote(sec); len(q) > 2 {
			all = append(all, q[1:len(q)-1])
		}
	}
	// Longest first, so that an encoded form is not half-replaced by a
	// shorter one it contains.
	slices.SortFunc(all, func(a, b string) int { return len(b) - len(a) })
	return &Masker{variants: slices.Compact(all)}
}

// Text is [Text] with the Masker's secrets.
func (m *Masker) Text(s string) string {
	if m != nil {
		for _, v := range m.variants {
			if len(v) <= len(s) && strings.Contains(s, v) {
				s = strings.ReplaceAll(s, v, Mask)
			}
		}
	}
	return apply(s, textSpans(s))
}

// Error is [Error] with the Masker's secrets.
func (m *Masker) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := m.Text(msg)
	if clean == msg {
		return err
	}
	return &maskedError{msg: clean, err: err}
}

type span struct{ start, end int }

// apply replaces each span of s (sorted, non-overlapping after merge) by
// Mask.
func apply(s string, sps []span) string {
	if len(sps) == 0 {
		return s
	}
	slices.SortFunc(sps, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	b.Grow(len(s))
	pos := 0
	for _, sp := range sps {
		if sp.end <= sp.start || sp.end <= pos {
			continue
		}
		if sp.start < pos { // overlaps the span just masked: extend it
			pos = sp.end
			continue
		}
		b.WriteString(s[pos:sp.start])
		b.WriteString(Mask)
		pos = sp.end
	}
	b.WriteString(s[pos:])
	return b.String()
}

// spans finds the secrets of one whole DSN.
func spans(s string) []span {
	if i := schemeEnd(s); i >= 0 {
		return urlSpans(s, i)
	}
	return kvSpans(s)
}

// schemeEnd returns the index just past "scheme://" when s, after leading
// white space, starts with one, else -1.
func schemeEnd(s string) int {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && isSchemeByte(s[j], j == i) {
		j++
	}
	if j > i && strings.HasPrefix(s[j:], "://") {
		return j + 3
	}
	return -1
}

func isSchemeByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	case c >= '0' && c <= '9', c == '+', c == '-', c == '.':
		return !first
	}
	return false
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

// lenientDecode percent-decodes what decodes and keeps the rest.
func lenientDecode(raw string) string {
	if !strings.Contains(raw, "%") {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' && i+2 < len(raw) {
			if v, err := strconv.ParseUint(raw[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(raw[i])
	}
	return b.String()
}

// unescapeKV undoes libpq's backslash escapes of a keyword/value value.
func unescapeKV(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		v = v[1 : len(v)-1]
	}
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
