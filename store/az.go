package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Queries of the Authentication Zero dialect: a user's sessions as its /sessions endpoints show
// them, the guarded check of a reset link that does not spend it, and its address change, which
// takes effect at once and leaves the new address unverified.

// UserLiveSessions lists the user's live sessions (not revoked, not expired) of every method,
// newest first.
func (s *Store) UserLiveSessions(ctx context.Context, userID uuid.UUID) ([]Session, error) {
	out := []Session{}
	err := s.r(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, s.now()).
		Order("created_at DESC, id DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list user sessions: %w", err)
	}
	return out, nil
}

// UserLiveSession loads one live session of the user; another user's session, an ended one or an
// unknown id is ErrNotFound.
func (s *Store) UserLiveSession(ctx context.Context, userID, id uuid.UUID) (*Session, error) {
	var sess Session
	err := s.r(ctx).Where("id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?", id, userID, s.now()).
		Take(&sess).Error
	if err != nil {
		return nil, translate(err)
	}
	return &sess, nil
}

// UsableTicket loads the unspent, unexpired link ticket of kind with this hash without spending
// it; anything else is ErrNotFound.
func (s *Store) UsableTicket(ctx context.Context, tokenHash []byte, kind string) (*Ticket, error) {
	var t Ticket
	err := s.r(ctx).Where("token_hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", tokenHash, kind, s.now()).
		Take(&t).Error
	if err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// SetUnverifiedEmail gives the user a new address that is not verified yet. A taken address is
// *ConflictError{Field: "email"}; an unknown user ErrNotFound.
func (s *Store) SetUnverifiedEmail(ctx context.Context, userID uuid.UUID, email string) error {
	defer s.invalidate(userKey(userID))
	res := s.w(ctx).Model(&User{}).Where("id = ?", userID).Updates(map[string]any{
		"email":          email,
		"email_lower":    NormalizeEmail(email),
		"email_verified": false,
		"updated_at":     s.now(),
	})
	if err := translate(res.Error); err != nil {
		return fmt.Errorf("set unverified email: %w", err)
	}
	return notFoundIfNone(res)
}

// SlideSession marks a live session active now and moves its expiry to expiresAt, unless it was
// last marked less than gap ago (so a busy session is not rewritten on every request). A dead or
// unknown session changes nothing and is not an error: the caller has already checked it.
func (s *Store) SlideSession(ctx context.Context, id uuid.UUID, expiresAt time.Time, gap time.Duration) error {
	now := s.now()
	err := s.w(ctx).Model(&Session{}).
		Where("id = ? AND revoked_at IS NULL AND expires_at > ? AND last_active_at <= ?", id, now, now.Add(-gap)).
		Updates(map[string]any{"last_active_at": now, "expires_at": expiresAt.UTC()}).Error // UTC: see models.go
	if err != nil {
		return fmt.Errorf("slide session: %w", err)
	}
	return nil
}
