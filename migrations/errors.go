package migrations

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidConfig is wrapped by every error New returns for bad input:
	// no migrations, duplicate versions, a malformed DirectURL, a bad table
	// name. Nothing has touched the database when it is returned.
	ErrInvalidConfig = errors.New("migrations: invalid config")
	// ErrLocked means another instance held the migration lock, or
	// another call of the same Migrator ran, for longer than
	// Config.LockTimeout. Nothing was applied; retry later.
	ErrLocked = errors.New("migrations: lock held by another instance")
	// ErrNothingToRollBack is returned by Down when no migration is applied.
	ErrNothingToRollBack = errors.New("migrations: no applied migration to roll back")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("migrations: migrator closed")
)

// MigrationError reports the migration that failed during Up or Down.
// The migrations before it in the same run are in Applied and recorded;
// the failed one was rolled back with its version row, so the recorded
// version is that of the last success.
type MigrationError struct {
	// Direction is "up" or "down".
	Direction string
	// Version and Name identify the failed migration; Name is the file
	// name of an SQL migration or Migration.Name of a Go one.
	Version int64
	Name    string
	// Applied holds the migrations that succeeded before it in this run.
	Applied []Result
	// Err is the database's or the Go function's error.
	Err error
}

func (e *MigrationError) Error() string {
	return fmt.Sprintf("migrations: %s %s (version %d) failed: %v", e.Direction, e.Name, e.Version, e.Err)
}

func (e *MigrationError) Unwrap() error { return e.Err }
