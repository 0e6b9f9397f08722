-- Provider tokens kept at rest (LATCHKEY_PROVIDER_KEEP_TOKENS): the access and refresh tokens a
-- provider handed over at the latest sign-in through it, each sealed with the secrets key
-- (internal/sealed, purpose bound to the row, like users.totp_secret) and listed in
-- store.SealedColumns so `latchkey secrets rotate` re-seals them. NULL: not kept. The expiry of
-- the access token is not secret and stays readable. The tokens go with the row: unlinking the
-- provider or deleting the user removes them.

-- +goose Up
ALTER TABLE provider_identities ADD COLUMN access_token text;
ALTER TABLE provider_identities ADD COLUMN refresh_token text;
ALTER TABLE provider_identities ADD COLUMN access_token_expires_at timestamptz;
ALTER TABLE provider_identities ADD COLUMN tokens_updated_at timestamptz;

-- +goose Down
ALTER TABLE provider_identities DROP COLUMN tokens_updated_at;
ALTER TABLE provider_identities DROP COLUMN access_token_expires_at;
ALTER TABLE provider_identities DROP COLUMN refresh_token;
ALTER TABLE provider_identities DROP COLUMN access_token;
