package repo

import (
	"database/sql/driver"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// resolved is a Query checked against the model: only clauses with
// columns and tables taken from the schema and values as parameters.
type resolved struct {
	where    []clause.Expression
	joins    []clause.Join // LEFT JOINs of the belongs-to / has-one paths
	orders   []resolvedOrder
	preloads map[string][]any // for gorm.Statement.Preloads
	selects  []clause.Column  // nil: every column
	groupBy  clause.Column    // CountBy's column
	limit    *int
	offset   int
}

type resolvedOrder struct {
	col   clause.Column
	field string // the column name, bound into cursors; "" for a path
	dir   Direction
}

// resolver collects what resolving one Query needs beyond its clauses:
// the joins its paths add and a counter for sub-query aliases.
type resolver struct {
	joins  []clause.Join
	joined map[string]bool
	n      int
}

// resolve checks every field, path, relation and operator of q. It
// builds no SQL text.
func (m *model) resolve(q Query) (resolved, error) {
	var r resolved
	if m.err != nil {
		return r, m.err
	}
	if q.err != nil {
		return r, q.err
	}
	rs := &resolver{}
	var err error
	if r.where, err = rs.conds(m, clause.CurrentTable, q.conds, true); err != nil {
		return r, err
	}
	for _, o := range q.orders {
		col, f, path, err := rs.column(m, clause.CurrentTable, o.field, true)
		if err != nil {
			return r, err
		}
		if o.dir != Asc && o.dir != Desc {
			return r, fmt.Errorf("%w: direction %d", ErrInvalidQuery, int(o.dir))
		}
		ro := resolvedOrder{col: col, field: f.DBName, dir: o.dir}
		if path {
			ro.field = ""
		}
		r.orders = append(r.orders, ro)
	}
	if len(q.preloads) > 0 {
		r.preloads = map[string][]any{}
		if err := m.preloads("", q.preloads, r.preloads); err != nil {
			return r, err
		}
	}
	if q.hasSel {
		if r.selects, err = m.selectColumns(q.selects, q.preloads); err != nil {
			return r, err
		}
	}
	if q.hasGroup {
		if r.groupBy, _, _, err = rs.column(m, clause.CurrentTable, q.group, true); err != nil {
			return r, err
		}
	}
	r.joins = rs.joins
	if q.hasLim {
		n := q.limit
		r.limit = &n
	}
	r.offset = q.offset
	return r, nil
}

// Parts of a resolved query that scope adds besides filters and joins.
const (
	withOrder = 1 << iota
	withLimit
	withRead // preloads and the select list
)

// scope returns a function that adds r's clauses to a statement, for
// gorm.G[T](db).Scopes; parts selects what is added besides the filters.
func (r *resolved) scope(parts int) func(*gorm.Statement) {
	return func(stmt *gorm.Statement) {
		if len(r.joins) > 0 {
			stmt.AddClause(clause.From{Joins: r.joins})
		}
		if len(r.where) > 0 {
			stmt.AddClause(clause.Where{Exprs: r.where})
		}
		if parts&withOrder != 0 && len(r.orders) > 0 {
			cols := make([]clause.OrderByColumn, len(r.orders))
			for i, o := range r.orders {
				cols[i] = clause.OrderByColumn{Column: o.col, Desc: o.dir == Desc}
			}
			stmt.AddClause(clause.OrderBy{Columns: cols})
		}
		if parts&withLimit != 0 && (r.limit != nil || r.offset > 0) {
			stmt.AddClause(clause.Limit{Limit: r.limit, Offset: r.offset})
		}
		if parts&withRead != 0 {
			if len(r.preloads) > 0 {
				if stmt.Preloads == nil {
					stmt.Preloads = map[string][]any{}
				}
				for k, v := range r.preloads {
					stmt.Preloads[k] = v
				}
			}
			if r.selects != nil {
				stmt.AddClause(clause.Select{Columns: r.selects})
			}
		}
	}
}

func (rs *resolver) conds(m *model, table string, cs []cond, top bool) ([]clause.Expression, error) {
	out := make([]clause.Expression, 0, len(cs))
	for _, c := range cs {
		e, err := rs.cond(m, table, c, top)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

var (
	sqlTrue  = clause.Expr{SQL: "1 = 1"}
	sqlFalse = clause.Expr{SQL: "1 = 0"}
)

// group is the AND of es, parenthesized; nil when es is empty.
func group(es []clause.Expression) clause.Expression {
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	}
	return clause.Expr{SQL: "(" + strings.Repeat("? AND ", len(es)-1) + "?)", Vars: exprVars(es)}
}

func exprVars(es []clause.Expression) []any {
	vars := make([]any, len(es))
	for i, e := range es {
		vars[i] = e
	}
	return vars
}

// cond resolves one filter on the model m whose rows table refers to.
// top: the filter is on the statement's own table, where paths may add
// joins; inside sub-queries they may not.
func (rs *resolver) cond(m *model, table string, c cond, top bool) (clause.Expression, error) {
	switch c.kind {
	case condField:
		col, _, _, err := rs.column(m, table, c.field, top)
		if err != nil {
			return nil, err
		}
		return comparison(col, c)
	case condAny:
		if len(c.groups) == 0 {
			return sqlFalse, nil
		}
		es := make([]clause.Expression, len(c.groups))
		for i, g := range c.groups {
			ges, err := rs.conds(m, table, g, top)
			if err != nil {
				return nil, err
			}
			if es[i] = group(ges); es[i] == nil {
				es[i] = sqlTrue
			}
		}
		if len(es) == 1 {
			return es[0], nil
		}
		return clause.Expr{SQL: "(" + strings.Repeat("? OR ", len(es)-1) + "?)", Vars: exprVars(es)}, nil
	case condNot, condAll:
		ges, err := rs.conds(m, table, c.groups[0], top)
		if err != nil {
			return nil, err
		}
		g := group(ges)
		if c.kind == condAll {
			return g, nil
		}
		if g == nil {
			return sqlFalse, nil
		}
		return clause.Expr{SQL: "NOT (?)", Vars: []any{g}}, nil
	case condHas:
		return rs.has(m, table, c.field, c.groups[0])
	}
	return nil, fmt.Errorf("%w: filter kind %d", ErrInvalidQuery, c.kind)
}

// comparison is the condition col op value.
func comparison(col clause.Column, c cond) (clause.Expression, error) {
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
		vals, err := listValue(c, -1)
		if err != nil {
			return nil, err
		}
		return clause.IN{Column: col, Values: vals}, nil
	case Between:
		vals, err := listValue(c, 2)
		if err != nil {
			return nil, err
		}
		if isNil(vals[0]) || isNil(vals[1]) {
			return nil, fmt.Errorf("%w: %s Between with a nil bound", ErrInvalidQuery, c.field)
		}
		return clause.Expr{SQL: "? BETWEEN ? AND ?", Vars: []any{col, vals[0], vals[1]}}, nil
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

// listValue spreads the slice or array value of an In (n < 0) or a
// Between (n == 2) filter.
func listValue(c cond, n int) ([]any, error) {
	v := c.value
	rv := reflect.ValueOf(v)
	if _, ok := v.(driver.Valuer); ok || !rv.IsValid() ||
		(rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, fmt.Errorf("%w: %s %s wants a slice, got %T", ErrInvalidQuery, c.field, c.op, v)
	}
	if n >= 0 && rv.Len() != n {
		return nil, fmt.Errorf("%w: %s %s wants %d values, got %d", ErrInvalidQuery, c.field, c.op, n, rv.Len())
	}
	vals := make([]any, rv.Len())
	for i := range vals {
		vals[i] = rv.Index(i).Interface()
	}
	return vals, nil
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

// column resolves name on m (whose rows table refers to): a field of m,
// or, when top, a path through belongs-to / has-one relations ending in
// a field, whose relations are LEFT JOINed (aliased by the path, as
// GORM's Joins does: "Author", "Author__Company"), the joined row's soft
// delete in the join condition. path reports a path.
func (rs *resolver) column(m *model, table, name string, top bool) (col clause.Column, f *schema.Field, path bool, err error) {
	if f, err := m.field(name); err == nil || !strings.Contains(name, ".") {
		if err != nil {
			return col, nil, false, err
		}
		return clause.Column{Table: table, Name: f.DBName}, f, false, nil
	}
	segs := strings.Split(name, ".")
	rels, last, err := m.relationPath(name, segs[:len(segs)-1])
	if err != nil {
		return col, nil, false, err
	}
	if f, err = last.field(segs[len(segs)-1]); err != nil {
		return col, nil, false, fmt.Errorf("%w %q for %s", ErrUnknownField, name, m.sch.Name)
	}
	for _, rel := range rels {
		if rel.Type != schema.BelongsTo && rel.Type != schema.HasOne {
			return col, nil, false, fmt.Errorf("%w: %q: %s is a %s relation; filter on it with Has", ErrInvalidQuery, name, rel.Name, rel.Type)
		}
	}
	if !top {
		return col, nil, false, fmt.Errorf("%w: %q: paths are not allowed inside Has, Preload or a projection; nest Has", ErrInvalidQuery, name)
	}
	parent, alias := table, ""
	for i, rel := range rels {
		if i == 0 {
			alias = rel.Name
		} else {
			alias += "__" + rel.Name
		}
		if !rs.joined[alias] {
			if rs.joined == nil {
				rs.joined = map[string]bool{}
			}
			rs.joined[alias] = true
			rm := modelOf(rel.FieldSchema)
			on := append(linkConds(rel, parent, alias), rm.softDeleted(alias)...)
			rs.joins = append(rs.joins, clause.Join{
				Type:  clause.LeftJoin,
				Table: clause.Table{Name: rm.sch.Table, Alias: alias},
				ON:    clause.Where{Exprs: []clause.Expression{group(on)}},
			})
		}
		parent = alias
	}
	return clause.Column{Table: alias, Name: f.DBName}, f, true, nil
}

// relationPath resolves the relation names segs of path (named in
// errors) from m, each a relation of the one before.
func (m *model) relationPath(path string, segs []string) ([]*schema.Relationship, *model, error) {
	cur := m
	rels := make([]*schema.Relationship, 0, len(segs))
	for _, seg := range segs {
		rel, ok := cur.sch.Relationships.Relations[seg]
		if !ok || rel.FieldSchema == nil {
			return nil, nil, fmt.Errorf("%w %q for %s", ErrUnknownField, path, m.sch.Name)
		}
		rels = append(rels, rel)
		cur = modelOf(rel.FieldSchema)
		if cur.err != nil {
			return nil, nil, cur.err
		}
	}
	return rels, cur, nil
}

func col(table, name string) clause.Column { return clause.Column{Table: table, Name: name} }

// linkConds are the conditions that tie a row of rel's owner (owner
// refers to it) to a row of rel's model (related refers to it), for a
// relation without a join table.
func linkConds(rel *schema.Relationship, owner, related string) []clause.Expression {
	var out []clause.Expression
	for _, ref := range rel.References {
		switch {
		case ref.PrimaryKey == nil: // polymorphic type column of the related row
			out = append(out, clause.Eq{Column: col(related, ref.ForeignKey.DBName), Value: ref.PrimaryValue})
		case ref.OwnPrimaryKey: // has one / has many: related.fk = owner.key
			out = append(out, clause.Expr{SQL: "? = ?", Vars: []any{col(related, ref.ForeignKey.DBName), col(owner, ref.PrimaryKey.DBName)}})
		default: // belongs to: owner.fk = related.key
			out = append(out, clause.Expr{SQL: "? = ?", Vars: []any{col(owner, ref.ForeignKey.DBName), col(related, ref.PrimaryKey.DBName)}})
		}
	}
	return out
}

// joinConds split a many2many relation's references: the join-table
// row's link to the owner row and its link to the related row.
func joinConds(rel *schema.Relationship, owner, join, related string) (toOwner, toRelated []clause.Expression) {
	for _, ref := range rel.References {
		switch {
		case ref.PrimaryKey == nil:
			toOwner = append(toOwner, clause.Eq{Column: col(join, ref.ForeignKey.DBName), Value: ref.PrimaryValue})
		case ref.OwnPrimaryKey:
			toOwner = append(toOwner, clause.Expr{SQL: "? = ?", Vars: []any{col(join, ref.ForeignKey.DBName), col(owner, ref.PrimaryKey.DBName)}})
		default:
			toRelated = append(toRelated, clause.Expr{SQL: "? = ?", Vars: []any{col(join, ref.ForeignKey.DBName), col(related, ref.PrimaryKey.DBName)}})
		}
	}
	return toOwner, toRelated
}

// has is the EXISTS filter of Has(path, sub) on m's rows (table).
func (rs *resolver) has(m *model, table, path string, sub []cond) (clause.Expression, error) {
	segs := strings.Split(path, ".")
	rels, _, err := m.relationPath(path, segs)
	if err != nil {
		return nil, err
	}
	return rs.exists(m, table, rels, sub)
}

func (rs *resolver) exists(m *model, table string, rels []*schema.Relationship, sub []cond) (clause.Expression, error) {
	rel := rels[0]
	rm := modelOf(rel.FieldSchema)
	rs.n++
	n := strconv.Itoa(rs.n)
	alias := "r" + n
	var inner []clause.Expression
	if len(rels) > 1 {
		e, err := rs.exists(rm, alias, rels[1:], sub)
		if err != nil {
			return nil, err
		}
		inner = []clause.Expression{e}
	} else {
		var err error
		if inner, err = rs.conds(rm, alias, sub, false); err != nil {
			return nil, err
		}
	}
	inner = append(inner, rm.softDeleted(alias)...)
	target := clause.Table{Name: rm.sch.Table, Alias: alias}
	if rel.JoinTable == nil {
		where := append(linkConds(rel, table, alias), inner...)
		return clause.Expr{SQL: "EXISTS (SELECT 1 FROM ? WHERE ?)", Vars: []any{target, group(where)}}, nil
	}
	jalias := "j" + n
	toOwner, toRelated := joinConds(rel, table, jalias, alias)
	where := append(toOwner, inner...)
	return clause.Expr{SQL: "EXISTS (SELECT 1 FROM ? JOIN ? ON ? WHERE ?)", Vars: []any{
		clause.Table{Name: rel.JoinTable.Table, Alias: jalias}, target, group(toRelated), group(where)}}, nil
}
