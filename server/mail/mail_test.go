package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/latchkey/latchkey/server/mail"
)

func TestLogSenderLogsTheMessage(t *testing.T) {
	var buf bytes.Buffer
	s := &mail.LogSender{Log: slog.New(slog.NewJSONHandler(&buf, nil))}
	m := mail.Message{To: "ada@example.com", Subject: "Sign in to Latchkey",
		Text: "Open this link to sign in:\n\nhttps://auth.example.com/v1/verify?ticket=abc\n", HTML: "<p>html</p>"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var entry map[string]any
	if err := json.Unmarshal(buf.Bytes(), &entry); err != nil {
		t.Fatalf("want exactly one JSON log entry, got %q: %v", buf.String(), err)
	}
	want := map[string]any{
		"level": "WARN",
		"msg":   "dev outbox: mail not sent, no SMTP configured",
		"to":    m.To, "subject": m.Subject, "text": m.Text,
	}
	for k, v := range want {
		if entry[k] != v {
			t.Errorf("log entry %s = %q, want %q (entry %v)", k, entry[k], v, entry)
		}
	}
}
