-- A TOTP sign-in records the accepted time step in users.totp_last_step (store.AcceptTOTPStep),
-- which no session's user shows. Until now the users trigger of 00013 counted it as a change of
-- the user: every TOTP sign-in sent a notification (a notifying commit takes a cluster-wide lock)
-- and made every other instance drop that user's cached sessions. The trigger now leaves that
-- column out, as it does the last-seen stamp and the update time.
-- PostgreSQL twin of migrations/sqlite/00016_totp_step_quiet.sql.

-- +goose Up
DROP TRIGGER session_cache_users_update ON users;
CREATE TRIGGER session_cache_users_update AFTER UPDATE ON users FOR EACH ROW
    WHEN ((to_jsonb(NEW) - 'last_seen_at' - 'updated_at' - 'totp_last_step')
          IS DISTINCT FROM (to_jsonb(OLD) - 'last_seen_at' - 'updated_at' - 'totp_last_step'))
    EXECUTE FUNCTION latchkey_session_cache_notify();

-- +goose Down
DROP TRIGGER session_cache_users_update ON users;
CREATE TRIGGER session_cache_users_update AFTER UPDATE ON users FOR EACH ROW
    WHEN ((to_jsonb(NEW) - 'last_seen_at' - 'updated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'last_seen_at' - 'updated_at'))
    EXECUTE FUNCTION latchkey_session_cache_notify();
