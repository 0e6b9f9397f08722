-- Addresses are compared by their key: the address with its ASCII letters lower-cased and nothing
-- else changed (store/email.go). Keys were once Unicode lower case, which made ceo@İbm.com's key
-- ceo@ibm.com: that row answered for another mailbox. Re-key every address that has characters
-- outside ASCII; no other key changes. lower() depends on the database's locale, so translate()
-- folds the ASCII letters alone. The new keys cannot collide (each is finer than the old one, and
-- old keys were unique); the NOT EXISTS only guards rows whose key was edited by hand. Pending
-- tickets follow their address.

-- +goose Up
UPDATE users SET email_lower = translate(btrim(email), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
WHERE email IS NOT NULL
  AND length(email) <> octet_length(email)
  AND email_lower <> translate(btrim(email), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
  AND NOT EXISTS (SELECT 1 FROM users o
                  WHERE o.email_lower = translate(btrim(users.email), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                    AND o.id <> users.id);

UPDATE tickets SET email_lower = translate(btrim(email), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
WHERE used_at IS NULL
  AND length(email) <> octet_length(email)
  AND email_lower <> translate(btrim(email), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');

-- +goose Down
-- The old keys are not restored: they are what let one address stand for another.
SELECT 1;
