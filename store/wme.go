package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// UserByLogin loads, with roles, the user whose username or address is login, compared
// case-insensitively; a username wins over another user's address.
func (s *Store) UserByLogin(ctx context.Context, login string) (*User, error) {
	key := NormalizeEmail(login)
	return s.userWithRoles(ctx, `username = ? OR email_lower = ? ORDER BY CASE WHEN username = ? THEN 0 ELSE 1 END`, key, key, key)
}

// ReusableRefreshToken loads, with roles, the user of a non-rotating refresh token that is
// unexpired, unspent and whose session is live, and returns the session id. Anything else is
// ErrNotFound; a disabled user is ErrUserDisabled.
func (s *Store) ReusableRefreshToken(ctx context.Context, hash []byte) (*User, uuid.UUID, error) {
	now := s.now()
	var row sessionUserRow
	res := s.r(ctx).Raw(`SELECT users.*, `+s.rolesJSON("users")+` AS roles_json, sessions.id AS session_id
		FROM refresh_tokens rt JOIN sessions ON sessions.id = rt.session_id JOIN users ON users.id = sessions.user_id
		WHERE rt.token_hash = ? AND NOT rt.rotates AND rt.used_at IS NULL AND rt.expires_at > ?
		AND sessions.revoked_at IS NULL AND sessions.expires_at > ?`, hash, now, now).Scan(&row)
	if res.Error != nil {
		return nil, uuid.Nil, fmt.Errorf("load refresh token user: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, uuid.Nil, ErrNotFound
	}
	u, err := row.user()
	if err != nil {
		return nil, uuid.Nil, err
	}
	if u.Disabled {
		return nil, uuid.Nil, ErrUserDisabled
	}
	return u, row.SessionID, nil
}
