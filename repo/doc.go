// Package repo gives typed repositories over GORM's generics API
// (gorm.G[T]) whose every call goes through a [Runner], normally the
// throttled executor of package pool:
//
//	users := repo.New[User](p) // p is a *pool.Pool
//	u, err := users.Get(ctx, 42)
//	list, err := users.Find(ctx, repo.Where("email", repo.Eq, "a@b.c").
//		OrderBy("created_at", repo.Desc).Limit(20))
//
// Reads are passed to the Runner with pool.Idempotent(), so a read cut off
// by a lost connection is retried; writes are not.
//
// # Field names are checked, values are bound
//
// Every field name a caller gives (filters, sort, UpdateFields keys,
// Upsert columns, Select, CountBy) is looked up in T's GORM schema, as
// the exact Go field name or the exact column name, before any SQL is
// built. Anything else
// fails with an error wrapping [ErrUnknownField] that names it, and
// nothing is sent. The SQL then uses the schema's column name, quoted by
// the dialect, never the caller's string; operators come from the closed
// set [Op]; values are always bound parameters, and values that GORM
// would paste into the SQL text (clause expressions, sub-queries,
// gorm.Valuer, column references) are refused at any depth: inside
// slices, arrays, maps, pointers and interfaces too. Like declares its
// escape character (LIKE ? ESCAPE '\') on every dialect; [EscapeLike]
// makes a literal pattern. So a sort or filter field taken from a request cannot inject
// SQL, unlike GORM's Order, Where(string) or Select.
//
// # Relations
//
// Association names and paths are checked like fields: each element is
// looked up, by its exact Go field name, in the relationships GORM's
// schema parse found (schema.Relationships), before any SQL is built;
// anything else is ErrUnknownField. The SQL uses the schema's tables,
// columns and keys, quoted by the dialect.
//
//   - Preload and PreloadWith load associations with the rows ("Author",
//     "Posts.Comments"), optionally filtered, sorted and limited per parent
//     row by a Query on the associated model.
//   - A field path through belongs-to and has-one relations
//     ("Author.Username") filters or sorts by a LEFT JOIN, aliased by the
//     path. A has-one that is not unique repeats the parent row, as any
//     JOIN does.
//   - Has filters by existence over any relation, has-many and many2many
//     included ("an article tagged X", "a user who favorited Y"): an EXISTS
//     sub-query through the join table, with the associated model's soft
//     delete applied; Not(Has(...)) is NOT EXISTS; Has("Author.Followers",
//     ...) nests.
//   - Repository.Links works a many2many relation by primary keys: Add,
//     Remove, Replace, Count, Counts (per owner, one GROUP BY) and Linked
//     ("which of these is X linked to", in one statement).
//
// # Groups, ranges and projections
//
// Or, Not and Match combine the filters of queries into groups;
// Between is an operator; Query.Select reads some fields into T, FindAs
// reads checked columns into another struct type; CountBy counts rows
// per value of a field (or a belongs-to path) in one GROUP BY.
//
// # When to use Pool.Do instead
//
// repo says what a repository of one model can say safely: filters,
// sorts and projections of its columns and of its relations' columns,
// existence and counts. Reach for (*pool.Pool).Do with GORM itself (the
// call is still throttled and retried) for what it cannot: aggregates
// other than COUNT (SUM, AVG, MAX), GROUP BY over several columns or with
// HAVING, joins that are not a belongs-to / has-one relation of the model
// (or that should read the joined columns), UNION, window functions,
// locking reads (SELECT ... FOR UPDATE), bulk UPDATE or DELETE by a
// query, and database-specific SQL (full-text search, JSON operators). In
// that code, never put a request's text into Order, Select, Where(string),
// Joins or Raw: pass identifiers as clause.Column / clause.Table and
// values as arguments, and check names against an allow-list.
//
// # Errors
//
// Errors name the operation and table ("repo: get users 42: record not
// found"). No row is [ErrNotFound], which errors.Is also matches against
// gorm.ErrRecordNotFound. A unique violation (PostgreSQL 23505) is a
// [*ConflictError] that matches [ErrConflict] and carries the constraint's
// name; the driver's *pgconn.PgError stays reachable with errors.As.
// Errors of the executor (pool.ErrQueueTimeout and the like) pass through
// wrapped.
//
// # Soft delete
//
// A model with a gorm.DeletedAt field behaves as GORM users expect:
// Delete sets deleted_at, and soft-deleted rows are invisible to Get,
// First, Find, Count, Exists, Page, Each, Update and UpdateFields.
//
// # Transactions and the context
//
// Inside (*pool.Pool).Transaction, the ctx given to the function carries
// the transaction: a repository call made with that ctx joins it at once,
// takes no second slot and is never retried on its own. Repositories of
// several models can share one transaction this way:
//
//	err := p.Transaction(ctx, func(ctx context.Context) error {
//		if err := orders.Create(ctx, &o); err != nil {
//			return err
//		}
//		return stock.UpdateFields(ctx, o.ItemID, map[string]any{"reserved": true})
//	})
//
// A call made inside the function with any other ctx (the request's ctx
// captured from outside, context.Background()) does not join: it is an
// independent call that queues for a slot of its own while the
// transaction holds one. With MaxConcurrent = 1 that slot can only come
// free when the transaction ends, and the transaction waits for the call:
// the call fails with pool.ErrQueueTimeout after Config.QueueTimeout (or
// when its ctx ends) instead of hanging, and its work is not part of the
// transaction. Always pass the function's ctx on.
//
// # Pagination
//
// [Repository.Page] does keyset (cursor) pagination ordered by one
// checked field and the primary key, with an opaque cursor that is
// refused ([ErrInvalidCursor]) when malformed or reused for another
// query (other filters, filter values, sort or direction), and offset
// pagination when the query has an offset. Cursors are not signed: a
// well-formed cursor forged for the same query is accepted, which only
// moves where the page starts; its values are always bound parameters.
// [Repository.Each] walks a whole result in batches, one Runner call per
// batch, so memory stays bounded and no slot is held between batches.
//
// # Models
//
// T must be a struct type GORM can map. Get, Update, UpdateFields,
// Delete, Page and Each need a single primary key. New does not panic on
// a bad T: every method returns an error wrapping [ErrInvalidModel], and
// [Repository.Err] reports it at once.
package repo
