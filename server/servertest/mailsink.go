package servertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailWait is how long Next waits for a message.
const mailWait = 10 * time.Second

// MailSink is an SMTP server on 127.0.0.1 that collects every message delivered to it, for tests.
type MailSink struct {
	Host string
	Port int

	mu        sync.Mutex
	srv       *smtp.Server
	listener  net.Listener
	served    chan struct{} // closed when the running server's Serve returns
	mails     []*Mail
	returned  map[string]int // per recipient (mailboxKey), how many Next has returned
	arrived   chan struct{}  // closed, and replaced, whenever a message arrives
	rejectN   int
	rejectErr *smtp.SMTPError
	stall     chan struct{} // non-nil while stalled: closed by Unstall
	stalled   int           // DATA commands waiting on stall
}

// Mail is one received message, decoded.
type Mail struct {
	From    string      // envelope sender
	To      []string    // envelope recipients
	Header  mail.Header // net/mail
	Subject string      // decoded (RFC 2047)
	Text    string      // decoded text/plain part (quoted-printable/base64 undone)
	HTML    string      // decoded text/html part, "" if none
	Raw     []byte
}

// StartMailSink starts one on a free port, stopped in t.Cleanup. Plain SMTP, no TLS, AUTH
// optional (accepts any PLAIN credentials if offered).
func StartMailSink(t *testing.T) *MailSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("start mail sink: %v", err)
	}
	addr := l.Addr().(*net.TCPAddr)
	m := &MailSink{Host: addr.IP.String(), Port: addr.Port, returned: map[string]int{}, arrived: make(chan struct{})}
	m.serve(l)
	t.Cleanup(m.Stop)
	return m
}

// serve runs a fresh go-smtp server on l; a stopped go-smtp server cannot be started again.
func (m *MailSink) serve(l net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: m}, nil
	}))
	srv.Domain = "mailsink.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0) // test output is for the test; the session reports what matters
	served := make(chan struct{})
	m.mu.Lock()
	m.srv, m.listener, m.served = srv, l, served
	m.mu.Unlock()
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
}

// Stall makes the sink stop answering in the middle of transactions: every DATA from now on
// hangs, the message neither taken nor refused, until Unstall. A stalled transaction then fails
// with 451 and its message is not kept, as with a server that never completed it: a sender
// that gave up on it meanwhile must send it again, and nothing arrives twice.
func (m *MailSink) Stall() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stall == nil {
		m.stall = make(chan struct{})
	}
}

// Unstall ends a Stall: waiting transactions fail, new ones go through.
func (m *MailSink) Unstall() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stall != nil {
		close(m.stall)
		m.stall = nil
	}
}

// Stalled is how many transactions wait in a Stall now.
func (m *MailSink) Stalled() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stalled
}

// hold waits while the sink is stalled; true means the transaction was stalled and must fail.
func (m *MailSink) hold() bool {
	m.mu.Lock()
	gate := m.stall
	if gate != nil {
		m.stalled++
	}
	m.mu.Unlock()
	if gate == nil {
		return false
	}
	<-gate
	m.mu.Lock()
	m.stalled--
	m.mu.Unlock()
	return true
}

// Stop closes the listener and open connections (an SMTP outage: connections are refused),
// and ends a Stall. Stopping a stopped sink does nothing.
func (m *MailSink) Stop() {
	m.Unstall() // stalled sessions would otherwise outlive the server
	m.mu.Lock()
	srv, l, served := m.srv, m.listener, m.served
	m.srv, m.listener, m.served = nil, nil, nil
	m.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	// Close the listener too: Close only knows listeners Serve has registered, and Serve may
	// not have run yet.
	_ = l.Close()
	<-served
}

// Restart listens again on the same port after Stop.
func (m *MailSink) Restart(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	running := m.srv != nil
	m.mu.Unlock()
	if running {
		t.Fatal("restart mail sink: it is running")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(m.Host, strconv.Itoa(m.Port)))
	if err != nil {
		t.Fatalf("restart mail sink on port %d: %v", m.Port, err)
	}
	m.serve(l)
}

// RejectNext makes the next n RCPT/DATA attempts fail with the given SMTP code (e.g. 451
// temporary, 550 permanent). Each refused command uses up one; a message refused at RCPT does
// not reach DATA.
func (m *MailSink) RejectNext(n int, code int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejectN = n
	m.rejectErr = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet,
		Message: fmt.Sprintf("mail sink told to reject (%d)", code)}
}

// reject returns the error for a refused command, or nil when the command may go ahead.
func (m *MailSink) reject() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rejectN <= 0 {
		return nil
	}
	m.rejectN--
	return m.rejectErr
}

// Next waits (up to 10 s, on a channel, never polling with sleep) for the next message to `to`
// that has not been returned yet, and fails the test on timeout.
func (m *MailSink) Next(t *testing.T, to string) *Mail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mailWait)
	defer cancel()
	ml, err := m.Wait(ctx, to)
	if err != nil {
		t.Fatalf("mail sink: %v", err)
	}
	return ml
}

// Wait is Next for callers that are not the test goroutine (a handler serving mail to a
// client under test): it waits until ctx ends and reports failure as an error.
func (m *MailSink) Wait(ctx context.Context, to string) (*Mail, error) {
	key := mailboxKey(to)
	for {
		m.mu.Lock()
		seen := 0
		for _, ml := range m.mails {
			if !ml.sentTo(key) {
				continue
			}
			if seen == m.returned[key] {
				m.returned[key]++
				m.mu.Unlock()
				return ml, nil
			}
			seen++
		}
		arrived := m.arrived
		m.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, fmt.Errorf("no new message to %s (%d arrived for it, all returned): %w", to, m.Count(to), ctx.Err())
		}
	}
}

// Count is how many messages to `to` have arrived so far (returned or not).
func (m *MailSink) Count(to string) int {
	key := mailboxKey(to)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, ml := range m.mails {
		if ml.sentTo(key) {
			n++
		}
	}
	return n
}

// add records a delivered message and wakes every waiting Next.
func (m *MailSink) add(ml *Mail) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, ml)
	close(m.arrived)
	m.arrived = make(chan struct{})
}

// sentTo reports whether one of the envelope recipients has the mailbox key key.
func (ml *Mail) sentTo(key string) bool {
	for _, r := range ml.To {
		if mailboxKey(r) == key {
			return true
		}
	}
	return false
}

// mailboxKey is how the sink tells mailboxes apart: by the address with its ASCII letters
// lower-cased and nothing else changed, as mail systems do. Full Unicode lower-casing would count a
// mail to ceo@İbm.com as one to ceo@ibm.com, a different mailbox.
func mailboxKey(addr string) string {
	b := []byte(addr)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// urlPattern finds http(s) URLs in plain text.
var urlPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// Link returns the first http(s) URL in Text whose path contains pathPart (e.g. "/v1/verify");
// fails the test if none.
func (ml *Mail) Link(t *testing.T, pathPart string) string {
	t.Helper()
	for _, s := range urlPattern.FindAllString(ml.Text, -1) {
		s = strings.TrimRight(s, ".,;:!?)]'")
		u, err := url.Parse(s)
		if err == nil && strings.Contains(u.Path, pathPart) {
			return s
		}
	}
	t.Fatalf("mail %q to %v: no http(s) link with %q in its path in the text:\n%s", ml.Subject, ml.To, pathPart, ml.Text)
	return ""
}

// Code returns the first run of digits of length n that stands alone as a word in Text (e.g. 6
// for an OTP, 8 for a link code); fails if none. Digits inside a link or a longer word do not
// count.
func (ml *Mail) Code(t *testing.T, n int) string {
	t.Helper()
	for _, w := range strings.Fields(ml.Text) {
		w = strings.TrimFunc(w, func(r rune) bool { return unicode.IsPunct(r) })
		if len(w) == n && strings.Trim(w, "0123456789") == "" {
			return w
		}
	}
	t.Fatalf("mail %q to %v: no %d-digit code in the text:\n%s", ml.Subject, ml.To, n, ml.Text)
	return ""
}

// sinkSession is one SMTP session of a MailSink.
type sinkSession struct {
	sink *MailSink
	from string
	to   []string
}

// AuthMechanisms offers PLAIN, so that senders configured with credentials can use them.
func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth accepts any PLAIN credentials.
func (s *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, _, _ string) error { return nil }), nil
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.sink.reject(); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	if s.sink.hold() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "mail sink: stalled transaction abandoned"}
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := s.sink.reject(); err != nil {
		return err
	}
	ml, err := decodeMail(raw)
	if err != nil {
		// A message the sink cannot read is the sender's bug: refuse it so that the test sees it.
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "mail sink: " + err.Error()}
	}
	ml.From, ml.To = s.from, append([]string(nil), s.to...)
	s.sink.add(ml)
	return nil
}

func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }

// decodeMail takes a raw message apart the way a mail client would.
func decodeMail(raw []byte) (*Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse message: %w", err)
	}
	ml := &Mail{Header: msg.Header, Raw: raw}
	if ml.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("decode subject: %w", err)
	}
	if err := ml.readPart(msg.Header, msg.Body); err != nil {
		return nil, err
	}
	return ml, nil
}

// readPart reads one body, descending into multiparts, and keeps the first text/plain and
// text/html parts.
func (ml *Mail) readPart(h interface{ Get(string) string }, body io.Reader) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("parse content type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read %s part: %w", mediaType, err)
			}
			if err := ml.readPart(p.Header, p); err != nil {
				return err
			}
		}
	}
	// multipart.Part undoes quoted-printable itself and removes the header; base64 and a
	// single-part message's quoted-printable are left to us.
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // skips line breaks itself
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("read %s body: %w", mediaType, err)
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch {
	case mediaType == "text/plain" && ml.Text == "":
		ml.Text = text
	case mediaType == "text/html" && ml.HTML == "":
		ml.HTML = text
	}
	return nil
}
