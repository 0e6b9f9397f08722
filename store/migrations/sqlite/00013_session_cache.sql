-- Change counter for the per-instance cache of live sessions (store/sessioncache.go).
-- SQLite twin of migrations/postgres/00013_session_cache.sql.
--
-- SQLite has no notifications: triggers count, in session_cache_changes.n, every committed write
-- that can end a session or change what a session's user looks like, and each process polls the
-- count, emptying its cache when it moved. The process that made a change empties the entries it
-- touched at once; the count is how a second process writing the same file is noticed. The hot
-- writes do not count: a refresh-token rotation slides a session's expiry forward and a sign-in
-- stamps last_seen_at.

-- +goose Up
CREATE TABLE session_cache_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO session_cache_changes (id, n) VALUES (1, 0);

-- +goose StatementBegin
CREATE TRIGGER session_cache_sessions_update AFTER UPDATE ON sessions
    WHEN NEW.revoked_at IS NOT OLD.revoked_at OR NEW.expires_at < OLD.expires_at OR NEW.user_id IS NOT OLD.user_id
BEGIN
    UPDATE session_cache_changes SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER session_cache_sessions_delete AFTER DELETE ON sessions
BEGIN
    UPDATE session_cache_changes SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- Any update of a user except the one that only stamps last_seen_at (SQLite cannot compare whole
-- rows, and naming columns would miss those a later migration adds).
-- +goose StatementBegin
CREATE TRIGGER session_cache_users_update AFTER UPDATE ON users
    WHEN NEW.last_seen_at IS OLD.last_seen_at
BEGIN
    UPDATE session_cache_changes SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER session_cache_users_delete AFTER DELETE ON users
BEGIN
    UPDATE session_cache_changes SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER session_cache_user_roles_insert AFTER INSERT ON user_roles
BEGIN
    UPDATE session_cache_changes SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER session_cache_user_roles_update AFTER UPDATE ON user_roles
BEGIN
    UPDATE session_cache_changes SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER session_cache_user_roles_delete AFTER DELETE ON user_roles
BEGIN
    UPDATE session_cache_changes SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER session_cache_user_roles_delete;
DROP TRIGGER session_cache_user_roles_update;
DROP TRIGGER session_cache_user_roles_insert;
DROP TRIGGER session_cache_users_delete;
DROP TRIGGER session_cache_users_update;
DROP TRIGGER session_cache_sessions_delete;
DROP TRIGGER session_cache_sessions_update;
DROP TABLE session_cache_changes;
