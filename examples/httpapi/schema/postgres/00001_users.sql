-- +goose Up
CREATE TABLE IF NOT EXISTS httpapi_users (
    id         BIGSERIAL PRIMARY KEY,
    email      VARCHAR(320) NOT NULL CONSTRAINT httpapi_users_email_key UNIQUE,
    name       VARCHAR(200) NOT NULL,
    created_at TIMESTAMPTZ
);

-- +goose Down
DROP TABLE IF EXISTS httpapi_users;
