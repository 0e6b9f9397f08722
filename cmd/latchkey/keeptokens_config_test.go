package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/sealed"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// TestKeepTokensConfig: provider tokens are not kept by default; kept on PostgreSQL they need
// the secrets key, as MFA does; on SQLite one is generated.
func TestKeepTokensConfig(t *testing.T) {
	got, _, err := parseServe(t, nil)
	if err != nil || got.ProviderKeepTokens {
		t.Fatalf("defaults: keep tokens %v, %v; want off", got.ProviderKeepTokens, err)
	}
	if got, _, err = parseServe(t, map[string]string{"LATCHKEY_PROVIDER_KEEP_TOKENS": "true"}); err != nil || !got.ProviderKeepTokens {
		t.Errorf("keep tokens on SQLite without a key: %v, %v; want on", got.ProviderKeepTokens, err)
	}
	pg := "postgres://u@127.0.0.1/db"
	_, _, err = parseServe(t, map[string]string{"LATCHKEY_PROVIDER_KEEP_TOKENS": "true", "DATABASE_URL": pg})
	if err == nil || !strings.Contains(err.Error(), "LATCHKEY_SECRETS_KEY") || !strings.Contains(err.Error(), "LATCHKEY_PROVIDER_KEEP_TOKENS") {
		t.Errorf("keep tokens on PostgreSQL without a key: %v, want an error naming LATCHKEY_SECRETS_KEY and why", err)
	}
	key, _ := sealed.GenerateKeyText()
	got, _, err = parseServe(t, map[string]string{"LATCHKEY_PROVIDER_KEEP_TOKENS": "1", "DATABASE_URL": pg, "LATCHKEY_SECRETS_KEY": key})
	if err != nil || !got.ProviderKeepTokens {
		t.Errorf("keep tokens on PostgreSQL with a key: %v %v", got.ProviderKeepTokens, err)
	}
	if got, _, err = parseServe(t, nil, "--provider-keep-tokens"); err != nil || !got.ProviderKeepTokens {
		t.Errorf("--provider-keep-tokens: %v %v", got.ProviderKeepTokens, err)
	}
}

// TestKeepTokensKeyFile: on SQLite with provider tokens kept (and MFA off) serve generates the
// secrets key into the data directory.
func TestKeepTokensKeyFile(t *testing.T) {
	if testdb.Backend() != store.SQLite {
		t.Skip("the generated key is the SQLite default")
	}
	st := testdb.Open(t, testdb.Options{})
	dir := t.TempDir()
	on := &config{DataDir: dir, ProviderKeepTokens: true}
	r, err := on.secretsKeyring(st, slog.New(slog.DiscardHandler))
	if err != nil || r == nil {
		t.Fatalf("keep tokens on: %v %v, want a keyring", r, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, sealed.KeyFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", fi, err)
	}
}

// TestRotateProviderTokens: `secrets rotate` re-seals kept provider tokens (access and refresh)
// under the new key, each still bound to its row.
func TestRotateProviderTokens(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.Options{Now: func() time.Time { return time.Now().UTC() }})
	mk := func() *sealed.Key {
		text, _ := sealed.GenerateKeyText()
		k, err := sealed.ParseKey(text)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	oldKey, newKey := mk(), mk()
	email := "linked@example.com"
	u := &store.User{ID: uuid.New(), ZUID: "5-" + strings.Repeat("0", 9) + "k", Email: &email, Locale: "en",
		DefaultRole: "user", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := st.CreateUser(ctx, u, []string{"user"}); err != nil {
		t.Fatal(err)
	}
	link := &store.ProviderIdentity{ID: uuid.New(), UserID: u.ID, Provider: "github", Subject: "42", CreatedAt: time.Now().UTC()}
	if err := st.CreateIdentity(ctx, link); err != nil {
		t.Fatal(err)
	}
	seal := func(r *sealed.Keyring, plain string, col store.SealedColumn) string {
		v, err := r.Seal([]byte(plain), col.Purpose+":"+link.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	old := sealed.NewKeyring(oldKey)
	refresh := seal(old, "REFRESH-42", store.ProviderRefreshTokenColumn)
	if err := st.KeepIdentityTokens(ctx, link.ID, store.IdentityTokens{AccessToken: seal(old, "ACCESS-42", store.ProviderAccessTokenColumn),
		RefreshToken: &refresh}); err != nil {
		t.Fatal(err)
	}
	ring := sealed.NewKeyring(newKey, oldKey)
	if n, err := rotateSecrets(ctx, st, ring); err != nil || n != 2 {
		t.Fatalf("rotate: %d, %v; want 2 (access and refresh token)", n, err)
	}
	for col, want := range map[store.SealedColumn]string{store.ProviderAccessTokenColumn: "ACCESS-42", store.ProviderRefreshTokenColumn: "REFRESH-42"} {
		vals, err := st.SealedValues(ctx, col)
		if err != nil || len(vals) != 1 || vals[0].ID != link.ID {
			t.Fatalf("%s: %+v %v", col.Column, vals, err)
		}
		plain, err := sealed.NewKeyring(newKey).Open(vals[0].Sealed, col.Purpose+":"+link.ID.String())
		if err != nil || string(plain) != want {
			t.Errorf("%s after rotation: %q %v; want %q under the new key alone", col.Column, plain, err, want)
		}
	}
	if n, err := rotateSecrets(ctx, st, ring); err != nil || n != 0 {
		t.Errorf("second rotation: %d, %v; want nothing to do", n, err)
	}
}
