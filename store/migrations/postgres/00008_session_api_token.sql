-- A session remembers the API token it was opened with (a personal access token's sign-in), so
-- that ending the token ends the sessions it opened: a session exchanged for a stolen token
-- would otherwise keep refreshing for its whole life after the token was deleted or revoked.
-- PostgreSQL twin of migrations/sqlite/00008_session_api_token.sql.
--
-- ON DELETE CASCADE: a token's row is deleted only with its user or its instance role, and
-- nothing a token opened may outlive it. The index is partial: nearly every session is opened
-- some other way, and the lookups (by token id) imply api_token_id IS NOT NULL.
--
-- Sessions opened with a personal access token before this version cannot be told which token
-- opened them, so they end here: their holders sign in with the token again, and a session
-- whose token is already gone ends with it.

-- +goose Up
ALTER TABLE sessions ADD COLUMN api_token_id uuid REFERENCES api_tokens (id) ON DELETE CASCADE;
CREATE INDEX sessions_api_token_id_idx ON sessions (api_token_id) WHERE api_token_id IS NOT NULL;
UPDATE sessions SET revoked_at = now(), revoke_reason = 'api-token-unlinked'
WHERE method = 'pat' AND revoked_at IS NULL;

-- +goose Down
-- Sessions ended by the Up step stay ended.
DROP INDEX sessions_api_token_id_idx;
ALTER TABLE sessions DROP COLUMN api_token_id;
