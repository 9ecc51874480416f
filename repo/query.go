package repo

import (
	"database/sql/driver"
	"fmt"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Op is a comparison operator of a filter. The set is closed: a value
// outside it makes the query fail with ErrInvalidQuery.
type Op int

// The operators. Values are always sent as bound parameters.
const (
	Eq     Op = iota + 1 // field = value (value nil: IS NULL)
	Ne                   // field <> value (value nil: IS NOT NULL)
	Lt                   // field < value
	Le                   // field <= value
	Gt                   // field > value
	Ge                   // field >= value
	In                   // field IN (values...); value is a slice or array
	Like                 // field LIKE value ESCAPE '\'; see EscapeLike
	IsNull               // field IS NULL; value nil or true, false means IS NOT NULL
)

var opNames = [...]string{"?", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "In", "Like", "IsNull"}

func (o Op) String() string {
	if o < Eq || o > IsNull {
		return fmt.Sprintf("Op(%d)", int(o))
	}
	return opNames[o]
}

// Direction is a sort direction.
type Direction int

// The directions.
const (
	Asc  Direction = iota // ascending, the zero value
	Desc                  // descending
)

func (d Direction) String() string {
	if d == Desc {
		return "desc"
	}
	return "asc"
}

type cond struct {
	field string
	op    Op
	value any
}

type order struct {
	field string
	dir   Direction
}

// Query describes which rows a method reads: filters joined by AND,
// orderings, a limit and an offset. Field names are only checked against
// the model when a method runs, before any SQL is built. The zero Query
// matches every row. A Query is an immutable value: each method returns
// a changed copy, so a base query can be shared and extended.
type Query struct {
	conds  []cond
	orders []order
	limit  int // -1: none
	offset int
	hasLim bool
	err    error
}

// All returns the Query that matches every row; it is Query{}.
func All() Query { return Query{} }

// Where starts a Query with one filter.
func Where(field string, op Op, value any) Query { return Query{}.And(field, op, value) }

// And adds a filter, joined to the others by AND.
func (q Query) And(field string, op Op, value any) Query {
	q.conds = append(q.conds[:len(q.conds):len(q.conds)], cond{field, op, value})
	return q
}

// OrderBy adds an ordering; the first one added sorts first.
func (q Query) OrderBy(field string, dir Direction) Query {
	q.orders = append(q.orders[:len(q.orders):len(q.orders)], order{field, dir})
	return q
}

// Limit bounds the rows returned; for Page it is the page size, for Each
// the total. A negative n makes the query fail with ErrInvalidQuery.
func (q Query) Limit(n int) Query {
	if n < 0 && q.err == nil {
		q.err = fmt.Errorf("%w: negative limit %d", ErrInvalidQuery, n)
	}
	q.limit, q.hasLim = n, true
	return q
}

// Offset skips the first n rows. A negative n makes the query fail with
// ErrInvalidQuery.
func (q Query) Offset(n int) Query {
	if n < 0 && q.err == nil {
		q.err = fmt.Errorf("%w: negative offset %d", ErrInvalidQuery, n)
	}
	q.offset = n
	return q
}

// resolved is a Query checked against the model: only clauses with
// columns taken from the schema and values as parameters.
type resolved struct {
	where  []clause.Expression
	orders []resolvedOrder
	limit  *int
	offset int
}

type resolvedOrder struct {
	col   clause.Column
	field string // the column name, bound into cursors
	dir   Direction
}

// resolve checks every field and operator of q. It builds no SQL text.
func (m *model) resolve(q Query) (resolved, error) {
	var r resolved
	if m.err != nil {
		return r, m.err
	}
	if q.err != nil {
		return r, q.err
	}
	r.where = make([]clause.Expression, 0, len(q.conds))
	for _, c := range q.conds {
		e, err := m.condition(c)
		if err != nil {
			return r, err
		}
		r.where = append(r.where, e)
	}
	for _, o := range q.orders {
		col, f, err := m.column(o.field)
		if err != nil {
			return r, err
		}
		if o.dir != Asc && o.dir != Desc {
			return r, fmt.Errorf("%w: direction %d", ErrInvalidQuery, int(o.dir))
		}
		r.orders = append(r.orders, resolvedOrder{col: col, field: f.DBName, dir: o.dir})
	}
	if q.hasLim {
		n := q.limit
		r.limit = &n
	}
	r.offset = q.offset
	return r, nil
}

func (m *model) condition(c cond) (clause.Expression, error) {
	col, _, err := m.column(c.field)
	if err != nil {
		return nil, err
	}
	v := c.value
	if err := checkValue(c.field, v); err != nil {
		return nil, err
	}
	switch c.op {
	case Eq:
		return clause.Eq{Column: col, Value: v}, nil
	case Ne:
		return clause.Neq{Column: col, Value: v}, nil
	case Lt, Le, Gt, Ge, Like:
		if isNil(v) {
			return nil, fmt.Errorf("%w: %s %s nil (use IsNull)", ErrInvalidQuery, c.field, c.op)
		}
		switch c.op {
		case Lt:
			return clause.Lt{Column: col, Value: v}, nil
		case Le:
			return clause.Lte{Column: col, Value: v}, nil
		case Gt:
			return clause.Gt{Column: col, Value: v}, nil
		case Ge:
			return clause.Gte{Column: col, Value: v}, nil
		}
		return clause.Expr{SQL: "? LIKE ? ESCAPE '" + likeEscape + "'", Vars: []any{col, v}}, nil
	case In:
		rv := reflect.ValueOf(v)
		if _, ok := v.(driver.Valuer); ok || !rv.IsValid() ||
			(rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
			return nil, fmt.Errorf("%w: %s In wants a slice, got %T", ErrInvalidQuery, c.field, v)
		}
		vals := make([]any, rv.Len())
		for i := range vals {
			vals[i] = rv.Index(i).Interface()
			if err := checkValue(c.field, vals[i]); err != nil {
				return nil, err
			}
		}
		return clause.IN{Column: col, Values: vals}, nil
	case IsNull:
		switch b := v.(type) {
		case nil:
			return clause.Expr{SQL: "? IS NULL", Vars: []any{col}}, nil
		case bool:
			if b {
				return clause.Expr{SQL: "? IS NULL", Vars: []any{col}}, nil
			}
			return clause.Expr{SQL: "? IS NOT NULL", Vars: []any{col}}, nil
		}
		return nil, fmt.Errorf("%w: %s IsNull wants nil, true or false, got %T", ErrInvalidQuery, c.field, v)
	}
	return nil, fmt.Errorf("%w: operator %s", ErrInvalidQuery, c.op)
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// scope returns a function that adds r's clauses to a statement, for
// gorm.G[T](db).Scopes. withOrder and withLimit select what is added.
func (r *resolved) scope(withOrder, withLimit bool) func(*gorm.Statement) {
	return func(stmt *gorm.Statement) {
		if len(r.where) > 0 {
			stmt.AddClause(clause.Where{Exprs: r.where})
		}
		if withOrder && len(r.orders) > 0 {
			cols := make([]clause.OrderByColumn, len(r.orders))
			for i, o := range r.orders {
				cols[i] = clause.OrderByColumn{Column: o.col, Desc: o.dir == Desc}
			}
			stmt.AddClause(clause.OrderBy{Columns: cols})
		}
		if withLimit && (r.limit != nil || r.offset > 0) {
			stmt.AddClause(clause.Limit{Limit: r.limit, Offset: r.offset})
		}
	}
}
