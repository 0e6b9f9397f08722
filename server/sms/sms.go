// Package sms sends text messages and knows phone numbers: the Twilio Messages API (or the log,
// in development), the per-locale templates of the texts, and the normalisation of numbers to
// E.164 with the checks SMS sign-in makes on them. It knows nothing of dialects or accounts.
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Message is one text to one number.
type Message struct {
	To   string // E.164
	Body string
}

// Sender delivers one text. It returns the provider's id for the message, if it has one.
type Sender interface {
	Send(ctx context.Context, m Message) (id string, err error)
}

// ProviderError is a provider's refusal of a message: the HTTP status, the provider's own error
// code (Twilio's numbered codes, e.g. 21211 for an invalid number) and its message.
type ProviderError struct {
	Status  int
	Code    int
	Message string
}

func (e *ProviderError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("provider refused the message: status %d, code %d: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("provider refused the message: status %d: %s", e.Status, e.Message)
}

// Temporary reports whether a failed Send is worth retrying: a provider answer of 5xx or 429, or
// no answer at all (the network, a timeout). Any other provider refusal (4xx: a bad number, an
// unverified sender, a blocked country) is permanent.
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe.Status >= 500 || pe.Status == 429
	}
	return true
}

// ProviderCode is the provider's error code in err, 0 when there is none.
func ProviderCode(err error) int {
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

// LogSender is the development sender: it writes the text, code included, to the log instead
// of sending it, as the mail log does.
type LogSender struct{ Log *slog.Logger }

// Send implements Sender by logging m at warning level; a nil Log means slog.Default().
func (l *LogSender) Send(ctx context.Context, m Message) (string, error) {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.WarnContext(ctx, "dev outbox: text not sent, no SMS provider configured", "to", m.To, "text", m.Body)
	return "", nil
}
