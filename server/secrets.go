package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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

// newSalt returns 32 random bytes.
func newSalt() ([]byte, error) {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	return b, err
}

// successorOf derives the refresh token that replaces token, from token itself and the salt
// stored beside its hash. Deriving it (rather than drawing a fresh random one) is what lets
// Latchkey hand the same successor to every tab that presents the just-spent token within the
// reuse leeway while storing only hashes: only a holder of the plaintext token can compute it,
// and only with the salt, which never leaves the database.
func successorOf(token secret, salt []byte) secret {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("latchkey refresh successor\x00"))
	mac.Write(salt)
	var b [16]byte
	copy(b[:], mac.Sum(nil))
	b[6] = (b[6] & 0x0f) | 0x40 // version 4
	b[8] = (b[8] & 0x3f) | 0x80 // RFC 4122 variant
	return secret(uuid.UUID(b).String())
}
