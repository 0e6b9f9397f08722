package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// elevatedClaim is the Hasura claim of an access token elevated with a security key; its value
// is the user's id (Nhost's x-hasura-auth-elevated).
const elevatedClaim = "x-hasura-auth-elevated"

// Modes of LATCHKEY_REQUIRE_ELEVATED_CLAIM, as Nhost's AUTH_REQUIRE_ELEVATED_CLAIM.
const (
	elevationDisabled    = "disabled"
	elevationRecommended = "recommended"
	elevationRequired    = "required"
)

// requireElevated is the check every sensitive Nhost operation makes of its caller (creating a
// personal access token, changing the password or the address, changing MFA, removing a
// security key): nil when the server does not ask for elevation, or the access token is
// elevated, or (in "recommended" mode) the user has no security key to elevate with; else
// 401 elevated-claim-required. Callers with no access token (a password reset ticket) are not
// its concern.
func (s *Server) requireElevated(ctx context.Context, p *principal) error {
	return s.requireElevation(ctx, p, false)
}

// requireElevation is requireElevated; addingKey marks the operations that add a security key,
// which even in "required" mode ask a user who has none for nothing (else no one could get a
// first key and so ever elevate), as Nhost does.
func (s *Server) requireElevation(ctx context.Context, p *principal, addingKey bool) error {
	mode := s.cfg.RequireElevatedClaim
	if mode == "" || mode == elevationDisabled || p == nil || p.User == nil || p.Elevated {
		return nil
	}
	if mode == elevationRequired && !addingKey {
		return &Error{Code: CodeElevationRequired}
	}
	n, err := s.store.CountWebAuthnCredentials(ctx, p.User.ID)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return &Error{Code: CodeElevationRequired}
}

// elevatedClaimOf reads x-hasura-auth-elevated from the Hasura claims of a token whose
// signature has already been checked ("" when absent). The claims namespace is configurable,
// so it is not a field of accessClaims.
func (s *Server) elevatedClaimOf(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	var ns map[string]any
	if json.Unmarshal(claims[s.cfg.JWT.ClaimsNamespace], &ns) != nil {
		return ""
	}
	v, _ := ns[elevatedClaim].(string)
	return v
}
