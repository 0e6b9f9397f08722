package server

import (
	"bufio"
	"context"
	"crypto/sha1" // the range API is keyed by SHA-1; nothing here relies on its strength
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of the breached-password check (Have I Been Pwned's range API).
const (
	DefaultHIBPBaseURL = "https://api.pwnedpasswords.com"
	defaultHIBPTimeout = 2 * time.Second
	// hibpMaxBody bounds a range answer: about 1,000 suffixes of 35 hex digits and a count, plus
	// padding up to about 1,000 more; 2 MiB leaves room and stops a hostile endpoint.
	hibpMaxBody = 2 << 20
)

// breachChecker asks the Have I Been Pwned range API whether a password is known to be breached,
// with k-anonymity: only the first five hex digits of the password's SHA-1 leave the server,
// and the answer's suffixes are compared here.
type breachChecker struct {
	base     string
	client   *http.Client
	minCount int64
}

func newBreachChecker(cfg Config) *breachChecker {
	return &breachChecker{
		base:     strings.TrimRight(cfg.HIBPBaseURL, "/"),
		client:   &http.Client{Timeout: cfg.HIBPTimeout},
		minCount: int64(max(cfg.HIBPMinCount, 1)),
	}
}

// errBreachCheck is how every failure of the check is reported: its cause, never the hash or
// the URL that carries its prefix.
type errBreachCheck struct{ cause string }

func (e *errBreachCheck) Error() string { return "breached-password check: " + e.cause }

// breached reports whether p appears in the corpus at least minCount times.
func (b *breachChecker) breached(ctx context.Context, p secret) (bool, error) {
	sum := sha1Sum(string(p))
	digest := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := digest[:5], digest[5:]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/range/"+prefix, nil)
	if err != nil {
		return false, &errBreachCheck{cause: "bad base URL"}
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "Latchkey")
	res, err := b.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its message names the URL, and so the prefix
			err = ue.Err
		}
		cause := "request failed: " + err.Error()
		if errors.Is(err, context.DeadlineExceeded) || (ue != nil && ue.Timeout()) {
			cause = "timed out"
		}
		return false, &errBreachCheck{cause: cause}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return false, &errBreachCheck{cause: fmt.Sprintf("answered %d", res.StatusCode)}
	}
	found := false
	sc := bufio.NewScanner(io.LimitReader(res.Body, hibpMaxBody))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		s, n, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(s, suffix) {
			continue
		}
		// Padding lines carry a count of 0; a real hit has a positive one.
		count, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if err != nil {
			return false, &errBreachCheck{cause: "unreadable answer"}
		}
		found = count >= b.minCount
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return false, &errBreachCheck{cause: "timed out"}
		}
		return false, &errBreachCheck{cause: "reading answer failed"}
	}
	return found, nil
}

// checkBreached refuses a password found in the breach corpus. When the corpus cannot be asked,
// the password is refused with CodeBreachCheckUnavailable (fail-closed) or accepted with a
// warning (fail-open, the default), as configured.
func (s *Server) checkBreached(ctx context.Context, p secret) error {
	if !s.cfg.HIBPEnabled || s.breach == nil {
		return nil
	}
	bad, err := s.breach.breached(ctx, p)
	switch {
	case err == nil && bad:
		return &Error{Code: CodePasswordBreached}
	case err == nil:
		return nil
	}
	msg := "breached-password check unavailable; password accepted unchecked (fail-open)"
	if s.cfg.HIBPFailClosed {
		msg = "breached-password check unavailable; password refused (fail-closed)"
	}
	st := stateFrom(ctx)
	s.log.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("request_id", st.client.RequestID),
		slog.String("operation", st.operation),
		slog.String("error", err.Error()))
	if s.cfg.HIBPFailClosed {
		return &Error{Code: CodeBreachCheckUnavailable, Err: err}
	}
	return nil
}

// sha1Sum is the digest the range API is keyed by.
func sha1Sum(p string) [sha1.Size]byte { return sha1.Sum([]byte(p)) }
