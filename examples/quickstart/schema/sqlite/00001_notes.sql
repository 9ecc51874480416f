-- +goose Up
CREATE TABLE IF NOT EXISTS qs_notes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    author     TEXT NOT NULL,
    title      TEXT NOT NULL,
    stars      INTEGER NOT NULL DEFAULT 0,
    created_at DATETIME,
    updated_at DATETIME
);
CREATE INDEX IF NOT EXISTS idx_qs_notes_author ON qs_notes (author);

-- +goose Down
DROP TABLE IF EXISTS qs_notes;
