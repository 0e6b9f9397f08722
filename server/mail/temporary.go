package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"syscall"

	gomail "github.com/wneessen/go-mail"
)

// Temporary reports whether a failed Send is worth retrying later: network errors, timeouts,
// refused connections, TLS handshake failures against a server that is down, and SMTP 4xx replies
// are temporary; SMTP 5xx replies (e.g. 550 mailbox unavailable, 553 bad address) are permanent.
// A nil error is not temporary.
//
// Everything else is permanent: configuration mistakes such as a certificate that does not
// verify, a server without STARTTLS or without PLAIN/LOGIN, or a message go-mail cannot build,
// none of which a retry fixes. A context that ended is temporary, since the message was not sent.
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	// The server's own reply decides when there is one.
	if code, ok := replyCode(err); ok {
		return code >= 400 && code < 500
	}
	// Certificate and TLS protocol failures surface inside net errors too; they are
	// configuration, not outages.
	var (
		certErr      *tls.CertificateVerificationError
		unknownAuth  x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		invalidCert  x509.CertificateInvalidError
		recordHdrErr tls.RecordHeaderError
		alertErr     tls.AlertError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostnameErr),
		errors.As(err, &invalidCert), errors.As(err, &recordHdrErr), errors.As(err, &alertErr):
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var netErr net.Error // *net.OpError, *net.DNSError, timeouts
	if errors.As(err, &netErr) {
		return true
	}
	// go-mail's SendError does not unwrap to its cause. Without a reply code (handled above) a
	// failure at an SMTP stage means the connection broke mid-transaction; failures to read the
	// message's own sender or recipients are permanent.
	var sendErr *gomail.SendError
	if errors.As(err, &sendErr) {
		switch sendErr.Reason {
		case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrWriteContent,
			gomail.ErrSMTPDataClose, gomail.ErrSMTPReset, gomail.ErrConnCheck:
			return true
		}
		return sendErr.IsTemp()
	}
	return false
}

// replyCode finds the SMTP reply code in err's chain: a *textproto.Error from go-mail's SMTP
// client, or the code go-mail's SendError recorded.
func replyCode(err error) (int, bool) {
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) && tpErr.Code >= 200 && tpErr.Code < 600 {
		return tpErr.Code, true
	}
	var sendErr *gomail.SendError
	if errors.As(err, &sendErr) && sendErr.ErrorCode() != 0 {
		return sendErr.ErrorCode(), true
	}
	return 0, false
}
