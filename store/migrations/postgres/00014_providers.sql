-- Federated sign-in: the provider accounts linked to users, the round trips to a provider that
-- are under way, the provider ID tokens already accepted, and the one-time codes a PKCE sign-in
-- hands to the browser instead of a refresh token.
--
-- provider_identities: one row per provider account; (provider, subject) is the account at the
-- provider and belongs to one user at most. Provider tokens are not kept.
-- oauth_states: a round trip is started on one instance and may end on another, so it lives here.
-- The state itself is stored only as a SHA-256 hash; the PKCE verifier must be read back to
-- redeem the code, and lives only as long as the round trip (ten minutes, single use).
-- id_token_uses: an ID token is accepted once; its hash is kept until the token expires.
-- auth_codes: the one-time code of a sign-in that carried a PKCE challenge, hashed.

-- +goose Up
CREATE TABLE provider_identities (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   text        NOT NULL,
    subject    text        NOT NULL,
    email      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    CONSTRAINT provider_identities_provider_subject_key UNIQUE (provider, subject)
);
CREATE INDEX provider_identities_user_id_idx ON provider_identities (user_id);

CREATE TABLE oauth_states (
    id             uuid        PRIMARY KEY,
    state_hash     bytea       NOT NULL,
    provider       text        NOT NULL,
    code_verifier  text        NOT NULL,
    nonce          text        NOT NULL DEFAULT '',
    redirect_to    text        NOT NULL,
    options        jsonb       NOT NULL DEFAULT '{}',
    connect_session_id uuid,
    code_challenge text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    CONSTRAINT oauth_states_state_hash_key UNIQUE (state_hash)
);
CREATE INDEX oauth_states_expires_at_idx ON oauth_states (expires_at);

CREATE TABLE id_token_uses (
    token_hash bytea       PRIMARY KEY,
    provider   text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX id_token_uses_expires_at_idx ON id_token_uses (expires_at);

CREATE TABLE auth_codes (
    id             uuid        PRIMARY KEY,
    code_hash      bytea       NOT NULL,
    code_challenge text        NOT NULL,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method         text        NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    CONSTRAINT auth_codes_code_hash_key UNIQUE (code_hash)
);
CREATE INDEX auth_codes_expires_at_idx ON auth_codes (expires_at);

-- A mailed link remembers the PKCE challenge of the request that mailed it.
ALTER TABLE tickets ADD COLUMN code_challenge text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tickets DROP COLUMN code_challenge;
DROP TABLE auth_codes;
DROP TABLE id_token_uses;
DROP TABLE oauth_states;
DROP TABLE provider_identities;
