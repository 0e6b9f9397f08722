-- Mailed tickets and codes, and the outbox mail leaves from.
-- SQLite twin of migrations/postgres/00002_mail.sql (types as in 00001_init.sql).

-- +goose Up
CREATE TABLE tickets (
    id          TEXT     PRIMARY KEY,
    kind        TEXT     NOT NULL,
    user_id     TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT     NOT NULL,
    email_lower TEXT     NOT NULL,
    token_hash  BLOB,
    code_hash   BLOB,
    redirect_to TEXT     NOT NULL DEFAULT '',
    attempts    INTEGER  NOT NULL DEFAULT 0,
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL,
    used_at     DATETIME,
    CONSTRAINT tickets_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX tickets_user_id_kind_idx ON tickets (user_id, kind);
CREATE INDEX tickets_email_lower_kind_idx ON tickets (email_lower, kind);
CREATE INDEX tickets_expires_at_idx ON tickets (expires_at);

CREATE TABLE mail_outbox (
    id              TEXT     PRIMARY KEY,
    kind            TEXT     NOT NULL,
    recipient       TEXT     NOT NULL,
    subject         TEXT     NOT NULL,
    text_body       TEXT,
    html_body       TEXT,
    request_id      TEXT     NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL,
    attempts        INTEGER  NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    last_error      TEXT     NOT NULL DEFAULT '',
    sent_at         DATETIME,
    failed_at       DATETIME
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_created_at_idx ON mail_outbox (created_at);

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE tickets;
