// Package mail renders and delivers Latchkey's transactional mail: address verification, email
// changes, password resets and sign-in links and codes. Templates turns a Kind and Data into a
// Message in the recipient's locale; a Sender delivers it, either over SMTP (*SMTP) or, in
// development, into the log (*LogSender).
//
// Bodies carry one-time links and codes, so nothing in this package puts a body into an error.
package mail

import (
	"context"
	"log/slog"
)

// Message is one rendered mail.
type Message struct {
	To      string // one address, bare ("a@b.c")
	Subject string
	Text    string // plain-text body
	HTML    string // HTML body ("" means text only)
}

// Sender delivers one message. Implementations: *SMTP and *LogSender.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

var (
	_ Sender = (*SMTP)(nil)
	_ Sender = (*LogSender)(nil)
)

// LogSender is the development sender: it writes each message to the log as one clearly marked
// entry (message "dev outbox: mail not sent, no SMTP configured", attributes to, subject, and the
// plain-text body) so a developer running without SMTP can follow the links. It never fails.
//
// The entry holds live links and codes, which is the point in development and the reason not to
// run a deployment without SMTP.
type LogSender struct{ Log *slog.Logger }

// Send implements Sender by logging m at warning level; a nil Log means slog.Default().
func (l *LogSender) Send(ctx context.Context, m Message) error {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.WarnContext(ctx, "dev outbox: mail not sent, no SMTP configured",
		"to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}
