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

// TestSecretsConfig: MFA is off by default; on PostgreSQL it needs a secrets key, and a bad key
// is refused without being echoed.
func TestSecretsConfig(t *testing.T) {
	got, _, err := parseServe(t, nil)
	if err != nil || got.MFAEnabled {
		t.Fatalf("defaults: MFA %v, %v; want off", got.MFAEnabled, err)
	}
	pg := "postgres://u@127.0.0.1/db"
	_, _, err = parseServe(t, map[string]string{"LATCHKEY_MFA_ENABLED": "true", "DATABASE_URL": pg})
	if err == nil || !strings.Contains(err.Error(), "LATCHKEY_SECRETS_KEY") {
		t.Errorf("MFA on PostgreSQL without a key: %v, want an error naming LATCHKEY_SECRETS_KEY", err)
	}
	key, _ := sealed.GenerateKeyText()
	got, _, err = parseServe(t, map[string]string{"LATCHKEY_MFA_ENABLED": "true", "DATABASE_URL": pg, "LATCHKEY_SECRETS_KEY": key})
	if err != nil || !got.MFAEnabled {
		t.Errorf("MFA on PostgreSQL with a key: %v %v", got.MFAEnabled, err)
	}
	// SQLite needs no key: one is generated into the data directory at start.
	if _, _, err = parseServe(t, map[string]string{"LATCHKEY_MFA_ENABLED": "true"}); err != nil {
		t.Errorf("MFA on SQLite without a key: %v", err)
	}
	const bad = "not-a-key-at-all"
	_, _, err = parseServe(t, map[string]string{"LATCHKEY_SECRETS_KEY": bad})
	if err == nil || !strings.Contains(err.Error(), "LATCHKEY_SECRETS_KEY") || strings.Contains(err.Error(), bad) {
		t.Errorf("bad key: %v, want an error naming the setting and not the value", err)
	}
	if _, _, err = parseServe(t, map[string]string{"LATCHKEY_SECRETS_OLD_KEY": key}); err == nil {
		t.Error("an old key without a new one was accepted")
	}
}

// TestRotateSecrets: rotation re-seals every TOTP secret under the new key, leaves values
// already under it alone, and stops at a value no key opens.
func TestRotateSecrets(t *testing.T) {
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
	col := store.SealedColumns[0]
	var ids []uuid.UUID
	for i, email := range []string{"a@example.com", "b@example.com"} {
		u := &store.User{ID: uuid.New(), ZUID: "5-" + strings.Repeat("0", 9) + string(rune('a'+i)), Email: &email, Locale: "en",
			DefaultRole: "user", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
		if err := st.CreateUser(ctx, u, []string{"user"}); err != nil {
			t.Fatal(err)
		}
		v, err := sealed.NewKeyring(oldKey).Seal([]byte("SECRET"+email), col.Purpose+":"+u.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetPendingTOTP(ctx, u.ID, v); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	ring := sealed.NewKeyring(newKey, oldKey)
	n, err := rotateSecrets(ctx, st, ring)
	if err != nil || n != 2 {
		t.Fatalf("rotate: %d, %v; want 2", n, err)
	}
	for _, id := range ids {
		s, err := st.TOTPState(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sealed.NewKeyring(newKey).Open(*s.Sealed, col.Purpose+":"+id.String()); err != nil {
			t.Errorf("after rotation the new key alone does not open %s: %v", id, err)
		}
	}
	if n, err := rotateSecrets(ctx, st, ring); err != nil || n != 0 {
		t.Errorf("second rotation: %d, %v; want nothing to do", n, err)
	}
	if _, err := rotateSecrets(ctx, st, sealed.NewKeyring(mk())); err == nil {
		t.Error("rotation with a keyring that opens nothing succeeded")
	}
}

// TestSecretsKeyFile: on SQLite with MFA enabled and no key, serve generates one into the data
// directory (mode 0600) and reads the same one next time; without MFA it writes nothing.
func TestSecretsKeyFile(t *testing.T) {
	if testdb.Backend() != store.SQLite {
		t.Skip("the generated key is the SQLite default")
	}
	st := testdb.Open(t, testdb.Options{})
	dir := t.TempDir()
	off := &config{DataDir: dir}
	if r, err := off.secretsKeyring(st, slog.New(slog.DiscardHandler)); err != nil || r != nil {
		t.Fatalf("MFA off: %v %v, want no keyring", r, err)
	}
	if _, err := os.Stat(filepath.Join(dir, sealed.KeyFileName)); !os.IsNotExist(err) {
		t.Fatalf("MFA off wrote a key file: %v", err)
	}
	on := &config{DataDir: dir, MFAEnabled: true}
	r1, err := on.secretsKeyring(st, slog.New(slog.DiscardHandler))
	if err != nil || r1 == nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, sealed.KeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", fi, err)
	}
	r2, err := on.secretsKeyring(st, slog.New(slog.DiscardHandler))
	if err != nil || r2.PrimaryID() != r1.PrimaryID() {
		t.Fatalf("second start: %v, same key %v", err, r2 != nil && r2.PrimaryID() == r1.PrimaryID())
	}
}
