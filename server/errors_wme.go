package server

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/gen"
)

type wmeError struct {
	status  int
	message string
}

// wmeErrors maps Codes to WME's statuses and messages; a code not listed is a 400 with a generic
// message. WME clients treat every status outside 200–226 as an error and show the message.
var wmeErrors = map[Code]wmeError{
	CodeInvalidRequest:       {http.StatusBadRequest, "Invalid request"},
	CodeUnsupportedMediaType: {http.StatusUnsupportedMediaType, "The request body must be JSON"},
	CodePayloadTooLarge:      {http.StatusRequestEntityTooLarge, "The request body is too large"},
	CodeNotFound:             {http.StatusNotFound, "Not found"},
	CodeMethodNotAllowed:     {http.StatusMethodNotAllowed, "Method not allowed"},
	CodeUnauthenticated:      {http.StatusUnauthorized, "Invalid or expired access token"},
	CodeInvalidCredentials:   {http.StatusUnauthorized, "Incorrect username or password"},
	CodeInvalidRefreshToken:  {http.StatusUnauthorized, "Invalid or expired refresh token"},
	CodeInvalidTicket:        {http.StatusUnauthorized, "Invalid or expired code or session"},
	CodeDisabledUser:         {http.StatusForbidden, "User is disabled"},
	CodeUnverifiedUser:       {http.StatusForbidden, "User is not confirmed"},
	CodePasswordTooShort:     {http.StatusBadRequest, "Password does not conform to policy: too short"},
	CodeInternal:             {http.StatusInternalServerError, "Internal server error"},
}

// wmeSensitive are the codes that reveal an account's state; conceal mode answers them as wrong
// credentials.
var wmeSensitive = map[Code]bool{CodeDisabledUser: true, CodeUnverifiedUser: true}

func renderWME(s *Server, e *Error, operation string) rendered {
	code := e.Code
	if s.cfg.ConcealErrors && wmeSensitive[code] {
		// Told as what the operation says to any bad credential.
		switch strings.ToLower(operation) { // operation names arrive as the handlers spell them
		case "wmetokenrefresh":
			code = CodeInvalidRefreshToken
		case "wmechangepassword":
			code = CodeUnauthenticated
		case "wmeforgotpasswordconfirm", "wmenewpasswordrequired":
			code = CodeInvalidTicket
		default:
			code = CodeInvalidCredentials
		}
	}
	we, ok := wmeErrors[code]
	if !ok {
		we = wmeError{http.StatusBadRequest, "The request cannot be completed"}
	}
	msg := we.message
	if code == CodeInvalidRequest && len(e.Fields) > 0 {
		msg += ": " + fieldSummary(e.Fields)
	}
	return rendered{Status: we.status, Body: gen.WmeError{Message: msg, Status: we.status}}
}
