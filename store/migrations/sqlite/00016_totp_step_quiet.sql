-- A TOTP sign-in records the accepted time step in users.totp_last_step (store.AcceptTOTPStep),
-- which no session's user shows. Until now the users trigger of 00013 counted it, so every TOTP
-- sign-in made every other process empty its whole session cache. SQLite cannot compare whole
-- rows, so the trigger leaves out the one write that moves totp_last_step and nothing a user
-- shows: the step moves while the secret, the active type and the update time stay (every other
-- statement that sets totp_last_step also replaces the secret or stamps updated_at).
-- SQLite twin of migrations/postgres/00016_totp_step_quiet.sql.

-- +goose Up
DROP TRIGGER session_cache_users_update;
-- +goose StatementBegin
CREATE TRIGGER session_cache_users_update AFTER UPDATE ON users
    WHEN NEW.last_seen_at IS OLD.last_seen_at
        AND NOT (NEW.totp_last_step IS NOT OLD.totp_last_step AND NEW.totp_secret IS OLD.totp_secret
                 AND NEW.active_mfa_type IS OLD.active_mfa_type AND NEW.updated_at IS OLD.updated_at)
BEGIN
    UPDATE session_cache_changes SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER session_cache_users_update;
-- +goose StatementBegin
CREATE TRIGGER session_cache_users_update AFTER UPDATE ON users
    WHEN NEW.last_seen_at IS OLD.last_seen_at
BEGIN
    UPDATE session_cache_changes SET n = n + 1 WHERE id = 1;
END;
-- +goose StatementEnd
