package pool

import (
	"context"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// sentTracer marks, in the attempt found in a statement's ctx, every
// statement pgx is about to send and every one that ended before anything
// was written. pgx calls its Start methods only once a connection exists
// and the statement is about to go out: queries and Exec (BEGIN and COMMIT
// among them), prepares, batches and COPY. A tracer the user configured on
// the connection is chained: it runs first on Start and last on End, and
// sees its own ctx. Outside an attempt (Gorm() used directly) the cost is
// one ctx lookup per statement.
type sentTracer struct {
	next    pgx.QueryTracer
	batch   pgx.BatchTracer
	copy    pgx.CopyFromTracer
	prepare pgx.PrepareTracer
	connect pgx.ConnectTracer
}

// newSentTracer returns the tracer for a connection config whose tracer
// was next (nil when none).
func newSentTracer(next pgx.QueryTracer) *sentTracer {
	t := &sentTracer{next: next}
	t.batch, _ = next.(pgx.BatchTracer)
	t.copy, _ = next.(pgx.CopyFromTracer)
	t.prepare, _ = next.(pgx.PrepareTracer)
	t.connect, _ = next.(pgx.ConnectTracer)
	return t
}

func begin(ctx context.Context) {
	if a := attemptFrom(ctx); a != nil {
		a.begin()
	}
}

func end(ctx context.Context, err error) {
	if a := attemptFrom(ctx); a != nil {
		a.end(err)
	}
}

func (t *sentTracer) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if t.next != nil {
		ctx = t.next.TraceQueryStart(ctx, c, d)
	}
	if a := attemptFrom(ctx); a != nil {
		a.begin()
		if d.SQL == "commit" { // pgx's Tx.Commit, which stdlib's Commit calls
			a.commits.Add(1)
		}
	}
	return ctx
}

func (t *sentTracer) TraceQueryEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	end(ctx, d.Err)
	if t.next != nil {
		t.next.TraceQueryEnd(ctx, c, d)
	}
}

func (t *sentTracer) TraceBatchStart(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	if t.batch != nil {
		ctx = t.batch.TraceBatchStart(ctx, c, d)
	}
	begin(ctx)
	return ctx
}

func (t *sentTracer) TraceBatchQuery(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchQueryData) {
	if t.batch != nil {
		t.batch.TraceBatchQuery(ctx, c, d)
	}
}

func (t *sentTracer) TraceBatchEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchEndData) {
	end(ctx, d.Err)
	if t.batch != nil {
		t.batch.TraceBatchEnd(ctx, c, d)
	}
}

func (t *sentTracer) TraceCopyFromStart(ctx context.Context, c *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	if t.copy != nil {
		ctx = t.copy.TraceCopyFromStart(ctx, c, d)
	}
	begin(ctx)
	return ctx
}

func (t *sentTracer) TraceCopyFromEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceCopyFromEndData) {
	end(ctx, d.Err)
	if t.copy != nil {
		t.copy.TraceCopyFromEnd(ctx, c, d)
	}
}

func (t *sentTracer) TracePrepareStart(ctx context.Context, c *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	if t.prepare != nil {
		ctx = t.prepare.TracePrepareStart(ctx, c, d)
	}
	begin(ctx)
	return ctx
}

func (t *sentTracer) TracePrepareEnd(ctx context.Context, c *pgx.Conn, d pgx.TracePrepareEndData) {
	end(ctx, d.Err)
	if t.prepare != nil {
		t.prepare.TracePrepareEnd(ctx, c, d)
	}
}

// Connecting sends no statement; the user's ConnectTracer still sees it.

func (t *sentTracer) TraceConnectStart(ctx context.Context, d pgx.TraceConnectStartData) context.Context {
	if t.connect != nil {
		ctx = t.connect.TraceConnectStart(ctx, d)
	}
	return ctx
}

func (t *sentTracer) TraceConnectEnd(ctx context.Context, d pgx.TraceConnectEndData) {
	if t.connect != nil {
		t.connect.TraceConnectEnd(ctx, d)
	}
}

// markCompleted is the GORM callback that stands in for the tracer on a
// Dialector (SQLite, or a *sql.DB of the caller's): every statement GORM
// completed counts as sent, except one that failed because the database
// was busy or locked (it did not run) and a dry run.
func markCompleted(db *gorm.DB) {
	if db.DryRun || db.Statement == nil || db.Statement.Context == nil {
		return
	}
	a := attemptFrom(db.Statement.Context)
	if a == nil {
		return
	}
	if db.Error != nil && Classify(db.Error) == Transient {
		return
	}
	a.begin()
}

// registerSentCallbacks installs markCompleted after every kind of
// statement GORM runs.
func registerSentCallbacks(db *gorm.DB) error {
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().Register("tollgate:sent", markCompleted),
		cb.Query().Register("tollgate:sent", markCompleted),
		cb.Update().Register("tollgate:sent", markCompleted),
		cb.Delete().Register("tollgate:sent", markCompleted),
		cb.Row().Register("tollgate:sent", markCompleted),
		cb.Raw().Register("tollgate:sent", markCompleted),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
