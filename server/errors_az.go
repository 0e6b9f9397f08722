package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/gen"
)

// The failures only the Authentication Zero dialect tells apart.
const (
	// codeAZWrongPassword: current_password is wrong (the published document answers 400).
	codeAZWrongPassword Code = "az-wrong-password"
	// codeAZResetUnverified: a password reset for an address that is not a verified account's
	// (unknown, disabled or unverified: one answer, as the current generator gives).
	codeAZResetUnverified Code = "az-reset-unverified"
)

// Rails' validation messages, as the generator's models produce them.
const (
	azBlank        = "can't be blank"
	azInvalid      = "is invalid"
	azTaken        = "has already been taken"
	azConfirmation = "doesn't match Password"
	azUnpermitted  = "is not a permitted parameter"
)

// azChallenge is the WWW-Authenticate challenge of every 401, as Rails'
// request_http_token_authentication sends it.
const azChallenge = `Token realm="Application"`

// azErrors tells Codes as {"error": message}, with the generator's messages where it has one.
var azErrors = map[Code]statusMessage{
	CodeInvalidRequest:         {http.StatusBadRequest, "The request is malformed"},
	CodeUnsupportedMediaType:   {http.StatusUnsupportedMediaType, "The body must be JSON or an url-encoded form"},
	CodePayloadTooLarge:        {http.StatusRequestEntityTooLarge, "The request body is too large"},
	CodeNotFound:               {http.StatusNotFound, "Not found"},
	CodeMethodNotAllowed:       {http.StatusMethodNotAllowed, "Method not allowed"},
	CodeUnauthenticated:        {http.StatusUnauthorized, "HTTP Token: Access denied"},
	CodeInvalidCredentials:     {http.StatusUnauthorized, "That email or password is incorrect"},
	CodeDisabledUser:           {http.StatusForbidden, "Your account is disabled"},
	CodeUnverifiedUser:         {http.StatusForbidden, "You must verify your email before signing in"},
	CodeNewPasswordRequired:    {http.StatusForbidden, "You must choose a new password: reset your password to continue"},
	CodeMFARequired:            {http.StatusForbidden, msgMFARequired},
	CodeSignupDisabled:         {http.StatusForbidden, "Sign up is disabled"},
	CodeForbiddenAnonymous:     {http.StatusForbidden, "Anonymous users cannot do this"},
	codeAZWrongPassword:        {http.StatusBadRequest, "The password you entered is incorrect"},
	codeAZResetUnverified:      {http.StatusBadRequest, "You can't reset your password until you verify your email"},
	CodeBreachCheckUnavailable: {http.StatusServiceUnavailable, msgBreachCheckUnavailable},
	CodeUnavailable:            {http.StatusServiceUnavailable, msgUnavailable},
	CodeRateLimited:            {http.StatusTooManyRequests, "Too many requests"},
	CodeInternal:               {http.StatusInternalServerError, "Internal server error"},
}

// renderAZ renders errors in the Authentication Zero shapes: field problems as 422
// {"field": ["message"]}, everything else as {"error": "message"}; every 401 carries the
// WWW-Authenticate challenge.
func renderAZ(s *Server, e *Error, operation string) rendered {
	code := e.Code
	op := strings.ToLower(operation)
	if s.cfg.ConcealErrors && accountState[code] {
		code = CodeUnauthenticated
		if op == "azsignin" {
			code = CodeInvalidCredentials
		}
	}
	if code == CodeInvalidRequest {
		switch op {
		case "azgetsession", "azdeletesession": // a session id that cannot be one is no session
			code = CodeNotFound
		case "azverifyemail", "azeditpasswordreset": // a link whose parameters cannot be right
			code = CodeInvalidTicket
		}
	}
	switch code {
	case CodeInvalidRequest:
		if errors.Is(e.Err, errInvalidText) {
			// Rails refuses parameters that are not valid UTF-8 with a 400 before any validation.
			return rendered{Status: http.StatusBadRequest, Body: gen.AzError{Error: azTextMessage(e.Fields)}}
		}
		if fields := azFields(e.Fields); fields != nil {
			return rendered{Status: http.StatusUnprocessableEntity, Body: fields}
		}
	case CodeEmailInUse:
		return rendered{Status: http.StatusUnprocessableEntity, Body: gen.AzFieldErrors{"email": {azTaken}}}
	case CodePasswordTooShort, CodePasswordTooLong, CodePasswordBreached:
		return azPasswordRender(s, code)
	case CodeInvalidTicket:
		msg := "That password reset link is invalid"
		if op == "azverifyemail" {
			msg = "That email verification link is invalid"
		}
		return rendered{Status: http.StatusBadRequest, Body: gen.AzError{Error: msg}}
	}
	sm, ok := azErrors[code]
	if !ok {
		sm = statusMessage{http.StatusBadRequest, "The request cannot be completed"}
	}
	r := rendered{Status: sm.status, Body: gen.AzError{Error: sm.message}}
	if sm.status == http.StatusUnauthorized {
		r.Header = http.Header{"Www-Authenticate": {azChallenge}}
	}
	return r
}

// azFields groups field problems by top-level field name in Rails' words; nil when a problem
// names no field (an unreadable body), which is then a 400.
func azFields(fs []FieldError) gen.AzFieldErrors {
	if len(fs) == 0 {
		return nil
	}
	out := gen.AzFieldErrors{}
	for _, f := range fs {
		name, _, _ := strings.Cut(strings.TrimPrefix(f.Field, "/"), "/")
		if name == "" {
			// An unknown member is reported on the object: `property "x" is unsupported`.
			rest, ok := strings.CutPrefix(f.Reason, `property "`)
			if name, _, _ = strings.Cut(rest, `"`); !ok || name == "" || !strings.HasSuffix(f.Reason, "is unsupported") {
				return nil
			}
		}
		msg := azReason(f.Reason)
		for _, m := range out[name] {
			if m == msg {
				msg = ""
			}
		}
		if msg != "" {
			out[name] = append(out[name], msg)
		}
	}
	return out
}

// azReason words one field problem as Rails would: the dialect's own messages pass as they are,
// the validator's reasons are translated, and anything else "is invalid".
func azReason(reason string) string {
	switch {
	case reason == azBlank || reason == azInvalid || reason == azTaken || reason == azConfirmation ||
		strings.HasPrefix(reason, "is too short (") || strings.HasPrefix(reason, "is too long ("):
		return reason
	case reason == "value is required" || strings.HasSuffix(reason, "is missing"):
		return azBlank
	case strings.Contains(reason, "is unsupported") || reason == "property is not allowed":
		return azUnpermitted
	}
	if n, ok := strings.CutPrefix(reason, "maximum string length is "); ok {
		if _, err := strconv.Atoi(n); err == nil {
			return "is too long (maximum is " + n + " characters)"
		}
	}
	if n, ok := strings.CutPrefix(reason, "minimum string length is "); ok {
		if _, err := strconv.Atoi(n); err == nil {
			return "is too short (minimum is " + n + " characters)"
		}
	}
	return azInvalid
}

// azTextMessage names the field whose text is not valid UTF-8: "password must be valid UTF-8 text".
func azTextMessage(fs []FieldError) string {
	if len(fs) == 0 || fs[0].Field == "" {
		return "The request body " + reasonInvalidText
	}
	return strings.TrimPrefix(fs[0].Field, "/") + " " + reasonInvalidText
}
