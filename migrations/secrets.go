package migrations

import (
	"fmt"
	"log/slog"

	"github.com/tollgate-db/tollgate/internal/redact"
)

// String shows c with DirectURL redacted, so that printing a Config
// cannot leak the password.
func (c Config) String() string {
	c.DirectURL = redact.DSN(c.DirectURL)
	type plain Config // no methods: fmt prints the fields
	return fmt.Sprintf("%+v", plain(c))
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue logs the redacted DirectURL and the table.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("direct_url", redact.DSN(c.DirectURL)),
		slog.String("table", c.Table),
		slog.Bool("disable_lock", c.DisableLock),
		slog.Duration("lock_timeout", c.LockTimeout),
	)
}
