package server

import (
	"context"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/latchkey/latchkey/gen"
)

// The password-policy failures beyond "too short" (declared here: only this policy raises them).
const (
	// CodePasswordTooLong: the password is longer than the policy allows, in characters or bytes.
	CodePasswordTooLong Code = "password-too-long"
	// CodePasswordBreached: the password appears in the Have I Been Pwned corpus.
	CodePasswordBreached Code = "password-breached"
	// CodeBreachCheckUnavailable: the breached-password check could not be made and the server
	// is configured to refuse passwords it cannot check (fail-closed).
	CodeBreachCheckUnavailable Code = "breach-check-unavailable"
)

// Default bounds of a chosen password. The byte bound keeps argon2's input small whatever the
// encoding; the rune bound is what people read as "characters".
const (
	defaultPasswordMaxRunes = 256
	defaultPasswordMaxBytes = 1024
)

// passwordPolicy bounds the length of a chosen password, in runes and in bytes.
type passwordPolicy struct {
	minRunes, maxRunes, minBytes, maxBytes int
}

// passwordPolicy is the server's policy, with a dialect's own minimum (floor, in runes) on top.
func (s *Server) passwordPolicy(floor int) passwordPolicy {
	return passwordPolicy{
		minRunes: max(s.cfg.PasswordMinLength, floor),
		maxRunes: s.cfg.PasswordMaxLength,
		minBytes: s.cfg.PasswordMinBytes,
		maxBytes: s.cfg.PasswordMaxBytes,
	}
}

// check returns CodePasswordTooShort, CodePasswordTooLong or "" for an acceptable length. An
// invalid UTF-8 string counts each bad byte as one rune, as utf8.RuneCountInString does.
func (pp passwordPolicy) check(p string) Code {
	runes := utf8.RuneCountInString(p)
	switch {
	case (pp.maxBytes > 0 && len(p) > pp.maxBytes) || (pp.maxRunes > 0 && runes > pp.maxRunes):
		return CodePasswordTooLong
	case runes < pp.minRunes || len(p) < pp.minBytes:
		return CodePasswordTooShort
	}
	return ""
}

// reason words a length failure for dialects that report it as a field problem.
func (pp passwordPolicy) reason(code Code) string {
	if code == CodePasswordTooLong {
		if pp.maxBytes > 0 {
			return fmt.Sprintf("is too long (maximum is %d characters or %d bytes)", pp.maxRunes, pp.maxBytes)
		}
		return fmt.Sprintf("is too long (maximum is %d characters)", pp.maxRunes)
	}
	if pp.minBytes > pp.minRunes {
		return fmt.Sprintf("is too short (minimum is %d characters and %d bytes)", pp.minRunes, pp.minBytes)
	}
	return fmt.Sprintf("is too short (minimum is %d characters)", pp.minRunes)
}

// checkNewPassword is the one check of a password someone chooses, in every dialect: sign-up,
// change, reset, the new-password challenge, deanonymization and admin-set passwords. It checks
// the length policy first (no network for a password refused anyway), then, when enabled, asks
// the breached-password corpus.
func (s *Server) checkNewPassword(ctx context.Context, p secret) error {
	return s.checkNewPasswordFloor(ctx, p, 0)
}

// checkNewPasswordFloor is checkNewPassword with a dialect's own minimum length on top.
func (s *Server) checkNewPasswordFloor(ctx context.Context, p secret, floor int) error {
	if code := s.passwordPolicy(floor).check(string(p)); code != "" {
		return &Error{Code: code}
	}
	return s.checkBreached(ctx, p)
}

// passwordFieldError turns a length failure into a field problem on field, for the admin API
// (worded as it always was); other errors pass unchanged.
func (s *Server) passwordFieldError(err error, field string, floor int) error {
	e := asError(err)
	if e.Code != CodePasswordTooShort && e.Code != CodePasswordTooLong {
		return err
	}
	pp := s.passwordPolicy(floor)
	if e.Code == CodePasswordTooLong {
		return fieldError(field, fmt.Sprintf("must be at most %d characters and %d bytes", pp.maxRunes, pp.maxBytes))
	}
	if pp.minBytes > pp.minRunes {
		return fieldError(field, fmt.Sprintf("must be at least %d characters and %d bytes", pp.minRunes, pp.minBytes))
	}
	return fieldError(field, fmt.Sprintf("must be at least %d characters", pp.minRunes))
}

// The policy's codes in every dialect's tables. They are added here rather than in each
// errors_*.go so the tables there stay as their dialects wrote them.
// How every dialect words the policy's refusals.
const (
	msgPasswordTooLong        = "Password is too long"
	msgPasswordBreached       = "Password has appeared in a data breach; choose another"
	msgBreachCheckUnavailable = "The breached-password check is unavailable; try again later"
)

// azPasswordRender renders the policy's failures in Authentication Zero's shape: Rails
// validation messages on "password" (422).
func azPasswordRender(s *Server, code Code) rendered {
	msg := azBreached
	if code != CodePasswordBreached {
		msg = s.passwordPolicy(azPasswordMin).reason(code)
	}
	return rendered{Status: http.StatusUnprocessableEntity, Body: gen.AzFieldErrors{"password": {msg}}}
}

// azBreached is the Authentication Zero message for a breached password (the generator's
// pwned_password validation words it so).
const azBreached = "has previously appeared in a data breach and should never be used. Please choose something harder to guess."
