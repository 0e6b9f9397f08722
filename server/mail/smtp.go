package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// TLSMode says how the connection to the SMTP server is protected.
type TLSMode string

// The TLS modes SMTPConfig.TLS accepts.
const (
	TLSNone     TLSMode = "none"     // plain SMTP (local relays, tests); never sends AUTH over plain unless the server is on loopback
	TLSStartTLS TLSMode = "starttls" // STARTTLS required
	TLSImplicit TLSMode = "tls"      // implicit TLS (port 465)
)

// defaultSMTPTimeout bounds one Send or Check when SMTPConfig.Timeout is zero.
const defaultSMTPTimeout = 10 * time.Second

// SMTPConfig says where and how to deliver mail.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string // "" = no AUTH
	Password string
	TLS      TLSMode
	From     string        // sender, "Name <addr>" or bare address; validated with net/mail
	Timeout  time.Duration // per connection+send; 0 means 10s
	// TLSConfig overrides the TLS client config (tests use it to trust a self-signed cert); nil
	// means system roots and ServerName=Host.
	TLSConfig *tls.Config
}

// SMTP delivers mail to one SMTP server with github.com/wneessen/go-mail, one connection per
// message. It is safe for concurrent use.
type SMTP struct {
	cfg       SMTPConfig
	from      *netmail.Address
	msgDomain string // right-hand side of Message-IDs: the sender's domain
	tls       *tls.Config
	timeout   time.Duration
}

// NewSMTP validates cfg (host non-empty, port 1..65535, TLS one of the three, From parses) and
// returns a sender. It also refuses a username with TLSNone unless Host is a loopback address,
// since the password would otherwise cross the network in clear.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if strings.TrimSpace(cfg.Host) == "" || strings.ContainsAny(cfg.Host, " \t\r\n/@") {
		return nil, fmt.Errorf("smtp config: invalid host %q", cfg.Host)
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp config: port %d out of range 1..65535", cfg.Port)
	}
	switch cfg.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("smtp config: tls mode %q, want %q, %q or %q", cfg.TLS, TLSNone, TLSStartTLS, TLSImplicit)
	}
	if cfg.Username != "" && cfg.TLS == TLSNone && !isLoopback(cfg.Host) {
		return nil, fmt.Errorf("smtp config: username set with tls mode %q for non-loopback host %s: the password would be sent in clear", TLSNone, cfg.Host)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp config: parse from address %q: %w", cfg.From, err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("smtp config: negative timeout %s", cfg.Timeout)
	}
	s := &SMTP{cfg: cfg, from: from, timeout: cfg.Timeout}
	if s.timeout == 0 {
		s.timeout = defaultSMTPTimeout
	}
	s.msgDomain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	if cfg.TLSConfig != nil {
		s.tls = cfg.TLSConfig.Clone()
	} else {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = cfg.Host
	}
	return s, nil
}

// String describes the target without secrets, e.g. "smtp://user@host:587 (starttls)".
func (s *SMTP) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))}
	if s.cfg.Username != "" {
		u.User = url.User(s.cfg.Username)
	}
	return fmt.Sprintf("%s (%s)", u.String(), s.cfg.TLS)
}

// Send implements Sender: it connects, negotiates TLS and AUTH as configured, delivers m and
// quits, all within ctx and the configured timeout. The error names the server and, when the
// server refused, its reply; never the body. Temporary tells whether to try again later.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := s.message(m)
	if err != nil {
		return fmt.Errorf("build mail: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel() // also closes the connection, see dialer
	c, err := s.client(ctx)
	if err != nil {
		return fmt.Errorf("send mail via %s: %w", s, err)
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.failed(ctx, "send mail: connect to", err)
	}
	if err := c.SendWithSMTPClient(conn, msg); err != nil && !msg.IsDelivered() {
		return s.failed(ctx, "send mail via", err)
	}
	// The server has accepted the message (go-mail only reports an error after DATA for the RSET
	// that follows it); a failing QUIT must not make the caller send it again.
	_ = c.CloseWithSMTPClient(conn)
	return nil
}

// Check connects, says EHLO, negotiates TLS as configured, authenticates if configured, and
// quits without sending.
func (s *SMTP) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c, err := s.client(ctx)
	if err != nil {
		return fmt.Errorf("check %s: %w", s, err)
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.failed(ctx, "check: connect to", err)
	}
	if err := c.CloseWithSMTPClient(conn); err != nil {
		return s.failed(ctx, "check: quit", err)
	}
	return nil
}

// failed wraps err from an exchange with the server, adding ctx's error when ctx ended: go-mail
// then only sees a closed connection.
func (s *SMTP) failed(ctx context.Context, op string, err error) error {
	if cerr := context.Cause(ctx); cerr != nil {
		return fmt.Errorf("%s %s: %w: %w", op, s, cerr, err)
	}
	return fmt.Errorf("%s %s: %w", op, s, err)
}

// client builds a go-mail client for one connection bound to ctx.
func (s *SMTP) client(ctx context.Context) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(s.dialer(ctx)),
		gomail.WithoutNoop(), // the connection is fresh; a NOOP before MAIL only costs a round trip
	}
	switch s.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		// The dialer does the handshake; WithSSL keeps go-mail from also trying STARTTLS.
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuthCustom(&autoAuth{
			username: s.cfg.Username, password: s.cfg.Password,
			allowPlaintext: s.cfg.TLS == TLSNone && isLoopback(s.cfg.Host),
		}))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("configure client: %w", err)
	}
	return c, nil
}

// dialer returns go-mail's dial function for one Send or Check. go-mail only bounds the dial
// with a context; the connection it returns is closed when ctx ends, which interrupts whatever
// exchange is blocked on it and releases connections go-mail leaves open on some failures (a
// refused EHLO, for one).
func (s *SMTP) dialer(ctx context.Context) gomail.DialContextFunc {
	return func(dctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		var err error
		if s.cfg.TLS == TLSImplicit {
			conn, err = (&tls.Dialer{Config: s.tls}).DialContext(dctx, network, addr)
		} else {
			conn, err = (&net.Dialer{}).DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
}

// message turns m into a go-mail message: From, To, Subject, Date and Message-ID, and a
// multipart/alternative body (text first) when m has HTML.
func (s *SMTP) message(m Message) (*gomail.Msg, error) {
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("parse recipient %q: %w", m.To, err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, errors.New("subject contains a line break")
	}
	if m.Text == "" {
		return nil, errors.New("empty text body")
	}
	id, err := messageID(s.msgDomain)
	if err != nil {
		return nil, err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(&netmail.Address{Address: to.Address})
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(id)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID returns a random Message-ID (without angle brackets) in domain. go-mail's own uses
// the local host name, which says more about the deployment than a mail should.
func messageID(domain string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate message id: %w", err)
	}
	return hex.EncodeToString(b) + "@" + domain, nil
}

// isLoopback reports whether host names this machine: "localhost" or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// autoAuth authenticates with PLAIN, or LOGIN when the server does not offer PLAIN. go-mail's
// SMTPAuthAutoDiscover would do the same over TLS, but on a plain connection it only considers
// the challenge-response mechanisms, which a local relay rarely offers; autoAuth allows PLAIN
// and LOGIN there too, and only there when the server is on loopback. One autoAuth serves one
// connection.
type autoAuth struct {
	username, password string
	allowPlaintext     bool
	mech               gosmtp.Auth
}

// Start implements gosmtp.Auth.
func (a *autoAuth) Start(server *gosmtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.allowPlaintext {
		return "", nil, errors.New("smtp auth: refusing to send credentials over an unencrypted connection")
	}
	offers := func(name string) bool {
		for _, m := range server.Auth {
			if strings.EqualFold(m, name) {
				return true
			}
		}
		return false
	}
	switch {
	case offers("PLAIN"):
		a.mech = gosmtp.PlainAuth("", a.username, a.password, server.Name, true)
	case offers("LOGIN"):
		a.mech = gosmtp.LoginAuth(a.username, a.password, server.Name, true)
	case len(server.Auth) == 0:
		return "", nil, errors.New("smtp auth: server does not offer AUTH")
	default:
		return "", nil, fmt.Errorf("smtp auth: server offers neither PLAIN nor LOGIN (offers %s)", strings.Join(server.Auth, " "))
	}
	return a.mech.Start(server)
}

// Next implements gosmtp.Auth.
func (a *autoAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.mech.Next(fromServer, more)
}
