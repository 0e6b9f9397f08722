package server

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/gen"
)

type zestyError struct {
	status  int
	message string
}

// zestyErrors maps Codes to Zesty's statuses and messages; a code not listed is a 400.
var zestyErrors = map[Code]zestyError{
	CodeInvalidRequest:       {http.StatusBadRequest, "Invalid request"},
	CodeUnsupportedMediaType: {http.StatusUnsupportedMediaType, "The body must be JSON or a form"},
	CodePayloadTooLarge:      {http.StatusRequestEntityTooLarge, "The request body is too large"},
	CodeNotFound:             {http.StatusNotFound, "Not found"},
	CodeMethodNotAllowed:     {http.StatusMethodNotAllowed, "Method not allowed"},
	CodeUnauthenticated:      {http.StatusUnauthorized, "Invalid or expired session token"},
	CodeInvalidCredentials:   {http.StatusUnauthorized, "Invalid email or password"},
	CodeInvalidTicket:        {http.StatusBadRequest, "Invalid or expired reset token"},
	CodeDisabledUser:         {http.StatusForbidden, "User is disabled"},
	CodeUnverifiedUser:       {http.StatusForbidden, "User is not verified"},
	CodePasswordTooShort:     {http.StatusBadRequest, "Password is too short"},
	CodeInternal:             {http.StatusInternalServerError, "Internal server error"},
}

// zestySensitive are the codes that reveal an account's state; conceal mode answers them as
// wrong credentials.
var zestySensitive = map[Code]bool{CodeDisabledUser: true, CodeUnverifiedUser: true}

func renderZesty(s *Server, e *Error, operation string) rendered {
	code := e.Code
	if s.cfg.ConcealErrors && zestySensitive[code] {
		// Told as what the operation says to any bad credential: a wrong password at log-in, a
		// bad reset token at reset, a bad session token everywhere else.
		switch strings.ToLower(operation) { // operation names arrive as the handlers spell them
		case "zestylogin":
			code = CodeInvalidCredentials
		case "zestypasswordreset":
			code = CodeInvalidTicket
		default:
			code = CodeUnauthenticated
		}
	}
	ze, ok := zestyErrors[code]
	if !ok {
		ze = zestyError{http.StatusBadRequest, "The request cannot be completed"}
	}
	msg := ze.message
	if code == CodeInvalidRequest && len(e.Fields) > 0 {
		msg += ": " + fieldSummary(e.Fields)
	}
	reason := string(code)
	return rendered{Status: ze.status, Body: gen.ZestyError{Code: ze.status, Message: msg, Error: &reason}}
}
