-- The core of every dialect: users, their roles, sessions and everything that hangs off a session.
-- Secrets (refresh tokens, API tokens) are stored only as SHA-256 hashes.

-- +goose Up
CREATE TABLE users (
    id                    uuid        PRIMARY KEY,
    zuid                  text        NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    last_seen_at          timestamptz,
    email                 text,
    email_lower           text,
    username              text,
    phone_number          text,
    phone_number_verified boolean     NOT NULL DEFAULT false,
    display_name          text        NOT NULL DEFAULT '',
    avatar_url            text        NOT NULL DEFAULT '',
    locale                text        NOT NULL DEFAULT 'en',
    metadata              jsonb       NOT NULL DEFAULT '{}',
    default_role          text        NOT NULL,
    email_verified        boolean     NOT NULL DEFAULT false,
    disabled              boolean     NOT NULL DEFAULT false,
    is_anonymous          boolean     NOT NULL DEFAULT false,
    new_password_required boolean     NOT NULL DEFAULT false,
    password_hash         text,
    totp_secret           text,
    active_mfa_type       text,
    CONSTRAINT users_zuid_key UNIQUE (zuid),
    CONSTRAINT users_email_key UNIQUE (email_lower),
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE user_roles (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    text NOT NULL,
    CONSTRAINT user_roles_pkey PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method         text        NOT NULL,
    created_at     timestamptz NOT NULL,
    last_active_at timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoke_reason  text        NOT NULL DEFAULT '',
    user_agent     text        NOT NULL DEFAULT '',
    ip             text        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    id             uuid        PRIMARY KEY,
    session_id     uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash     bytea       NOT NULL,
    successor      bytea,
    rotates        boolean     NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
-- No index on used_at or expires_at: spending a token then changes no indexed column, which
-- keeps the hottest write of the server a heap-only update. The periodic purge scans instead.

CREATE TABLE api_tokens (
    id           uuid        PRIMARY KEY,
    kind         text        NOT NULL,
    user_id      uuid        REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL DEFAULT '',
    token_hash   bytea       NOT NULL,
    metadata     jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE signing_keys (
    kid         text        PRIMARY KEY,
    alg         text        NOT NULL,
    private_key bytea       NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX signing_keys_created_at_idx ON signing_keys (created_at);

-- Audit events keep user ids without foreign keys: the record outlives the user it names.
CREATE TABLE audit_events (
    id               uuid        PRIMARY KEY,
    at               timestamptz NOT NULL,
    action           text        NOT NULL,
    outcome          text        NOT NULL,
    actor_user_id    uuid,
    actor_token_name text        NOT NULL DEFAULT '',
    target_user_id   uuid,
    session_id       uuid,
    ip               text        NOT NULL DEFAULT '',
    user_agent       text        NOT NULL DEFAULT '',
    request_id       text        NOT NULL DEFAULT '',
    detail           jsonb       NOT NULL DEFAULT '{}'
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
