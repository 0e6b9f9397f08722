-- TOTP second factor: the last time step a user's code was accepted at (so a code works once,
-- even inside its window, across instances), the tickets of sign-ins waiting for their second
-- factor, and recovery codes. SQLite twin of migrations/postgres/00010_totp.sql.
--
-- users.totp_secret (from 00001) holds the secret sealed with the secrets key (AES-GCM), pending
-- while active_mfa_type is NULL. MFA tickets and recovery codes are stored only as SHA-256
-- hashes (a recovery code's salted with its user's id).

-- +goose Up
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;

CREATE TABLE mfa_tickets (
    id          TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BLOB    NOT NULL,
    method      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL,
    used_at     DATETIME,
    CONSTRAINT mfa_tickets_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX mfa_tickets_user_id_idx ON mfa_tickets (user_id);
CREATE INDEX mfa_tickets_expires_at_idx ON mfa_tickets (expires_at);

CREATE TABLE recovery_codes (
    id          TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   BLOB    NOT NULL,
    created_at  DATETIME NOT NULL,
    used_at     DATETIME,
    CONSTRAINT recovery_codes_code_hash_key UNIQUE (code_hash)
);
CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);

-- +goose Down
DROP TABLE recovery_codes;
DROP TABLE mfa_tickets;
ALTER TABLE users DROP COLUMN totp_last_step;
