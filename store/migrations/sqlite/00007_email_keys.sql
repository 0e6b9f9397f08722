-- Addresses are compared by their key: the address with its ASCII letters lower-cased and nothing
-- else changed (store/email.go). Keys were once Unicode lower case, which made ceo@İbm.com's key
-- ceo@ibm.com: that row answered for another mailbox. Re-key every address that has characters
-- outside ASCII; no other key changes. SQLite's lower() folds ASCII letters only. The new keys
-- cannot collide (each is finer than the old one, and old keys were unique); the NOT EXISTS only
-- guards rows whose key was edited by hand. Pending tickets follow their address. SQLite twin of
-- migrations/postgres/00006_email_keys.sql.

-- +goose Up
UPDATE users SET email_lower = lower(trim(email))
WHERE email IS NOT NULL
  AND length(email) <> length(CAST(email AS BLOB))
  AND email_lower <> lower(trim(email))
  AND NOT EXISTS (SELECT 1 FROM users o WHERE o.email_lower = lower(trim(users.email)) AND o.id <> users.id);

UPDATE tickets SET email_lower = lower(trim(email))
WHERE used_at IS NULL
  AND length(email) <> length(CAST(email AS BLOB))
  AND email_lower <> lower(trim(email));

-- +goose Down
-- The old keys are not restored: they are what let one address stand for another.
SELECT 1;
