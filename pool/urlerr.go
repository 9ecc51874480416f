package pool

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tollgate-db/tollgate/internal/redact"
)

// explainParse turns an error of pgx.ParseConfig into a URLError that
// says what is wrong without quoting the string: pgx's messages quote
// parts of it (its own redaction is best effort), so only their fixed
// wording is kept, mapped to a hint where the cause is a common one.
func explainParse(err error, raw string, secrets []string) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return &URLError{Reason: redact.Text(err.Error(), secrets...)}
	}
	c := *pe
	c.ConnString = ""
	msg := strings.TrimPrefix(c.Error(), "cannot parse ``: ")
	inner := ""
	if u := errors.Unwrap(pe); u != nil {
		inner = u.Error()
		msg = strings.TrimSuffix(msg, " ("+inner+")")
	}
	switch {
	case msg == "failed to parse as URL" || msg == "failed to parse as keyword/value":
		return &URLError{Reason: syntaxReason(inner)}
	case msg == "invalid port":
		return &URLError{Param: "port", Reason: "must be a number from 1 to 65535 (a ':', '/', '?', '#' or '@' in a password must be percent-encoded: %3A %2F %3F %23 %40)"}
	case msg == "invalid connect_timeout":
		return &URLError{Param: "connect_timeout", Reason: "must be a whole number of seconds from 0 to 86400; libpq and pgx read an integer"}
	case msg == "failed to configure TLS" && strings.Contains(inner, `both "sslcert" and "sslkey" are required`):
		if _, hasKey := redact.Param(raw, "sslkey"); !hasKey {
			return &URLError{Param: "sslcert", Reason: "set without sslkey: Prisma's sslcert is the server's CA certificate, which libpq and pgx call sslrootcert; " +
				"with sslkey, sslcert is the client certificate"}
		}
		return &URLError{Param: "sslkey", Reason: "set without sslcert: a client certificate needs both"}
	case msg == "failed to configure TLS" && inner == "sslmode is invalid":
		return &URLError{Param: "sslmode", Reason: "must be disable, allow, prefer, require, verify-ca or verify-full"}
	}
	if inner != "" && !strings.HasPrefix(msg, "failed to parse") {
		msg += ": " + inner
	}
	return &URLError{Reason: redact.Text(msg, secrets...)}
}

// syntaxReason rewords pgx's URL and keyword/value syntax errors, which
// quote the offending part of the string, as hints that quote nothing.
func syntaxReason(inner string) string {
	for _, m := range []struct{ prefix, reason string }{
		{"forbidden NUL byte", "contains a NUL byte"},
		{`missing key/value separator "="`, `a query parameter has no "=" (a raw '&' in a value must be written %26)`},
		{`extra key/value separator "="`, `a query parameter has a second "=" (a raw '=' in a value must be written %3D)`},
		{"invalid percent-encoded token in password", "the password has a '%' not followed by two hex digits (write a raw '%' as %25)"},
		{"invalid percent-encoded token in sslpassword", "sslpassword has a '%' not followed by two hex digits (write a raw '%' as %25)"},
		{"invalid percent-encoded token", "a '%' is not followed by two hex digits (write a raw '%' as %25)"},
		{"forbidden value %00", "%00 (NUL) is not allowed"},
		{"unexpected spaces found in password", "the password has a space in it: write it %20"},
		{"unexpected spaces found in sslpassword", "sslpassword has a space in it: write it %20"},
		{"unexpected spaces found", "a space inside a value: write it %20"},
		{"end of string reached when looking for matching", `an IPv6 host address has no closing "]"`},
		{"IPv6 host address may not be empty", "an IPv6 host address is empty"},
		{"unexpected character", `unexpected character after an IPv6 host address (want ":" or "/")`},
		{`missing "=" after`, `a keyword is not followed by "="`},
		{"unterminated quoted string", "a quoted value has no closing quote"},
		{"invalid keyword/value", "expected key=value pairs separated by spaces"},
	} {
		if strings.HasPrefix(inner, m.prefix) {
			return m.reason
		}
	}
	return "malformed connection string"
}
