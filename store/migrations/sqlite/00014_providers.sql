-- Federated sign-in: linked provider accounts, round trips under way, accepted ID tokens and PKCE
-- sign-in codes. SQLite twin of migrations/postgres/00014_providers.sql, which says why each is.

-- +goose Up
CREATE TABLE provider_identities (
    id         TEXT     PRIMARY KEY,
    user_id    TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT     NOT NULL,
    subject    TEXT     NOT NULL,
    email      TEXT     NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    CONSTRAINT provider_identities_provider_subject_key UNIQUE (provider, subject)
);
CREATE INDEX provider_identities_user_id_idx ON provider_identities (user_id);

CREATE TABLE oauth_states (
    id             TEXT     PRIMARY KEY,
    state_hash     BLOB     NOT NULL,
    provider       TEXT     NOT NULL,
    code_verifier  TEXT     NOT NULL,
    nonce          TEXT     NOT NULL DEFAULT '',
    redirect_to    TEXT     NOT NULL,
    options        TEXT     NOT NULL DEFAULT '{}',
    connect_session_id TEXT,
    code_challenge TEXT     NOT NULL DEFAULT '',
    created_at     DATETIME NOT NULL,
    expires_at     DATETIME NOT NULL,
    used_at        DATETIME,
    CONSTRAINT oauth_states_state_hash_key UNIQUE (state_hash)
);
CREATE INDEX oauth_states_expires_at_idx ON oauth_states (expires_at);

CREATE TABLE id_token_uses (
    token_hash BLOB     PRIMARY KEY,
    provider   TEXT     NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL
);
CREATE INDEX id_token_uses_expires_at_idx ON id_token_uses (expires_at);

CREATE TABLE auth_codes (
    id             TEXT     PRIMARY KEY,
    code_hash      BLOB     NOT NULL,
    code_challenge TEXT     NOT NULL,
    user_id        TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method         TEXT     NOT NULL,
    created_at     DATETIME NOT NULL,
    expires_at     DATETIME NOT NULL,
    used_at        DATETIME,
    CONSTRAINT auth_codes_code_hash_key UNIQUE (code_hash)
);
CREATE INDEX auth_codes_expires_at_idx ON auth_codes (expires_at);

-- A mailed link remembers the PKCE challenge of the request that mailed it.
ALTER TABLE tickets ADD COLUMN code_challenge TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tickets DROP COLUMN code_challenge;
DROP TABLE auth_codes;
DROP TABLE id_token_uses;
DROP TABLE oauth_states;
DROP TABLE provider_identities;
