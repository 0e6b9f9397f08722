-- Rate-limit counters and sign-in lockouts, shared by every instance. SQLite twin of
-- migrations/postgres/00005_rate_limits.sql. Times are Unix seconds: integers compare the same
-- way on both databases.

-- +goose Up
CREATE TABLE rate_limits (
    key          TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX rate_limits_expires_at_idx ON rate_limits (expires_at);

CREATE TABLE lockouts (
    key          TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX lockouts_user_id_idx ON lockouts (user_id);
CREATE INDEX lockouts_expires_at_idx ON lockouts (expires_at);

-- +goose Down
DROP TABLE lockouts;
DROP TABLE rate_limits;
