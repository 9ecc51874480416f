package pool_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// record is one captured log line, its attributes flattened to
// "group.key" = text.
type record struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r record) String() string { return fmt.Sprintf("%s %q %v", r.level, r.msg, r.attrs) }

// capture is a slog.Handler that keeps every record at or above min.
type capture struct {
	min   slog.Level
	mu    *sync.Mutex
	recs  *[]record
	attrs []slog.Attr
}

func newCapture(min slog.Level) *capture {
	return &capture{min: min, mu: &sync.Mutex{}, recs: &[]record{}}
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.min }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	rec := record{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	var add func(prefix string, a slog.Attr)
	add = func(prefix string, a slog.Attr) {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindGroup {
			for _, g := range v.Group() {
				add(prefix+a.Key+".", g)
			}
			return
		}
		rec.attrs[prefix+a.Key] = v.String()
	}
	for _, a := range c.attrs {
		add("", a)
	}
	r.Attrs(func(a slog.Attr) bool { add("", a); return true })
	c.mu.Lock()
	*c.recs = append(*c.recs, rec)
	c.mu.Unlock()
	return nil
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	d := *c
	d.attrs = append(append([]slog.Attr{}, c.attrs...), as...)
	return &d
}

func (c *capture) WithGroup(string) slog.Handler { return c } // unused by the pool

// sql returns the statement records (component tollgate/sql).
func (c *capture) sql() []record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []record
	for _, r := range *c.recs {
		if r.attrs["component"] == "tollgate/sql" {
			out = append(out, r)
		}
	}
	return out
}

// all returns every record as text, for leak checks.
func (c *capture) all() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, r := range *c.recs {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

func (c *capture) reset() {
	c.mu.Lock()
	*c.recs = (*c.recs)[:0]
	c.mu.Unlock()
}

type pgClass struct{ Relname string }

const boundValue = "b0und-V4lue-ab12" // a value a request might bind

func do(t *testing.T, p *pool.Pool, fn func(db *gorm.DB) error) error {
	t.Helper()
	return p.Do(t.Context(), func(ctx context.Context, db *gorm.DB) error { return fn(db) })
}

// Development logs each statement at Debug, with its duration, rows and
// placeholders, never the bound value.
func TestQueryLogDevelopmentDebug(t *testing.T) {
	h := newCapture(slog.LevelDebug)
	p := openPool(t, testdb.Postgres(t), pool.Config{Profile: pool.Development, Logger: slog.New(h)})
	h.reset() // Open's ping is not a statement; start clean anyway
	var s string
	if err := do(t, p, func(db *gorm.DB) error { return db.Raw("SELECT ?::text", boundValue).Scan(&s).Error }); err != nil || s != boundValue {
		t.Fatalf("select: %q, %v", s, err)
	}
	var cs []pgClass
	if err := do(t, p, func(db *gorm.DB) error {
		return db.Table("pg_class").Where("relname = ? AND relkind = ?", boundValue, "r").Find(&cs).Error
	}); err != nil {
		t.Fatal(err)
	}
	if err := do(t, p, func(db *gorm.DB) error { return db.Exec("SELECT ?::text", boundValue).Error }); err != nil {
		t.Fatal(err)
	}
	recs := h.sql()
	if len(recs) != 3 {
		t.Fatalf("%d statement records, want 3:\n%s", len(recs), h.all())
	}
	// Raw+Scan, a query, an Exec: GORM takes three paths to its logger.
	for i, want := range []string{"SELECT $1::text", "WHERE relname = $1 AND relkind = $2", "SELECT $1::text"} {
		r := recs[i]
		if r.level != slog.LevelDebug || !strings.HasSuffix(r.attrs["trace.sql"], want) || r.attrs["trace.duration"] == "" || r.attrs["trace.rows"] == "" {
			t.Fatalf("record %d = %v; want Debug with %q, duration and rows", i, r, want)
		}
	}
	if strings.Contains(h.all(), boundValue) {
		t.Fatalf("a bound value was logged:\n%s", h.all())
	}
}

// A value never shows in Production's lines either: not in a slow Scan's
// statement, and not in the error of a statement whose value PostgreSQL
// quotes back (22P02), through Scan and through Exec.
func TestQueryLogProductionHidesValues(t *testing.T) {
	h := newCapture(slog.LevelDebug)
	p := openPool(t, testdb.Postgres(t), pool.Config{Profile: pool.Production, Logger: slog.New(h), SlowQueryThreshold: 20 * time.Millisecond})
	var s string
	if err := do(t, p, func(db *gorm.DB) error {
		return db.Raw("SELECT ?::text FROM pg_sleep(0.05)", boundValue).Scan(&s).Error
	}); err != nil || s != boundValue {
		t.Fatalf("slow scan: %q, %v", s, err)
	}
	var n int
	scanErr := do(t, p, func(db *gorm.DB) error { return db.Raw("SELECT ?::int", boundValue).Scan(&n).Error })
	execErr := do(t, p, func(db *gorm.DB) error { return db.Exec("SELECT ?::int", boundValue).Error })
	for _, err := range []error{scanErr, execErr} {
		if err == nil || !strings.Contains(err.Error(), boundValue) {
			t.Fatalf("the caller's error should be PostgreSQL's own, quoting the value: %v", err)
		}
	}
	recs := h.sql()
	if len(recs) != 3 || recs[0].level != slog.LevelWarn || recs[1].level != slog.LevelError || recs[2].level != slog.LevelError ||
		!strings.Contains(recs[1].attrs["trace.error"], "22P02") {
		t.Fatalf("records %v; want a Warn and two Errors", recs)
	}
	if strings.Contains(h.all(), boundValue) {
		t.Fatalf("a bound value was logged:\n%s", h.all())
	}
}

// The default Info handler of a Development pool shows no statement: the
// statements are at Debug.
func TestQueryLogDevelopmentQuietAtInfo(t *testing.T) {
	h := newCapture(slog.LevelInfo)
	p := openPool(t, testdb.Postgres(t), pool.Config{Profile: pool.Development, Logger: slog.New(h)})
	for range 5 {
		if err := do(t, p, func(db *gorm.DB) error { return db.Exec("SELECT 1").Error }); err != nil {
			t.Fatal(err)
		}
	}
	if recs := h.sql(); len(recs) != 0 {
		t.Fatalf("statement records at Info: %v", recs)
	}
}

// Production logs nothing of a fast statement, a Warn for a 300 ms one
// (over the 200 ms default), an Error for an unknown column, nothing for a
// query that found no row, and a Debug, not an Error, for a statement the
// caller canceled.
func TestQueryLogProduction(t *testing.T) {
	h := newCapture(slog.LevelDebug)
	p := openPool(t, testdb.Postgres(t), pool.Config{Profile: pool.Production, Logger: slog.New(h)})

	if err := do(t, p, func(db *gorm.DB) error { return db.Exec("SELECT 1").Error }); err != nil {
		t.Fatal(err)
	}
	if recs := h.sql(); len(recs) != 0 {
		t.Fatalf("a fast statement was logged in Production: %v", recs)
	}

	if err := do(t, p, func(db *gorm.DB) error { return db.Exec("SELECT pg_sleep(0.3)").Error }); err != nil {
		t.Fatal(err)
	}
	recs := h.sql()
	if len(recs) != 1 || recs[0].level != slog.LevelWarn || !strings.Contains(recs[0].attrs["trace.sql"], "pg_sleep") {
		t.Fatalf("300 ms statement: %v, want one Warn", recs)
	}
	h.reset()

	err := do(t, p, func(db *gorm.DB) error { return db.Exec("SELECT no_such_column FROM pg_class").Error })
	recs = h.sql()
	if err == nil || len(recs) != 1 || recs[0].level != slog.LevelError || !strings.Contains(recs[0].attrs["trace.error"], "no_such_column") {
		t.Fatalf("unknown column: err %v, records %v; want one Error", err, recs)
	}
	h.reset()

	var c pgClass
	err = do(t, p, func(db *gorm.DB) error {
		return db.Table("pg_class").Where("relname = ?", "tollgate_no_such_relation").First(&c).Error
	})
	if !errors.Is(err, gorm.ErrRecordNotFound) || len(h.sql()) != 0 {
		t.Fatalf("not found: err %v, records %v; want ErrRecordNotFound and no record", err, h.sql())
	}

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	err = p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec("SELECT pg_sleep(5)").Error })
	recs = h.sql()
	if !errors.Is(err, context.Canceled) || len(recs) != 1 || recs[0].level != slog.LevelDebug {
		t.Fatalf("canceled: err %v, records %v; want context.Canceled and one Debug record", err, recs)
	}
}

// SlowQueryThreshold moves the Warn line, and a negative one turns it off.
func TestQueryLogSlowThreshold(t *testing.T) {
	u := testdb.Postgres(t)
	for _, tc := range []struct {
		threshold time.Duration
		want      int
	}{{20 * time.Millisecond, 1}, {-1, 0}} {
		h := newCapture(slog.LevelDebug)
		p := openPool(t, u, pool.Config{Profile: pool.Production, Logger: slog.New(h), SlowQueryThreshold: tc.threshold})
		if err := do(t, p, func(db *gorm.DB) error { return db.Exec("SELECT pg_sleep(0.05)").Error }); err != nil {
			t.Fatal(err)
		}
		if recs := h.sql(); len(recs) != tc.want || tc.want == 1 && recs[0].level != slog.LevelWarn {
			t.Errorf("threshold %v, 50 ms statement: %v, want %d Warn", tc.threshold, recs, tc.want)
		}
	}
}

// LogQueryValues shows the bound values; the pool's password, and that of
// any connection string among the values, stay masked all the same.
func TestQueryLogValuesOptInRedacted(t *testing.T) {
	ru, err := url.Parse(testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	const pw = "pW-sEcReT-9q7z" // trust auth ignores it
	ru.User = url.UserPassword(ru.User.Username(), pw)
	h := newCapture(slog.LevelDebug)
	p := openPool(t, ru.String(), pool.Config{Profile: pool.Development, Logger: slog.New(h), LogQueryValues: true})
	other := "postgres://app:0ther-Pw-77x@db.example.com/app"
	var got []string
	if err := do(t, p, func(db *gorm.DB) error {
		return db.Raw("SELECT unnest(ARRAY[?::text, ?::text, ?::text])", boundValue, "my password is "+pw, other).Scan(&got).Error
	}); err != nil || len(got) != 3 {
		t.Fatalf("select: %v, %v", got, err)
	}
	// A failing statement carries the value into its error too.
	if err := do(t, p, func(db *gorm.DB) error { return db.Exec("SELECT ?::int", pw).Error }); err == nil {
		t.Fatal("no error for a text cast to int")
	}
	recs := h.sql()
	if len(recs) != 2 || !strings.Contains(recs[0].attrs["trace.sql"], boundValue) {
		t.Fatalf("opted in: %v, want the value %q shown", recs, boundValue)
	}
	out := h.all()
	for _, secret := range []string{pw, "0ther-Pw-77x"} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret %q in the log:\n%s", secret, out)
		}
	}
	if !strings.Contains(recs[0].attrs["trace.sql"], "xxxxx") || recs[1].level != slog.LevelError {
		t.Fatalf("records %v: want the secrets masked and the failure at Error", recs)
	}
}

// Config.Gorm with its own Logger keeps it: the pool's logging stays out.
// Without one, the pool's logging applies.
func TestQueryLogGormEscapeHatch(t *testing.T) {
	u := testdb.Postgres(t)
	theirs := newCapture(slog.LevelDebug)
	ours := newCapture(slog.LevelDebug)
	p := openPool(t, u, pool.Config{Profile: pool.Development, Logger: slog.New(ours),
		Gorm: &gorm.Config{Logger: logger.NewSlogLogger(slog.New(theirs), logger.Config{LogLevel: logger.Info})}})
	if err := do(t, p, func(db *gorm.DB) error { return db.Exec("SELECT 1").Error }); err != nil {
		t.Fatal(err)
	}
	if n := len(*theirs.recs); n != 1 || len(ours.sql()) != 0 {
		t.Fatalf("their logger got %d records, ours %v; want 1 and none", n, ours.sql())
	}

	ours2 := newCapture(slog.LevelDebug)
	p2 := openPool(t, u, pool.Config{Profile: pool.Development, Logger: slog.New(ours2), Gorm: &gorm.Config{PrepareStmt: true}})
	if err := do(t, p2, func(db *gorm.DB) error { return db.Exec("SELECT 2").Error }); err != nil {
		t.Fatal(err)
	}
	if recs := ours2.sql(); len(recs) != 1 || recs[0].level != slog.LevelDebug {
		t.Fatalf("Gorm without a Logger: %v, want the pool's Debug record", recs)
	}
}
