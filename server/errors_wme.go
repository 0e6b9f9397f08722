package server

import (
	"net/http"

	"github.com/latchkey/latchkey/gen"
)

// wmeErrors tells Codes to WME clients, which treat every status outside 200–226 as an error and
// show the message.
var wmeErrors = errorTable{
	codes: map[Code]statusMessage{
		CodeInvalidRequest:         {http.StatusBadRequest, "Invalid request"},
		CodeUnsupportedMediaType:   {http.StatusUnsupportedMediaType, "The request body must be JSON"},
		CodePayloadTooLarge:        {http.StatusRequestEntityTooLarge, "The request body is too large"},
		CodeNotFound:               {http.StatusNotFound, "Not found"},
		CodeMethodNotAllowed:       {http.StatusMethodNotAllowed, "Method not allowed"},
		CodeUnauthenticated:        {http.StatusUnauthorized, "Invalid or expired access token"},
		CodeInvalidCredentials:     {http.StatusUnauthorized, "Incorrect username or password"},
		CodeInvalidRefreshToken:    {http.StatusUnauthorized, "Invalid or expired refresh token"},
		CodeInvalidTicket:          {http.StatusUnauthorized, "Invalid or expired code or session"},
		CodeDisabledUser:           {http.StatusForbidden, "User is disabled"},
		CodeUnverifiedUser:         {http.StatusForbidden, "User is not confirmed"},
		CodeNewPasswordRequired:    {http.StatusForbidden, "A new password is required"},
		CodeMFARequired:            {http.StatusForbidden, msgMFARequired},
		CodePasswordTooShort:       {http.StatusBadRequest, "Password does not conform to policy: too short"},
		CodePasswordTooLong:        {http.StatusBadRequest, "Password does not conform to policy: too long"},
		CodePasswordBreached:       {http.StatusBadRequest, "Password does not conform to policy: found in a data breach"},
		CodeBreachCheckUnavailable: {http.StatusServiceUnavailable, msgBreachCheckUnavailable},
		CodeUnavailable:            {http.StatusServiceUnavailable, msgUnavailable},
		CodeRateLimited:            {http.StatusTooManyRequests, "Too many requests"},
		CodeInternal:               {http.StatusInternalServerError, "Internal server error"},
	},
	concealAs: func(operation string) Code {
		switch operation {
		case "wmetokenrefresh":
			return CodeInvalidRefreshToken
		case "wmechangepassword":
			return CodeUnauthenticated
		case "wmeforgotpasswordconfirm", "wmenewpasswordrequired":
			return CodeInvalidTicket
		default:
			return CodeInvalidCredentials
		}
	},
}

func renderWME(s *Server, e *Error, operation string) rendered {
	_, status, msg := wmeErrors.tell(s, e, operation)
	return rendered{Status: status, Body: gen.WmeError{Message: msg, Status: status}}
}
