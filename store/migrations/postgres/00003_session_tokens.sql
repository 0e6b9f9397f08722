-- Opaque session tokens: the credential of dialects whose clients send the session itself on
-- every call (Zesty's 30-minute sliding token). Stored only as SHA-256 hashes; each belongs to a
-- session, so ending the session ends the token.

-- +goose Up
CREATE TABLE session_tokens (
    id           uuid        PRIMARY KEY,
    session_id   uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind         text        NOT NULL,
    token_hash   bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    CONSTRAINT session_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX session_tokens_session_id_idx ON session_tokens (session_id);

-- +goose Down
DROP TABLE session_tokens;
