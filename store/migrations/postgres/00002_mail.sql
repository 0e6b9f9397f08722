-- Mailed tickets and codes, and the outbox mail leaves from.
-- A ticket's link secret and short code are stored only as SHA-256 hashes (the code's hash is
-- salted with the ticket id). The outbox holds a message's body only until it is delivered or
-- abandoned: bodies carry one-time links and codes.

-- +goose Up
CREATE TABLE tickets (
    id          uuid        PRIMARY KEY,
    kind        text        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       text        NOT NULL,
    email_lower text        NOT NULL,
    token_hash  bytea,
    code_hash   bytea,
    redirect_to text        NOT NULL DEFAULT '',
    attempts    integer     NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CONSTRAINT tickets_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX tickets_user_id_kind_idx ON tickets (user_id, kind);
CREATE INDEX tickets_email_lower_kind_idx ON tickets (email_lower, kind);
CREATE INDEX tickets_expires_at_idx ON tickets (expires_at);

CREATE TABLE mail_outbox (
    id              uuid        PRIMARY KEY,
    kind            text        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    text_body       text,
    html_body       text,
    request_id      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    sent_at         timestamptz,
    failed_at       timestamptz
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_created_at_idx ON mail_outbox (created_at);

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE tickets;
