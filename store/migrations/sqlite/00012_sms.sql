-- Phone sign-in by SMS: a phone number is one user's at most, and the outbox texts leave from.
-- SQLite twin of migrations/postgres/00012_sms.sql (types as in 00001_init.sql).

-- +goose Up
CREATE UNIQUE INDEX users_phone_number_key ON users (phone_number);

CREATE TABLE sms_outbox (
    id              TEXT     PRIMARY KEY,
    kind            TEXT     NOT NULL,
    recipient       TEXT     NOT NULL,
    body            TEXT,
    request_id      TEXT     NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL,
    attempts        INTEGER  NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    last_error      TEXT     NOT NULL DEFAULT '',
    provider_id     TEXT     NOT NULL DEFAULT '',
    sent_at         DATETIME,
    failed_at       DATETIME
);
CREATE INDEX sms_outbox_due_idx ON sms_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX sms_outbox_created_at_idx ON sms_outbox (created_at);

-- +goose Down
DROP TABLE sms_outbox;
DROP INDEX users_phone_number_key;
