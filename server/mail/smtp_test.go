package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/server/mail"
)

// newSender builds an SMTP sender for ts, failing the test on a config error.
func newSender(t *testing.T, ts *testServer, mod func(*mail.SMTPConfig)) *mail.SMTP {
	t.Helper()
	cfg := mail.SMTPConfig{Host: ts.host, Port: ts.port, TLS: mail.TLSNone, From: "Latchkey <noreply@example.com>"}
	if mod != nil {
		mod(&cfg)
	}
	s, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP(%+v): %v", cfg, err)
	}
	return s
}

// secretMessage is a message whose body holds things that must not leak into errors.
var secretMessage = mail.Message{
	To:      "ada@example.com",
	Subject: "Vérifiez votre adresse — 确认",
	Text:    "Open https://auth.example.com/v1/verify?ticket=SECRET-TICKET\nOr enter this code: 73914258\n",
	HTML:    `<p><a href="https://auth.example.com/v1/verify?ticket=SECRET-TICKET">Verify</a> 73914258</p>`,
}

func TestSMTPSendDeliversMultipartAlternative(t *testing.T) {
	ts := startServer(t, serverOpts{})
	s := newSender(t, ts, nil)
	if err := s.Send(context.Background(), secretMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := ts.next(t)
	if got.from != "noreply@example.com" {
		t.Errorf("envelope from = %q, want noreply@example.com", got.from)
	}
	if len(got.to) != 1 || got.to[0] != "ada@example.com" {
		t.Errorf("envelope to = %q, want [ada@example.com]", got.to)
	}
	d := decode(t, got.data)
	if d.contentType != "multipart/alternative" {
		t.Errorf("Content-Type = %q, want multipart/alternative\n%s", d.contentType, got.data)
	}
	if d.subject != secretMessage.Subject {
		t.Errorf("Subject = %q, want %q (raw %q)", d.subject, secretMessage.Subject, d.header.Get("Subject"))
	}
	if raw := d.header.Get("Subject"); !strings.HasPrefix(raw, "=?UTF-8?") {
		t.Errorf("raw Subject = %q, want RFC 2047 encoded", raw)
	}
	if from, err := d.header.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Latchkey" || from[0].Address != "noreply@example.com" {
		t.Errorf("From = %q (%v), want Latchkey <noreply@example.com>", d.header.Get("From"), err)
	}
	if to, err := d.header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "ada@example.com" {
		t.Errorf("To = %q (%v), want ada@example.com", d.header.Get("To"), err)
	}
	if _, err := d.header.Date(); err != nil {
		t.Errorf("Date %q: %v", d.header.Get("Date"), err)
	}
	if id := d.header.Get("Message-Id"); !regexp.MustCompile(`^<[0-9a-f]{32}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q, want <32 hex digits@example.com>", id)
	}
	if strings.TrimSpace(d.text) != strings.TrimSpace(secretMessage.Text) {
		t.Errorf("text part = %q, want %q", d.text, secretMessage.Text)
	}
	if strings.TrimSpace(d.html) != strings.TrimSpace(secretMessage.HTML) {
		t.Errorf("html part = %q, want %q", d.html, secretMessage.HTML)
	}
}

func TestSMTPSendTextOnly(t *testing.T) {
	ts := startServer(t, serverOpts{})
	s := newSender(t, ts, func(c *mail.SMTPConfig) { c.From = "noreply@example.com" })
	m := mail.Message{To: "bob@example.com", Subject: "Plain", Text: "Just text, long enough to need no wrapping.\n"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	d := decode(t, ts.next(t).data)
	if d.contentType != "text/plain" || d.html != "" {
		t.Errorf("Content-Type = %q, html = %q; want text/plain only", d.contentType, d.html)
	}
	if d.text != m.Text {
		t.Errorf("text = %q, want %q", d.text, m.Text)
	}
}

func TestSMTPAuth(t *testing.T) {
	tests := []struct {
		name          string
		loginOnly     bool
		user, pass    string
		wantErr       bool
		wantTemporary bool
	}{
		{name: "plain", user: "relay", pass: "s3cret"},
		{name: "login-when-no-plain", loginOnly: true, user: "relay", pass: "s3cret"},
		{name: "wrong-password", user: "relay", pass: "nope", wantErr: true},
		{name: "no-credentials", wantErr: true},
	}
	for _, tt := range tests {
		t.Run("case="+tt.name, func(t *testing.T) {
			ts := startServer(t, serverOpts{user: "relay", password: "s3cret", loginOnly: tt.loginOnly})
			s := newSender(t, ts, func(c *mail.SMTPConfig) { c.Username, c.Password = tt.user, tt.pass })
			err := s.Send(context.Background(), secretMessage)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send: err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if got := mail.Temporary(err); got != tt.wantTemporary {
					t.Errorf("Temporary(%v) = %v, want %v", err, got, tt.wantTemporary)
				}
				if strings.Contains(err.Error(), tt.pass) && tt.pass != "" {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if got := ts.next(t); got.authUser != "relay" {
				t.Errorf("server saw user %q, want relay", got.authUser)
			}
			if err := s.Check(context.Background()); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

func TestSMTPStartTLS(t *testing.T) {
	serverTLS, pool := selfSigned(t)
	ts := startServer(t, serverOpts{user: "relay", password: "s3cret", startTLS: serverTLS})

	t.Run("case=trusted", func(t *testing.T) {
		s := newSender(t, ts, func(c *mail.SMTPConfig) {
			c.TLS, c.Username, c.Password = mail.TLSStartTLS, "relay", "s3cret"
			c.TLSConfig = &tls.Config{RootCAs: pool}
		})
		if err := s.Send(context.Background(), secretMessage); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := ts.next(t); !got.tls || got.authUser != "relay" {
			t.Errorf("server saw tls=%v user=%q, want tls=true user=relay", got.tls, got.authUser)
		}
	})
	t.Run("case=untrusted-cert-is-permanent", func(t *testing.T) {
		s := newSender(t, ts, func(c *mail.SMTPConfig) {
			c.TLS, c.Username, c.Password = mail.TLSStartTLS, "relay", "s3cret"
		})
		err := s.Send(context.Background(), secretMessage)
		if err == nil {
			t.Fatal("Send with an unknown certificate authority succeeded")
		}
		if mail.Temporary(err) {
			t.Errorf("Temporary(%v) = true, want false", err)
		}
	})
	t.Run("case=server-without-starttls", func(t *testing.T) {
		plain := startServer(t, serverOpts{})
		s := newSender(t, plain, func(c *mail.SMTPConfig) {
			c.TLS, c.TLSConfig = mail.TLSStartTLS, &tls.Config{RootCAs: pool}
		})
		err := s.Send(context.Background(), secretMessage)
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send to a server without STARTTLS: err = %v, want one naming STARTTLS", err)
		}
		if mail.Temporary(err) {
			t.Errorf("Temporary(%v) = true, want false", err)
		}
	})
}

func TestSMTPImplicitTLS(t *testing.T) {
	serverTLS, pool := selfSigned(t)
	ts := startServer(t, serverOpts{user: "relay", password: "s3cret", implicitTLS: serverTLS})
	s := newSender(t, ts, func(c *mail.SMTPConfig) {
		c.TLS, c.Username, c.Password = mail.TLSImplicit, "relay", "s3cret"
		c.TLSConfig = &tls.Config{RootCAs: pool}
	})
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := s.Send(context.Background(), secretMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := ts.next(t); !got.tls || got.authUser != "relay" {
		t.Errorf("server saw tls=%v user=%q, want tls=true user=relay", got.tls, got.authUser)
	}
}

func TestSMTPFailuresAndTemporary(t *testing.T) {
	tests := []struct {
		name          string
		opts          *serverOpts // nil: nothing listens
		wantTemporary bool
		wantInError   string
	}{
		{name: "connection-refused", wantTemporary: true},
		{name: "rcpt-451", opts: &serverOpts{rejectRcpt: 451}, wantTemporary: true, wantInError: "451"},
		{name: "rcpt-550", opts: &serverOpts{rejectRcpt: 550}, wantTemporary: false, wantInError: "550"},
		{name: "rcpt-553", opts: &serverOpts{rejectRcpt: 553}, wantTemporary: false, wantInError: "553"},
		{name: "data-452", opts: &serverOpts{rejectData: 452}, wantTemporary: true, wantInError: "452"},
		{name: "data-554", opts: &serverOpts{rejectData: 554}, wantTemporary: false, wantInError: "554"},
	}
	for _, tt := range tests {
		t.Run("case="+tt.name, func(t *testing.T) {
			var s *mail.SMTP
			if tt.opts == nil {
				s = newSender(t, &testServer{host: "127.0.0.1", port: closedPort(t)}, nil)
			} else {
				s = newSender(t, startServer(t, *tt.opts), nil)
			}
			err := s.Send(context.Background(), secretMessage)
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := mail.Temporary(err); got != tt.wantTemporary {
				t.Errorf("Temporary(%q) = %v, want %v", err, got, tt.wantTemporary)
			}
			msg := err.Error()
			if !strings.Contains(msg, "127.0.0.1") || !strings.Contains(msg, tt.wantInError) {
				t.Errorf("error %q should name the server and contain %q", msg, tt.wantInError)
			}
			for _, secret := range []string{"SECRET-TICKET", "73914258", "Verify"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q contains %q from the body", msg, secret)
				}
			}
		})
	}
}

func TestSMTPSendHonoursContext(t *testing.T) {
	// A server that accepts the connection and never greets: Send blocks until ctx ends.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s := newSender(t, &testServer{host: "127.0.0.1", port: l.Addr().(*net.TCPAddr).Port}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Send(ctx, secretMessage) }()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cancel()
	err = <-errc
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send after cancel: err = %v, want context.Canceled in its chain", err)
	}
	if !mail.Temporary(err) {
		t.Errorf("Temporary(%v) = false, want true", err)
	}
}

func TestSMTPCheck(t *testing.T) {
	ts := startServer(t, serverOpts{})
	if err := newSender(t, ts, nil).Check(context.Background()); err != nil {
		t.Errorf("Check against a running server: %v", err)
	}
	err := newSender(t, &testServer{host: "127.0.0.1", port: closedPort(t)}, nil).Check(context.Background())
	if err == nil {
		t.Fatal("Check against a closed port succeeded")
	}
	if !mail.Temporary(err) {
		t.Errorf("Temporary(%v) = false, want true", err)
	}
}

func TestNewSMTPValidates(t *testing.T) {
	good := mail.SMTPConfig{Host: "smtp.example.com", Port: 587, TLS: mail.TLSStartTLS, From: "Latchkey <noreply@example.com>",
		Username: "apikey", Password: "hunter2"}
	tests := []struct {
		name    string
		mod     func(*mail.SMTPConfig)
		wantErr bool
	}{
		{name: "good", mod: func(*mail.SMTPConfig) {}},
		{name: "empty-host", mod: func(c *mail.SMTPConfig) { c.Host = " " }, wantErr: true},
		{name: "port-zero", mod: func(c *mail.SMTPConfig) { c.Port = 0 }, wantErr: true},
		{name: "port-too-big", mod: func(c *mail.SMTPConfig) { c.Port = 65536 }, wantErr: true},
		{name: "tls-empty", mod: func(c *mail.SMTPConfig) { c.TLS = "" }, wantErr: true},
		{name: "tls-unknown", mod: func(c *mail.SMTPConfig) { c.TLS = "ssl" }, wantErr: true},
		{name: "from-unparsable", mod: func(c *mail.SMTPConfig) { c.From = "Latchkey <noreply>" }, wantErr: true},
		{name: "from-empty", mod: func(c *mail.SMTPConfig) { c.From = "" }, wantErr: true},
		{name: "negative-timeout", mod: func(c *mail.SMTPConfig) { c.Timeout = -1 }, wantErr: true},
		{name: "auth-in-clear-to-remote", mod: func(c *mail.SMTPConfig) { c.TLS = mail.TLSNone }, wantErr: true},
		{name: "auth-in-clear-to-loopback", mod: func(c *mail.SMTPConfig) { c.TLS, c.Host = mail.TLSNone, "localhost" }},
		{name: "no-auth-in-clear-to-remote", mod: func(c *mail.SMTPConfig) { c.TLS, c.Username, c.Password = mail.TLSNone, "", "" }},
		{name: "implicit", mod: func(c *mail.SMTPConfig) { c.TLS, c.Port = mail.TLSImplicit, 465 }},
	}
	for _, tt := range tests {
		t.Run("case="+tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			_, err := mail.NewSMTP(cfg)
			if (err != nil) != tt.wantErr {
				t.Errorf("NewSMTP(%+v): err = %v, want error %v", cfg, err, tt.wantErr)
			}
		})
	}

	s, err := mail.NewSMTP(good)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "smtp://apikey@smtp.example.com:587 (starttls)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSMTPRejectsBadMessages(t *testing.T) {
	ts := startServer(t, serverOpts{})
	s := newSender(t, ts, nil)
	for _, m := range []mail.Message{
		{To: "not an address", Subject: "x", Text: "x"},
		{To: "ada@example.com", Subject: "two\r\nBcc: eve@example.com", Text: "x"},
		{To: "ada@example.com", Subject: "x"},
	} {
		err := s.Send(context.Background(), m)
		if err == nil {
			t.Errorf("Send(%+v) succeeded, want an error", m)
			continue
		}
		if mail.Temporary(err) {
			t.Errorf("Temporary(%v) = true, want false", err)
		}
	}
}
