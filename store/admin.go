package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The queries of the admin API: user listing and editing, a user's sessions and API tokens, and
// the audit log with filters.

// UserFilter narrows ListUsers. Zero values filter nothing.
type UserFilter struct {
	EmailContains string // a case-insensitive substring of the address
	Role          string // users holding this global role
	Disabled      *bool
	Limit         int // at most this many users (required, > 0)
	Offset        int
}

// ListUsers lists the users matching f, with their roles, oldest first (then by id), and counts
// every match.
func (s *Store) ListUsers(ctx context.Context, f UserFilter) ([]User, int64, error) {
	where := func(q *gorm.DB) *gorm.DB {
		if f.EmailContains != "" {
			q = q.Where(`users.email_lower LIKE ? ESCAPE '\'`, "%"+escapeLike(NormalizeEmail(f.EmailContains))+"%")
		}
		if f.Role != "" {
			q = q.Where("EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = users.id AND ur.role = ?)", f.Role)
		}
		if f.Disabled != nil {
			q = q.Where("users.disabled = ?", *f.Disabled)
		}
		return q
	}
	var total int64
	if err := where(s.r(ctx).Model(&User{})).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	var rows []struct {
		User      `gorm:"embedded"`
		RolesJSON string `gorm:"column:roles_json"`
	}
	err := where(s.r(ctx).Table("users").Select("users.*, " + s.rolesJSON("users") + " AS roles_json")).
		Order("users.created_at, users.id").Limit(f.Limit).Offset(f.Offset).Scan(&rows).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	out := make([]User, len(rows))
	for i := range rows {
		out[i] = rows[i].User
		if err := decodeRoles(rows[i].RolesJSON, &out[i]); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// escapeLike escapes LIKE's wildcards (and the escape character) in a literal.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// UserWithRoles loads one user with the user's roles.
func (s *Store) UserWithRoles(ctx context.Context, id uuid.UUID) (*User, error) {
	return s.userWithRoles(ctx, `id = ?`, id)
}

// UserUpdate lists the profile fields an administrator changes; nil fields stay as they are.
type UserUpdate struct {
	DisplayName   *string
	Locale        *string
	Metadata      JSONMap // nil: unchanged
	EmailVerified *bool
}

// UpdateUser applies u to the user. An unknown user is ErrNotFound.
func (s *Store) UpdateUser(ctx context.Context, id uuid.UUID, u UserUpdate) error {
	defer s.invalidate(userKey(id))
	cols := map[string]any{"updated_at": s.now()}
	if u.DisplayName != nil {
		cols["display_name"] = *u.DisplayName
	}
	if u.Locale != nil {
		cols["locale"] = *u.Locale
	}
	if u.Metadata != nil {
		cols["metadata"] = u.Metadata
	}
	if u.EmailVerified != nil {
		cols["email_verified"] = *u.EmailVerified
	}
	if err := notFoundIfNone(s.w(ctx).Model(&User{}).Where("id = ?", id).Updates(cols)); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	return nil
}

// DeleteUser deletes a user; their roles, sessions (with every token of those), API tokens,
// tickets and memberships go with them. Audit events stay. An unknown user is ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id uuid.UUID) error {
	defer s.invalidate(userKey(id))
	if err := notFoundIfNone(s.w(ctx).Where("id = ?", id).Delete(&User{})); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	return nil
}

// UserSessions lists the user's sessions: live ones first, then ended ones (until purged), each
// group newest first.
func (s *Store) UserSessions(ctx context.Context, userID uuid.UUID) ([]Session, error) {
	now := s.now()
	var out []Session
	err := s.r(ctx).Where("user_id = ?", userID).
		// One expression: GORM drops an expression ORDER BY when another Order call follows.
		Order(clause.OrderBy{Expression: gorm.Expr("CASE WHEN revoked_at IS NULL AND expires_at > ? THEN 0 ELSE 1 END, created_at DESC, id", now)}).
		Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list user sessions: %w", err)
	}
	return out, nil
}

// RevokeUserSession ends one session of the user and reports whether it was live. A session
// that is not the user's is ErrNotFound.
func (s *Store) RevokeUserSession(ctx context.Context, userID, sessionID uuid.UUID, reason string) (bool, error) {
	defer s.invalidate(sessionKey(sessionID))
	var n int64
	if err := s.w(ctx).Model(&Session{}).Where("id = ? AND user_id = ?", sessionID, userID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("find user session: %w", err)
	}
	if n == 0 {
		return false, ErrNotFound
	}
	res := s.w(ctx).Model(&Session{}).Where("id = ? AND revoked_at IS NULL", sessionID).
		Updates(map[string]any{"revoked_at": s.now(), "revoke_reason": reason})
	if res.Error != nil {
		return false, fmt.Errorf("revoke user session: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// UserAPITokens lists the API tokens the user owns or created, newest first.
func (s *Store) UserAPITokens(ctx context.Context, userID uuid.UUID) ([]APIToken, error) {
	var out []APIToken
	err := s.r(ctx).Where("user_id = ? OR created_by = ?", userID, userID).Order("created_at DESC, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list user api tokens: %w", err)
	}
	return out, nil
}

// RevokeUserAPIToken revokes an API token the user owns or created, ends the sessions opened
// with it, and reports whether it was unrevoked and how many sessions ended. Any other token is
// ErrNotFound.
func (s *Store) RevokeUserAPIToken(ctx context.Context, userID, tokenID uuid.UUID) (bool, int64, error) {
	var (
		revoked bool
		ended   int64
	)
	err := s.Tx(ctx, func(tx *Store) error {
		var n int64
		err := tx.w(ctx).Model(&APIToken{}).Where("id = ? AND (user_id = ? OR created_by = ?)", tokenID, userID, userID).Count(&n).Error
		if err != nil {
			return fmt.Errorf("find user api token: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		res := tx.w(ctx).Model(&APIToken{}).Where("id = ? AND revoked_at IS NULL", tokenID).UpdateColumn("revoked_at", tx.now())
		if res.Error != nil {
			return fmt.Errorf("revoke api token: %w", res.Error)
		}
		if revoked = res.RowsAffected > 0; !revoked {
			return nil
		}
		ended, err = tx.endTokenSessions(ctx, "api_token_id = ?", tokenID)
		return err
	})
	return revoked, ended, err
}

// AuditFilter narrows ListAudit. Zero values filter nothing.
type AuditFilter struct {
	ActorUserID    *uuid.UUID
	ActorTokenName string
	TargetUserID   *uuid.UUID
	Action         string
	Since          *time.Time // at or after
	Until          *time.Time // before
	// After is the last event of the previous page: only events older than it (by time, then id)
	// come back.
	After *AuditCursor
	Limit int // required, > 0
}

// AuditCursor is the position of one event in the newest-first order.
type AuditCursor struct {
	At time.Time
	ID uuid.UUID
}

// ListAudit lists the events matching f, newest first (ties by id, descending).
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := s.r(ctx).Order("at DESC, id DESC").Limit(f.Limit)
	if f.ActorUserID != nil {
		q = q.Where("actor_user_id = ?", *f.ActorUserID)
	}
	if f.ActorTokenName != "" {
		q = q.Where("actor_token_name = ?", f.ActorTokenName)
	}
	if f.TargetUserID != nil {
		q = q.Where("target_user_id = ?", *f.TargetUserID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	// Times in UTC at the store's precision: SQLite compares them as text (see models.go).
	if f.Since != nil {
		q = q.Where("at >= ?", f.Since.UTC().Truncate(time.Microsecond))
	}
	if f.Until != nil {
		q = q.Where("at < ?", f.Until.UTC().Truncate(time.Microsecond))
	}
	if f.After != nil {
		at := f.After.At.UTC().Truncate(time.Microsecond)
		q = q.Where("at < ? OR (at = ? AND id < ?)", at, at, f.After.ID)
	}
	var out []AuditEvent
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}
