-- WebAuthn security keys and passkeys, and the ceremonies that add or use them.
-- SQLite twin of migrations/postgres/00011_webauthn.sql, which explains the tables.

-- +goose Up
CREATE TABLE webauthn_credentials (
    id            TEXT     PRIMARY KEY,
    user_id       TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB     NOT NULL,
    nickname      TEXT,
    credential    TEXT     NOT NULL,
    sign_count    INTEGER  NOT NULL DEFAULT 0,
    created_at    DATETIME NOT NULL,
    last_used_at  DATETIME,
    CONSTRAINT webauthn_credentials_credential_id_key UNIQUE (credential_id)
);
CREATE INDEX webauthn_credentials_user_id_idx ON webauthn_credentials (user_id);

CREATE TABLE webauthn_ceremonies (
    id             TEXT     PRIMARY KEY,
    kind           TEXT     NOT NULL,
    user_id        TEXT     REFERENCES users (id) ON DELETE CASCADE,
    challenge_hash BLOB     NOT NULL,
    session_data   TEXT     NOT NULL,
    data           TEXT     NOT NULL DEFAULT '{}',
    created_at     DATETIME NOT NULL,
    expires_at     DATETIME NOT NULL,
    CONSTRAINT webauthn_ceremonies_challenge_hash_key UNIQUE (challenge_hash)
);
CREATE INDEX webauthn_ceremonies_expires_at_idx ON webauthn_ceremonies (expires_at);

-- +goose Down
DROP TABLE webauthn_ceremonies;
DROP TABLE webauthn_credentials;
