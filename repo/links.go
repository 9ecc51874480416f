package repo

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/tollgate-db/tollgate/pool"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// Links is a many2many relation of a model, worked on through its join
// table by primary keys: favorites (User.Favorites []Article), follows
// (User.Following []User), tags (Article.Tags []Tag). Make it with
// Repository.Links; it is safe for concurrent use.
//
// Keys are the primary-key values of the owner (the repository's model)
// and of the targets (the relation's model), converted as Get converts
// its id: an integer key accepts any integer type, nothing else. Every
// method is one Runner call and one statement (Replace: one transaction);
// Add, Remove and Replace are idempotent (running one twice leaves the
// same links), so the Runner may retry them after a lost connection.
// Links work on the join table's rows only: they do not check that the
// target rows exist (a foreign key does, when the table has one) and
// count links to soft-deleted targets too.
type Links struct {
	r      Runner
	err    error
	name   string // "User.Favorites"
	owner  *model
	target *model
	table  string // the join table
	oc, tc string // its owner and target key columns

	read, add, remove, replace []pool.CallOption // Idempotent, named for telemetry
}

// Links returns the many2many relation of T named relation (its Go field
// name). When relation is not a many2many relation of T, or either side
// has no single primary key, every method returns the reason
// (ErrUnknownField, ErrInvalidModel), which Err also reports.
func (r *Repository[T]) Links(relation string) *Links {
	l := &Links{r: r.r, owner: r.m}
	if r.m.err != nil {
		l.err = r.m.err
		return l
	}
	l.name = r.m.sch.Name + "." + relation
	rel, ok := r.m.sch.Relationships.Relations[relation]
	if !ok || rel.JoinTable == nil || rel.Type != schema.Many2Many {
		l.err = fmt.Errorf("%w: %q is not a many2many relation of %s", ErrUnknownField, relation, r.m.sch.Name)
		return l
	}
	l.target = modelOf(rel.FieldSchema)
	if err := r.m.needPK(); err != nil {
		l.err = err
		return l
	}
	if err := l.target.needPK(); err != nil {
		l.err = err
		return l
	}
	l.table = rel.JoinTable.Table
	for _, ref := range rel.References {
		switch {
		case ref.PrimaryKey == nil:
			l.err = fmt.Errorf("%w: %s: polymorphic many2many is not supported", ErrInvalidModel, l.name)
			return l
		case ref.OwnPrimaryKey:
			l.oc = ref.ForeignKey.DBName
		default:
			l.tc = ref.ForeignKey.DBName
		}
	}
	if len(rel.References) != 2 || l.oc == "" || l.tc == "" {
		l.err = fmt.Errorf("%w: %s: the join table must have one key column per side", ErrInvalidModel, l.name)
	}
	op := func(name string) []pool.CallOption {
		return []pool.CallOption{pool.Idempotent(), pool.Operation(name, l.table)}
	}
	l.read, l.add, l.remove, l.replace = op("SELECT"), op("INSERT"), op("DELETE"), op("UPDATE")
	return l
}

// Err reports why the relation cannot be used, or nil.
func (l *Links) Err() error { return l.err }

// Table is the join table's name ("" when Err is not nil).
func (l *Links) Table() string {
	if l.err != nil {
		return ""
	}
	return l.table
}

func (l *Links) fail(op string, owner any, err error) error {
	if err == nil {
		return nil
	}
	name := l.name
	if name == "" {
		name = "?"
	}
	if owners, ok := owner.([]any); ok {
		return fmt.Errorf("repo: %s %s (%d owners): %w", op, name, len(owners), mapErr(err))
	}
	return fmt.Errorf("repo: %s %s %s: %w", op, name, keyText(owner), mapErr(err))
}

// keys checks the owner and target keys.
func (l *Links) keys(owner any, targets []any) (any, []any, error) {
	if l.err != nil {
		return nil, nil, l.err
	}
	o, err := l.owner.pkValue(owner)
	if err != nil {
		return nil, nil, err
	}
	ts := make([]any, len(targets))
	for i, t := range targets {
		if ts[i], err = l.target.pkValue(t); err != nil {
			return nil, nil, err
		}
	}
	return o, ts, nil
}

// insert links o to ts, keeping existing links.
func (l *Links) insert(db *gorm.DB, o any, ts []any) error {
	vars := make([]any, 0, 3+2*len(ts))
	vars = append(vars, clause.Table{Name: l.table}, clause.Column{Name: l.oc}, clause.Column{Name: l.tc})
	for _, t := range ts {
		vars = append(vars, o, t)
	}
	sql := "INSERT INTO ? (?, ?) VALUES " + strings.Repeat("(?, ?), ", len(ts)-1) + "(?, ?) ON CONFLICT DO NOTHING"
	return db.Exec(sql, vars...).Error
}

// Add links owner to each of targets in one statement; links that exist
// already are kept (INSERT ... ON CONFLICT DO NOTHING, which needs the
// unique key over both columns that GORM's AutoMigrate gives a join
// table). No target does nothing.
func (l *Links) Add(ctx context.Context, owner any, targets ...any) error {
	o, ts, err := l.keys(owner, targets)
	if err != nil || len(ts) == 0 {
		return l.fail("add links", owner, err)
	}
	ts = dedupe(ts)
	return l.fail("add links", owner, l.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return l.insert(db, o, ts)
	}, l.add...))
}

// Remove unlinks owner from each of targets in one statement; a target
// that is not linked is no error. No target does nothing.
func (l *Links) Remove(ctx context.Context, owner any, targets ...any) error {
	o, ts, err := l.keys(owner, targets)
	if err != nil || len(ts) == 0 {
		return l.fail("remove links", owner, err)
	}
	return l.fail("remove links", owner, l.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("DELETE FROM ? WHERE ? = ? AND ? IN ?",
			clause.Table{Name: l.table}, clause.Column{Name: l.oc}, o, clause.Column{Name: l.tc}, ts).Error
	}, l.remove...))
}

// Replace makes targets owner's exact set of links: the others are
// removed and the missing ones added, in one transaction (a savepoint
// when ctx carries one). No target removes every link of owner.
func (l *Links) Replace(ctx context.Context, owner any, targets ...any) error {
	o, ts, err := l.keys(owner, targets)
	if err != nil {
		return l.fail("replace links", owner, err)
	}
	ts = dedupe(ts)
	return l.fail("replace links", owner, l.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return db.Transaction(func(tx *gorm.DB) error {
			del := "DELETE FROM ? WHERE ? = ?"
			vars := []any{clause.Table{Name: l.table}, clause.Column{Name: l.oc}, o}
			if len(ts) > 0 {
				del += " AND ? NOT IN ?"
				vars = append(vars, clause.Column{Name: l.tc}, ts)
			}
			if err := tx.Exec(del, vars...).Error; err != nil || len(ts) == 0 {
				return err
			}
			return l.insert(tx, o, ts)
		})
	}, l.replace...))
}

// Count is the number of owner's links.
func (l *Links) Count(ctx context.Context, owner any) (int64, error) {
	o, _, err := l.keys(owner, nil)
	if err != nil {
		return 0, l.fail("count links", owner, err)
	}
	var n int64
	err = l.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return db.Raw("SELECT COUNT(*) FROM ? WHERE ? = ?", clause.Table{Name: l.table}, clause.Column{Name: l.oc}, o).Scan(&n).Error
	}, l.read...)
	return n, l.fail("count links", owner, err)
}

// Counts gives the number of links of each owner in one statement
// (GROUP BY): counts[i] is owners[i]'s, 0 for an owner with none
// (articles' favorite counts for a page of articles, without N+1).
func (l *Links) Counts(ctx context.Context, owners ...any) ([]int64, error) {
	os := make([]any, len(owners))
	if l.err != nil {
		return nil, l.fail("count links", owners, l.err)
	}
	for i, o := range owners {
		v, err := l.owner.pkValue(o)
		if err != nil {
			return nil, l.fail("count links", o, err)
		}
		os[i] = v
	}
	counts := make([]int64, len(owners))
	if len(owners) == 0 {
		return counts, nil
	}
	got := map[any]int64{}
	err := l.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		clear(got)
		rows, err := db.Raw("SELECT ?, COUNT(*) FROM ? WHERE ? IN ? GROUP BY ?",
			clause.Column{Name: l.oc}, clause.Table{Name: l.table}, clause.Column{Name: l.oc}, dedupe(os), clause.Column{Name: l.oc}).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k := reflect.New(keyType(l.owner.pk))
			var n int64
			if err := rows.Scan(k.Interface(), &n); err != nil {
				return err
			}
			got[k.Elem().Interface()] = n
		}
		return rows.Err()
	}, l.read...)
	if err != nil {
		return nil, l.fail("count links", owners, err)
	}
	for i, o := range os {
		counts[i] = got[o]
	}
	return counts, nil
}

// Linked reports, in one statement, for each of targets whether owner
// links to it: linked[i] is for targets[i] ("has this user favorited
// these articles", "does this user follow these authors").
func (l *Links) Linked(ctx context.Context, owner any, targets ...any) ([]bool, error) {
	o, ts, err := l.keys(owner, targets)
	if err != nil {
		return nil, l.fail("linked", owner, err)
	}
	linked := make([]bool, len(ts))
	if len(ts) == 0 {
		return linked, nil
	}
	got := map[any]bool{}
	err = l.r.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		clear(got)
		rows, err := db.Raw("SELECT ? FROM ? WHERE ? = ? AND ? IN ?",
			clause.Column{Name: l.tc}, clause.Table{Name: l.table}, clause.Column{Name: l.oc}, o, clause.Column{Name: l.tc}, dedupe(ts)).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k := reflect.New(keyType(l.target.pk))
			if err := rows.Scan(k.Interface()); err != nil {
				return err
			}
			got[k.Elem().Interface()] = true
		}
		return rows.Err()
	}, l.read...)
	if err != nil {
		return nil, l.fail("linked", owner, err)
	}
	for i, t := range ts {
		linked[i] = got[t]
	}
	return linked, nil
}

// keyType is the type a key column is scanned into: the field's type
// without pointers, as pkValue converts keys to.
func keyType(f *schema.Field) reflect.Type {
	t := f.FieldType
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// dedupe drops repeated comparable values, keeping the first of each.
func dedupe(vs []any) []any {
	if len(vs) < 2 {
		return vs
	}
	seen := make(map[any]bool, len(vs))
	out := vs[:0:0]
	for _, v := range vs {
		if reflect.TypeOf(v) != nil && !reflect.TypeOf(v).Comparable() {
			out = append(out, v)
			continue
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
