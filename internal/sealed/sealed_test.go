package sealed

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKey(t *testing.T) *Key {
	t.Helper()
	text, err := GenerateKeyText()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	r1 := NewKeyring(k1)
	v, err := r1.Seal([]byte("JBSWY3DPEHPK3PXP"), "users.totp_secret:a")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, "JBSWY3DPEHPK3PXP") || !strings.HasPrefix(v, "lk1."+k1.ID()+".") {
		t.Fatalf("sealed value %q: want lk1.<id>. prefix and no plaintext", v)
	}
	if got, err := r1.Open(v, "users.totp_secret:a"); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := r1.Open(v, "users.totp_secret:b"); err == nil {
		t.Fatal("opened with another purpose")
	}
	if _, err := NewKeyring(k2).Open(v, "users.totp_secret:a"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open with another key: %v, want ErrUnknownKey", err)
	}
	// During a rotation the new keyring opens old values and seals with the new key.
	r2 := NewKeyring(k2, k1)
	if got, err := r2.Open(v, "users.totp_secret:a"); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("rotating keyring Open = %q, %v", got, err)
	}
	v2, _ := r2.Seal([]byte("x"), "p")
	if id, _ := KeyIDOf(v2); id != k2.ID() {
		t.Fatalf("sealed with %s, want the primary %s", id, k2.ID())
	}
	tampered := v[:len(v)-2] + "AA"
	if _, err := r1.Open(tampered, "users.totp_secret:a"); err == nil {
		t.Fatal("opened an altered value")
	}
}

func TestParseKey(t *testing.T) {
	for _, bad := range []string{"", "short", strings.Repeat("A", 40)} {
		if _, err := ParseKey(bad); err == nil || strings.Contains(err.Error(), bad) && bad != "" {
			t.Errorf("ParseKey(%q) = %v, want an error not repeating it", bad, err)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k, created, err := LoadOrCreateKeyFile(dir)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v, want 0600", st.Mode(), err)
	}
	k2, created, err := LoadOrCreateKeyFile(dir)
	if err != nil || created || k2.ID() != k.ID() {
		t.Fatalf("second call: created=%v err=%v same=%v", created, err, k2.ID() == k.ID())
	}
}
