package server

import (
	"net/http"

	"github.com/latchkey/latchkey/gen"
)

// Codes of the Zesty Accounts dialect (declared here rather than in errors.go: only Zesty tells
// them; any other dialect would answer them with its generic 400).
const (
	// CodeUserRequired: the operation needs a user session and an access token was sent.
	CodeUserRequired Code = "user-required"
)

// zestyErrors tells Codes in Zesty's envelope.
var zestyErrors = errorTable{
	codes: map[Code]statusMessage{
		CodeInvalidRequest:         {http.StatusBadRequest, "Invalid request"},
		CodeUnsupportedMediaType:   {http.StatusUnsupportedMediaType, "The body must be JSON or a form"},
		CodePayloadTooLarge:        {http.StatusRequestEntityTooLarge, "The request body is too large"},
		CodeNotFound:               {http.StatusNotFound, "Not found"},
		CodeMethodNotAllowed:       {http.StatusMethodNotAllowed, "Method not allowed"},
		CodeUnauthenticated:        {http.StatusUnauthorized, "Invalid or expired session token"},
		CodeInvalidCredentials:     {http.StatusUnauthorized, "Invalid email or password"},
		CodeInvalidTicket:          {http.StatusBadRequest, "Invalid or expired reset token"},
		CodeDisabledUser:           {http.StatusForbidden, "User is disabled"},
		CodeUnverifiedUser:         {http.StatusForbidden, "User is not verified"},
		CodePasswordTooShort:       {http.StatusBadRequest, "Password is too short"},
		CodeNewPasswordRequired:    {http.StatusForbidden, "A new password is required: reset your password to continue"},
		CodeForbidden:              {http.StatusForbidden, "Your role does not allow this"},
		CodeConflict:               {http.StatusConflict, "The change conflicts with the current state"},
		CodeUserRequired:           {http.StatusForbidden, "This needs a user session: an access token cannot do it"},
		CodeMFARequired:            {http.StatusForbidden, msgMFARequired},
		CodePasswordTooLong:        {http.StatusBadRequest, msgPasswordTooLong},
		CodePasswordBreached:       {http.StatusBadRequest, msgPasswordBreached},
		CodeBreachCheckUnavailable: {http.StatusServiceUnavailable, msgBreachCheckUnavailable},
		CodeUnavailable:            {http.StatusServiceUnavailable, msgUnavailable},
		CodeRateLimited:            {http.StatusTooManyRequests, "Too many requests"},
		CodeInternal:               {http.StatusInternalServerError, "Internal server error"},
	},
	// A wrong password at log-in, a bad reset token at reset, a bad session token elsewhere.
	concealAs: func(operation string) Code {
		switch operation {
		case "zestylogin":
			return CodeInvalidCredentials
		case "zestypasswordreset":
			return CodeInvalidTicket
		default:
			return CodeUnauthenticated
		}
	},
}

func renderZesty(s *Server, e *Error, operation string) rendered {
	code, status, msg := zestyErrors.tell(s, e, operation)
	reason := string(code)
	return rendered{Status: status, Body: gen.ZestyError{Code: status, Message: msg, Error: &reason}}
}
