package repo

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Sentinel errors. Callers branch on them with errors.Is; every error a
// method returns also names the operation and the table
// ("repo: get users 42: record not found").
var (
	// ErrNotFound: no row matched. errors.Is(err, gorm.ErrRecordNotFound)
	// is true for it as well, so code written against GORM keeps working.
	ErrNotFound error = &aliasError{msg: "record not found", alias: gorm.ErrRecordNotFound}
	// ErrConflict: a unique constraint was violated (PostgreSQL 23505).
	// The error is a *ConflictError: errors.As gives the constraint name,
	// and the driver's *pgconn.PgError stays reachable with errors.As.
	ErrConflict = errors.New("unique constraint violated")
	// ErrUnknownField: a field name (filter, sort, update key, conflict
	// column) is not a column of the model. Nothing was sent.
	ErrUnknownField = errors.New("unknown field")
	// ErrInvalidQuery: a query is malformed (unknown operator, negative
	// limit or offset, an In value that is not a slice...), or an update
	// names the primary key or a field that is not updatable (create-only
	// `gorm:"<-:create"`, read-only `->`). Nothing was sent.
	ErrInvalidQuery = errors.New("invalid query")
	// ErrInvalidCursor: a page cursor does not decode, carries a value of
	// the wrong type, or was made for another query (filters and their
	// values, sort field, direction). Nothing was sent. Cursors are not
	// signed: a well-formed one forged for the same query is accepted.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrInvalidModel: T is not a model GORM can map (not a struct, or no
	// single primary key where the method needs one).
	ErrInvalidModel = errors.New("invalid model")
)

// aliasError is a sentinel that also matches another sentinel.
type aliasError struct {
	msg   string
	alias error
}

func (e *aliasError) Error() string        { return e.msg }
func (e *aliasError) Is(target error) bool { return target == e.alias }

// ConflictError reports a unique violation. errors.Is(err, ErrConflict)
// is true for it; Unwrap gives the driver's error.
type ConflictError struct {
	// Constraint is the violated constraint's name as PostgreSQL reports
	// it (for example "users_email_key"). On SQLite, which names no
	// constraint, it is the "table.column" list from the message.
	Constraint string
	// Table is the table the constraint belongs to, when the driver says.
	Table string
	// Err is the driver's error (*pgconn.PgError on PostgreSQL).
	Err error
}

func (e *ConflictError) Error() string {
	if e.Constraint == "" {
		return ErrConflict.Error()
	}
	return ErrConflict.Error() + " (" + e.Constraint + ")"
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Unwrap returns the driver's error.
func (e *ConflictError) Unwrap() error { return e.Err }

// SQLite extended result codes for unique and primary-key violations.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// mapErr turns GORM's not-found into ErrNotFound and unique violations
// into *ConflictError; other errors pass unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		if pg.Code == "23505" {
			return &ConflictError{Constraint: pg.ConstraintName, Table: pg.TableName, Err: err}
		}
		return err
	}
	// SQLite drivers (modernc, glebarez) expose the extended code; the
	// library does not import them, so match the method.
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() {
		case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
			c := err.Error()
			if i := strings.Index(c, "constraint failed: "); i >= 0 {
				c = c[i+len("constraint failed: "):]
				if j := strings.Index(c, " ("); j >= 0 {
					c = c[:j]
				}
			} else {
				c = ""
			}
			return &ConflictError{Constraint: c, Err: err}
		}
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) { // TranslateError: true
		return &ConflictError{Err: err}
	}
	return err
}
