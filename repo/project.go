package repo

import (
	"context"
	"fmt"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// FindAs runs q on T's table and reads each row into a P, a projection:
// P is a struct whose fields (named by GORM's naming strategy, or by a
// `gorm:"column:x"` tag) must each be a column of T, else
// ErrUnknownField naming the field; only those columns are selected
// (fields tagged `gorm:"-"` are skipped). q's filters, paths, orders,
// limit and offset apply as in Find; a Select or Preload in q is
// ErrInvalidQuery (P's fields are the select list; preload into T).
//
//	type card struct{ ID int64; Title string }
//	cards, err := repo.FindAs[card](ctx, articles, repo.All().OrderBy("id", repo.Desc).Limit(20))
func FindAs[P, T any](ctx context.Context, r *Repository[T], q Query) ([]P, error) {
	cols, err := r.projection(reflect.TypeFor[P](), q)
	if err != nil {
		return nil, r.fail("find as", err)
	}
	rq, err := r.m.resolve(q)
	if err != nil {
		return nil, r.fail("find as", err)
	}
	var out []P
	err = r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		out = nil
		tx := db.Model(new(T))
		rq.scope(withOrder | withLimit)(tx.Statement)
		tx.Statement.AddClause(clause.Select{Columns: cols})
		return tx.Find(&out).Error
	}, r.ops.read...)
	return out, r.fail("find as", err)
}

// projection checks P against T and returns its select list.
func (r *Repository[T]) projection(p reflect.Type, q Query) ([]clause.Column, error) {
	if r.m.err != nil {
		return nil, r.m.err
	}
	if q.hasSel || len(q.preloads) > 0 {
		return nil, fmt.Errorf("%w: FindAs selects P's fields; a Select or Preload in its query", ErrInvalidQuery)
	}
	if p.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: projection %s is not a struct", ErrInvalidModel, p)
	}
	ps, err := parseProjection(p, r.namer)
	if err != nil {
		return nil, err
	}
	var cols []clause.Column
	for _, f := range ps.Fields {
		if f.DBName == "" {
			continue
		}
		tf, ok := r.m.sch.FieldsByDBName[f.DBName]
		if !ok || !tf.Readable {
			return nil, fmt.Errorf("%w %q (column %q of projection %s) for %s", ErrUnknownField, f.Name, f.DBName, p.Name(), r.m.sch.Name)
		}
		cols = append(cols, clause.Column{Table: clause.CurrentTable, Name: tf.DBName})
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("%w: projection %s has no column of %s", ErrInvalidQuery, p, r.m.sch.Name)
	}
	return cols, nil
}

// parseProjection parses P's schema without panicking.
func parseProjection(p reflect.Type, namer schema.Namer) (s *schema.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: projection %s: %v", ErrInvalidModel, p, r)
		}
	}()
	if s, err = schema.Parse(reflect.New(p).Interface(), schemaCache(namer), namer); err != nil {
		return nil, fmt.Errorf("%w: projection %s: %w", ErrInvalidModel, p, err)
	}
	return s, nil
}

// CountBy counts the rows q's filters match per value of field, in one
// statement (SELECT field, COUNT(*) ... GROUP BY field): comments per
// article, articles per author, without N+1. field is a column of T or a
// path through belongs-to / has-one relations ("Author.Username"); K is
// the Go type its values scan into (int64, string, ...). A group whose
// value is NULL fails to scan unless K can hold NULL (sql.Null[int64],
// sql.NullString): filter it out with IsNull false. Values with no row
// are absent from the map. q's order, limit, offset, preloads and
// Select are ignored.
//
//	n, err := repo.CountBy[int64](ctx, comments, "article_id", repo.Where("article_id", repo.In, ids))
func CountBy[K comparable, T any](ctx context.Context, r *Repository[T], field string, q Query) (map[K]int64, error) {
	q.group, q.hasGroup = field, true
	rq, err := r.m.resolve(q)
	if err != nil {
		return nil, r.fail("count by", err)
	}
	col := rq.groupBy
	out := map[K]int64{}
	err = r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		clear(out)
		tx := db.Model(new(T))
		rq.scope(0)(tx.Statement)
		tx.Statement.AddClause(clause.Select{Expression: clause.Expr{SQL: "?, COUNT(*)", Vars: []any{col}}})
		tx.Statement.AddClause(clause.GroupBy{Columns: []clause.Column{col}})
		rows, err := tx.Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k K
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			out[k] += n
		}
		return rows.Err()
	}, r.ops.read...)
	if err != nil {
		return nil, r.fail("count by", err)
	}
	return out, nil
}
