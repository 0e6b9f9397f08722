package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// EnqueueMail adds m to the outbox, due at m.NextAttemptAt, or at once when that is zero. Called
// in the transaction that creates what the mail carries, so the two are written together or not
// at all.
func (s *Store) EnqueueMail(ctx context.Context, m *OutboxMail) error {
	if m.NextAttemptAt.IsZero() {
		m.NextAttemptAt = s.now() // the store's clock: due by the same measure ClaimDueMail uses
	}
	if err := translate(s.w(ctx).Create(m).Error); err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	return nil
}

// ClaimDueMail takes up to limit messages that are due and leases each until leaseUntil, so no
// other instance sends it meanwhile; if this instance dies mid-send, the message is due again
// when the lease ends. Each claim is one guarded update on the attempt count.
func (s *Store) ClaimDueMail(ctx context.Context, limit int, leaseUntil time.Time) ([]OutboxMail, error) {
	var due []OutboxMail
	err := s.w(ctx).Where("sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?", s.now()).
		Order("next_attempt_at").Limit(limit).Find(&due).Error
	if err != nil {
		return nil, fmt.Errorf("load due mail: %w", err)
	}
	claimed := due[:0]
	for _, m := range due {
		res := s.w(ctx).Exec(`UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = ?
			WHERE id = ? AND attempts = ? AND sent_at IS NULL AND failed_at IS NULL`, leaseUntil.UTC().Truncate(time.Microsecond), m.ID, m.Attempts)
		if res.Error != nil {
			return claimed, fmt.Errorf("claim mail: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			m.Attempts++
			m.NextAttemptAt = leaseUntil.UTC()
			claimed = append(claimed, m)
		}
	}
	return claimed, nil
}

// ReleaseMail undoes ClaimDueMail for a message that was not tried: it is due at once, and the
// claim does not count as an attempt.
func (s *Store) ReleaseMail(ctx context.Context, id uuid.UUID) error {
	err := s.w(ctx).Exec(`UPDATE mail_outbox SET attempts = attempts - 1, next_attempt_at = ?
		WHERE id = ? AND attempts > 0 AND sent_at IS NULL AND failed_at IS NULL`, s.now(), id).Error
	if err != nil {
		return fmt.Errorf("release mail: %w", err)
	}
	return nil
}

// MarkMailSent settles a delivered message and clears its bodies.
func (s *Store) MarkMailSent(ctx context.Context, id uuid.UUID) error {
	err := s.w(ctx).Model(&OutboxMail{}).Where("id = ?", id).Updates(map[string]any{
		"sent_at": s.now(), "text_body": nil, "html_body": nil, "last_error": "",
	}).Error
	if err != nil {
		return fmt.Errorf("mark mail sent: %w", err)
	}
	return nil
}

// MarkMailFailed records a failed attempt: the message is due again at retryAt, or, when retryAt
// is zero, given up for good with its bodies cleared.
func (s *Store) MarkMailFailed(ctx context.Context, id uuid.UUID, reason string, retryAt time.Time) error {
	upd := map[string]any{"last_error": reason}
	if retryAt.IsZero() {
		upd["failed_at"], upd["text_body"], upd["html_body"] = s.now(), nil, nil
	} else {
		upd["next_attempt_at"] = retryAt.UTC().Truncate(time.Microsecond)
	}
	if err := s.w(ctx).Model(&OutboxMail{}).Where("id = ?", id).Updates(upd).Error; err != nil {
		return fmt.Errorf("mark mail failed: %w", err)
	}
	return nil
}

// UndeliveredMail lists messages that have not left, waiting or given up, newest first and
// without their bodies: what an operator looks at when mail does not arrive.
func (s *Store) UndeliveredMail(ctx context.Context, limit int) ([]OutboxMail, error) {
	var out []OutboxMail
	err := s.r(ctx).Omit("text_body", "html_body").Where("sent_at IS NULL").
		Order("created_at DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list undelivered mail: %w", err)
	}
	return out, nil
}

// NextMailDue is when the earliest waiting message is due; ok is false when none waits.
func (s *Store) NextMailDue(ctx context.Context) (at time.Time, ok bool, err error) {
	var m OutboxMail
	res := s.w(ctx).Select("next_attempt_at").Where("sent_at IS NULL AND failed_at IS NULL").
		Order("next_attempt_at").Limit(1).Find(&m)
	if res.Error != nil {
		return time.Time{}, false, fmt.Errorf("next mail due: %w", res.Error)
	}
	return m.NextAttemptAt, res.RowsAffected == 1, nil
}
