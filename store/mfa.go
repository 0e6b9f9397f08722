package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// MFATypeTOTP is users.active_mfa_type of a user whose sign-ins need a TOTP code.
const MFATypeTOTP = "totp"

// ErrTOTPActive: the user's TOTP is active, so a pending secret cannot replace it.
var ErrTOTPActive = errors.New("totp already active")

// SetPendingTOTP stores a new sealed TOTP secret for a user whose TOTP is not active, replacing
// any pending one; ErrTOTPActive when it is active (checked in the same statement).
func (s *Store) SetPendingTOTP(ctx context.Context, userID uuid.UUID, sealed string) error {
	defer s.invalidate(userKey(userID)) // a session's user carries totp_secret
	res := s.w(ctx).Exec(`UPDATE users SET totp_secret = ?, totp_last_step = NULL, updated_at = ?
		WHERE id = ? AND active_mfa_type IS NULL`, sealed, s.now(), userID)
	if res.Error != nil {
		return fmt.Errorf("set pending totp secret: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := s.UserByID(ctx, userID); err != nil {
			return err
		}
		return ErrTOTPActive
	}
	return nil
}

// TOTPState is what the store holds of a user's TOTP: the sealed secret (nil: none), whether it
// is active, and the last time step a code was accepted at.
type TOTPState struct {
	Sealed   *string
	Active   bool
	LastStep *int64
}

// TOTPState reads a user's TOTP state.
func (s *Store) TOTPState(ctx context.Context, userID uuid.UUID) (*TOTPState, error) {
	var row struct {
		TOTPSecret    *string `gorm:"column:totp_secret"`
		ActiveMFAType *string `gorm:"column:active_mfa_type"`
		TOTPLastStep  *int64  `gorm:"column:totp_last_step"`
	}
	err := s.w(ctx).Table("users").Select("totp_secret, active_mfa_type, totp_last_step").Where("id = ?", userID).Take(&row).Error
	if err != nil {
		return nil, translate(err)
	}
	return &TOTPState{Sealed: row.TOTPSecret, Active: row.ActiveMFAType != nil && *row.ActiveMFAType == MFATypeTOTP,
		LastStep: row.TOTPLastStep}, nil
}

// AcceptTOTPStep records that a code of time step step was accepted for the user, unless one of
// that step or a later one already was: one guarded statement, so of two instances given the
// same code exactly one accepts it. It reports whether this call recorded it.
func (s *Store) AcceptTOTPStep(ctx context.Context, userID uuid.UUID, step int64) (bool, error) {
	res := s.w(ctx).Exec(`UPDATE users SET totp_last_step = ?
		WHERE id = ? AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < ?)`, step, userID, step)
	if res.Error != nil {
		return false, fmt.Errorf("accept totp step: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ActivateTOTP makes the user's pending secret active; false when there was none pending (or it
// was activated meanwhile).
func (s *Store) ActivateTOTP(ctx context.Context, userID uuid.UUID) (bool, error) {
	defer s.invalidate(userKey(userID)) // activeMfaType shows in GET /user and gates elevation
	res := s.w(ctx).Exec(`UPDATE users SET active_mfa_type = ?, updated_at = ?
		WHERE id = ? AND active_mfa_type IS NULL AND totp_secret IS NOT NULL`, MFATypeTOTP, s.now(), userID)
	if res.Error != nil {
		return false, fmt.Errorf("activate totp: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DisableTOTP turns the user's TOTP off: the secret, the last accepted step, the recovery codes
// and the pending MFA tickets go. It reports whether TOTP was active.
func (s *Store) DisableTOTP(ctx context.Context, userID uuid.UUID) (bool, error) {
	defer s.invalidate(userKey(userID))
	var active bool
	err := s.Tx(ctx, func(tx *Store) error {
		res := tx.w(ctx).Exec(`UPDATE users SET active_mfa_type = NULL, totp_secret = NULL, totp_last_step = NULL, updated_at = ?
			WHERE id = ? AND active_mfa_type IS NOT NULL`, tx.now(), userID)
		if res.Error != nil {
			return fmt.Errorf("disable totp: %w", res.Error)
		}
		active = res.RowsAffected == 1
		if !active {
			return nil
		}
		if err := tx.w(ctx).Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		if err := tx.w(ctx).Where("user_id = ? AND used_at IS NULL", userID).Delete(&MFATicket{}).Error; err != nil {
			return fmt.Errorf("delete mfa tickets: %w", err)
		}
		return nil
	})
	return active, err
}

// CreateMFATicket stores t.
func (s *Store) CreateMFATicket(ctx context.Context, t *MFATicket) error {
	if err := translate(s.w(ctx).Create(t).Error); err != nil {
		return fmt.Errorf("insert mfa ticket: %w", err)
	}
	return nil
}

// UsableMFATicket finds the MFA ticket with this hash that is unused, unexpired and has tries
// left; ErrNotFound otherwise.
func (s *Store) UsableMFATicket(ctx context.Context, tokenHash []byte, maxAttempts int) (*MFATicket, error) {
	var t MFATicket
	err := s.w(ctx).Where("token_hash = ? AND used_at IS NULL AND expires_at > ? AND attempts < ?", tokenHash, s.now(), maxAttempts).
		Take(&t).Error
	if err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// TakeMFATicketAttempt counts one try of a code against an MFA ticket, before the code is
// compared, and reports whether a try was left.
func (s *Store) TakeMFATicketAttempt(ctx context.Context, id uuid.UUID, maxAttempts int) (bool, error) {
	res := s.w(ctx).Exec(`UPDATE mfa_tickets SET attempts = attempts + 1
		WHERE id = ? AND used_at IS NULL AND expires_at > ? AND attempts < ?`, id, s.now(), maxAttempts)
	if res.Error != nil {
		return false, fmt.Errorf("count mfa ticket attempt: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SpendMFATicket uses the MFA ticket id; ErrAlreadyUsed when it was used or expired meanwhile.
func (s *Store) SpendMFATicket(ctx context.Context, id uuid.UUID) error {
	now := s.now()
	res := s.w(ctx).Model(&MFATicket{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).
		UpdateColumn("used_at", now)
	if res.Error != nil {
		return fmt.Errorf("spend mfa ticket: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrAlreadyUsed
	}
	return nil
}

// ReplaceRecoveryCodes makes codes the user's recovery codes: every earlier one goes.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID uuid.UUID, codes []RecoveryCode) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.w(ctx).Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		if err := translate(tx.w(ctx).Create(&codes).Error); err != nil {
			return fmt.Errorf("insert recovery codes: %w", err)
		}
		return nil
	})
}

// SpendRecoveryCode uses the user's unused recovery code with this hash, in one guarded
// statement; false when there is none.
func (s *Store) SpendRecoveryCode(ctx context.Context, userID uuid.UUID, codeHash []byte) (bool, error) {
	res := s.w(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, codeHash).
		UpdateColumn("used_at", s.now())
	if res.Error != nil {
		return false, fmt.Errorf("spend recovery code: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SealedValue is one sealed secret stored in a column the secrets key protects.
type SealedValue struct {
	ID     uuid.UUID
	Sealed string
}

// SealedColumn is a column holding values sealed with the secrets key: its table, the column
// and the purpose the sealing binds each value to (with its row id).
type SealedColumn struct {
	Table, Column, Purpose string
}

// SealedColumns lists every column sealed with the secrets key; rotating the key re-seals them
// all. A later feature storing sealed values adds its column here.
var SealedColumns = []SealedColumn{{Table: "users", Column: "totp_secret", Purpose: "users.totp_secret"},
	ProviderAccessTokenColumn, ProviderRefreshTokenColumn}

// SealedValues reads every non-null value of a sealed column.
func (s *Store) SealedValues(ctx context.Context, c SealedColumn) ([]SealedValue, error) {
	var out []SealedValue
	err := s.w(ctx).Raw(fmt.Sprintf(`SELECT id, %s AS sealed FROM %s WHERE %s IS NOT NULL`, c.Column, c.Table, c.Column)).
		Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("read %s.%s: %w", c.Table, c.Column, err)
	}
	return out, nil
}

// ResealValue replaces one sealed value, if it is still old (a concurrent change wins).
func (s *Store) ResealValue(ctx context.Context, c SealedColumn, id uuid.UUID, old, sealed string) (bool, error) {
	if c.Table == "users" {
		defer s.invalidate(userKey(id)) // a session's user carries its sealed columns
	}
	res := s.w(ctx).Exec(fmt.Sprintf(`UPDATE %s SET %s = ? WHERE id = ? AND %s = ?`, c.Table, c.Column, c.Column), sealed, id, old)
	if res.Error != nil {
		return false, fmt.Errorf("reseal %s.%s: %w", c.Table, c.Column, res.Error)
	}
	return res.RowsAffected == 1, nil
}
