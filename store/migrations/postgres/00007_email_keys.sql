-- Empty. This migration once re-keyed every address with characters outside ASCII by its stored
-- form, which locked out the owners of addresses stored with capitals or decomposed letters
-- (Åsa@x.se, keyed åsa@x.se until then, answered only to Åsa@x.se, which the address check
-- refuses). Migration 9 (store/emailkeys.go, in Go: it needs Unicode case mapping, NFC and IDNA)
-- does the work now, and repairs a database that ran the old version of this one.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
