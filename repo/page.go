package repo

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// DefaultPageSize is the page size of Page when the query has no limit.
const DefaultPageSize = 50

// Page is one page of results.
type Page[T any] struct {
	// Items are the page's rows, in the query's order.
	Items []T
	// Next is the cursor of the next page; "" when HasMore is false.
	Next string
	// HasMore reports whether rows follow this page.
	HasMore bool
}

// plan is how Page and Each walk a query: by one sort column, then by
// the primary key in the same direction.
type plan struct {
	rq       resolved
	sort     *schema.Field // nil: by primary key only
	sortX    any           // what is sorted on: the column, or COALESCE(column, zero)
	dir      Direction
	nullable bool   // the Go type holds NULL: NULLs are placed and compared as such
	hash     string // binds a cursor to the query: filters, sort, direction
}

// position is where the previous page ended.
type position struct {
	v    any // last sort value (unused when sorting by key only)
	null bool
	k    any // last primary key
}

func (r *Repository[T]) plan(q Query) (plan, error) {
	if err := r.m.needPK(); err != nil {
		return plan{}, err
	}
	rq, err := r.m.resolve(q)
	if err != nil {
		return plan{}, err
	}
	if len(rq.orders) > 1 {
		return plan{}, fmt.Errorf("%w: pages sort by one field (then by primary key), got %d", ErrInvalidQuery, len(rq.orders))
	}
	p := plan{rq: rq}
	h := fnv.New64a()
	hashConds(h, q.conds)
	if len(rq.orders) == 1 {
		o := rq.orders[0]
		if o.field == "" {
			return plan{}, fmt.Errorf("%w: pages cannot sort by a path (%s)", ErrInvalidQuery, q.orders[0].field)
		}
		p.dir = o.dir
		if rq.selects != nil && !slices.ContainsFunc(rq.selects, func(c clause.Column) bool { return c.Name == o.field }) {
			p.rq.selects = append(rq.selects[:len(rq.selects):len(rq.selects)], clause.Column{Table: clause.CurrentTable, Name: o.field})
		}
		if f := r.m.sch.FieldsByDBName[o.field]; f != r.m.pk {
			p.sort, p.sortX = f, o.col
			switch {
			case nullable(f):
				p.nullable = true
			case f.NotNull || f.PrimaryKey:
			default:
				// The column may hold NULL, which GORM reads into the
				// plain Go field as its zero value. Sort and compare on
				// that zero too, so that SQL agrees with the cursor.
				zero, ok := zeroOf(f.FieldType)
				if !ok {
					return plan{}, fmt.Errorf("%w: sort field %s: its column may hold NULL and %s cannot: "+
						"use a pointer or sql.Null type, or tag the field `gorm:\"not null\"`", ErrInvalidQuery, f.Name, f.FieldType)
				}
				p.sortX = clause.Expr{SQL: "COALESCE(?, ?)", Vars: []any{o.col, zero}}
			}
		}
		fmt.Fprintf(h, "%s\x00%s", o.field, o.dir)
	}
	p.hash = strconv.FormatUint(h.Sum64(), 36)
	return p, nil
}

// hashConds writes a filter tree into the query hash of a cursor.
func hashConds(h io.Writer, cs []cond) {
	for _, c := range cs {
		fmt.Fprintf(h, "%d\x00%s\x00%d\x00%s\x00%d\x00", c.kind, c.field, c.op, valueKey(c.value), len(c.groups))
		for _, g := range c.groups {
			fmt.Fprintf(h, "(%d\x00", len(g))
			hashConds(h, g)
			fmt.Fprint(h, ")\x00")
		}
	}
}

// nullable: the Go type can hold NULL (a pointer, sql.Null*, DeletedAt).
func nullable(f *schema.Field) bool {
	if f.FieldType.Kind() == reflect.Pointer {
		return true
	}
	return reflect.PointerTo(f.FieldType).Implements(reflect.TypeFor[sql.Scanner]())
}

// valueKey is a stable text of a filter value for the query hash: its
// type and its JSON, or its %v (pointers followed) when JSON fails.
func valueKey(v any) string {
	if b, err := json.Marshal(v); err == nil {
		return fmt.Sprintf("%T:%s", v, b)
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	return fmt.Sprintf("%T:%v", v, rv)
}

// zeroOf is the zero value GORM gives a field of the plain type t when
// its column holds NULL, as a parameter to bind, for a closed set of
// types: strings, numbers, bools and time.Time. ok is false for others
// (a Valuer may not send its zero as the driver reads it back).
func zeroOf(t reflect.Type) (zero any, ok bool) {
	if t == reflect.TypeFor[time.Time]() {
		return time.Time{}, true
	}
	if t.Implements(valuerType) || reflect.PointerTo(t).Implements(valuerType) {
		return nil, false
	}
	switch {
	case t.Kind() == reflect.String:
		return "", true
	case t.Kind() == reflect.Bool:
		return false, true
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return float64(0), true
	case isNumber(t.Kind()):
		return int64(0), true
	}
	return nil, false
}

var valuerType = reflect.TypeFor[driver.Valuer]()

// Page returns one page of the rows q matches, of q's limit rows
// (DefaultPageSize when q has none), ordered by q's one OrderBy field
// (or by the primary key when q has none) with the primary key as
// tie-breaker, so that the order is total.
//
// With cursor == "" it returns the first page, or, when q has an offset,
// the page at that offset (offset pagination). With the Next cursor of
// the previous page it returns the rows after that page's last row
// (keyset pagination): pages stay stable while rows are inserted, and
// deep pages cost no more than the first. The cursor is opaque
// (base64url JSON); one that does not decode, whose values have the wrong
// type, or that was made for another query (another sort field or
// direction, or another filter field, operator or value) is refused with
// ErrInvalidCursor, and nothing is sent. A cursor with an offset in q is
// ErrInvalidQuery. The cursor is not signed: a client can forge a
// well-formed cursor for the same query and so start a page at any
// position of its order. That reaches no row the query does not match
// and injects nothing, since the cursor's values are checked against the
// fields' types and bound as parameters.
//
// With a sort field whose Go type holds NULL (a pointer, sql.Null*),
// NULLs come last in ascending order and first in descending order, as
// in PostgreSQL. A field of a plain type (string, number, bool,
// time.Time) reads a NULL as its zero value, so unless it is tagged
// `gorm:"not null"` Page sorts on COALESCE(column, zero value): NULL rows
// sort as "" or 0, where the caller sees them, and no row is skipped.
// That expression cannot use an index on the column; tag the field
// `not null` (when the column is) or make it a pointer to sort on the
// column itself. A plain field of another type (a slice, a struct
// Valuer) whose column may hold NULL is refused with ErrInvalidQuery.
//
// A float sort value may be NaN or infinite (PostgreSQL's float columns
// hold them; it sorts NaN above every number): the cursor carries it as
// "NaN", "Infinity" or "-Infinity".
func (r *Repository[T]) Page(ctx context.Context, q Query, cursor string) (Page[T], error) {
	var out Page[T]
	p, err := r.plan(q)
	if err != nil {
		return out, r.fail("page", err)
	}
	size := DefaultPageSize
	if p.rq.limit != nil {
		size = *p.rq.limit
	}
	if size == 0 {
		return out, r.fail("page", fmt.Errorf("%w: page size 0", ErrInvalidQuery))
	}
	var after *position
	if cursor != "" {
		if p.rq.offset > 0 {
			return out, r.fail("page", fmt.Errorf("%w: a cursor and an offset together", ErrInvalidQuery))
		}
		pos, err := r.decodeCursor(p, cursor)
		if err != nil {
			return out, r.fail("page", err)
		}
		after = &pos
	}
	items, more, err := r.fetch(ctx, p, size, p.rq.offset, after)
	if err != nil {
		return out, r.fail("page", err)
	}
	out.Items, out.HasMore = items, more
	if more {
		if out.Next, err = r.encodeCursor(p, r.positionOf(ctx, p, &items[len(items)-1])); err != nil {
			return Page[T]{}, r.fail("page", err)
		}
	}
	return out, nil
}

// Each calls fn with successive batches of the rows q matches, in Page's
// order, batchSize rows at a time (0: DefaultBatchSize), until fn
// returns an error (returned as is), the rows run out, or q's limit (a
// total) is reached. It walks by keyset, so memory stays bounded and rows
// inserted behind the walk are not seen twice. Each batch is its own call
// of the Runner: no slot is held while fn runs, and other callers get
// their turn between batches. q may not have an offset.
func (r *Repository[T]) Each(ctx context.Context, q Query, batchSize int, fn func(batch []T) error) error {
	p, err := r.plan(q)
	if err != nil {
		return r.fail("each", err)
	}
	if batchSize < 0 {
		return r.fail("each", fmt.Errorf("%w: negative batch size %d", ErrInvalidQuery, batchSize))
	}
	if p.rq.offset > 0 {
		return r.fail("each", fmt.Errorf("%w: Each does not take an offset", ErrInvalidQuery))
	}
	if batchSize == 0 {
		batchSize = DefaultBatchSize
	}
	remaining := -1
	if p.rq.limit != nil {
		remaining = *p.rq.limit
	}
	var after *position
	for remaining != 0 {
		size := batchSize
		if remaining > 0 && remaining < size {
			size = remaining
		}
		items, more, err := r.fetch(ctx, p, size, 0, after)
		if err != nil {
			return r.fail("each", err)
		}
		if len(items) > 0 {
			pos := r.positionOf(ctx, p, &items[len(items)-1])
			after = &pos
			if remaining > 0 {
				remaining -= len(items)
			}
			if err := fn(items); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
	return nil
}

// fetch reads up to size rows after pos (or at offset), one Runner call.
func (r *Repository[T]) fetch(ctx context.Context, p plan, size, offset int, after *position) ([]T, bool, error) {
	var items []T
	limit := size + 1
	err := r.r.Do(ctx, func(ctx context.Context, db *gorm.DB) (err error) {
		items, err = gorm.G[T](db).Scopes(p.rq.scope(withRead), func(s *gorm.Statement) {
			if after != nil {
				s.AddClause(clause.Where{Exprs: []clause.Expression{p.keyset(r.m.pkC, *after)}})
			}
			s.AddClause(p.orderBy(r.m.pkC))
			s.AddClause(clause.Limit{Limit: &limit, Offset: offset})
		}).Find(ctx)
		return err
	}, r.ops.read...)
	if err != nil {
		return nil, false, err
	}
	if len(items) > size {
		return items[:size], true, nil
	}
	return items, false, nil
}

func (p plan) orderBy(pk clause.Column) clause.OrderBy {
	dir := " ASC"
	nulls := " NULLS LAST"
	if p.dir == Desc {
		dir, nulls = " DESC", " NULLS FIRST"
	}
	if p.sort == nil {
		return clause.OrderBy{Columns: []clause.OrderByColumn{{Column: pk, Desc: p.dir == Desc}}}
	}
	if !p.nullable {
		nulls = ""
	}
	return clause.OrderBy{Expression: clause.Expr{SQL: "?" + dir + nulls + ", ?" + dir, Vars: []any{p.sortX, pk}}}
}

// keyset is the condition "after pos" in the plan's order.
func (p plan) keyset(pk clause.Column, pos position) clause.Expression {
	asc := p.dir == Asc
	after := func(x, v any) clause.Expression {
		if asc {
			return clause.Expr{SQL: "? > ?", Vars: []any{x, v}}
		}
		return clause.Expr{SQL: "? < ?", Vars: []any{x, v}}
	}
	if p.sort == nil {
		return after(pk, pos.k)
	}
	isNull := clause.Expr{SQL: "? IS NULL", Vars: []any{p.sortX}}
	switch {
	case pos.null && asc: // NULLs are last: only NULLs with a larger key remain
		return clause.And(isNull, after(pk, pos.k))
	case pos.null: // NULLs are first: NULLs with a smaller key, then every value
		return clause.Or(clause.And(isNull, after(pk, pos.k)), clause.Expr{SQL: "? IS NOT NULL", Vars: []any{p.sortX}})
	}
	e := []clause.Expression{after(p.sortX, pos.v), clause.And(clause.Expr{SQL: "? = ?", Vars: []any{p.sortX, pos.v}}, after(pk, pos.k))}
	if asc && p.nullable {
		e = append(e, isNull)
	}
	return clause.Or(e...)
}

func (r *Repository[T]) positionOf(ctx context.Context, p plan, last *T) position {
	rv := reflect.ValueOf(last).Elem()
	k, _ := r.m.pk.ValueOf(ctx, rv)
	pos := position{k: k}
	if p.sort != nil {
		v, _ := p.sort.ValueOf(ctx, rv)
		pos.v, pos.null = valueOrNull(v)
	}
	return pos
}

// valueOrNull dereferences pointers and reports NULL for nil pointers and
// for Valuers (sql.Null*, gorm.DeletedAt) whose value is nil.
func valueOrNull(v any) (any, bool) {
	if isNil(v) {
		return nil, true
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		v = rv.Elem().Interface()
	}
	if vr, ok := v.(driver.Valuer); ok {
		if x, err := vr.Value(); err == nil && x == nil {
			return nil, true
		}
	}
	return v, false
}

type cursorJSON struct {
	F string          `json:"f"`           // sort column, bound into the cursor
	D string          `json:"d"`           // direction
	H string          `json:"h"`           // hash of the filters, sort and direction
	V json.RawMessage `json:"v,omitempty"` // last sort value; null for NULL
	K json.RawMessage `json:"k"`           // last primary key
}

func (p plan) sortName(pk string) string {
	if p.sort == nil {
		return pk
	}
	return p.sort.DBName
}

func (r *Repository[T]) encodeCursor(p plan, pos position) (string, error) {
	c := cursorJSON{F: p.sortName(r.m.pk.DBName), D: p.dir.String(), H: p.hash}
	var err error
	if c.K, err = marshalValue(pos.k); err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	if p.sort != nil {
		c.V = json.RawMessage("null")
		if !pos.null {
			if c.V, err = marshalValue(pos.v); err != nil {
				return "", fmt.Errorf("encode cursor: %w", err)
			}
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Non-finite floats, which JSON has no number for, travel in cursors as
// these strings (PostgreSQL's spelling; its float columns hold them).
const (
	jsonNaN    = `"NaN"`
	jsonInf    = `"Infinity"`
	jsonNegInf = `"-Infinity"`
	floatKinds = 1<<reflect.Float32 | 1<<reflect.Float64
)

func isFloat(k reflect.Kind) bool { return floatKinds&(1<<k) != 0 }

// marshalValue is json.Marshal, except that a NaN or infinite float is
// one of the strings above.
func marshalValue(v any) (json.RawMessage, error) {
	if rv := reflect.ValueOf(v); rv.IsValid() && isFloat(rv.Kind()) {
		switch f := rv.Float(); {
		case math.IsNaN(f):
			return json.RawMessage(jsonNaN), nil
		case math.IsInf(f, 1):
			return json.RawMessage(jsonInf), nil
		case math.IsInf(f, -1):
			return json.RawMessage(jsonNegInf), nil
		}
	}
	return json.Marshal(v)
}

// maxCursor bounds what a client can make the server decode.
const maxCursor = 4096

func (r *Repository[T]) decodeCursor(p plan, s string) (position, error) {
	bad := func(why string) (position, error) {
		return position{}, fmt.Errorf("%w: %s", ErrInvalidCursor, why)
	}
	if len(s) > maxCursor {
		return bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("not base64url")
	}
	var c cursorJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil || d.More() {
		return bad("not a cursor")
	}
	if c.F != p.sortName(r.m.pk.DBName) || c.D != p.dir.String() || c.H != p.hash {
		return bad("made for another query")
	}
	var pos position
	if pos.k, pos.null, err = decodeValue(c.K, r.m.pk.FieldType); err != nil || pos.null {
		return bad("bad key")
	}
	if p.sort != nil {
		if len(c.V) == 0 {
			return bad("no sort value")
		}
		if pos.v, pos.null, err = decodeValue(c.V, p.sort.FieldType); err != nil || (pos.null && !p.nullable) {
			return bad("bad sort value")
		}
	} else if len(c.V) != 0 {
		return bad("unexpected sort value")
	}
	return pos, nil
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// decodeValue unmarshals raw into a new value of type t, strictly.
func decodeValue(raw json.RawMessage, t reflect.Type) (any, bool, error) {
	if string(raw) == "null" {
		return nil, true, nil
	}
	if ft := derefType(t); isFloat(ft.Kind()) && len(raw) > 0 && raw[0] == '"' {
		var f float64
		switch string(raw) {
		case jsonNaN:
			f = math.NaN()
		case jsonInf:
			f = math.Inf(1)
		case jsonNegInf:
			f = math.Inf(-1)
		default:
			return nil, false, fmt.Errorf("not a number: %s", raw)
		}
		return reflect.ValueOf(f).Convert(ft).Interface(), false, nil
	}
	ptr := reflect.New(t)
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(ptr.Interface()); err != nil {
		return nil, false, err
	}
	if d.More() {
		return nil, false, fmt.Errorf("trailing data")
	}
	v, null := valueOrNull(ptr.Elem().Interface())
	return v, null, nil
}
