package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// CreateTicket stores t and retires every unused ticket of the same kind for the same user, so
// only the newest link or code of a kind works.
func (s *Store) CreateTicket(ctx context.Context, t *Ticket) error {
	t.EmailLower = NormalizeEmail(t.Email)
	return s.Tx(ctx, func(tx *Store) error { return tx.createTicket(ctx, t) })
}

func (s *Store) createTicket(ctx context.Context, t *Ticket) error {
	err := s.w(ctx).Model(&Ticket{}).Where("user_id = ? AND kind = ? AND used_at IS NULL", t.UserID, t.Kind).
		UpdateColumn("used_at", s.now()).Error
	if err != nil {
		return fmt.Errorf("retire older tickets: %w", err)
	}
	// A missing hash must be NULL, not an empty value: SQLite drivers write a nil []byte as an
	// empty blob, and empty blobs collide on the unique index and pass "IS NOT NULL". A link
	// without a PKCE challenge leaves that column to its default, so tickets can be made on a
	// schema older than the column (the migration tests do). GORM keeps only the last Omit.
	var omit []string
	if t.TokenHash == nil {
		omit = append(omit, "token_hash")
	}
	if t.CodeHash == nil {
		omit = append(omit, "code_hash")
	}
	if t.CodeChallenge == "" {
		omit = append(omit, "code_challenge")
	}
	db := s.w(ctx)
	if len(omit) > 0 {
		db = db.Omit(omit...)
	}
	if err := translate(db.Create(t).Error); err != nil {
		return fmt.Errorf("insert ticket: %w", err)
	}
	return nil
}

// SpendTicket uses the link ticket with this hash if it is of one of kinds. One guarded update
// decides, so of two concurrent uses exactly one succeeds. A ticket of another kind is
// ErrNotFound and stays usable; a spent one is ErrAlreadyUsed; a late one ErrExpired.
func (s *Store) SpendTicket(ctx context.Context, tokenHash []byte, kinds ...string) (*Ticket, error) {
	now := s.now()
	res := s.w(ctx).Model(&Ticket{}).
		Where("token_hash = ? AND kind IN ? AND used_at IS NULL AND expires_at > ?", tokenHash, kinds, now).
		UpdateColumn("used_at", now)
	if res.Error != nil {
		return nil, fmt.Errorf("spend ticket: %w", res.Error)
	}
	var t Ticket
	if err := s.w(ctx).Where("token_hash = ? AND kind IN ?", tokenHash, kinds).Take(&t).Error; err != nil {
		return nil, translate(err)
	}
	switch {
	case res.RowsAffected == 1:
		return &t, nil
	case t.UsedAt == nil && !t.ExpiresAt.After(now):
		return nil, ErrExpired
	default:
		return nil, ErrAlreadyUsed
	}
}

// PendingCodeTickets lists the usable tickets of kind mailed to email that carry a code with
// tries left, newest first.
func (s *Store) PendingCodeTickets(ctx context.Context, email, kind string, maxAttempts int) ([]Ticket, error) {
	var out []Ticket
	err := s.w(ctx).Where("email_lower = ? AND kind = ? AND code_hash IS NOT NULL AND used_at IS NULL AND expires_at > ? AND attempts < ?",
		NormalizeEmail(email), kind, s.now(), maxAttempts).Order("created_at DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("load pending tickets: %w", err)
	}
	return out, nil
}

// TakeTicketAttempt counts one try of a ticket's code, before the code is compared, and reports
// whether a try was left. Counting first is what keeps concurrent guesses within maxAttempts.
func (s *Store) TakeTicketAttempt(ctx context.Context, id uuid.UUID, maxAttempts int) (bool, error) {
	res := s.w(ctx).Exec(`UPDATE tickets SET attempts = attempts + 1
		WHERE id = ? AND used_at IS NULL AND expires_at > ? AND attempts < ?`, id, s.now(), maxAttempts)
	if res.Error != nil {
		return false, fmt.Errorf("count ticket attempt: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SpendTicketByID uses ticket id (a matched code, or a code out of tries); ErrAlreadyUsed when
// it was used, retired or expired in the meantime.
func (s *Store) SpendTicketByID(ctx context.Context, id uuid.UUID) error {
	now := s.now()
	res := s.w(ctx).Model(&Ticket{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).
		UpdateColumn("used_at", now)
	if res.Error != nil {
		return fmt.Errorf("spend ticket: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrAlreadyUsed
	}
	return nil
}

// ErrEmailChanged: the address a ticket was mailed to is no longer the user's.
var ErrEmailChanged = errors.New("address changed since the ticket was mailed")

// MarkEmailVerified records that the user controls email, if that is still the user's address.
func (s *Store) MarkEmailVerified(ctx context.Context, userID uuid.UUID, email string) error {
	defer s.invalidate(userKey(userID))
	res := s.w(ctx).Model(&User{}).Where("id = ? AND email_lower = ?", userID, NormalizeEmail(email)).
		Updates(map[string]any{"email_verified": true, "updated_at": s.now()})
	if res.Error != nil {
		return fmt.Errorf("mark email verified: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrEmailChanged
	}
	return nil
}

// ChangeEmail gives the user a new, verified address. A taken address is
// *ConflictError{Field: "email"}.
func (s *Store) ChangeEmail(ctx context.Context, userID uuid.UUID, email string) error {
	defer s.invalidate(userKey(userID))
	res := s.w(ctx).Model(&User{}).Where("id = ?", userID).Updates(map[string]any{
		"email":          email,
		"email_lower":    NormalizeEmail(email),
		"email_verified": true,
		"updated_at":     s.now(),
	})
	if err := translate(res.Error); err != nil {
		return fmt.Errorf("change email: %w", err)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
