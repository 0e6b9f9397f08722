-- Provider tokens kept at rest. SQLite twin of migrations/postgres/00015_provider_tokens.sql,
-- which says why each column is.

-- +goose Up
ALTER TABLE provider_identities ADD COLUMN access_token TEXT;
ALTER TABLE provider_identities ADD COLUMN refresh_token TEXT;
ALTER TABLE provider_identities ADD COLUMN access_token_expires_at DATETIME;
ALTER TABLE provider_identities ADD COLUMN tokens_updated_at DATETIME;

-- +goose Down
ALTER TABLE provider_identities DROP COLUMN tokens_updated_at;
ALTER TABLE provider_identities DROP COLUMN access_token_expires_at;
ALTER TABLE provider_identities DROP COLUMN refresh_token;
ALTER TABLE provider_identities DROP COLUMN access_token;
