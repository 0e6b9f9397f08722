package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// CreateSessionToken stores a session token.
func (s *Store) CreateSessionToken(ctx context.Context, t *SessionToken) error {
	if err := translate(s.w(ctx).Create(t).Error); err != nil {
		return fmt.Errorf("insert session token: %w", err)
	}
	return nil
}

// UseSessionToken authenticates with a session token of kind: it must be unexpired, its session
// live and its user enabled. Only then does the use move the token's expiry to now+idle, in one
// guarded update, so a token that expired meanwhile stays expired and a refused use extends
// nothing. It returns the user, with roles, and the session id; anything else is ErrNotFound, a
// disabled user ErrUserDisabled.
func (s *Store) UseSessionToken(ctx context.Context, kind string, hash []byte, idle time.Duration) (*User, uuid.UUID, error) {
	now := s.now()
	var t SessionToken
	err := s.w(ctx).Select("session_id").Where("token_hash = ? AND kind = ? AND expires_at > ?", hash, kind, now).Take(&t).Error
	if err != nil {
		return nil, uuid.Nil, translate(err)
	}
	u, err := s.LiveSessionUser(ctx, t.SessionID)
	if err != nil {
		return nil, uuid.Nil, err
	}
	if u.Disabled {
		return nil, uuid.Nil, ErrUserDisabled
	}
	res := s.w(ctx).Model(&SessionToken{}).Where("token_hash = ? AND kind = ? AND expires_at > ?", hash, kind, now).
		Updates(map[string]any{"last_used_at": now, "expires_at": now.Add(idle)})
	if res.Error != nil {
		return nil, uuid.Nil, fmt.Errorf("use session token: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, uuid.Nil, ErrNotFound
	}
	return u, t.SessionID, nil
}
