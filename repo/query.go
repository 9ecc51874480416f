package repo

import "fmt"

// Op is a comparison operator of a filter. The set is closed: a value
// outside it makes the query fail with ErrInvalidQuery.
type Op int

// The operators. Values are always sent as bound parameters.
const (
	Eq      Op = iota + 1 // field = value (value nil: IS NULL)
	Ne                    // field <> value (value nil: IS NOT NULL)
	Lt                    // field < value
	Le                    // field <= value
	Gt                    // field > value
	Ge                    // field >= value
	In                    // field IN (values...); value is a slice or array
	Like                  // field LIKE value ESCAPE '\'; see EscapeLike
	IsNull                // field IS NULL; value nil or true, false means IS NOT NULL
	Between               // field BETWEEN lo AND hi (inclusive); value a 2-element slice or array {lo, hi}
)

var opNames = [...]string{"?", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "In", "Like", "IsNull", "Between"}

func (o Op) String() string {
	if o < Eq || o > Between {
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

// condKind is what a cond is: a comparison, or a group of filters.
type condKind uint8

const (
	condField condKind = iota // field op value
	condAny                   // OR of groups
	condNot                   // NOT (groups[0])
	condAll                   // (groups[0]), joined by AND
	condHas                   // EXISTS a row of the relation field matching groups[0]
)

type cond struct {
	kind   condKind
	field  string // field or path; the relation path of condHas
	op     Op
	value  any
	groups [][]cond
}

type order struct {
	field string
	dir   Direction
}

type preload struct {
	path string
	sub  *Query // nil: no conditions
}

// Query describes which rows a method reads: filters joined by AND,
// orderings, a limit and an offset, associations to preload and the
// fields to read. Field names are only checked against the model when a
// method runs, before any SQL is built. The zero Query matches every
// row. A Query is an immutable value: each method returns a changed
// copy, so a base query can be shared and extended.
type Query struct {
	conds    []cond
	orders   []order
	preloads []preload
	selects  []string
	limit    int // -1: none
	offset   int
	hasLim   bool
	hasSel   bool
	group    string // CountBy's field
	hasGroup bool
	err      error
}

// All returns the Query that matches every row; it is Query{}.
func All() Query { return Query{} }

// Where starts a Query with one filter. field is a field of the model,
// or a path through belongs-to and has-one relations ending in a field of
// the last one ("Author.Username"), which is read by a LEFT JOIN.
func Where(field string, op Op, value any) Query { return Query{}.And(field, op, value) }

// And adds a filter, joined to the others by AND. field is as for Where.
func (q Query) And(field string, op Op, value any) Query {
	return q.add(cond{field: field, op: op, value: value})
}

func (q Query) add(c cond) Query {
	q.conds = append(q.conds[:len(q.conds):len(q.conds)], c)
	return q
}

// filters returns q's filters for use in a group, or an error when q
// holds more than filters.
func (q Query) filters(what string) ([]cond, error) {
	switch {
	case q.err != nil:
		return nil, q.err
	case len(q.orders) > 0 || q.hasLim || q.offset != 0 || len(q.preloads) > 0 || q.hasSel:
		return nil, fmt.Errorf("%w: a query given to %s may only have filters (no order, limit, offset, preload or select)", ErrInvalidQuery, what)
	}
	return q.conds, nil
}

func (q Query) fail(err error) Query {
	if q.err == nil {
		q.err = err
	}
	return q
}

// Or matches the rows that match any of qs, each q's filters joined by
// AND among themselves: Or(Where("a", Eq, 1), Where("b", Eq, 2).And("c",
// Eq, 3)) is a = 1 OR (b = 2 AND c = 3). The queries may only hold
// filters (else ErrInvalidQuery when the query runs). Or() matches no
// row; an empty query among qs matches every row.
func Or(qs ...Query) Query {
	c := cond{kind: condAny, groups: make([][]cond, 0, len(qs))}
	for _, g := range qs {
		fs, err := g.filters("Or")
		if err != nil {
			return Query{err: err}
		}
		c.groups = append(c.groups, fs)
	}
	return Query{}.add(c)
}

// Not matches the rows that do not match q's filters (joined by AND):
// Not(Where("a", Eq, 1).And("b", Eq, 2)) is NOT (a = 1 AND b = 2). q may
// only hold filters. As in SQL, a comparison with NULL is neither true
// nor false, so Not(Where("nick", Eq, "x")) leaves out rows whose nick
// is NULL.
func Not(q Query) Query {
	fs, err := q.filters("Not")
	if err != nil {
		return Query{err: err}
	}
	return Query{}.add(cond{kind: condNot, groups: [][]cond{fs}})
}

// Match adds sub's filters to q's as one group, joined by AND; it is how
// an Or, a Not or a Has joins a query that has other filters already:
//
//	repo.Where("published", repo.Eq, true).Match(repo.Or(a, b))
//
// sub may only hold filters.
func (q Query) Match(sub Query) Query {
	fs, err := sub.filters("Match")
	if err != nil {
		return q.fail(err)
	}
	return q.add(cond{kind: condAll, groups: [][]cond{fs}})
}

// Has matches the rows that have at least one associated row of
// relation (any kind: belongs-to, has-one, has-many, many2many) matching
// sub's filters, which are checked against the associated model. It is
// an EXISTS sub-query built from the schema (through the join table for
// many2many) that skips soft-deleted associated rows; Not(Has(...)) is
// NOT EXISTS. relation may be a path: Has("Author.Followers", sub) is
// Has("Author", Has("Followers", sub)). Inside sub, fields are the
// associated model's own (no paths); nest Has to go further. sub may
// only hold filters; All() means any associated row.
func Has(relation string, sub Query) Query {
	fs, err := sub.filters("Has")
	if err != nil {
		return Query{err: err}
	}
	return Query{}.add(cond{kind: condHas, field: relation, groups: [][]cond{fs}})
}

// OrderBy adds an ordering; the first one added sorts first. field is as
// for Where (a path sorts by the joined row; Page and Each refuse paths).
func (q Query) OrderBy(field string, dir Direction) Query {
	q.orders = append(q.orders[:len(q.orders):len(q.orders)], order{field, dir})
	return q
}

// Preload loads the association at path with the rows that Find, First,
// Page and Each return: a relation of the model ("Author", "Tags"), or a
// path of relations ("Posts.Comments", which loads the posts and their
// comments). It is one extra statement per path element, in the same
// Runner call, as GORM's Preload; soft-deleted associated rows are left
// out. Count and Exists ignore preloads.
func (q Query) Preload(path string) Query {
	q.preloads = append(q.preloads[:len(q.preloads):len(q.preloads)], preload{path: path})
	return q
}

// PreloadWith is Preload with sub applied to the last relation's rows:
// sub's filters and orderings (checked against that model), its
// preloads (paths below this one: PreloadWith("Posts",
// All().Preload("Comments")) also loads "Posts.Comments"), and its Limit,
// which is per parent row ("the three newest comments of each post") and
// is allowed for has-many relations only. An offset or a Select in sub is
// ErrInvalidQuery.
func (q Query) PreloadWith(path string, sub Query) Query {
	q.preloads = append(q.preloads[:len(q.preloads):len(q.preloads)], preload{path: path, sub: &sub})
	return q
}

// Select reads only the given fields (of the model; no paths) into T,
// which keep their zero value otherwise: a projection that saves reading
// wide columns. The primary key is always read, as are the keys that
// preloads need; Page and Each also read their sort field. Select with
// no field is ErrInvalidQuery. See FindAs to read into another type.
func (q Query) Select(fields ...string) Query {
	if len(fields) == 0 {
		return q.fail(fmt.Errorf("%w: Select with no field", ErrInvalidQuery))
	}
	q.selects = append(q.selects[:len(q.selects):len(q.selects)], fields...)
	q.hasSel = true
	return q
}

// Limit bounds the rows returned; for Page it is the page size, for Each
// the total. A negative n makes the query fail with ErrInvalidQuery.
func (q Query) Limit(n int) Query {
	if n < 0 {
		q = q.fail(fmt.Errorf("%w: negative limit %d", ErrInvalidQuery, n))
	}
	q.limit, q.hasLim = n, true
	return q
}

// Offset skips the first n rows. A negative n makes the query fail with
// ErrInvalidQuery.
func (q Query) Offset(n int) Query {
	if n < 0 {
		q = q.fail(fmt.Errorf("%w: negative offset %d", ErrInvalidQuery, n))
	}
	q.offset = n
	return q
}
