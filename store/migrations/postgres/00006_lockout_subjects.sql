-- Lockouts keyed by the name a client signs in with, not by account. PostgreSQL twin of
-- migrations/sqlite/00006_lockout_subjects.sql.
--
-- Failed sign-ins and code guesses are counted per submitted identifier (a hash of the address
-- or username as accounts are looked up), whether or not an account has it, so that a lock
-- answers the same for every address and tells no one which have accounts. A row therefore
-- belongs to no user: subject, the identifier's hash, is what an administrator clears by.
-- Rows are short-lived (a day at most), and the old ones are keyed by user id, which no longer
-- means anything: they are dropped, so locks in force at the upgrade end with it.

-- +goose Up
DROP TABLE lockouts;
CREATE TABLE lockouts (
    key          TEXT    PRIMARY KEY,
    subject      TEXT    NOT NULL,
    failures     BIGINT  NOT NULL,
    locked_until BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX lockouts_subject_idx ON lockouts (subject);
CREATE INDEX lockouts_expires_at_idx ON lockouts (expires_at);

-- +goose Down
DROP TABLE lockouts;
CREATE TABLE lockouts (
    key          TEXT    PRIMARY KEY,
    user_id      UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failures     BIGINT  NOT NULL,
    locked_until BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX lockouts_user_id_idx ON lockouts (user_id);
CREATE INDEX lockouts_expires_at_idx ON lockouts (expires_at);
