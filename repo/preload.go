package repo

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// preloads resolves ps (paths below prefix, a path of m's root) into
// GORM's Statement.Preloads form: each path, with a condition function
// when it has a sub-query. Every path element must be a relation.
func (m *model) preloads(prefix string, ps []preload, out map[string][]any) error {
	for _, p := range ps {
		rels, last, err := m.relationPath(prefix+p.path, strings.Split(p.path, "."))
		if err != nil {
			return err
		}
		full := prefix + p.path
		if _, ok := out[full]; !ok {
			out[full] = nil
		}
		if p.sub == nil {
			continue
		}
		fn, err := last.preloadQuery(full, rels[len(rels)-1], *p.sub)
		if err != nil {
			return err
		}
		out[full] = []any{fn}
		if err := last.preloads(full+".", p.sub.preloads, out); err != nil {
			return err
		}
	}
	return nil
}

// preloadQuery is the condition function of PreloadWith(path, sub) on
// the relation rel, whose model is m.
func (m *model) preloadQuery(path string, rel *schema.Relationship, sub Query) (func(*gorm.DB) *gorm.DB, error) {
	if sub.err != nil {
		return nil, sub.err
	}
	if sub.offset != 0 || sub.hasSel {
		return nil, fmt.Errorf("%w: PreloadWith %q: an offset or a Select in the preload query", ErrInvalidQuery, path)
	}
	rs := &resolver{}
	where, err := rs.conds(m, clause.CurrentTable, sub.conds, false)
	if err != nil {
		return nil, err
	}
	var orders []clause.OrderByColumn
	for _, o := range sub.orders {
		c, _, _, err := rs.column(m, clause.CurrentTable, o.field, false)
		if err != nil {
			return nil, err
		}
		if o.dir != Asc && o.dir != Desc {
			return nil, fmt.Errorf("%w: direction %d", ErrInvalidQuery, int(o.dir))
		}
		orders = append(orders, clause.OrderByColumn{Column: c, Desc: o.dir == Desc})
	}
	limit := 0
	if sub.hasLim {
		if rel.Type != schema.HasMany || rel.JoinTable != nil {
			return nil, fmt.Errorf("%w: PreloadWith %q: a limit per parent row needs a has-many relation, %s is %s", ErrInvalidQuery, path, rel.Name, rel.Type)
		}
		if sub.limit == 0 {
			return nil, fmt.Errorf("%w: PreloadWith %q: limit 0", ErrInvalidQuery, path)
		}
		limit = sub.limit
	}
	var parts []clause.Column // the foreign key: what rows are numbered by, per parent
	for _, ref := range rel.References {
		if ref.OwnPrimaryKey {
			parts = append(parts, clause.Column{Name: ref.ForeignKey.DBName})
		}
	}
	return func(tx *gorm.DB) *gorm.DB {
		if len(where) > 0 {
			tx = tx.Clauses(clause.Where{Exprs: where})
		}
		if len(orders) > 0 {
			tx = tx.Clauses(clause.OrderBy{Columns: orders})
		}
		if limit == 0 {
			return tx
		}
		// Number each parent's rows in the preload's order and keep the
		// first limit of them, as GORM's LimitPerRecord does.
		partition := make([]clause.Expression, len(parts))
		for i, c := range parts {
			partition[i] = clause.Expr{SQL: "?", Vars: []any{c}}
		}
		ob := clause.OrderBy{Columns: orders}
		if len(orders) == 0 {
			ob = clause.OrderBy{Columns: []clause.OrderByColumn{{Column: clause.PrimaryColumn}}}
		}
		rn := clause.Column{Name: "tollgate_preload_rn"}
		tx = tx.Clauses(clause.Select{Expression: clause.CommaExpression{Exprs: []clause.Expression{
			clause.Expr{SQL: "*"},
			clause.Expr{SQL: "ROW_NUMBER() OVER (PARTITION BY ? ?) AS ?", Vars: []any{
				clause.CommaExpression{Exprs: partition}, clause.Clause{Name: "ORDER BY", Expression: ob}, rn}},
		}}})
		return tx.Session(&gorm.Session{NewDB: true}).Unscoped().Table("(?) t", tx).
			Where(clause.Expr{SQL: "? <= ?", Vars: []any{rn, limit}}).
			Clauses(clause.OrderBy{Columns: []clause.OrderByColumn{{Column: rn}}})
	}, nil
}

// selectColumns is the select list of Select(fields...): the fields
// (each a column of m), the primary key, and the keys q's preloads read
// from m's rows, each once, in that order.
func (m *model) selectColumns(fields []string, ps []preload) ([]clause.Column, error) {
	var cols []clause.Column
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			cols = append(cols, clause.Column{Table: clause.CurrentTable, Name: name})
		}
	}
	for _, name := range fields {
		f, err := m.field(name)
		if err != nil {
			return nil, err
		}
		add(f.DBName)
	}
	for _, f := range m.sch.PrimaryFields {
		add(f.DBName)
	}
	for _, p := range ps {
		root, _, _ := strings.Cut(p.path, ".")
		rel := m.sch.Relationships.Relations[root] // checked by preloads
		if rel == nil {
			continue
		}
		for _, ref := range rel.References {
			switch {
			case ref.PrimaryKey == nil:
			case ref.OwnPrimaryKey:
				add(ref.PrimaryKey.DBName)
			case rel.JoinTable == nil:
				add(ref.ForeignKey.DBName)
			}
		}
	}
	return cols, nil
}
