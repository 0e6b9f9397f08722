package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/server/mail"
	"github.com/latchkey/latchkey/store"
)

// mailLease is how long a claimed message is reserved for the instance sending it. It outlasts
// an SMTP attempt, so no other instance sends the message meanwhile; if the sender dies, the
// message is due again when the lease ends.
const mailLease = 2 * time.Minute

// queueMail renders a message of kind in locale and writes it to the outbox through st, the
// transaction that creates what the message carries: both are written, or neither. expires is
// when what it carries stops working; the message is not delivered after that.
func (s *Server) queueMail(ctx context.Context, st *store.Store, kind mail.Kind, locale string, d mail.Data, expires time.Time) error {
	d.AppName, d.ClientURL = s.cfg.AppName, s.cfg.ClientURL
	m, err := s.templates.Render(kind, locale, d)
	if err != nil {
		return fmt.Errorf("render %s mail: %w", kind, err)
	}
	now := s.now()
	row := &store.OutboxMail{
		ID:        uuid.New(),
		Kind:      string(kind),
		Recipient: m.To,
		Subject:   m.Subject,
		TextBody:  &m.Text,
		RequestID: clientFrom(ctx).RequestID,
		CreatedAt: now,
		ExpiresAt: expires,
	}
	if m.HTML != "" {
		row.HTMLBody = &m.HTML
	}
	return st.EnqueueMail(ctx, row)
}

// wakeMailer asks this instance's deliverer to look at the outbox now. Callers wake it after the
// transaction that queued mail has committed.
func (s *Server) wakeMailer() {
	select {
	case s.mailWake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// runMailer delivers due mail when woken, and every MailPollInterval for retries and for mail
// queued by other instances, until ctx ends.
func (s *Server) runMailer(ctx context.Context) {
	t := time.NewTicker(s.cfg.MailPollInterval)
	defer t.Stop()
	for {
		if _, err := s.DeliverMail(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "deliver mail", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.mailWake:
		}
	}
}

// DeliverMail sends every message that is due now and reports how many went out. Instances
// share the outbox: each message is claimed by one of them before it is sent.
func (s *Server) DeliverMail(ctx context.Context) (int, error) {
	// One pass at a time per instance: a caller that asks for a pass while one runs gets its own
	// after it, so what was due when it asked has been attempted when it returns.
	s.mailMu.Lock()
	defer s.mailMu.Unlock()
	sent := 0
	for ctx.Err() == nil {
		batch, err := s.store.ClaimDueMail(ctx, 10, s.now().Add(mailLease))
		if err != nil || len(batch) == 0 {
			return sent, err
		}
		for i, m := range batch {
			if ctx.Err() != nil {
				// Shutting down: what was claimed but not tried is due again at once, for this
				// instance's successor or another instance, instead of waiting out its lease.
				s.releaseMail(ctx, batch[i:])
				return sent, nil
			}
			// An attempt under way is finished and recorded even when ctx ends meanwhile (the
			// SMTP timeout bounds it): cut short, a message the server may already have taken
			// would go out again, and its outcome would be lost.
			if s.deliver(context.WithoutCancel(ctx), m) {
				sent++
			}
		}
	}
	return sent, nil
}

// releaseMail gives up the claims on messages this instance will not try after all.
func (s *Server) releaseMail(ctx context.Context, ms []store.OutboxMail) {
	ctx = context.WithoutCancel(ctx)
	for _, m := range ms {
		if err := s.store.ReleaseMail(ctx, m.ID); err != nil {
			s.log.WarnContext(ctx, "release mail claim; it is due again when its lease ends", "mail_id", m.ID, "error", err)
		}
	}
}

// deliver makes one attempt at a claimed message and records the outcome: sent, due again after
// a backoff (temporary failures), or given up (permanent failures, too many attempts, or what it
// carries has expired). The log names the message and the request that queued it, never the
// recipient's link or code.
func (s *Server) deliver(ctx context.Context, m store.OutboxMail) bool {
	log := s.log.With("mail_id", m.ID, "mail_kind", m.Kind, "request_id", m.RequestID, "attempt", m.Attempts)
	now := s.now()
	if !m.ExpiresAt.After(now) || m.TextBody == nil {
		s.settleFailed(ctx, log, m.ID, "expired before it could be delivered", time.Time{})
		return false
	}
	msg := mail.Message{To: m.Recipient, Subject: m.Subject, Text: *m.TextBody}
	if m.HTMLBody != nil {
		msg.HTML = *m.HTMLBody
	}
	err := s.mailer.Send(ctx, msg)
	if err == nil {
		if err := s.store.MarkMailSent(ctx, m.ID); err != nil {
			log.ErrorContext(ctx, "mail sent but not marked sent; it may go out twice", "error", err)
		}
		log.InfoContext(ctx, "mail sent")
		s.metrics.mail.WithLabelValues("sent").Inc()
		return true
	}
	var retry time.Time
	if mail.Temporary(err) && m.Attempts < s.cfg.MailMaxAttempts {
		if at := now.Add(mailBackoff(s.cfg.MailRetryBase, m.Attempts)); at.Before(m.ExpiresAt) {
			retry = at
		}
	}
	s.settleFailed(ctx, log, m.ID, truncate(err.Error(), 500), retry)
	return false
}

// settleFailed records a failed attempt and logs it.
func (s *Server) settleFailed(ctx context.Context, log *slog.Logger, id uuid.UUID, reason string, retry time.Time) {
	if err := s.store.MarkMailFailed(ctx, id, reason, retry); err != nil {
		log.ErrorContext(ctx, "record mail failure", "error", err)
	}
	if retry.IsZero() {
		s.metrics.mail.WithLabelValues("given_up").Inc()
		log.WarnContext(ctx, "mail delivery failed; given up", "error", reason)
		return
	}
	s.metrics.mail.WithLabelValues("retry").Inc()
	log.WarnContext(ctx, "mail delivery failed; will retry", "error", reason, "retry_at", retry)
}

// mailBackoff is the wait after the n-th failed attempt: base, doubling, at most an hour.
func mailBackoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}
