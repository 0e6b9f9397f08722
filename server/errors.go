package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/store"
)

// Code names a failure the client may see. It is stable: tests and dialect tables key on it.
type Code string

// The client-visible failures. Each dialect maps every one of them to its own status and body.
const (
	CodeInvalidRequest        Code = "invalid-request"
	CodeUnsupportedMediaType  Code = "unsupported-media-type"
	CodePayloadTooLarge       Code = "payload-too-large"
	CodeNotFound              Code = "not-found"
	CodeMethodNotAllowed      Code = "method-not-allowed"
	CodeUnauthenticated       Code = "unauthenticated"
	CodeInvalidCredentials    Code = "invalid-credentials"
	CodeInvalidRefreshToken   Code = "invalid-refresh-token"
	CodeInvalidPAT            Code = "invalid-pat"
	CodeInvalidTicket         Code = "invalid-ticket"
	CodeDisabledUser          Code = "disabled-user"
	CodeUnverifiedUser        Code = "unverified-user"
	CodeEmailInUse            Code = "email-in-use"
	CodePasswordTooShort      Code = "password-too-short"
	CodeRoleNotAllowed        Code = "role-not-allowed"
	CodeDefaultRoleNotAllowed Code = "default-role-not-allowed"
	CodeLocaleNotAllowed      Code = "locale-not-allowed"
	CodeSignupDisabled        Code = "signup-disabled"
	CodeDisabledEndpoint      Code = "disabled-endpoint"
	CodeForbiddenAnonymous    Code = "forbidden-anonymous"
	CodeUserNotAnonymous      Code = "user-not-anonymous"
	CodeRedirectNotAllowed    Code = "redirect-not-allowed"
	CodeEmailAlreadyVerified  Code = "email-already-verified"
	CodeInvalidOTP            Code = "invalid-otp"
	// CodeNewPasswordRequired: the password is right, but an admin requires a new one before any
	// session opens (WME answers with its challenge instead).
	CodeNewPasswordRequired Code = "new-password-required"
	// CodeForbidden: the caller is authenticated but may not do this (no admin role, an instance
	// role too weak, a read-only system role).
	CodeForbidden Code = "forbidden"
	// CodeConflict: the change collides with stored state (a username or role name in use, a role
	// still held, the last Owner); Fields may say which.
	CodeConflict Code = "conflict"
	// TOTP second factor (Nhost's codes).
	CodeInvalidTOTP       Code = "invalid-totp"        // a wrong, stale or replayed TOTP or recovery code
	CodeDisabledMFATOTP   Code = "disabled-mfa-totp"   // the user has no active TOTP
	CodeNoTOTPSecret      Code = "no-totp-secret"      // activation with no pending secret
	CodeTOTPAlreadyActive Code = "totp-already-active" // a new secret or activation while TOTP is active
	// CodeMFARequired: the first factor was right, but the user has a second factor and this
	// dialect has no way to ask for it (WME, Zesty, Authentication Zero): no session.
	CodeMFARequired Code = "mfa-required"
	// CodeElevationRequired: a sensitive operation needs an access token elevated with a
	// security key (elevation.go).
	CodeElevationRequired Code = "elevation-required"
	// CodeInvalidSecurityKey: a WebAuthn answer failed its checks (signature, origin, RP ID,
	// challenge spent, expired or of another user or ceremony, a counter gone back).
	CodeInvalidSecurityKey Code = "invalid-security-key"
	CodeInternal           Code = "internal"
	// Federated sign-in: a round trip's state that is unknown, spent, expired or of another
	// provider; the provider refused the code; its profile could not be read (or has no address);
	// the provider reported an error or could not be reached; an ID token that does not hold or
	// was used before; a provider account linked to another user.
	CodeInvalidState       Code = "invalid-state"
	CodeOAuthTokenExchange Code = "oauth-token-exchange-failed"
	CodeOAuthProfileFetch  Code = "oauth-profile-fetch-failed"
	CodeOAuthProvider      Code = "oauth-provider-error"
	CodeInvalidIDToken     Code = "invalid-id-token"
	CodeProviderLinked     Code = "provider-linked"
	// CodeInvalidGrant: a PKCE sign-in's one-time code that is unknown, spent or expired, or
	// a verifier that does not match its challenge.
	CodeInvalidGrant Code = "invalid-grant"
)

// Codes lists every Code, for tests that check each dialect renders all of them.
var Codes = []Code{
	CodeInvalidRequest, CodeUnsupportedMediaType, CodePayloadTooLarge, CodeNotFound,
	CodeMethodNotAllowed, CodeUnauthenticated, CodeInvalidCredentials, CodeInvalidRefreshToken,
	CodeInvalidPAT, CodeInvalidTicket, CodeDisabledUser, CodeUnverifiedUser, CodeEmailInUse, CodePasswordTooShort,
	CodeRoleNotAllowed, CodeDefaultRoleNotAllowed, CodeLocaleNotAllowed, CodeSignupDisabled,
	CodeDisabledEndpoint, CodeForbiddenAnonymous, CodeUserNotAnonymous, CodeRedirectNotAllowed,
	CodeEmailAlreadyVerified, CodeInvalidOTP, CodeNewPasswordRequired, CodeForbidden, CodeConflict, CodeInternal,
	CodePasswordTooLong, CodePasswordBreached, CodeBreachCheckUnavailable, CodeRateLimited, CodeUnavailable,
	CodeInvalidTOTP, CodeDisabledMFATOTP, CodeNoTOTPSecret, CodeTOTPAlreadyActive, CodeMFARequired,
	CodeElevationRequired, CodeInvalidSecurityKey,
	CodeInvalidState, CodeOAuthTokenExchange, CodeOAuthProfileFetch, CodeOAuthProvider, CodeInvalidIDToken, CodeProviderLinked,
	CodeInvalidGrant,
}

// Error is a client-visible failure: a stable code, optional field problems and a private cause.
type Error struct {
	Code   Code
	Fields []FieldError // per-field problems, for dialects that report them
	Err    error        // logged with the request id; never rendered
}

// FieldError is one problem with one input field. Reason never repeats the submitted value.
type FieldError struct {
	Field  string // a JSON pointer into the body, or the parameter name
	Reason string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	}
	return string(e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

// dbRetryAfter is the Retry-After of a 503 caused by a database outage: long enough not to
// hammer a database that is coming back, short enough that clients notice it is back soon.
const dbRetryAfter = 5 * time.Second

// asError turns any error a handler or middleware returns into an *Error. A database outage
// (store.IsUnavailable), whether returned bare or as the cause of an internal error, becomes
// CodeUnavailable: the request wrote nothing, and the same request can succeed later.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Code == CodeInternal && store.IsUnavailable(e.Err) {
			return unavailable(e.Err, dbRetryAfter)
		}
		return e
	}
	if store.IsUnavailable(err) {
		return unavailable(err, dbRetryAfter)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code := CodeInvalidRequest
		switch he.Code {
		case http.StatusNotFound:
			code = CodeNotFound
		case http.StatusMethodNotAllowed:
			code = CodeMethodNotAllowed
		case http.StatusRequestEntityTooLarge:
			code = CodePayloadTooLarge
		case http.StatusUnsupportedMediaType:
			code = CodeUnsupportedMediaType
		case http.StatusUnauthorized:
			code = CodeUnauthenticated
		default:
			if he.Code >= 500 {
				code = CodeInternal
			}
		}
		return &Error{Code: code, Err: err}
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "email" {
		return &Error{Code: CodeEmailInUse, Err: err}
	}
	return &Error{Code: CodeInternal, Err: err}
}

// rendered is a dialect's answer to an *Error: a status, and a body of a generated type.
type rendered struct {
	Status int
	Body   any
	Header http.Header
}

// handleError is Echo's HTTPErrorHandler: the only place an error becomes a response body.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e := asError(err)
	ctx := c.Request().Context()
	st := stateFrom(ctx)
	if e.Code == CodeInternal && !errors.Is(e.Err, context.Canceled) {
		s.log.LogAttrs(ctx, slog.LevelError, "request failed",
			slog.String("request_id", st.client.RequestID),
			slog.String("operation", st.operation),
			slog.String("error", errString(e.Err)))
	}
	if e.Code == CodeUnavailable {
		// Why this instance could not serve (which database error, which queue), for operators;
		// the client only learns to come back later.
		s.log.LogAttrs(ctx, slog.LevelWarn, "request unavailable",
			slog.String("request_id", st.client.RequestID),
			slog.String("operation", st.operation),
			slog.String("error", errString(e.Err)))
	}
	r := st.dialect.render(s, e, st.operation)
	describeLimit(e, &r)
	describeUnavailable(e, &r)
	for k, vs := range r.Header {
		for _, v := range vs {
			c.Response().Header().Add(k, v)
		}
	}
	if c.Request().Method == http.MethodHead || r.Body == nil {
		_ = c.NoContent(r.Status)
		return
	}
	_ = c.JSON(r.Status, r.Body)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
