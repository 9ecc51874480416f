package pool

import "github.com/tollgate-db/tollgate/internal/redact"

// sanitize returns err with the pool's secrets, and those of any DSN in
// its text, masked; the chain stays reachable by errors.Is and errors.As.
func (p *Pool) sanitize(err error) error {
	return redact.Error(err, p.url.secrets...)
}
