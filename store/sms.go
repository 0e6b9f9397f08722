package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// TicketSignInSMS is the kind of a texted sign-in code. Its ticket's Email holds the E.164
// phone number the code was texted to: the tickets table keeps "where it was sent" there.
const TicketSignInSMS = "signinSms"

func init() {
	uniqueFields["users_phone_number_key"] = "phoneNumber"
	uniqueFields["users.phone_number"] = "phoneNumber"
	// The deliverer's tries, outcome and the body it clears once a text is settled are written on
	// its own schedule, as for mail.
	watchSkips["sms_outbox"] = []string{"attempts", "next_attempt_at", "last_error", "provider_id", "sent_at", "failed_at", "body"}
}

// OutboxSMS is one text waiting for delivery, or the record of one that left or was given up.
// Its body is cleared once it is settled either way: it carries a one-time code.
type OutboxSMS struct {
	ID            uuid.UUID
	Kind          string
	Recipient     string  // E.164
	Body          *string `json:"-"`
	RequestID     string
	CreatedAt     time.Time
	ExpiresAt     time.Time // delivering after this is pointless: the code has expired
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	ProviderID    string // the provider's id of the sent message (Twilio's SID)
	SentAt        *time.Time
	FailedAt      *time.Time
}

func (OutboxSMS) TableName() string { return "sms_outbox" }

func (m *OutboxSMS) BeforeSave(*gorm.DB) error {
	utc(&m.CreatedAt, &m.ExpiresAt, &m.NextAttemptAt)
	m.SentAt, m.FailedAt = utcPtr(m.SentAt), utcPtr(m.FailedAt)
	return nil
}

// UserByPhone loads the user whose phone number is phone (E.164), with roles.
func (s *Store) UserByPhone(ctx context.Context, phone string) (*User, error) {
	return s.userWithRoles(ctx, `phone_number = ?`, phone)
}

// SetUserPhone gives the user phone (E.164) with its verified state, or takes the number away
// when phone is nil. A number another user has is *ConflictError{Field: "phoneNumber"}.
func (s *Store) SetUserPhone(ctx context.Context, id uuid.UUID, phone *string, verified bool) error {
	defer s.invalidate(userKey(id)) // phoneNumber and phoneNumberVerified show in GET /user
	res := s.w(ctx).Model(&User{}).Where("id = ?", id).Updates(map[string]any{
		"phone_number": phone, "phone_number_verified": phone != nil && verified, "updated_at": s.now(),
	})
	if err := translate(res.Error); err != nil {
		return fmt.Errorf("set phone number: %w", err)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// MarkPhoneVerified records that the user controls phone, if that is still the user's number.
func (s *Store) MarkPhoneVerified(ctx context.Context, id uuid.UUID, phone string) error {
	defer s.invalidate(userKey(id))
	res := s.w(ctx).Model(&User{}).Where("id = ? AND phone_number = ?", id, phone).
		Updates(map[string]any{"phone_number_verified": true, "updated_at": s.now()})
	if res.Error != nil {
		return fmt.Errorf("mark phone verified: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// EnqueueSMS adds m to the outbox, due at once when NextAttemptAt is zero. Called in the
// transaction that creates the code it carries.
func (s *Store) EnqueueSMS(ctx context.Context, m *OutboxSMS) error {
	if m.NextAttemptAt.IsZero() {
		m.NextAttemptAt = s.now()
	}
	if err := translate(s.w(ctx).Create(m).Error); err != nil {
		return fmt.Errorf("enqueue sms: %w", err)
	}
	return nil
}

// ClaimDueSMS takes up to limit texts that are due and leases each until leaseUntil, so no
// other instance sends it meanwhile; each claim is one guarded update on the attempt count.
func (s *Store) ClaimDueSMS(ctx context.Context, limit int, leaseUntil time.Time) ([]OutboxSMS, error) {
	var due []OutboxSMS
	err := s.w(ctx).Where("sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?", s.now()).
		Order("next_attempt_at").Limit(limit).Find(&due).Error
	if err != nil {
		return nil, fmt.Errorf("load due sms: %w", err)
	}
	claimed := due[:0]
	for _, m := range due {
		res := s.w(ctx).Exec(`UPDATE sms_outbox SET attempts = attempts + 1, next_attempt_at = ?
			WHERE id = ? AND attempts = ? AND sent_at IS NULL AND failed_at IS NULL`, leaseUntil.UTC().Truncate(time.Microsecond), m.ID, m.Attempts)
		if res.Error != nil {
			return claimed, fmt.Errorf("claim sms: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			m.Attempts++
			m.NextAttemptAt = leaseUntil.UTC()
			claimed = append(claimed, m)
		}
	}
	return claimed, nil
}

// ReleaseSMS undoes ClaimDueSMS for a text that was not tried.
func (s *Store) ReleaseSMS(ctx context.Context, id uuid.UUID) error {
	err := s.w(ctx).Exec(`UPDATE sms_outbox SET attempts = attempts - 1, next_attempt_at = ?
		WHERE id = ? AND attempts > 0 AND sent_at IS NULL AND failed_at IS NULL`, s.now(), id).Error
	if err != nil {
		return fmt.Errorf("release sms: %w", err)
	}
	return nil
}

// MarkSMSSent settles a delivered text and clears its body.
func (s *Store) MarkSMSSent(ctx context.Context, id uuid.UUID, providerID string) error {
	err := s.w(ctx).Model(&OutboxSMS{}).Where("id = ?", id).Updates(map[string]any{
		"sent_at": s.now(), "body": nil, "last_error": "", "provider_id": providerID,
	}).Error
	if err != nil {
		return fmt.Errorf("mark sms sent: %w", err)
	}
	return nil
}

// MarkSMSFailed records a failed attempt: the text is due again at retryAt, or, when retryAt is
// zero, given up for good with its body cleared.
func (s *Store) MarkSMSFailed(ctx context.Context, id uuid.UUID, reason string, retryAt time.Time) error {
	upd := map[string]any{"last_error": reason}
	if retryAt.IsZero() {
		upd["failed_at"], upd["body"] = s.now(), nil
	} else {
		upd["next_attempt_at"] = retryAt.UTC().Truncate(time.Microsecond)
	}
	if err := s.w(ctx).Model(&OutboxSMS{}).Where("id = ?", id).Updates(upd).Error; err != nil {
		return fmt.Errorf("mark sms failed: %w", err)
	}
	return nil
}

// SMSOutbox lists the texts to recipient, newest first; a settled text's body is nil.
func (s *Store) SMSOutbox(ctx context.Context, recipient string) ([]OutboxSMS, error) {
	var out []OutboxSMS
	err := s.w(ctx).Where("recipient = ?", recipient).Order("created_at DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list sms: %w", err)
	}
	return out, nil
}

// PurgeSMS deletes settled texts older than before.
func (s *Store) PurgeSMS(ctx context.Context, before time.Time) (int64, error) {
	before = before.UTC()
	res := s.w(ctx).Where("sent_at < ? OR failed_at < ?", before, before).Delete(&OutboxSMS{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge sms: %w", res.Error)
	}
	return res.RowsAffected, nil
}
