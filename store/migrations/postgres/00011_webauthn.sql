-- WebAuthn security keys and passkeys, and the ceremonies that add or use them.
-- PostgreSQL twin of migrations/sqlite/00011_webauthn.sql.
--
-- webauthn_credentials: one registered key. credential_id is the authenticator's id for it
-- (unique across users: an authenticator never reuses one); credential is the verified record
-- (public key, flags, attestation) as go-webauthn describes it, in JSON; sign_count is kept in a
-- column of its own, as the one value every use updates with a guarded UPDATE.
--
-- webauthn_ceremonies: a begun registration or assertion, kept in the database so that any
-- instance can finish it. It is found by the SHA-256 of its challenge, spent by deleting it,
-- lives five minutes, and is bound to its kind and (except sign-up and passkey sign-in) to its
-- user.

-- +goose Up
CREATE TABLE webauthn_credentials (
    id            uuid        PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea       NOT NULL,
    nickname      text,
    credential    jsonb       NOT NULL,
    sign_count    bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    CONSTRAINT webauthn_credentials_credential_id_key UNIQUE (credential_id)
);
CREATE INDEX webauthn_credentials_user_id_idx ON webauthn_credentials (user_id);

CREATE TABLE webauthn_ceremonies (
    id             uuid        PRIMARY KEY,
    kind           text        NOT NULL,
    user_id        uuid        REFERENCES users (id) ON DELETE CASCADE,
    challenge_hash bytea       NOT NULL,
    session_data   jsonb       NOT NULL,
    data           jsonb       NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    CONSTRAINT webauthn_ceremonies_challenge_hash_key UNIQUE (challenge_hash)
);
CREATE INDEX webauthn_ceremonies_expires_at_idx ON webauthn_ceremonies (expires_at);

-- +goose Down
DROP TABLE webauthn_ceremonies;
DROP TABLE webauthn_credentials;
