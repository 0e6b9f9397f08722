package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// OpenSession stores a new session with its first refresh token (nil: none) and the audit event
// of the sign-in, atomically. On PostgreSQL outside a transaction the three inserts travel as one
// pipeline, which the protocol runs as one implicit transaction: one round trip instead of five.
func (s *Store) OpenSession(ctx context.Context, sess *Session, rt *RefreshToken, ev *AuditEvent) error {
	if rt == nil { // a session whose credential is not a refresh token (a session token)
		return s.Tx(ctx, func(tx *Store) error {
			if err := tx.CreateSession(ctx, sess); err != nil {
				return err
			}
			return tx.RecordAudit(ctx, ev)
		})
	}
	rt.SessionID = sess.ID
	if ok, err := s.openSessionPG(ctx, sess, rt, ev); ok {
		if err != nil {
			return fmt.Errorf("open session: %w", translate(err))
		}
		return nil
	}
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.CreateSession(ctx, sess); err != nil {
			return err
		}
		if err := tx.CreateRefreshToken(ctx, rt); err != nil {
			return err
		}
		return tx.RecordAudit(ctx, ev)
	})
}

// CreateSession inserts a new session.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	if err := translate(s.w(ctx).Create(sess).Error); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// SessionByID loads a session whatever its state.
func (s *Store) SessionByID(ctx context.Context, id uuid.UUID) (*Session, error) {
	var sess Session
	if err := s.r(ctx).Where("id = ?", id).Take(&sess).Error; err != nil {
		return nil, translate(err)
	}
	return &sess, nil
}

// LiveSessionUser loads the user of a session that is neither revoked nor expired, with the
// user's roles, in one query. It is the check behind every authenticated request, so it must stay
// a single round trip. A dead or unknown session is ErrNotFound.
//
// With the session cache on (Options.RevocationBound), outside transactions, the answer may come
// from memory: see sessioncache.go for what that promises.
func (s *Store) LiveSessionUser(ctx context.Context, sessionID uuid.UUID) (*User, error) {
	if s.cache == nil || s.pending != nil {
		ls, err := s.liveSession(ctx, sessionID)
		return ls.user, err
	}
	// The epoch is taken before the database is read: a change applied after it voids the fill.
	u, epoch, ok := s.cache.get(sessionID, s.now())
	if ok {
		return u, nil
	}
	ls, err := s.liveSession(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if s.fillHook != nil {
		s.fillHook()
	}
	s.cache.put(sessionID, ls.user, ls.expires, epoch)
	return ls.user, nil
}

// liveSession reads a live session's user and expiry from the database.
func (s *Store) liveSession(ctx context.Context, sessionID uuid.UUID) (liveSession, error) {
	if ls, ok, err := s.liveSessionUserPG(ctx, sessionID); ok {
		if err != nil && !errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("load session user: %w", err)
		}
		return ls, err
	}
	return s.sessionUser(ctx, sessionID, true)
}

// sessionUserRow is a user row with its roles as a JSON array and the session it was reached by.
type sessionUserRow struct {
	User             `gorm:"embedded"`
	RolesJSON        string    `gorm:"column:roles_json"`
	SessionID        uuid.UUID `gorm:"column:session_id"`
	SessionExpiresAt time.Time `gorm:"column:session_expires_at"`
}

func (r *sessionUserRow) user() (*User, error) {
	u := r.User
	if err := decodeRoles(r.RolesJSON, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// decodeRoles fills u.Roles, sorted, from a JSON array of role names.
func decodeRoles(rolesJSON string, u *User) error {
	u.Roles = []string{}
	if err := json.Unmarshal([]byte(rolesJSON), &u.Roles); err != nil {
		return fmt.Errorf("decode roles: %w", err)
	}
	slices.Sort(u.Roles)
	return nil
}

// rolesJSON is a correlated subquery giving the roles of the user row named alias as a JSON array.
func (s *Store) rolesJSON(alias string) string {
	if s.dialect == Postgres {
		return `COALESCE((SELECT json_agg(role) FROM user_roles WHERE user_id = ` + alias + `.id), '[]')`
	}
	return `(SELECT json_group_array(role) FROM user_roles WHERE user_id = ` + alias + `.id)`
}

// ExtendSession marks a live session active now and moves its expiry to expiresAt. A dead or
// unknown session is ErrNotFound and nothing changes.
func (s *Store) ExtendSession(ctx context.Context, id uuid.UUID, expiresAt time.Time) error {
	now := s.now()
	res := s.w(ctx).Model(&Session{}).
		Where("id = ? AND revoked_at IS NULL AND expires_at > ?", id, now).
		Updates(map[string]any{"last_active_at": now, "expires_at": expiresAt.UTC()}) // UTC: see models.go
	if err := notFoundIfNone(res); err != nil {
		return fmt.Errorf("extend session: %w", err)
	}
	return nil
}

// RevokeSession ends a session. Ending one that already ended is not an error.
func (s *Store) RevokeSession(ctx context.Context, id uuid.UUID, reason string) error {
	defer s.invalidate(sessionKey(id))
	err := s.w(ctx).Model(&Session{}).Where("id = ? AND revoked_at IS NULL", id).
		Updates(map[string]any{"revoked_at": s.now(), "revoke_reason": reason}).Error
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeUserSessions ends every live session of a user except keep (uuid.Nil keeps none) and
// reports how many ended.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, keep uuid.UUID, reason string) (int64, error) {
	defer s.invalidate(userKey(userID))
	q := s.w(ctx).Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL", userID)
	if keep != uuid.Nil {
		q = q.Where("id <> ?", keep)
	}
	res := q.Updates(map[string]any{"revoked_at": s.now(), "revoke_reason": reason})
	if res.Error != nil {
		return 0, fmt.Errorf("revoke user sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}
