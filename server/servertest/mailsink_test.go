package servertest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/server/mail"
	"github.com/latchkey/latchkey/server/servertest"
)

// sinkSender returns an SMTP sender that delivers to sink.
func sinkSender(t *testing.T, sink *servertest.MailSink, mod func(*mail.SMTPConfig)) *mail.SMTP {
	t.Helper()
	cfg := mail.SMTPConfig{Host: sink.Host, Port: sink.Port, TLS: mail.TLSNone, From: "Latchkey <noreply@example.com>"}
	if mod != nil {
		mod(&cfg)
	}
	s, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return s
}

// send delivers m or fails the test.
func send(t *testing.T, s *mail.SMTP, m mail.Message) {
	t.Helper()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send to %s: %v", m.To, err)
	}
}

func TestMailSinkCollectsAndDecodes(t *testing.T) {
	sink := servertest.StartMailSink(t)
	s := sinkSender(t, sink, nil)
	link := "https://auth.example.com/v1/verify?ticket=abc12345678def&type=emailVerify&code=87654321"
	verify := mail.Message{
		To:      "Ada@Example.com",
		Subject: "Vérifiez votre adresse",
		Text:    "Bonjour,\n\nOuvrez ce lien\u00a0:\n\n" + link + "\n\nOu saisissez ce code\u00a0: 73914258.\n\nSee https://app.example.com/help too.\n",
		HTML:    `<p><a href="` + link + `">Vérifier</a></p>`,
	}
	otp := mail.Message{To: "ada@example.com", Subject: "Code", Text: "Your code, valid for 10 minutes, is:\n\n482913\n"}
	other := mail.Message{To: "bob@example.com", Subject: "Other", Text: "Nothing to see.\n"}
	send(t, s, verify)
	send(t, s, otp)
	send(t, s, other)

	if got := sink.Count("ada@example.com"); got != 2 {
		t.Errorf("Count(ada) = %d, want 2", got)
	}
	if got := sink.Count("bob@example.com"); got != 1 {
		t.Errorf("Count(bob) = %d, want 1", got)
	}
	if got := sink.Count("eve@example.com"); got != 0 {
		t.Errorf("Count(eve) = %d, want 0", got)
	}

	m := sink.Next(t, "ada@example.com")
	if m.From != "noreply@example.com" || len(m.To) != 1 || !strings.EqualFold(m.To[0], "ada@example.com") {
		t.Errorf("envelope = %q -> %q, want noreply@example.com -> [ada@example.com]", m.From, m.To)
	}
	if m.Subject != verify.Subject {
		t.Errorf("Subject = %q, want %q", m.Subject, verify.Subject)
	}
	if m.Text != verify.Text {
		t.Errorf("Text = %q, want %q", m.Text, verify.Text)
	}
	if strings.TrimSpace(m.HTML) != verify.HTML {
		t.Errorf("HTML = %q, want %q", m.HTML, verify.HTML)
	}
	if m.Header.Get("Message-Id") == "" || len(m.Raw) == 0 {
		t.Errorf("Header Message-Id = %q, Raw %d bytes; want both", m.Header.Get("Message-Id"), len(m.Raw))
	}
	if got := m.Link(t, "/v1/verify"); got != link {
		t.Errorf("Link(/v1/verify) = %q, want %q", got, link)
	}
	if got := m.Link(t, "/help"); got != "https://app.example.com/help" {
		t.Errorf("Link(/help) = %q, want the URL without the trailing period", got)
	}
	if got := m.Code(t, 8); got != "73914258" {
		t.Errorf("Code(8) = %q, want 73914258 (not digits from the link)", got)
	}

	m = sink.Next(t, "ADA@example.com")
	if m.Subject != "Code" || m.HTML != "" {
		t.Errorf("second message: subject %q, html %q; want the text-only OTP mail", m.Subject, m.HTML)
	}
	if got := m.Code(t, 6); got != "482913" {
		t.Errorf("Code(6) = %q, want 482913 (not the 10 of 10 minutes)", got)
	}
	if got := sink.Next(t, "bob@example.com").Subject; got != "Other" {
		t.Errorf("bob's message: subject %q, want Other", got)
	}
	if got := sink.Count("ada@example.com"); got != 2 {
		t.Errorf("Count(ada) after Next = %d, want still 2", got)
	}
}

func TestMailSinkNextWaitsForDelivery(t *testing.T) {
	sink := servertest.StartMailSink(t)
	s := sinkSender(t, sink, nil)
	errc := make(chan error, 1)
	go func() {
		errc <- s.Send(context.Background(), mail.Message{To: "ada@example.com", Subject: "Later", Text: "x\n"})
	}()
	if got := sink.Next(t, "ada@example.com").Subject; got != "Later" {
		t.Errorf("Next: subject %q, want Later", got)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestMailSinkOutageAndRestart(t *testing.T) {
	sink := servertest.StartMailSink(t)
	s := sinkSender(t, sink, nil)
	m := mail.Message{To: "ada@example.com", Subject: "Hello", Text: "x\n"}

	sink.Stop()
	err := s.Send(context.Background(), m)
	if err == nil {
		t.Fatal("Send to a stopped sink succeeded")
	}
	if !mail.Temporary(err) {
		t.Errorf("Temporary(%v) = false, want true", err)
	}
	if err := s.Check(context.Background()); err == nil {
		t.Error("Check against a stopped sink succeeded")
	}

	sink.Restart(t)
	send(t, s, m)
	if got := sink.Next(t, "ada@example.com").Subject; got != "Hello" {
		t.Errorf("after restart: subject %q, want Hello", got)
	}
	if got := sink.Count("ada@example.com"); got != 1 {
		t.Errorf("Count = %d, want 1 (the failed attempt did not arrive)", got)
	}
}

func TestMailSinkRejectNext(t *testing.T) {
	tests := []struct {
		code          int
		wantTemporary bool
	}{
		{451, true},
		{550, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("code=%d", tt.code), func(t *testing.T) {
			sink := servertest.StartMailSink(t)
			s := sinkSender(t, sink, nil)
			m := mail.Message{To: "ada@example.com", Subject: "Retry me", Text: "x\n"}

			sink.RejectNext(1, tt.code)
			err := s.Send(context.Background(), m)
			if err == nil {
				t.Fatalf("Send with RejectNext(1, %d) succeeded", tt.code)
			}
			if got := mail.Temporary(err); got != tt.wantTemporary {
				t.Errorf("Temporary(%v) = %v, want %v", err, got, tt.wantTemporary)
			}
			if got := sink.Count("ada@example.com"); got != 0 {
				t.Errorf("Count after a rejection = %d, want 0", got)
			}
			send(t, s, m)
			if got := sink.Next(t, "ada@example.com").Subject; got != "Retry me" {
				t.Errorf("subject %q, want Retry me", got)
			}
		})
	}
}

func TestMailSinkAcceptsAuth(t *testing.T) {
	sink := servertest.StartMailSink(t)
	s := sinkSender(t, sink, func(c *mail.SMTPConfig) { c.Username, c.Password = "any", "thing" })
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check with credentials: %v", err)
	}
	send(t, s, mail.Message{To: "ada@example.com", Subject: "Authed", Text: "x\n"})
	if got := sink.Next(t, "ada@example.com").Subject; got != "Authed" {
		t.Errorf("subject %q, want Authed", got)
	}
}
