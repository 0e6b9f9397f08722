-- The core of every dialect: users, their roles, sessions and everything that hangs off a session.
-- Secrets (refresh tokens, API tokens) are stored only as SHA-256 hashes.
-- SQLite twin of migrations/postgres/00001_init.sql: TEXT ids, DATETIME text times (always UTC,
-- written in one format so they compare correctly as text), BLOB hashes, TEXT JSON.

-- +goose Up
CREATE TABLE users (
    id                    TEXT     PRIMARY KEY,
    zuid                  TEXT     NOT NULL,
    created_at            DATETIME NOT NULL,
    updated_at            DATETIME NOT NULL,
    last_seen_at          DATETIME,
    email                 TEXT,
    email_lower           TEXT,
    username              TEXT,
    phone_number          TEXT,
    phone_number_verified BOOLEAN  NOT NULL DEFAULT 0,
    display_name          TEXT     NOT NULL DEFAULT '',
    avatar_url            TEXT     NOT NULL DEFAULT '',
    locale                TEXT     NOT NULL DEFAULT 'en',
    metadata              TEXT     NOT NULL DEFAULT '{}',
    default_role          TEXT     NOT NULL,
    email_verified        BOOLEAN  NOT NULL DEFAULT 0,
    disabled              BOOLEAN  NOT NULL DEFAULT 0,
    is_anonymous          BOOLEAN  NOT NULL DEFAULT 0,
    new_password_required BOOLEAN  NOT NULL DEFAULT 0,
    password_hash         TEXT,
    totp_secret           TEXT,
    active_mfa_type       TEXT,
    CONSTRAINT users_zuid_key UNIQUE (zuid),
    CONSTRAINT users_email_key UNIQUE (email_lower),
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    CONSTRAINT user_roles_pkey PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    id             TEXT     PRIMARY KEY,
    user_id        TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method         TEXT     NOT NULL,
    created_at     DATETIME NOT NULL,
    last_active_at DATETIME NOT NULL,
    expires_at     DATETIME NOT NULL,
    revoked_at     DATETIME,
    revoke_reason  TEXT     NOT NULL DEFAULT '',
    user_agent     TEXT     NOT NULL DEFAULT '',
    ip             TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    id             TEXT     PRIMARY KEY,
    session_id     TEXT     NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash     BLOB     NOT NULL,
    successor      BLOB,
    rotates        BOOLEAN  NOT NULL,
    created_at     DATETIME NOT NULL,
    expires_at     DATETIME NOT NULL,
    used_at        DATETIME,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
-- No index on used_at or expires_at: spending a token then changes no indexed column, which
-- keeps the hottest write of the server a heap-only update. The periodic purge scans instead.

CREATE TABLE api_tokens (
    id           TEXT     PRIMARY KEY,
    kind         TEXT     NOT NULL,
    user_id      TEXT     REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT     NOT NULL DEFAULT '',
    token_hash   BLOB     NOT NULL,
    metadata     TEXT     NOT NULL DEFAULT '{}',
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    revoked_at   DATETIME,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE signing_keys (
    kid         TEXT     PRIMARY KEY,
    alg         TEXT     NOT NULL,
    private_key BLOB     NOT NULL,
    created_at  DATETIME NOT NULL
);
CREATE INDEX signing_keys_created_at_idx ON signing_keys (created_at);

-- Audit events keep user ids without foreign keys: the record outlives the user it names.
CREATE TABLE audit_events (
    id               TEXT     PRIMARY KEY,
    at               DATETIME NOT NULL,
    action           TEXT     NOT NULL,
    outcome          TEXT     NOT NULL,
    actor_user_id    TEXT,
    actor_token_name TEXT     NOT NULL DEFAULT '',
    target_user_id   TEXT,
    session_id       TEXT,
    ip               TEXT     NOT NULL DEFAULT '',
    user_agent       TEXT     NOT NULL DEFAULT '',
    request_id       TEXT     NOT NULL DEFAULT '',
    detail           TEXT     NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_actor_user_id_idx ON audit_events (actor_user_id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE api_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE user_roles;
DROP TABLE users;
