package server

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/gen"
)

// adminStatus is how the admin API tells one Code: a status, its wire code and a sentence.
type adminStatus struct {
	status  int
	code    gen.AdminErrorError
	message string
}

var (
	adminInvalid         = adminStatus{http.StatusBadRequest, "invalid-request", "The request is invalid"}
	adminUnauthenticated = adminStatus{http.StatusUnauthorized, "unauthenticated", "An admin secret or an access token is required"}
	adminConflict        = adminStatus{http.StatusConflict, "conflict", "The value is already in use"}
	adminInternal        = adminStatus{http.StatusInternalServerError, "internal", "Internal server error"}
)

// adminErrors tells Codes in the admin error body. Codes not listed are invalid requests; every
// way a credential can fail is "unauthenticated", so the answer says nothing about an account.
var adminErrors = map[Code]adminStatus{
	CodeInvalidRequest:         adminInvalid,
	CodeUnsupportedMediaType:   {http.StatusUnsupportedMediaType, "unsupported-media-type", "The body must be JSON"},
	CodePayloadTooLarge:        {http.StatusRequestEntityTooLarge, "payload-too-large", "The request body is too large"},
	CodeNotFound:               {http.StatusNotFound, "not-found", "Not found"},
	CodeMethodNotAllowed:       {http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"},
	CodeUnauthenticated:        adminUnauthenticated,
	CodeInvalidCredentials:     adminUnauthenticated,
	CodeInvalidRefreshToken:    adminUnauthenticated,
	CodeInvalidPAT:             adminUnauthenticated,
	CodeDisabledUser:           adminUnauthenticated,
	CodeUnverifiedUser:         adminUnauthenticated,
	CodeNewPasswordRequired:    adminUnauthenticated,
	CodeMFARequired:            adminUnauthenticated,
	CodeForbidden:              {http.StatusForbidden, "forbidden", "The caller does not hold the admin role"},
	CodeForbiddenAnonymous:     {http.StatusForbidden, "forbidden", "The caller does not hold the admin role"},
	CodeEmailInUse:             {http.StatusConflict, "conflict", "The email address is already in use"},
	CodeConflict:               adminConflict,
	CodePasswordTooLong:        {http.StatusBadRequest, gen.AdminErrorErrorInvalidRequest, msgPasswordTooLong},
	CodePasswordBreached:       {http.StatusBadRequest, gen.AdminErrorErrorInvalidRequest, msgPasswordBreached},
	CodeBreachCheckUnavailable: {http.StatusServiceUnavailable, gen.AdminErrorErrorInternal, msgBreachCheckUnavailable},
	CodeUnavailable:            {http.StatusServiceUnavailable, gen.AdminErrorErrorInternal, msgUnavailable},
	CodeInternal:               adminInternal,
}

// renderAdmin renders errors of the admin API as gen.AdminError, with the field problems of an
// invalid request or a conflict keyed by field.
func renderAdmin(_ *Server, e *Error) rendered {
	as, ok := adminErrors[e.Code]
	if !ok {
		as = adminInvalid
	}
	body := gen.AdminError{Status: as.status, Error: as.code, Message: as.message}
	if len(e.Fields) > 0 && as.status < 500 {
		fields := make(map[string]string, len(e.Fields))
		for _, f := range e.Fields {
			key := strings.TrimPrefix(f.Field, "/")
			if key == "" {
				key = "body"
			}
			if prev, dup := fields[key]; dup {
				fields[key] = prev + "; " + f.Reason
			} else {
				fields[key] = f.Reason
			}
		}
		body.Fields = &fields
	}
	return rendered{Status: as.status, Body: body}
}
