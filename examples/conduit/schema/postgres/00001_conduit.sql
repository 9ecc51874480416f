-- +goose Up
CREATE TABLE conduit_users (
    id            BIGSERIAL PRIMARY KEY,
    username      VARCHAR(64)  NOT NULL CONSTRAINT conduit_users_username_key UNIQUE,
    email         VARCHAR(320) NOT NULL CONSTRAINT conduit_users_email_key UNIQUE,
    password_hash TEXT         NOT NULL,
    bio           TEXT         NOT NULL DEFAULT '',
    image         TEXT,
    created_at    TIMESTAMPTZ  NOT NULL,
    updated_at    TIMESTAMPTZ  NOT NULL
);

CREATE TABLE conduit_follows (
    follower_id BIGINT NOT NULL REFERENCES conduit_users (id) ON DELETE CASCADE,
    followee_id BIGINT NOT NULL REFERENCES conduit_users (id) ON DELETE CASCADE,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX conduit_follows_followee_idx ON conduit_follows (followee_id);

CREATE TABLE conduit_articles (
    id          BIGSERIAL PRIMARY KEY,
    slug        VARCHAR(300) NOT NULL CONSTRAINT conduit_articles_slug_key UNIQUE,
    title       VARCHAR(255) NOT NULL,
    description TEXT         NOT NULL,
    body        TEXT         NOT NULL,
    author_id   BIGINT       NOT NULL REFERENCES conduit_users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ  NOT NULL,
    updated_at  TIMESTAMPTZ  NOT NULL
);
CREATE INDEX conduit_articles_created_idx ON conduit_articles (created_at DESC, id DESC);
CREATE INDEX conduit_articles_author_idx ON conduit_articles (author_id, created_at DESC);

CREATE TABLE conduit_tags (
    id   BIGSERIAL PRIMARY KEY,
    name VARCHAR(64) NOT NULL CONSTRAINT conduit_tags_name_key UNIQUE
);

CREATE TABLE conduit_article_tags (
    article_id BIGINT NOT NULL REFERENCES conduit_articles (id) ON DELETE CASCADE,
    tag_id     BIGINT NOT NULL REFERENCES conduit_tags (id) ON DELETE CASCADE,
    PRIMARY KEY (article_id, tag_id)
);
CREATE INDEX conduit_article_tags_tag_idx ON conduit_article_tags (tag_id);

CREATE TABLE conduit_favorites (
    user_id    BIGINT NOT NULL REFERENCES conduit_users (id) ON DELETE CASCADE,
    article_id BIGINT NOT NULL REFERENCES conduit_articles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, article_id)
);
CREATE INDEX conduit_favorites_article_idx ON conduit_favorites (article_id);

CREATE TABLE conduit_comments (
    id         BIGSERIAL PRIMARY KEY,
    body       TEXT        NOT NULL,
    article_id BIGINT      NOT NULL REFERENCES conduit_articles (id) ON DELETE CASCADE,
    author_id  BIGINT      NOT NULL REFERENCES conduit_users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX conduit_comments_article_idx ON conduit_comments (article_id, id);

-- +goose Down
DROP TABLE IF EXISTS conduit_comments;
DROP TABLE IF EXISTS conduit_favorites;
DROP TABLE IF EXISTS conduit_article_tags;
DROP TABLE IF EXISTS conduit_tags;
DROP TABLE IF EXISTS conduit_articles;
DROP TABLE IF EXISTS conduit_follows;
DROP TABLE IF EXISTS conduit_users;
