package server

import (
	"net/http"

	"github.com/latchkey/latchkey/gen"
)

type nhostError struct {
	status  int
	code    gen.ErrorResponseError
	message string
}

// nhostErrors maps every Code to Nhost's status, error code and message. Latchkey is stricter
// than hasura-auth in one place: a missing or bad bearer token is 401, not 400 (API.md).
var nhostErrors = map[Code]nhostError{
	CodeInvalidRequest:         {http.StatusBadRequest, gen.ErrorResponseErrorInvalidRequest, "The request payload is incorrect"},
	CodeUnsupportedMediaType:   {http.StatusUnsupportedMediaType, gen.ErrorResponseErrorInvalidRequest, "The request body is not in a media type this endpoint accepts"},
	CodePayloadTooLarge:        {http.StatusRequestEntityTooLarge, gen.ErrorResponseErrorInvalidRequest, "The request body is too large"},
	CodeNotFound:               {http.StatusNotFound, gen.ErrorResponseErrorInvalidRequest, "Not found"},
	CodeMethodNotAllowed:       {http.StatusMethodNotAllowed, gen.ErrorResponseErrorInvalidRequest, "Method not allowed on this endpoint"},
	CodeUnauthenticated:        {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest, "A valid access token is required"},
	CodeInvalidCredentials:     {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidEmailPassword, "Incorrect email or password"},
	CodeInvalidRefreshToken:    {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRefreshToken, "Invalid or expired refresh token"},
	CodeInvalidPAT:             {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidPat, "Invalid or expired personal access token"},
	CodeInvalidTicket:          {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidTicket, "Invalid or expired ticket"},
	CodeDisabledUser:           {http.StatusUnauthorized, gen.ErrorResponseErrorDisabledUser, "User is disabled"},
	CodeUnverifiedUser:         {http.StatusUnauthorized, gen.ErrorResponseErrorUnverifiedUser, "User is not verified."},
	CodeEmailInUse:             {http.StatusConflict, gen.ErrorResponseErrorEmailAlreadyInUse, "Email already in use"},
	CodePasswordTooShort:       {http.StatusBadRequest, gen.ErrorResponseErrorPasswordTooShort, "Password is too short"},
	CodeRoleNotAllowed:         {http.StatusBadRequest, gen.ErrorResponseErrorRoleNotAllowed, "Role not allowed"},
	CodeDefaultRoleNotAllowed:  {http.StatusBadRequest, gen.ErrorResponseErrorDefaultRoleMustBeInAllowedRoles, "Default role must be in allowed roles"},
	CodeLocaleNotAllowed:       {http.StatusBadRequest, gen.ErrorResponseErrorLocaleNotAllowed, "Locale not allowed"},
	CodeSignupDisabled:         {http.StatusForbidden, gen.ErrorResponseErrorSignupDisabled, "Sign up is disabled."},
	CodeDisabledEndpoint:       {http.StatusConflict, gen.ErrorResponseErrorDisabledEndpoint, "This endpoint is disabled"},
	CodeForbiddenAnonymous:     {http.StatusForbidden, gen.ErrorResponseErrorForbiddenAnonymous, "Forbidden, user is anonymous."},
	CodeUserNotAnonymous:       {http.StatusBadRequest, gen.ErrorResponseErrorUserNotAnonymous, "Logged in user is not anonymous"},
	CodeRedirectNotAllowed:     {http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed, "The value of \"options.redirectTo\" is not allowed."},
	CodeEmailAlreadyVerified:   {http.StatusBadRequest, gen.ErrorResponseErrorEmailAlreadyVerified, "User's email is already verified"},
	CodeInvalidOTP:             {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidOtp, "Invalid or expired OTP"},
	CodeNewPasswordRequired:    {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest, "A new password is required: reset the password to continue"},
	CodeForbidden:              {http.StatusForbidden, gen.ErrorResponseErrorInvalidRequest, "Forbidden"},
	CodeConflict:               {http.StatusConflict, gen.ErrorResponseErrorInvalidRequest, "The request conflicts with the current state"},
	CodePasswordTooLong:        {http.StatusBadRequest, gen.ErrorResponseErrorInvalidRequest, msgPasswordTooLong},
	CodePasswordBreached:       {http.StatusBadRequest, gen.ErrorResponseErrorPasswordInHibpDatabase, "Password is in the HIBP database"},
	CodeBreachCheckUnavailable: {http.StatusServiceUnavailable, gen.ErrorResponseErrorInternalServerError, msgBreachCheckUnavailable},
	CodeUnavailable:            {http.StatusServiceUnavailable, gen.ErrorResponseErrorInternalServerError, msgUnavailable},
	CodeRateLimited:            {http.StatusTooManyRequests, gen.ErrorResponseErrorTooManyRequests, "Too many requests"},
	CodeElevationRequired:      {http.StatusUnauthorized, gen.ErrorResponseErrorElevatedClaimRequired, "Elevated permissions are required: verify a security key with /elevate/webauthn first"},
	CodeInvalidSecurityKey:     {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest, "The security key's answer is invalid or its challenge is unknown, spent or expired"},
	CodeInvalidState:           {http.StatusBadRequest, gen.ErrorResponseErrorInvalidState, "Invalid or expired OAuth state"},
	CodeOAuthTokenExchange:     {http.StatusBadRequest, gen.ErrorResponseErrorOauthTokenEchangeFailed, "The provider did not accept the authorization code"},
	CodeOAuthProfileFetch:      {http.StatusBadRequest, gen.ErrorResponseErrorOauthProfileFetchFailed, "The provider's profile could not be read"},
	CodeOAuthProvider:          {http.StatusBadRequest, gen.ErrorResponseErrorOauthProviderError, "The provider reported an error"},
	CodeInvalidIDToken:         {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest, "Invalid or expired ID token"},
	CodeProviderLinked:         {http.StatusConflict, gen.ErrorResponseErrorInvalidRequest, "This provider account is linked to another user"},
	CodeInvalidGrant:           {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest, "Invalid or expired code"},
	CodeInternal:               {http.StatusInternalServerError, gen.ErrorResponseErrorInternalServerError, "Internal server error"},
	// TOTP, with hasura-auth's statuses.
	CodeInvalidTOTP:       {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidTotp, "Invalid TOTP code"},
	CodeDisabledMFATOTP:   {http.StatusUnauthorized, gen.ErrorResponseErrorDisabledMfaTotp, "User does not have TOTP MFA enabled"},
	CodeNoTOTPSecret:      {http.StatusBadRequest, gen.ErrorResponseErrorNoTotpSecret, "User does not have a TOTP secret: generate one first"},
	CodeTOTPAlreadyActive: {http.StatusBadRequest, gen.ErrorResponseErrorTotpAlreadyActive, "TOTP MFA is already active"},
	// Nhost operations always answer a second factor with an MFA challenge; this is only for
	// completeness (every Code renders in every dialect).
	CodeMFARequired: {http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest, msgMFARequired},
}

// msgMFARequired is what dialects without an MFA step say to a user with a second factor.
const msgMFARequired = "A second factor (TOTP) is required for this account: sign in with a client that supports it"

// nhostSensitive are the codes that reveal whether an account exists or what state it is in.
// In conceal mode they are all answered as invalid-request, as hasura-auth does. Unlike
// hasura-auth, a bad refresh token or PAT stays 401 with its own code: those are random secrets
// that say nothing about accounts, and nhost-js drops a dead session only on a 401 refresh.
var nhostSensitive = map[Code]bool{
	CodeInvalidCredentials: true, CodeInvalidTicket: true,
	CodeDisabledUser: true, CodeUnverifiedUser: true, CodeEmailInUse: true,
	CodeRoleNotAllowed: true, CodeSignupDisabled: true, CodeForbiddenAnonymous: true,
	CodeEmailAlreadyVerified: true, CodeInvalidOTP: true,
	CodeInvalidTOTP: true, CodeDisabledMFATOTP: true, CodeNoTOTPSecret: true, // as hasura-auth
}

func renderNhost(s *Server, e *Error) rendered {
	ne := s.nhostError(e.Code)
	msg := ne.message
	if ne.code == gen.ErrorResponseErrorInvalidRequest && len(e.Fields) > 0 {
		msg += ": " + fieldSummary(e.Fields)
	}
	return rendered{Status: ne.status, Body: gen.ErrorResponse{Status: ne.status, Error: ne.code, Message: msg}}
}

// nhostError is how code is told to an Nhost client, conceal mode applied.
func (s *Server) nhostError(code Code) nhostError {
	if s.cfg.ConcealErrors && nhostSensitive[code] {
		code = CodeInvalidRequest
	}
	if ne, ok := nhostErrors[code]; ok {
		return ne
	}
	return nhostErrors[CodeInternal]
}

// fieldSummary joins field problems into one line for dialects with a single message.
func fieldSummary(fs []FieldError) string {
	out := ""
	for i, f := range fs {
		if i > 0 {
			out += "; "
		}
		if f.Field != "" {
			out += f.Field + ": "
		}
		out += f.Reason
	}
	return out
}
