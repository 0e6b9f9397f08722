-- Invalidation messages for the per-instance cache of live sessions (store/sessioncache.go).
-- PostgreSQL twin of migrations/sqlite/00013_session_cache.sql.
--
-- The triggers run inside the writing transaction, so PostgreSQL delivers their notifications
-- when, and only when, that transaction commits, in commit order. They fire only for writes that
-- can end a session or change what a session's user looks like, never for the hot ones: a
-- refresh-token rotation slides a session's expiry forward and a sign-in stamps last_seen_at, and
-- neither notifies (every notifying commit takes a cluster-wide lock). The channel is named after
-- the schema, so deployments sharing one database do not hear each other.
--
-- Payloads: "s:<session id>" for one session, "u:<user id>" for every session of a user.
-- session_cache_changes is used on SQLite only; it exists here so both databases have the same
-- tables.

-- +goose Up
CREATE TABLE session_cache_changes (
    id integer PRIMARY KEY CHECK (id = 1),
    n  bigint NOT NULL DEFAULT 0
);
INSERT INTO session_cache_changes (id, n) VALUES (1, 0);

-- +goose StatementBegin
CREATE FUNCTION latchkey_session_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    channel text := left('latchkey_' || TG_TABLE_SCHEMA, 63); -- a channel name is an identifier
BEGIN
    IF TG_TABLE_NAME = 'sessions' THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify(channel, 's:' || OLD.id);
        ELSE
            PERFORM pg_notify(channel, 's:' || NEW.id);
        END IF;
    ELSIF TG_TABLE_NAME = 'users' THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify(channel, 'u:' || OLD.id);
        ELSE
            PERFORM pg_notify(channel, 'u:' || NEW.id);
        END IF;
    ELSE -- user_roles
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM pg_notify(channel, 'u:' || OLD.user_id);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            PERFORM pg_notify(channel, 'u:' || NEW.user_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- A session ends when revoked or deleted; moving its expiry back or to another user counts too.
-- A rotation only moves the expiry forward, which the cached entry (holding the older expiry)
-- can only under-serve.
CREATE TRIGGER session_cache_sessions_update AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.expires_at < OLD.expires_at
          OR NEW.user_id IS DISTINCT FROM OLD.user_id)
    EXECUTE FUNCTION latchkey_session_cache_notify();
CREATE TRIGGER session_cache_sessions_delete AFTER DELETE ON sessions FOR EACH ROW
    EXECUTE FUNCTION latchkey_session_cache_notify();
-- Every column of users counts, those a later migration adds included, except the two that
-- change without changing the user: the last-seen stamp and the update time.
CREATE TRIGGER session_cache_users_update AFTER UPDATE ON users FOR EACH ROW
    WHEN ((to_jsonb(NEW) - 'last_seen_at' - 'updated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'last_seen_at' - 'updated_at'))
    EXECUTE FUNCTION latchkey_session_cache_notify();
CREATE TRIGGER session_cache_users_delete AFTER DELETE ON users FOR EACH ROW
    EXECUTE FUNCTION latchkey_session_cache_notify();
CREATE TRIGGER session_cache_user_roles AFTER INSERT OR UPDATE OR DELETE ON user_roles FOR EACH ROW
    EXECUTE FUNCTION latchkey_session_cache_notify();

-- +goose Down
DROP TRIGGER session_cache_user_roles ON user_roles;
DROP TRIGGER session_cache_users_delete ON users;
DROP TRIGGER session_cache_users_update ON users;
DROP TRIGGER session_cache_sessions_delete ON sessions;
DROP TRIGGER session_cache_sessions_update ON sessions;
DROP FUNCTION latchkey_session_cache_notify();
DROP TABLE session_cache_changes;
