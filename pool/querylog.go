package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"gorm.io/gorm/logger"

	"github.com/tollgate-db/tollgate/internal/redact"
)

// DefaultSlowQueryThreshold is the default of Config.SlowQueryThreshold.
const DefaultSlowQueryThreshold = 200 * time.Millisecond

// queryLogger is the GORM logger a Pool gets unless Config.Gorm brings its
// own: GORM's slog logger (logger.NewSlogLogger) writing through
// Config.Logger.
//
//   - Development traces every statement, logged at Debug: duration, rows
//     and the statement with placeholders ($1, $2), the values left out
//     unless Config.LogQueryValues.
//   - Every profile logs statements slower than Config.SlowQueryThreshold
//     at Warn and failed statements at Error, except a query that found no
//     row (not a failure) and a statement whose ctx the caller canceled
//     (Debug: the caller left, the database did not fail).
//   - Every line passes through the redactor: the pool's password, and
//     the password of any connection string quoted in a statement, a value
//     or an error, never show, even with LogQueryValues.
func (p *Pool) queryLogger() logger.Interface {
	level := logger.Warn // slow statements and errors
	if p.cfg.Profile == Development {
		level = logger.Info // every statement; queryHandler logs them at Debug
	}
	slow := p.cfg.SlowQueryThreshold
	if slow < 0 {
		slow = 0 // GORM's "off"
	}
	var masker *redact.Masker // the pool's password, as written and decoded
	if p.url.p != nil {
		masker = p.url.p.masker
	}
	h := &queryHandler{next: p.cfg.Logger.With("component", "tollgate/sql").Handler(), masker: masker}
	return sqlLogger{
		Interface: logger.NewSlogLogger(slog.New(h), logger.Config{
			LogLevel:                  level,
			SlowThreshold:             slow,
			ParameterizedQueries:      !p.cfg.LogQueryValues,
			IgnoreRecordNotFoundError: true,
		}),
		level: level, slow: slow, parameterized: !p.cfg.LogQueryValues, h: h,
	}
}

// GORM's Scan (db.Raw(...).Scan(&v)) records its statement through a
// logger of its own (logger.Recorder), which asks the package variable
// logger.RecorderParamsFilter instead of the pool's logger whether to
// leave the values out; by default it keeps them. So the pool chains a
// filter in front of it, once, at start-up: a statement whose ctx is a
// pool's stmtCtx has its values left out (and kept aside, see stmtCtx);
// every other statement, of any other GORM use in the process, goes to
// the filter that was there.
func init() {
	prev := logger.RecorderParamsFilter
	logger.RecorderParamsFilter = func(ctx context.Context, sql string, params ...any) (string, []any) {
		if sc := stmtCtxOf(ctx); sc != nil {
			sc.keep(params)
			return sql, nil
		}
		if prev == nil {
			return sql, params
		}
		return prev(ctx, sql, params...)
	}
}

// stmtCtx is the ctx the statements of a call run under, in a pool
// without LogQueryValues: the call's ctx, which marks the statements as
// ones whose values must not be logged, and keeps the values of the last
// one, so that a database error quoting one of them (22P02 "invalid input
// syntax for type integer: \"…\"") can be logged with it masked. It is
// one allocation, like context.WithValue.
type stmtCtx struct {
	context.Context
	mu   sync.Mutex
	vars []any
}

type stmtCtxKey struct{}

func (c *stmtCtx) Value(key any) any {
	if key == (stmtCtxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// afterFuncer is what the context package looks for to register a
// callback on a context it does not know without starting a goroutine.
type afterFuncer interface {
	AfterFunc(func()) func() bool
}

// AfterFunc passes the registration to the call's ctx. Without it every
// query would cost a goroutine: database/sql derives a WithCancel context
// from the statement's ctx, and the context package, meeting a wrapper it
// does not know, would watch it from a goroutine of its own.
func (c *stmtCtx) AfterFunc(f func()) func() bool {
	if a, ok := c.Context.(afterFuncer); ok {
		return a.AfterFunc(f)
	}
	return context.AfterFunc(c.Context, f)
}

func (c *stmtCtx) keep(vars []any) {
	c.mu.Lock()
	c.vars = vars
	c.mu.Unlock()
}

// texts returns the kept values that are text of 3 bytes or more: the
// ones worth masking (a shorter one would mask half of every message).
func (c *stmtCtx) texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, v := range c.vars {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		case fmt.Stringer:
			s = v.String()
		}
		if len(s) >= 3 {
			out = append(out, s)
		}
	}
	return out
}

func stmtCtxOf(ctx context.Context) *stmtCtx {
	if ctx == nil {
		return nil
	}
	sc, _ := ctx.Value(stmtCtxKey{}).(*stmtCtx)
	return sc
}

// stmtCtx returns the ctx for the statements of a call: ctx itself when
// Config.LogQueryValues, else a stmtCtx over it.
func (p *Pool) stmtCtx(ctx context.Context) context.Context {
	if p.cfg.LogQueryValues {
		return ctx
	}
	return &stmtCtx{Context: ctx}
}

// maskedValues is a statement's error with the statement's own values
// masked in its text, for the log only.
type maskedValues struct {
	err error
	sc  *stmtCtx
}

func (e maskedValues) Error() string { return redact.Text(e.err.Error(), e.sc.texts()...) }
func (e maskedValues) Unwrap() error { return e.err }

// sqlLogger is GORM's slog logger behind a gate. GORM asks its logger to
// trace every statement, and its slog logger builds the statement's text
// and attributes before it knows whether anything will be written: the
// gate returns first when nothing would be (a statement that succeeded
// in time, with every statement's tracing off or Debug disabled), which
// keeps the per-call cost of logging near zero. It also marks the ctx of
// a statement the caller canceled, so that queryHandler logs it at Debug.
type sqlLogger struct {
	logger.Interface
	level         logger.LogLevel
	slow          time.Duration
	parameterized bool // values left out
	h             *queryHandler
}

type canceledKey struct{}

func (l sqlLogger) LogMode(level logger.LogLevel) logger.Interface {
	l.Interface, l.level = l.Interface.LogMode(level), level
	return l
}

func (l sqlLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if l.level <= logger.Silent {
		return
	}
	if err == nil || errors.Is(err, logger.ErrRecordNotFound) {
		slow := l.slow > 0 && time.Since(begin) > l.slow
		if !slow && (l.level < logger.Info || !l.h.Enabled(ctx, slog.LevelInfo)) {
			return
		}
	} else if errors.Is(err, context.Canceled) {
		ctx = context.WithValue(ctx, canceledKey{}, true)
	}
	if sc := stmtCtxOf(ctx); sc != nil && err != nil {
		err = maskedValues{err, sc} // its text is read after fc ran
	}
	if l.parameterized {
		// GORM renders an unbound PostgreSQL placeholder $1 as "$1$";
		// "$" digits "$" is no valid dollar-quote tag, so only GORM's
		// rendering has it outside literals.
		inner := fc
		fc = func() (string, int64) {
			sql, rows := inner()
			return unboundPlaceholder.ReplaceAllString(sql, "$$$1"), rows
		}
	}
	l.Interface.Trace(ctx, begin, fc, err)
}

var unboundPlaceholder = regexp.MustCompile(`\$(\d+)\$`)

// ParamsFilter is GORM's hook for leaving the values out of a logged
// statement (ParameterizedQueries). GORM looks for it on the logger
// itself, so the wrapper must pass it on.
func (l sqlLogger) ParamsFilter(ctx context.Context, sql string, params ...any) (string, []any) {
	if sc := stmtCtxOf(ctx); sc != nil {
		sc.keep(params)
	}
	if f, ok := l.Interface.(interface {
		ParamsFilter(context.Context, string, ...any) (string, []any)
	}); ok {
		return f.ParamsFilter(ctx, sql, params...)
	}
	return sql, params
}

// queryHandler is the slog.Handler under GORM's slog logger: it moves
// GORM's Info lines (every statement, in Development) to Debug, a
// canceled statement's Error to Debug, and masks secrets in every string
// of the record before passing it on.
type queryHandler struct {
	next   slog.Handler
	masker *redact.Masker
}

func statementLevel(ctx context.Context, l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	if l == slog.LevelError && ctx != nil && ctx.Value(canceledKey{}) != nil {
		return slog.LevelDebug
	}
	return l
}

func (h *queryHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, statementLevel(ctx, l))
}

func (h *queryHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, statementLevel(ctx, r.Level), h.masker.Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *queryHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return &queryHandler{next: h.next.WithAttrs(clean), masker: h.masker}
}

func (h *queryHandler) WithGroup(name string) slog.Handler {
	return &queryHandler{next: h.next.WithGroup(name), masker: h.masker}
}

// attr returns a with every string in it masked: strings, groups, and
// any other value that is not a plain number, as its text.
func (h *queryHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.masker.Text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]slog.Attr, len(g))
		for i, x := range g {
			clean[i] = h.attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindAny:
		return slog.String(a.Key, h.masker.Text(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
