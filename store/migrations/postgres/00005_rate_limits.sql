-- Rate-limit counters and sign-in lockouts, shared by every instance. PostgreSQL twin of
-- migrations/sqlite/00005_rate_limits.sql. Times are Unix seconds: integers compare the same
-- way on both databases.

-- +goose Up
-- Unlogged: a counter update writes no WAL, so its commit waits for no disk flush. A crash
-- forgets the counters, which only restarts the windows.
CREATE UNLOGGED TABLE rate_limits (
    key          TEXT    PRIMARY KEY,
    window_start BIGINT  NOT NULL,
    hits         BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX rate_limits_expires_at_idx ON rate_limits (expires_at);

CREATE TABLE lockouts (
    key          TEXT    PRIMARY KEY,
    user_id      UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failures     BIGINT  NOT NULL,
    locked_until BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX lockouts_user_id_idx ON lockouts (user_id);
CREATE INDEX lockouts_expires_at_idx ON lockouts (expires_at);

-- +goose Down
DROP TABLE lockouts;
DROP TABLE rate_limits;
