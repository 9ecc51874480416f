package pool

import (
	"fmt"
	"log/slog"

	"github.com/tollgate-db/tollgate/internal/redact"
)

// sanitize returns err with the pool's secrets, and those of any DSN in
// its text, masked; the chain stays reachable by errors.Is and errors.As.
func (p *Pool) sanitize(err error) error {
	if p.url.p == nil {
		return redact.Error(err)
	}
	return p.url.p.masker.Error(err)
}

// String shows c with DatabaseURL redacted, so that printing a Config
// cannot leak the password.
func (c Config) String() string {
	c.DatabaseURL = redact.DSN(c.DatabaseURL)
	type plain Config // no methods: fmt prints the fields
	return fmt.Sprintf("%+v", plain(c))
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue logs the redacted DatabaseURL and the limits.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", redact.DSN(c.DatabaseURL)),
		slog.String("profile", string(c.Profile)),
		slog.Int("max_open_conns", c.MaxOpenConns),
		slog.Int("max_concurrent", c.MaxConcurrent),
		slog.Int("max_queue", c.MaxQueue),
		slog.Duration("queue_timeout", c.QueueTimeout),
		slog.Duration("op_timeout", c.OpTimeout),
		slog.Bool("pgbouncer", c.PgBouncer),
	)
}
