package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// WebAuthnCredential is one security key or passkey of a user (migration 00011).
type WebAuthnCredential struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	CredentialID []byte
	Nickname     *string
	// Credential is the verified registration (public key, flags, attestation) as JSON.
	Credential JSONText
	SignCount  int64
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// TableName is the webauthn_credentials table.
func (WebAuthnCredential) TableName() string { return "webauthn_credentials" }

// WebAuthnCeremony is a begun WebAuthn registration or assertion, waiting for the
// authenticator's answer. It is found by the hash of its challenge and spent by deletion.
type WebAuthnCeremony struct {
	ID            uuid.UUID
	Kind          string
	UserID        *uuid.UUID // nil for a sign-up and a passkey sign-in, whose user is not known yet
	ChallengeHash []byte
	SessionData   JSONText // go-webauthn's SessionData
	Data          JSONText // what the ceremony carries to its end (a sign-up's address and options)
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// TableName is the webauthn_ceremonies table.
func (WebAuthnCeremony) TableName() string { return "webauthn_ceremonies" }

// JSONText is a JSON document kept as it is (jsonb on PostgreSQL, text on SQLite).
type JSONText string

// Value stores the text; an empty document is stored as {}.
func (j JSONText) Value() (driver.Value, error) {
	if j == "" {
		return "{}", nil
	}
	return string(j), nil
}

// Scan reads JSON text or bytes.
func (j *JSONText) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j = ""
	case []byte:
		*j = JSONText(v)
	case string:
		*j = JSONText(v)
	default:
		return fmt.Errorf("scan JSON column: unexpected %T", src)
	}
	return nil
}

// CreateWebAuthnCeremony stores a begun ceremony.
func (s *Store) CreateWebAuthnCeremony(ctx context.Context, c *WebAuthnCeremony) error {
	if err := translate(s.w(ctx).Create(c).Error); err != nil {
		return fmt.Errorf("insert webauthn ceremony: %w", err)
	}
	return nil
}

// WebAuthnCeremonyByChallenge loads the unexpired ceremony of a kind whose challenge hashes to
// hash; anything else is ErrNotFound.
func (s *Store) WebAuthnCeremonyByChallenge(ctx context.Context, kind string, hash []byte) (*WebAuthnCeremony, error) {
	var c WebAuthnCeremony
	err := s.w(ctx).Where("challenge_hash = ? AND kind = ? AND expires_at > ?", hash, kind, s.now()).Take(&c).Error
	if err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// SpendWebAuthnCeremony deletes a ceremony that is still unexpired: of two requests finishing
// the same ceremony, one finds it gone (ErrAlreadyUsed) and must undo its work.
func (s *Store) SpendWebAuthnCeremony(ctx context.Context, id uuid.UUID) error {
	res := s.w(ctx).Where("id = ? AND expires_at > ?", id, s.now()).Delete(&WebAuthnCeremony{})
	if res.Error != nil {
		return fmt.Errorf("spend webauthn ceremony: %w", translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return ErrAlreadyUsed
	}
	return nil
}

// PurgeWebAuthnCeremonies deletes ceremonies that expired before now.
func (s *Store) PurgeWebAuthnCeremonies(ctx context.Context, now time.Time) (int64, error) {
	res := s.w(ctx).Where("expires_at <= ?", now).Delete(&WebAuthnCeremony{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge webauthn ceremonies: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}

// CreateWebAuthnCredential stores a new key. A key already registered (by anyone) is a
// *ConflictError{Field: "credential"}.
func (s *Store) CreateWebAuthnCredential(ctx context.Context, c *WebAuthnCredential) error {
	if err := translate(s.w(ctx).Create(c).Error); err != nil {
		return fmt.Errorf("insert webauthn credential: %w", err)
	}
	return nil
}

// WebAuthnCredentials lists a user's keys, oldest first.
func (s *Store) WebAuthnCredentials(ctx context.Context, userID uuid.UUID) ([]WebAuthnCredential, error) {
	var out []WebAuthnCredential
	if err := s.w(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list webauthn credentials: %w", translate(err))
	}
	return out, nil
}

// CountWebAuthnCredentials counts a user's keys.
func (s *Store) CountWebAuthnCredentials(ctx context.Context, userID uuid.UUID) (int64, error) {
	var n int64
	if err := s.r(ctx).Model(&WebAuthnCredential{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count webauthn credentials: %w", translate(err))
	}
	return n, nil
}

// UseWebAuthnCredential records a use of a key: its new signature counter and the time. The
// update is guarded by the counter read before the check, so of two uses racing with the same
// counter only one is recorded; the other gets ErrAlreadyUsed.
func (s *Store) UseWebAuthnCredential(ctx context.Context, id uuid.UUID, oldCount, newCount int64) error {
	res := s.w(ctx).Model(&WebAuthnCredential{}).Where("id = ? AND sign_count = ?", id, oldCount).
		UpdateColumns(map[string]any{"sign_count": newCount, "last_used_at": s.now()})
	if res.Error != nil {
		return fmt.Errorf("record webauthn credential use: %w", translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return ErrAlreadyUsed
	}
	return nil
}

// DeleteWebAuthnCredential removes a key of a user; a key that is not the user's is ErrNotFound.
func (s *Store) DeleteWebAuthnCredential(ctx context.Context, userID, id uuid.UUID) error {
	res := s.w(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&WebAuthnCredential{})
	if res.Error != nil {
		return fmt.Errorf("delete webauthn credential: %w", translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
