package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/urfave/cli/v3"

	"github.com/latchkey/latchkey/internal/sealed"
	"github.com/latchkey/latchkey/store"
)

// mfaFlags are the settings of the TOTP second factor and of the key sealing secrets at rest.
func (c *config) mfaFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "mfa-enabled", Destination: &c.MFAEnabled, Sources: c.env(false, "LATCHKEY_MFA_ENABLED", "AUTH_MFA_ENABLED"),
			Usage: "turn on the TOTP second factor: users may activate an authenticator, and their sign-ins then need its code " +
				"(Nhost answers an MFA ticket; dialects with no MFA step refuse the sign-in). Off, the MFA operations answer 409 disabled-endpoint"},
		&cli.StringFlag{Name: "secrets-key", Destination: &c.SecretsKey, Sources: c.env(true, "LATCHKEY_SECRETS_KEY"),
			Usage: "32 random bytes in base64 (openssl rand -base64 32) that encrypt, with AES-256-GCM, the secrets Latchkey must read back " +
				"(TOTP secrets, kept provider tokens). Every instance needs the same key. Unset on SQLite with MFA enabled or provider tokens kept: generated once into secrets.key in the data directory " +
				"(mode 0600). Unset on PostgreSQL with either: the server refuses to start. Rotate with `latchkey secrets rotate`"},
		&cli.StringFlag{Name: "secrets-old-key", Destination: &c.SecretsOldKey, Sources: c.env(true, "LATCHKEY_SECRETS_OLD_KEY"),
			Usage: "during a key rotation, the previous secrets key: values sealed with it still open, new ones are sealed with secrets-key. " +
				"Drop it once `latchkey secrets rotate` has re-sealed everything"},
	}
}

// validateSecrets checks the key's form (never echoing it) and that PostgreSQL deployments with
// MFA enabled set one: their instances must share it, so none may invent its own.
func (c *config) validateSecrets(bad func(name, env, why string)) {
	if c.SecretsKey != "" {
		if _, err := sealed.ParseKey(c.SecretsKey); err != nil {
			bad("secrets-key", "LATCHKEY_SECRETS_KEY", "must be 32 bytes in base64 (openssl rand -base64 32)")
		}
		if c.SecretsOldKey != "" {
			if _, err := sealed.ParseKey(c.SecretsOldKey); err != nil {
				bad("secrets-old-key", "LATCHKEY_SECRETS_OLD_KEY", "must be 32 bytes in base64")
			}
		}
		return
	}
	if c.SecretsOldKey != "" {
		bad("secrets-old-key", "LATCHKEY_SECRETS_OLD_KEY", "needs secrets-key / LATCHKEY_SECRETS_KEY, the key that replaces it")
	}
	if c.MFAEnabled && c.DatabaseURL != "" {
		bad("secrets-key", "LATCHKEY_SECRETS_KEY",
			"must be set when MFA is enabled on PostgreSQL: every instance must hold the same key to read TOTP secrets "+
				"(make one with `openssl rand -base64 32`; LATCHKEY_SECRETS_KEY_FILE reads it from a file)")
	}
	if c.ProviderKeepTokens && c.DatabaseURL != "" {
		bad("secrets-key", "LATCHKEY_SECRETS_KEY",
			"must be set when provider tokens are kept (LATCHKEY_PROVIDER_KEEP_TOKENS) on PostgreSQL: every instance must hold the same key "+
				"to read them (make one with `openssl rand -base64 32`; LATCHKEY_SECRETS_KEY_FILE reads it from a file)")
	}
}

// secretsKeyring is the keyring serve hands the server: the configured key; else, on SQLite
// with MFA enabled or provider tokens kept, the key generated once into the data directory;
// else none.
func (c *config) secretsKeyring(st *store.Store, log *slog.Logger) (*sealed.Keyring, error) {
	if c.SecretsKey != "" {
		k, err := sealed.ParseKey(c.SecretsKey)
		if err != nil {
			return nil, errors.New("secrets-key / LATCHKEY_SECRETS_KEY must be 32 bytes in base64")
		}
		var old *sealed.Key
		if c.SecretsOldKey != "" {
			if old, err = sealed.ParseKey(c.SecretsOldKey); err != nil {
				return nil, errors.New("secrets-old-key / LATCHKEY_SECRETS_OLD_KEY must be 32 bytes in base64")
			}
		}
		return sealed.NewKeyring(k, old), nil
	}
	if st.Dialect() == store.Postgres || !(c.MFAEnabled || c.ProviderKeepTokens) {
		// Nothing sealed is read without MFA or kept provider tokens (validateSecrets refused
		// either on PostgreSQL without a key). A later feature that seals secrets of its own
		// widens this condition.
		return nil, nil
	}
	k, created, err := sealed.LoadOrCreateKeyFile(c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("secrets key in the data directory: %w", err)
	}
	if created {
		log.Info("generated the secrets key", "file", sealed.KeyFileName, "key_id", k.ID())
	}
	return sealed.NewKeyring(k), nil
}

// secretsCommand is `latchkey secrets rotate`: re-seal every sealed value under a new key.
func secretsCommand(stdout, stderr io.Writer) *cli.Command {
	cfg := &config{}
	var oldKey, newKey string
	return &cli.Command{
		Name:  "secrets",
		Usage: "manage the key that encrypts secrets at rest (TOTP secrets, kept provider tokens)",
		Commands: []*cli.Command{{
			Name: "rotate",
			Usage: "re-encrypt every sealed secret under a new key. First restart every instance with the new key as " +
				"LATCHKEY_SECRETS_KEY and the old one as LATCHKEY_SECRETS_OLD_KEY, then run this, then drop the old key " +
				"(values are re-sealed one by one, each only if unchanged, so it runs while instances serve, and can be run again)",
			Flags: append(cfg.storeFlags(),
				&cli.StringFlag{Name: "old-key", Destination: &oldKey, Sources: cfg.env(true, "LATCHKEY_SECRETS_OLD_KEY"),
					Usage: "the key values are sealed with now (base64); default: the generated key in the data directory (SQLite)"},
				&cli.StringFlag{Name: "new-key", Destination: &newKey, Sources: cfg.env(true, "LATCHKEY_SECRETS_NEW_KEY"), Required: true,
					Usage: "the key to seal with from now on (base64, 32 bytes)"},
			),
			Action: func(ctx context.Context, _ *cli.Command) error {
				return withStore(ctx, cfg, stderr, func(st *store.Store, log *slog.Logger) error {
					nk, err := sealed.ParseKey(newKey)
					if err != nil {
						return errors.New("new-key: must be 32 bytes in base64")
					}
					var ok *sealed.Key
					if oldKey != "" {
						if ok, err = sealed.ParseKey(oldKey); err != nil {
							return errors.New("old-key: must be 32 bytes in base64")
						}
					} else if st.Dialect() != store.Postgres {
						if ok, _, err = sealed.LoadOrCreateKeyFile(cfg.DataDir); err != nil {
							return err
						}
					} else {
						return errors.New("old-key is required on PostgreSQL")
					}
					n, err := rotateSecrets(ctx, st, sealed.NewKeyring(nk, ok))
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "re-sealed %d secrets under key %s\n", n, nk.ID())
					if oldKey == "" && st.Dialect() != store.Postgres {
						fmt.Fprintf(stdout, "set LATCHKEY_SECRETS_KEY to the new key (or write it to %s in the data directory) before restarting\n",
							sealed.KeyFileName)
					}
					return nil
				})
			},
		}},
	}
}

// rotateSecrets re-seals every value of every sealed column that r's primary key did not seal.
// A value that opens with none of r's keys stops the rotation before anything further is written.
func rotateSecrets(ctx context.Context, st *store.Store, r *sealed.Keyring) (int, error) {
	n := 0
	for _, col := range store.SealedColumns {
		vals, err := st.SealedValues(ctx, col)
		if err != nil {
			return n, err
		}
		for _, v := range vals {
			if id, err := sealed.KeyIDOf(v.Sealed); err == nil && id == r.PrimaryID() {
				continue
			}
			purpose := col.Purpose + ":" + v.ID.String()
			plain, err := r.Open(v.Sealed, purpose)
			if err != nil {
				return n, fmt.Errorf("%s of %s: %w", col.Purpose, v.ID, err)
			}
			resealed, err := r.Seal(plain, purpose)
			if err != nil {
				return n, err
			}
			ok, err := st.ResealValue(ctx, col, v.ID, v.Sealed, resealed)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
	}
	return n, nil
}
