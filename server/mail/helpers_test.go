package mail_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// serverOpts configures a test SMTP server.
type serverOpts struct {
	user, password string      // when set, AUTH (PLAIN, or LOGIN with loginOnly) is required
	loginOnly      bool        // offer LOGIN instead of PLAIN
	startTLS       *tls.Config // offer STARTTLS; with auth, AUTH is only allowed after it
	implicitTLS    *tls.Config // TLS from the first byte
	rejectRcpt     int         // reply code for every RCPT, 0 = accept
	rejectData     int         // reply code after DATA, 0 = accept
}

// received is one message as the test server saw it.
type received struct {
	from     string
	to       []string
	data     []byte
	authUser string
	tls      bool
}

// testServer is a go-smtp server on 127.0.0.1 that reports every accepted message on got.
type testServer struct {
	host string
	port int
	got  chan received
}

// startServer runs a test SMTP server until the test ends.
func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{host: "127.0.0.1", port: l.Addr().(*net.TCPAddr).Port, got: make(chan received, 16)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{o: o, srv: ts, conn: c}, nil
	}))
	srv.Domain = "test.invalid"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = o.startTLS == nil // with STARTTLS, AUTH before it is refused
	srv.TLSConfig = o.startTLS
	if o.implicitTLS != nil {
		l = tls.NewListener(l, o.implicitTLS)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close()
		<-done
	})
	return ts
}

// next returns the next accepted message, failing the test if none arrives within 10 s. Send
// has returned by the time tests call it, so the message is normally already there.
func (ts *testServer) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-ts.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no message arrived at the test server")
		return received{}
	}
}

// testSession is one SMTP session of a testServer.
type testSession struct {
	o        serverOpts
	srv      *testServer
	conn     *smtp.Conn
	authUser string
	from     string
	to       []string
}

func (s *testSession) AuthMechanisms() []string {
	if s.o.user == "" {
		return nil
	}
	if s.o.loginOnly {
		return []string{"LOGIN"}
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, password string) error {
		if user != s.o.user || password != s.o.password {
			return smtp.ErrAuthFailed
		}
		s.authUser = user
		return nil
	}
	if mech == "LOGIN" {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, user, password string) error { return check(user, password) }), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.o.user != "" && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.o.rejectRcpt != 0 {
		return &smtp.SMTPError{Code: s.o.rejectRcpt, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "rejected by test server"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.o.rejectData != 0 {
		return &smtp.SMTPError{Code: s.o.rejectData, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "rejected by test server"}
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.got <- received{from: s.from, to: s.to, data: b, authUser: s.authUser, tls: isTLS}
	return nil
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

// loginServer is the server side of SASL LOGIN, which go-sasl does not provide.
type loginServer struct {
	check func(user, password string) error
	step  int
	user  string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(response) > 0 { // initial response carries the user name
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(response))
	}
}

// closedPort returns a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// selfSigned returns a server TLS config with a fresh self-signed certificate for 127.0.0.1 and
// a pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "latchkey mail test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// decoded is a received message taken apart.
type decoded struct {
	header      netmail.Header
	subject     string
	contentType string
	text, html  string
}

// decode parses a raw message the way a mail client would: RFC 2047 subject, multipart bodies,
// quoted-printable and base64 undone, line endings normalised to \n.
func decode(t *testing.T, raw []byte) decoded {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	var d decoded
	d.header = msg.Header
	if d.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("decode subject %q: %v", msg.Header.Get("Subject"), err)
	}
	var params map[string]string
	d.contentType, params, err = mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("parse content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	if !strings.HasPrefix(d.contentType, "multipart/") {
		d.text = body(t, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return d
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		// multipart.Part undoes quoted-printable itself and drops the header; base64 is ours.
		b := body(t, p.Header.Get("Content-Transfer-Encoding"), p)
		switch ct {
		case "text/plain":
			d.text = b
		case "text/html":
			d.html = b
		}
	}
	if d.contentType == "multipart/alternative" && strings.Join(types, ",") != "text/plain,text/html" {
		t.Errorf("parts = %v, want text/plain then text/html", types)
	}
	return d
}

// body reads and decodes one body.
func body(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r) // skips the line breaks itself
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body (%s): %v", cte, err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
