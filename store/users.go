package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// CreateUser inserts u and its global roles. A taken address is *ConflictError{Field: "email"},
// a taken username *ConflictError{Field: "username"}.
func (s *Store) CreateUser(ctx context.Context, u *User, roles []string) error {
	if u.Email != nil {
		lower := NormalizeEmail(*u.Email)
		u.EmailLower = &lower
	}
	if u.Username != nil { // stored as logins are compared (NormalizeEmail)
		name := NormalizeEmail(*u.Username)
		u.Username = &name
	}
	if err := translate(s.w(ctx).Create(u).Error); err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return s.addRoles(ctx, u.ID, roles)
}

func (s *Store) addRoles(ctx context.Context, id uuid.UUID, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	rows := make([]UserRole, len(roles))
	for i, r := range roles {
		rows[i] = UserRole{UserID: id, Role: r}
	}
	if err := translate(s.w(ctx).Create(&rows).Error); err != nil {
		return fmt.Errorf("insert user roles: %w", err)
	}
	return nil
}

// SetUserRoles replaces the user's global roles and default role.
func (s *Store) SetUserRoles(ctx context.Context, id uuid.UUID, defaultRole string, roles []string) error {
	defer s.invalidate(userKey(id))
	if err := s.w(ctx).Where("user_id = ?", id).Delete(&UserRole{}).Error; err != nil {
		return fmt.Errorf("delete user roles: %w", err)
	}
	if err := s.w(ctx).Model(&User{}).Where("id = ?", id).
		Updates(map[string]any{"default_role": defaultRole, "updated_at": s.now()}).Error; err != nil {
		return fmt.Errorf("set default role: %w", err)
	}
	return s.addRoles(ctx, id, roles)
}

// UserByID loads one user.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (*User, error) {
	var u User
	if err := s.r(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// UserByEmail loads the user with this address, compared case-insensitively, with the user's
// roles: every password sign-in starts here, so it is one query.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	return s.userWithRoles(ctx, `email_lower = ?`, NormalizeEmail(email))
}

// userWithRoles loads the first user matching the condition cond (which may end with ORDER BY),
// with the user's roles, in one query.
func (s *Store) userWithRoles(ctx context.Context, cond string, args ...any) (*User, error) {
	var row struct {
		User      `gorm:"embedded"`
		RolesJSON string `gorm:"column:roles_json"`
	}
	res := s.r(ctx).Raw(`SELECT users.*, `+s.rolesJSON("users")+` AS roles_json FROM users WHERE `+cond+` LIMIT 1`,
		args...).Scan(&row)
	if res.Error != nil {
		return nil, fmt.Errorf("load user: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	u := row.User
	if err := decodeRoles(row.RolesJSON, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UserRoles lists the user's global roles, sorted.
func (s *Store) UserRoles(ctx context.Context, id uuid.UUID) ([]string, error) {
	roles := []string{}
	err := s.r(ctx).Model(&UserRole{}).Where("user_id = ?", id).Order("role").Pluck("role", &roles).Error
	if err != nil {
		return nil, fmt.Errorf("load user roles: %w", err)
	}
	return roles, nil
}

// SetPasswordHash replaces the user's password hash and clears "new password required".
func (s *Store) SetPasswordHash(ctx context.Context, id uuid.UUID, hash string) error {
	defer s.invalidate(userKey(id))
	res := s.w(ctx).Model(&User{}).Where("id = ?", id).Updates(map[string]any{
		"password_hash":         hash,
		"new_password_required": false,
		"updated_at":            s.now(),
	})
	if res.Error != nil {
		return fmt.Errorf("set password hash: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// Deanonymize gives an anonymous user an address (may be nil: none yet), a password hash (may be
// nil) and regular roles. Only an anonymous user changes: a user who is not anonymous is
// ErrNotFound.
func (s *Store) Deanonymize(ctx context.Context, u *User, roles []string) error {
	defer s.invalidate(userKey(u.ID))
	var lower *string
	if u.Email != nil {
		l := NormalizeEmail(*u.Email)
		lower = &l
	}
	res := s.w(ctx).Model(&User{}).Where("id = ? AND is_anonymous", u.ID).Updates(map[string]any{
		"email":          u.Email,
		"email_lower":    lower,
		"password_hash":  u.PasswordHash,
		"is_anonymous":   false,
		"email_verified": u.EmailVerified,
		"default_role":   u.DefaultRole,
		"display_name":   u.DisplayName,
		"locale":         u.Locale,
		"metadata":       u.Metadata,
		"updated_at":     s.now(),
	})
	if err := translate(res.Error); err != nil {
		return fmt.Errorf("deanonymize user: %w", err)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	if err := s.w(ctx).Where("user_id = ?", u.ID).Delete(&UserRole{}).Error; err != nil {
		return fmt.Errorf("delete anonymous roles: %w", err)
	}
	return s.addRoles(ctx, u.ID, roles)
}

// TouchUserLastSeen records that the user was just active.
func (s *Store) TouchUserLastSeen(ctx context.Context, id uuid.UUID) error {
	return s.w(ctx).Model(&User{}).Where("id = ?", id).UpdateColumn("last_seen_at", s.now()).Error
}

// SetUserDisabled disables or enables a user.
func (s *Store) SetUserDisabled(ctx context.Context, id uuid.UUID, disabled bool) error {
	defer s.invalidate(userKey(id))
	res := s.w(ctx).Model(&User{}).Where("id = ?", id).
		Updates(map[string]any{"disabled": disabled, "updated_at": s.now()})
	if res.Error != nil {
		return fmt.Errorf("set disabled: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// CountUsers counts every user.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.r(ctx).Model(&User{}).Count(&n).Error
	return n, err
}

// notFoundIfNone turns an empty result into ErrNotFound.
func notFoundIfNone(res *gorm.DB) error {
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SetUsername gives the user a username, stored lower-cased. A taken one is
// *ConflictError{Field: "username"}.
func (s *Store) SetUsername(ctx context.Context, id uuid.UUID, username string) error {
	defer s.invalidate(userKey(id))
	res := s.w(ctx).Model(&User{}).Where("id = ?", id).
		Updates(map[string]any{"username": NormalizeEmail(username), "updated_at": s.now()})
	if err := translate(res.Error); err != nil {
		return fmt.Errorf("set username: %w", err)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SetNewPasswordRequired flags (or clears) that the user must choose a new password before
// getting a session.
func (s *Store) SetNewPasswordRequired(ctx context.Context, id uuid.UUID, required bool) error {
	defer s.invalidate(userKey(id))
	res := s.w(ctx).Model(&User{}).Where("id = ?", id).
		Updates(map[string]any{"new_password_required": required, "updated_at": s.now()})
	if res.Error != nil {
		return fmt.Errorf("set new password required: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
