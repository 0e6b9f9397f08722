-- Opaque session tokens. SQLite twin of migrations/postgres/00003_session_tokens.sql.

-- +goose Up
CREATE TABLE session_tokens (
    id           TEXT     PRIMARY KEY,
    session_id   TEXT     NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind         TEXT     NOT NULL,
    token_hash   BLOB     NOT NULL,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    CONSTRAINT session_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX session_tokens_session_id_idx ON session_tokens (session_id);

-- +goose Down
DROP TABLE session_tokens;
