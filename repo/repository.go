package repo

import (
	"context"
	"fmt"
	"reflect"

	"github.com/tollgate-db/tollgate/pool"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// Runner runs fn with a *gorm.DB, as (*pool.Pool).Do does: *pool.Pool is
// the Runner of production code; tests may pass a fake. Every call a
// Repository makes goes through it, reads with pool.Idempotent(), writes
// without.
type Runner interface {
	Do(ctx context.Context, fn func(ctx context.Context, db *gorm.DB) error, opts ...pool.CallOption) error
}

// Repository is a typed repository of the GORM model T (a struct type)
// whose every call goes through a Runner. It is safe for concurrent use;
// make one per model and share it.
type Repository[T any] struct {
	r     Runner
	m     *model
	namer schema.Namer
	ops   callOpts
}

// DefaultBatchSize is the batch size of CreateBatch, Upsert and Each when
// none is given.
const DefaultBatchSize = 500

// callOpts are the options of a repository's calls: reads are marked
// safe to retry after a lost connection, and every call is named for
// telemetry (pool.Operation) by its statement and table.
type callOpts struct {
	read, insert, update, delete []pool.CallOption
}

func newCallOpts(table string) callOpts {
	return callOpts{
		read:   []pool.CallOption{pool.Idempotent(), pool.Operation("SELECT", table)},
		insert: []pool.CallOption{pool.Operation("INSERT", table)},
		update: []pool.CallOption{pool.Operation("UPDATE", table)},
		delete: []pool.CallOption{pool.Operation("DELETE", table)},
	}
}

// New returns the repository of T over r. T's schema is parsed once per
// naming strategy (GORM's default, or the strategy of r.Gorm() when r has
// that method, as *pool.Pool does) and cached. New never panics: when T
// cannot be mapped, or r is nil, every method returns the reason, which
// Err also reports, so a program can check it at start-up.
func New[T any](r Runner) *Repository[T] {
	if r == nil || isNil(r) {
		var zero T
		return &Repository[T]{m: &model{err: fmt.Errorf("%w: nil Runner for %T", ErrInvalidModel, zero)}}
	}
	var namer schema.Namer
	if g, ok := r.(interface{ Gorm() *gorm.DB }); ok {
		if db := g.Gorm(); db != nil && db.Config != nil {
			namer = db.NamingStrategy
		}
	}
	if namer == nil {
		namer = schema.NamingStrategy{IdentifierMaxLength: 64} // gorm.Open's default
	}
	rep := &Repository[T]{r: r, m: parseModel[T](namer), namer: namer}
	rep.ops = newCallOpts(rep.Table())
	return rep
}

// Err reports why the repository cannot work (ErrInvalidModel), or nil.
func (r *Repository[T]) Err() error { return r.m.err }

// Table is the model's table name, or "" when Err is not nil.
func (r *Repository[T]) Table() string {
	if r.m.sch == nil {
		return ""
	}
	return r.m.sch.Table
}

func (r *Repository[T]) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	table := "?"
	if r.m.sch != nil {
		table = r.m.sch.Table
	}
	return fmt.Errorf("repo: %s %s: %w", op, table, mapErr(err))
}

func (r *Repository[T]) failID(op string, id any, err error) error {
	if err == nil {
		return nil
	}
	table := "?"
	if r.m.sch != nil {
		table = r.m.sch.Table
	}
	return fmt.Errorf("repo: %s %s %s: %w", op, table, keyText(id), mapErr(err))
}

// Get returns the row whose primary key is id. id must have the key's
// type, or any integer type when the key is an integer: a string is never
// accepted for an integer key. No row (or a soft-deleted one): ErrNotFound.
func (r *Repository[T]) Get(ctx context.Context, id any) (T, error) {
	var out T
	if err := r.m.needPK(); err != nil {
		return out, r.failID("get", id, err)
	}
	v, err := r.m.pkValue(id)
	if err != nil {
		return out, r.failID("get", id, err)
	}
	err = r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) (err error) {
		out, err = gorm.G[T](db).Where(clause.Eq{Column: r.m.pkC, Value: v}).Take(ctx)
		return err
	}, r.ops.read...)
	return out, r.failID("get", id, err)
}

// First returns the first row q matches, in q's order, then by primary
// key. None: ErrNotFound.
func (r *Repository[T]) First(ctx context.Context, q Query) (T, error) {
	var out T
	rq, err := r.m.resolve(q)
	if err != nil {
		return out, r.fail("first", err)
	}
	err = r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) (err error) {
		out, err = gorm.G[T](db).Scopes(rq.scope(withOrder | withLimit | withRead)).First(ctx)
		return err
	}, r.ops.read...)
	return out, r.fail("first", err)
}

// Find returns every row q matches, in q's order, within q's limit and
// offset. Without a limit it loads all of them: use Each or Page for
// tables that can be large.
func (r *Repository[T]) Find(ctx context.Context, q Query) ([]T, error) {
	rq, err := r.m.resolve(q)
	if err != nil {
		return nil, r.fail("find", err)
	}
	var out []T
	err = r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) (err error) {
		out, err = gorm.G[T](db).Scopes(rq.scope(withOrder | withLimit | withRead)).Find(ctx)
		return err
	}, r.ops.read...)
	return out, r.fail("find", err)
}

// Count returns the number of rows q's filters match; its order, limit
// and offset are ignored.
func (r *Repository[T]) Count(ctx context.Context, q Query) (int64, error) {
	rq, err := r.m.resolve(q)
	if err != nil {
		return 0, r.fail("count", err)
	}
	var n int64
	err = r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) (err error) {
		n, err = gorm.G[T](db).Scopes(rq.scope(0)).Count(ctx, "*")
		return err
	}, r.ops.read...)
	return n, r.fail("count", err)
}

// Exists reports whether q's filters match a row; it reads at most one
// row and one column.
func (r *Repository[T]) Exists(ctx context.Context, q Query) (bool, error) {
	rq, err := r.m.resolve(q)
	if err != nil {
		return false, r.fail("exists", err)
	}
	col := r.m.sch.DBNames[0]
	if r.m.pk != nil {
		col = r.m.pk.DBName
	}
	var found bool
	err = r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		rows, err := gorm.G[T](db).Scopes(rq.scope(0), func(s *gorm.Statement) {
			s.AddClause(clause.Select{Columns: []clause.Column{{Table: clause.CurrentTable, Name: col}}})
		}).Limit(1).Find(ctx)
		found = len(rows) > 0
		return err
	}, r.ops.read...)
	return found, r.fail("exists", err)
}

// Create inserts v and fills in what the database generated (primary
// key, defaults, timestamps). A unique violation is a *ConflictError.
func (r *Repository[T]) Create(ctx context.Context, v *T) error {
	if r.m.err != nil {
		return r.fail("create", r.m.err)
	}
	if v == nil {
		return r.fail("create", fmt.Errorf("%w: nil value", ErrInvalidQuery))
	}
	return r.fail("create", r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return gorm.G[T](db).Create(ctx, v)
	}, r.ops.insert...))
}

// CreateBatch inserts items in statements of batchSize rows (0:
// DefaultBatchSize) and fills in the generated keys in place. It is one
// call of the Runner; when it needs more than one statement, they run in
// one transaction (a savepoint when ctx already carries one), so the
// batch is inserted whole or not at all.
func (r *Repository[T]) CreateBatch(ctx context.Context, items []T, batchSize int) error {
	if r.m.err != nil {
		return r.fail("create batch", r.m.err)
	}
	if batchSize < 0 {
		return r.fail("create batch", fmt.Errorf("%w: negative batch size %d", ErrInvalidQuery, batchSize))
	}
	if len(items) == 0 {
		return nil
	}
	if batchSize == 0 {
		batchSize = DefaultBatchSize
	}
	return r.fail("create batch", r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return inBatches(db, len(items) > batchSize, func(db *gorm.DB) error {
			return gorm.G[T](db).CreateInBatches(ctx, &items, batchSize)
		})
	}, r.ops.insert...))
}

// inBatches runs fn in a transaction when atomic is set.
func inBatches(db *gorm.DB, atomic bool, fn func(db *gorm.DB) error) error {
	if !atomic {
		return fn(db)
	}
	return db.Transaction(fn)
}

// Update writes every column of v to the row with v's primary key
// (UPDATE, never INSERT: GORM's Save would insert a row with a zero key),
// except the creation time and the soft-delete marker; the update time is
// set. Associations in v (related structs and slices) are never written:
// save those through their own repositories, or Links for many2many.
// No such row: ErrNotFound. It uses GORM's classic API on v itself,
// so that v receives the new update time.
func (r *Repository[T]) Update(ctx context.Context, v *T) error {
	if err := r.m.needPK(); err != nil {
		return r.fail("update", err)
	}
	if v == nil {
		return r.fail("update", fmt.Errorf("%w: nil value", ErrInvalidQuery))
	}
	id, zero := r.m.pk.ValueOf(ctx, reflect.ValueOf(v).Elem())
	if zero {
		return r.fail("update", fmt.Errorf("%w: zero primary key", ErrInvalidQuery))
	}
	return r.failID("update", id, r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		res := db.Model(v).Select("*").Omit(r.m.omitUpdate...).Updates(v)
		if res.Error == nil && res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return res.Error
	}, r.ops.update...))
}

// UpdateFields sets the given fields of the row whose primary key is id
// (by primary key only: a bulk update by query is too easy to get wrong
// from request data). Keys are Go field names or column names of T, each
// checked against the schema (not a column: ErrUnknownField; the primary
// key or a field GORM does not update, `gorm:"<-:create"` or `->`:
// ErrInvalidQuery), values are bound parameters (SQL expressions are
// refused); the update time is set as GORM does. No such row:
// ErrNotFound. An empty map does nothing.
func (r *Repository[T]) UpdateFields(ctx context.Context, id any, fields map[string]any) error {
	if err := r.m.needPK(); err != nil {
		return r.failID("update fields", id, err)
	}
	v, err := r.m.pkValue(id)
	if err != nil {
		return r.failID("update fields", id, err)
	}
	set := make(map[string]any, len(fields))
	keyOf := make(map[string]string, len(fields))
	for k, val := range fields {
		f, err := r.m.field(k)
		if err != nil {
			return r.failID("update fields", id, err)
		}
		if other, dup := keyOf[f.DBName]; dup {
			a, b := min(k, other), max(k, other)
			return r.failID("update fields", id, fmt.Errorf("%w: keys %q and %q both name the column %s", ErrInvalidQuery, a, b, f.DBName))
		}
		keyOf[f.DBName] = k
		if err := r.m.updatable(k, f); err != nil {
			return r.failID("update fields", id, err)
		}
		if err := checkValue(k, val); err != nil {
			return r.failID("update fields", id, err)
		}
		set[f.DBName] = val
	}
	if len(set) == 0 {
		return nil
	}
	return r.failID("update fields", id, r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		res := db.Model(new(T)).Where(clause.Eq{Column: r.m.pkC, Value: v}).Updates(set)
		if res.Error == nil && res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return res.Error
	}, r.ops.update...))
}

// Delete deletes the row whose primary key is id: a soft delete (setting
// deleted_at) when T has a gorm.DeletedAt field, as GORM does. No such
// row, or one already soft-deleted: ErrNotFound.
func (r *Repository[T]) Delete(ctx context.Context, id any) error {
	if err := r.m.needPK(); err != nil {
		return r.failID("delete", id, err)
	}
	v, err := r.m.pkValue(id)
	if err != nil {
		return r.failID("delete", id, err)
	}
	return r.failID("delete", id, r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		n, err := gorm.G[T](db).Where(clause.Eq{Column: r.m.pkC, Value: v}).Delete(ctx)
		if err == nil && n == 0 {
			return gorm.ErrRecordNotFound
		}
		return err
	}, r.ops.delete...))
}

// Upsert inserts items; a row that conflicts on the conflict columns
// (which must carry a unique index or constraint) is updated instead:
// its update columns are set to the new values, or, when none are given,
// every updatable column except the primary key and the creation time (a
// soft-deleted row is thereby restored). An update column that is the
// primary key or a field GORM does not update (`gorm:"<-:create"`, `->`)
// is refused with ErrInvalidQuery, unless it is also a conflict column. Generated keys are filled in
// place. Like CreateBatch, more than DefaultBatchSize items run in one
// transaction.
//
// When every given update column is a conflict column, the conflicting
// rows are left alone (ON CONFLICT DO NOTHING), and then no generated
// value is filled in: the database returns rows only for the items it
// inserted, which cannot be told apart, so every item keeps the key and
// database-default fields it was given (a generated key stays zero).
// Read the rows back by the conflict columns when their keys are needed,
// or name an update column to have every row written and returned.
func (r *Repository[T]) Upsert(ctx context.Context, items []T, conflict []string, update ...string) error {
	if r.m.err != nil {
		return r.fail("upsert", r.m.err)
	}
	if len(conflict) == 0 {
		return r.fail("upsert", fmt.Errorf("%w: no conflict columns", ErrInvalidQuery))
	}
	oc := clause.OnConflict{Columns: make([]clause.Column, len(conflict))}
	isConflict := map[string]bool{}
	for i, name := range conflict {
		f, err := r.m.field(name)
		if err != nil {
			return r.fail("upsert", err)
		}
		oc.Columns[i] = clause.Column{Name: f.DBName}
		isConflict[f.DBName] = true
	}
	var cols []string
	for _, name := range update {
		f, err := r.m.field(name)
		if err != nil {
			return r.fail("upsert", err)
		}
		if isConflict[f.DBName] {
			continue // not written; only conflict columns mean DO NOTHING
		}
		if err := r.m.updatable(name, f); err != nil {
			return r.fail("upsert", err)
		}
		cols = append(cols, f.DBName)
	}
	all := len(update) == 0
	if all {
		cols = r.m.upsertAll(isConflict)
	}
	switch {
	case all && len(cols) == 0 && len(r.m.upTime) == 0:
		oc.DoNothing = true
	case all:
		oc.DoUpdates = clause.AssignmentColumns(cols)
	case len(cols) == 0:
		oc.DoNothing = true
	default:
		oc.DoUpdates = clause.AssignmentColumns(cols)
	}
	if len(items) == 0 {
		return nil
	}
	if oc.DoNothing {
		// GORM hands the returned rows to the items in order, so a
		// skipped item would receive the key of the next inserted one.
		defer keepGenerated(ctx, r.m, items)()
	}
	return r.fail("upsert", r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		oc := oc
		if all {
			oc.DoUpdates = append(oc.DoUpdates[:len(oc.DoUpdates):len(oc.DoUpdates)], r.m.updateTimes(db.NowFunc())...)
		}
		return inBatches(db, len(items) > DefaultBatchSize, func(db *gorm.DB) error {
			return gorm.G[T](db, oc).CreateInBatches(ctx, &items, DefaultBatchSize)
		})
	}, r.ops.insert...))
}

// keepGenerated saves the fields of items that an INSERT ... RETURNING
// fills in (the generated key, columns with a database default) and
// returns the function that puts them back.
func keepGenerated[T any](ctx context.Context, m *model, items []T) func() {
	fields := m.sch.FieldsWithDefaultDBValue
	saved := make([]reflect.Value, 0, len(items)*len(fields))
	rv := reflect.ValueOf(items)
	for i := range items {
		for _, f := range fields {
			v := f.ReflectValueOf(ctx, rv.Index(i))
			c := reflect.New(v.Type()).Elem()
			c.Set(v)
			saved = append(saved, c)
		}
	}
	return func() {
		j := 0
		for i := range items {
			for _, f := range fields {
				f.ReflectValueOf(ctx, rv.Index(i)).Set(saved[j])
				j++
			}
		}
	}
}
