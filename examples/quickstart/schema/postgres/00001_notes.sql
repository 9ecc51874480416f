-- +goose Up
CREATE TABLE IF NOT EXISTS qs_notes (
    id         BIGSERIAL PRIMARY KEY,
    author     TEXT NOT NULL,
    title      TEXT NOT NULL,
    stars      BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS idx_qs_notes_author ON qs_notes (author);

-- +goose Down
DROP TABLE IF EXISTS qs_notes;
