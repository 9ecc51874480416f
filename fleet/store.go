package fleet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultTable is the table the fleet coordinates through.
const DefaultTable = "tollgate_fleet"

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$`)

// Schema is the DDL of the fleet table named table (an optionally
// schema-qualified lower-case identifier), for operators who create it
// themselves (in a migration, say) because the application's role may not
// create tables. UNLOGGED: the rows are heartbeats, worthless after a crash,
// and not worth WAL; a crash-restart empties the table, and every instance
// writes its row again within one period.
func Schema(table string) string {
	return `CREATE UNLOGGED TABLE IF NOT EXISTS ` + table + ` (
	fleet     text        NOT NULL,
	id        text        NOT NULL,
	demand    real        NOT NULL,
	max_conns integer     NOT NULL,
	share     integer     NOT NULL,
	target    integer     NOT NULL DEFAULT 0,
	capacity  integer     NOT NULL DEFAULT 0,
	ttl_ms    integer     NOT NULL DEFAULT 0,
	heartbeat timestamptz NOT NULL,
	joined    timestamptz NOT NULL,
	PRIMARY KEY (fleet, id)
)`
}

// store is the SQL of one fleet, run on a *sql.DB: the pool's own, so that
// every statement uses one of the connections the share allows.
type store struct {
	db    *sql.DB
	table string
	fleet string
}

// ensure creates the table when it is absent, and adds the columns a
// table made by an earlier version lacks. Concurrent creators race on the
// catalog (a unique violation on pg_type, or 42P07): the loser finds the
// table there and carries on.
func (s *store) ensure(ctx context.Context) error {
	var exists bool
	var have int
	err := s.db.QueryRowContext(ctx, `SELECT to_regclass($1::text) IS NOT NULL,
	(SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1::text) AND NOT attisdropped
		AND attname IN ('target', 'capacity', 'ttl_ms'))`, s.table).Scan(&exists, &have)
	if err != nil {
		return fmt.Errorf("fleet: look up table %s: %w", s.table, err)
	}
	if exists && have == 3 {
		return nil
	}
	if exists {
		_, err := s.db.ExecContext(ctx, `ALTER TABLE `+s.table+` ADD COLUMN IF NOT EXISTS target integer NOT NULL DEFAULT 0,
	ADD COLUMN IF NOT EXISTS capacity integer NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS ttl_ms integer NOT NULL DEFAULT 0`)
		if err != nil {
			return fmt.Errorf("fleet: add the columns of this version to %s (or run fleet.Schema's ALTER yourself): %w", s.table, err)
		}
		return nil
	}
	if _, err := s.db.ExecContext(ctx, Schema(s.table)); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "42P07" || pe.Code == "23505") {
			return nil
		}
		return fmt.Errorf("fleet: create table %s (or create it yourself with fleet.Schema): %w", s.table, err)
	}
	return nil
}

// beat is one instance's heartbeat: the upsert of its own row and the read
// of every live row, in one statement, on the database's clock. The other
// rows come from the statement's snapshot, this instance's own from
// RETURNING. Rows dead for more than ten TTLs are deleted on the way, so
// that crashed instances do not pile up.
func (s *store) beat(ctx context.Context, self Instance, target, capacity int, ttl time.Duration) (live []Instance, now time.Time, err error) {
	q := `WITH me AS (
	INSERT INTO ` + s.table + ` AS f (fleet, id, demand, max_conns, share, target, capacity, ttl_ms, heartbeat, joined)
	VALUES ($1::text, $2::text, $3::real, $4::integer, $5::integer, $8::integer, $7::integer, ($6::float8 * 1000)::integer, now(), now())
	ON CONFLICT (fleet, id) DO UPDATE
	SET demand = EXCLUDED.demand, max_conns = EXCLUDED.max_conns, share = EXCLUDED.share, target = EXCLUDED.target,
		capacity = EXCLUDED.capacity, ttl_ms = EXCLUDED.ttl_ms, heartbeat = EXCLUDED.heartbeat
	RETURNING id, demand, max_conns, share
), gone AS (
	DELETE FROM ` + s.table + ` WHERE fleet = $1::text AND heartbeat < now() - make_interval(secs => $6::float8 * 10)
)
SELECT id, demand, max_conns, share, now() FROM me
UNION ALL
SELECT id, demand, max_conns, share, now() FROM ` + s.table + `
WHERE fleet = $1::text AND id <> $2::text AND heartbeat > now() - make_interval(secs => $6::float8)`
	rows, err := s.db.QueryContext(ctx, q, s.fleet, self.ID, self.Demand, self.MaxConns, self.Share, ttl.Seconds(), capacity, target)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var in Instance
		if err := rows.Scan(&in.ID, &in.Demand, &in.MaxConns, &in.Share, &now); err != nil {
			return nil, time.Time{}, err
		}
		live = append(live, in)
	}
	return live, now, rows.Err()
}

// publish writes a changed share at once, so that the others see the
// room it left (or took) before their next heartbeat rather than after
// this instance's next one.
func (s *store) publish(ctx context.Context, id string, share, target int) error {
	_, err := s.db.ExecContext(ctx, `UPDATE `+s.table+` SET share = $3::integer, target = $4::integer WHERE fleet = $1::text AND id = $2::text`, s.fleet, id, share, target)
	return err
}

// leave deletes this instance's row.
func (s *store) leave(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM `+s.table+` WHERE fleet = $1::text AND id = $2::text`, s.fleet, id)
	return err
}

// Row is one row of the fleet table as ReadTable returns it.
type Row struct {
	Fleet     string
	Instance      // ID, Demand, MaxConns, Share
	Target    int // the share the instance's last allocation gave it
	Capacity  int // Budget − Reserve, as the instance has it
	TTL       time.Duration
	Heartbeat time.Time // on the database's clock
	Joined    time.Time
	Age       time.Duration // database now minus Heartbeat
}

// Live reports whether the row's instance counts: its last heartbeat is
// younger than its TTL.
func (r Row) Live() bool { return r.Age < r.TTL }

// ReadTable returns every row of table (DefaultTable when empty), live and
// expired, ordered by fleet and ID, with each row's heartbeat age on the
// database's clock. It is what `tollgate fleet` prints. db is any
// connection to the database (one statement; ctx bounds it).
func ReadTable(ctx context.Context, db *sql.DB, table string) ([]Row, error) {
	if table == "" {
		table = DefaultTable
	}
	if !identifier.MatchString(table) {
		return nil, fmt.Errorf("fleet: table name %q is not a lower-case identifier", table)
	}
	rows, err := db.QueryContext(ctx, `SELECT fleet, id, demand, max_conns, share, target, capacity, ttl_ms, heartbeat, joined, extract(epoch FROM now() - heartbeat)::float8
FROM `+table+` ORDER BY fleet, id`)
	if err != nil {
		return nil, fmt.Errorf("fleet: read %s: %w", table, err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		var age float64
		var ttl int64
		if err := rows.Scan(&r.Fleet, &r.ID, &r.Demand, &r.MaxConns, &r.Share, &r.Target, &r.Capacity, &ttl, &r.Heartbeat, &r.Joined, &age); err != nil {
			return nil, fmt.Errorf("fleet: read %s: %w", table, err)
		}
		r.Age = time.Duration(age * float64(time.Second))
		r.TTL = time.Duration(ttl) * time.Millisecond
		out = append(out, r)
	}
	return out, rows.Err()
}

// serverBudget is what PostgreSQL itself allows the current role:
// max_connections minus the reserved slots, or the role's connection
// limit when that is smaller. It also returns the server's port, which
// tells a pooler in between (its port differs from the URL's).
type serverBudget struct {
	maxConnections, reserved, roleLimit int // roleLimit -1: none
	serverPort                          int // 0: unix socket or unknown
}

func (s *store) serverBudget(ctx context.Context) (serverBudget, error) {
	var b serverBudget
	var port sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT current_setting('max_connections')::int,
	current_setting('superuser_reserved_connections')::int + coalesce(nullif(current_setting('reserved_connections', true), '')::int, 0),
	coalesce((SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user), -1),
	inet_server_port()`).Scan(&b.maxConnections, &b.reserved, &b.roleLimit, &port)
	if err != nil {
		return b, fmt.Errorf("fleet: read the server's connection limits: %w", err)
	}
	b.serverPort = int(port.Int64)
	return b, nil
}

// budget is the smaller of the server's limits, and a sentence saying
// what was found.
func (b serverBudget) budget() (int, string) {
	n := b.maxConnections - b.reserved
	what := fmt.Sprintf("max_connections %d − %d reserved = %d", b.maxConnections, b.reserved, n)
	if b.roleLimit >= 0 && b.roleLimit < n {
		n = b.roleLimit
		what += fmt.Sprintf("; the role's CONNECTION LIMIT %d is smaller", b.roleLimit)
	}
	return n, what
}
