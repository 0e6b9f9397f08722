// Package sealed encrypts the few secrets Latchkey must read back (TOTP secrets today; OAuth
// provider tokens later) under one 32-byte key, with AES-256-GCM.
//
// A sealed value is text: "lk1.<key id>.<base64url(nonce ‖ ciphertext)>". The key id is the
// first 8 bytes of the key's SHA-256 in hex: it names the key without revealing it, so a keyring
// holding the old and the new key during a rotation opens values sealed with either, and the
// rotation command can tell which values still need re-sealing. Every value is bound to a
// purpose (say "users.totp_secret:<user id>") as GCM's additional data, so a value copied to
// another row or column does not open.
package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a secrets key in bytes.
const KeySize = 32

const version = "lk1"

// Key is one secrets key.
type Key struct {
	id   string
	aead cipher.AEAD
}

// ID names the key (a prefix of its SHA-256), for logs and sealed values.
func (k *Key) ID() string { return k.id }

// NewKey makes a Key of 32 raw bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("a secrets key is %d bytes, not %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	return &Key{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// ParseKey reads a key written in base64 (standard or URL alphabet, padded or not), the form of
// LATCHKEY_SECRETS_KEY. Its errors never repeat the text.
func ParseKey(text string) (*Key, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(text); err == nil {
			return NewKey(raw)
		}
	}
	return nil, errors.New("a secrets key must be 32 bytes in base64")
}

// GenerateKeyText returns a new random key in base64.
func GenerateKeyText() (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// Keyring seals with its primary key and opens with any of its keys.
type Keyring struct {
	primary *Key
	keys    map[string]*Key
}

// NewKeyring makes a keyring that seals with primary and also opens values sealed with older.
func NewKeyring(primary *Key, older ...*Key) *Keyring {
	r := &Keyring{primary: primary, keys: map[string]*Key{primary.id: primary}}
	for _, k := range older {
		if k != nil {
			r.keys[k.id] = k
		}
	}
	return r
}

// PrimaryID is the id of the key new values are sealed with.
func (r *Keyring) PrimaryID() string { return r.primary.id }

// Seal encrypts plain for purpose.
func (r *Keyring) Seal(plain []byte, purpose string) (string, error) {
	k := r.primary
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, plain, []byte(purpose))
	return version + "." + k.id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// ErrUnknownKey: the value was sealed with a key the keyring does not hold.
var ErrUnknownKey = errors.New("sealed with a key this keyring does not hold")

// KeyIDOf is the id of the key value was sealed with.
func KeyIDOf(value string) (string, error) {
	parts := strings.SplitN(value, ".", 3)
	if len(parts) != 3 || parts[0] != version {
		return "", errors.New("not a sealed value")
	}
	return parts[1], nil
}

// Open decrypts a value sealed for purpose. Its errors never carry the value.
func (r *Keyring) Open(value, purpose string) ([]byte, error) {
	id, err := KeyIDOf(value)
	if err != nil {
		return nil, err
	}
	k, ok := r.keys[id]
	if !ok {
		return nil, fmt.Errorf("key %s: %w", id, ErrUnknownKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(value[len(version)+1+len(id)+1:])
	if err != nil || len(raw) < k.aead.NonceSize() {
		return nil, errors.New("sealed value is malformed")
	}
	plain, err := k.aead.Open(nil, raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():], []byte(purpose))
	if err != nil {
		return nil, errors.New("sealed value does not open: wrong key or purpose, or altered")
	}
	return plain, nil
}

// KeyFileName is the file in the data directory that holds a generated key.
const KeyFileName = "secrets.key"

// LoadOrCreateKeyFile reads the key in dir/secrets.key, generating it (mode 0600) on first use:
// the zero-configuration default of a single SQLite instance. It reports whether it created it.
func LoadOrCreateKeyFile(dir string) (*Key, bool, error) {
	path := filepath.Join(dir, KeyFileName)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := ParseKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	text, err := GenerateKeyText()
	if err != nil {
		return nil, false, err
	}
	// O_EXCL: of two processes starting together on one data directory, one writes the key and
	// the other reads it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKeyFile(dir)
	}
	if err != nil {
		return nil, false, err
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	k, err := ParseKey(text)
	return k, true, err
}
