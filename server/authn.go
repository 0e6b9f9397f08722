package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/latchkey/latchkey/store"
)

// authenticate is the validator's AuthenticationFunc: the contract's security requirements decide
// which operations need which credentials, and this checks them. On success the principal is on
// the request state, where handlers read it with principalFrom.
func (s *Server) authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	switch in.SecuritySchemeName {
	case "BearerAuth", "BearerAuthElevated":
		raw, ok := bearerToken(in.RequestValidationInput.Request)
		if !ok {
			return &Error{Code: CodeUnauthenticated}
		}
		p, err := s.authenticateAccessToken(ctx, raw)
		if err != nil {
			st := stateFrom(ctx)
			var e *Error
			switch {
			case !errors.As(err, &e) || e.Code == CodeInternal:
				st.authErr = err
			case e.Code == CodeDisabledUser:
				st.refused = e // where the token is optional, handlers that need a user say why
			}
			return err
		}
		stateFrom(ctx).principal = p
		return nil
	case "ZestySession":
		raw := zestyToken(in.RequestValidationInput.Request.Header.Get("Authorization"))
		if raw == "" {
			return &Error{Code: CodeUnauthenticated}
		}
		p, err := s.authenticateZestyToken(ctx, raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == CodeInternal {
				stateFrom(ctx).authErr = err
			}
			return err
		}
		stateFrom(ctx).principal = p
		return nil
	case "AZSession":
		return s.authenticateAZ(ctx, in)
	case "AdminSecret":
		return s.authenticateAdminSecret(ctx, in)
	case "MetricsToken":
		return s.authenticateMetrics(in.RequestValidationInput.Request)
	default:
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
}

// bearerToken reads "Authorization: Bearer <token>".
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, tok != ""
}

// authenticateAccessToken accepts an access token whose signature, issuer and expiry hold and
// whose session is live (not revoked, not expired), for a user who is not disabled. Revoking a
// session therefore stops its access tokens at once on the instance that revoked it, and within
// the revocation bound on every other (the store's session cache: docs/revocation.md).
func (s *Server) authenticateAccessToken(ctx context.Context, raw string) (*principal, error) {
	v, err := s.parseAccess(ctx, raw)
	if err != nil {
		return nil, &Error{Code: CodeUnauthenticated, Err: err}
	}
	userID, sessionID := v.userID, v.sessionID
	u, err := s.store.LiveSessionUser(ctx, sessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, &Error{Code: CodeUnauthenticated, Err: errors.New("session ended")}
	case err != nil:
		return nil, &Error{Code: CodeInternal, Err: fmt.Errorf("load session user: %w", err)}
	case u.ID != userID:
		return nil, &Error{Code: CodeUnauthenticated, Err: errors.New("token subject is not the session's user")}
	case u.Disabled:
		return nil, &Error{Code: CodeDisabledUser}
	}
	return &principal{User: u, SessionID: sessionID, Elevated: v.elevated}, nil
}

// requirePrincipal returns the authenticated caller of an operation whose token is optional, or
// the reason there is none: the verdict on the token that was sent (a disabled user), else
// "authentication required".
func requirePrincipal(ctx context.Context) (*principal, error) {
	st := stateFrom(ctx)
	if st.principal != nil {
		return st.principal, nil
	}
	if st.refused != nil {
		return nil, st.refused
	}
	return nil, &Error{Code: CodeUnauthenticated}
}
