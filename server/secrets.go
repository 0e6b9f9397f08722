package server

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
)

// secret holds a plaintext token, code or password in memory. It prints as [redacted] in logs,
// fmt verbs and slog attributes, so a careless log line cannot leak it.
type secret string

func (secret) String() string               { return "[redacted]" }
func (secret) GoString() string             { return "[redacted]" }
func (secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// newOpaqueToken returns a random token in UUID form (122 random bits from crypto/rand), the shape
// Nhost clients expect of refresh tokens and personal access tokens.
func newOpaqueToken() (secret, error) {
	id, err := uuid.NewRandomFromReader(rand.Reader)
	if err != nil {
		return "", err
	}
	return secret(id.String()), nil
}

// hashSecret is how every opaque secret is stored and looked up: SHA-256 of its text. The secrets
// are random and long, so a fast hash is enough; looking a row up by this hash means timing
// reveals nothing about the plaintext.
func hashSecret(s secret) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// sealSuccessor encrypts the token that replaces token under a key derived from token itself
// (AES-256-GCM). Stored beside the spent token's hash, it lets Latchkey hand the same successor to
// every tab that presents the just-spent token within the reuse leeway while storing no usable
// secret: reading it takes both the plaintext token, which only clients hold, and the database.
func sealSuccessor(token, successor secret) ([]byte, error) {
	aead, err := successorAEAD(token)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(successor), nil), nil
}

// openSuccessor reverses sealSuccessor.
func openSuccessor(token secret, sealed []byte) (secret, error) {
	aead, err := successorAEAD(token)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed successor too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("open sealed successor: %w", err)
	}
	return secret(plain), nil
}

func successorAEAD(token secret) (cipher.AEAD, error) {
	key := sha256.Sum256([]byte("latchkey refresh successor\x00" + string(token)))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
