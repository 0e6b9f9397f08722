-- Phone sign-in by SMS: a phone number is one user's at most, and the outbox texts leave from.
-- Twin of migrations/sqlite/00012_sms.sql.

-- +goose Up
CREATE UNIQUE INDEX users_phone_number_key ON users (phone_number);

CREATE TABLE sms_outbox (
    id              uuid        PRIMARY KEY,
    kind            text        NOT NULL,
    recipient       text        NOT NULL,
    body            text,
    request_id      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    provider_id     text        NOT NULL DEFAULT '',
    sent_at         timestamptz,
    failed_at       timestamptz
);
CREATE INDEX sms_outbox_due_idx ON sms_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX sms_outbox_created_at_idx ON sms_outbox (created_at);

-- +goose Down
DROP TABLE sms_outbox;
DROP INDEX users_phone_number_key;
