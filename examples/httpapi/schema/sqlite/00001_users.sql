-- +goose Up
CREATE TABLE IF NOT EXISTS httpapi_users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      VARCHAR(320) NOT NULL,
    name       VARCHAR(200) NOT NULL,
    created_at DATETIME
);
CREATE UNIQUE INDEX IF NOT EXISTS httpapi_users_email_key ON httpapi_users (email);

-- +goose Down
DROP TABLE IF EXISTS httpapi_users;
