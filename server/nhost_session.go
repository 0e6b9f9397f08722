package server

import (
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// nhostSession shapes a core session as Nhost's Session, with the user (nhost-js only stores a
// refreshed session when the answer carries the user).
func nhostSession(s *session) gen.Session {
	u := nhostUser(s.User, s.Roles)
	return gen.Session{
		AccessToken:          s.AccessToken,
		AccessTokenExpiresIn: s.AccessExpiresIn,
		RefreshToken:         string(s.RefreshToken),
		RefreshTokenId:       s.RefreshTokenID.String(),
		User:                 &u,
	}
}

// nhostSessionPayload wraps a session as {"session": …}; a nil session is {} (created, not signed in).
func nhostSessionPayload(s *session) gen.SessionPayload {
	if s == nil {
		return gen.SessionPayload{}
	}
	if s.MFATicket != "" {
		return gen.SessionPayload{Mfa: &gen.MFAChallengePayload{Ticket: string(s.MFATicket)}}
	}
	ns := nhostSession(s)
	return gen.SessionPayload{Session: &ns}
}

// nhostUser shapes a user as Nhost's User.
func nhostUser(u *store.User, roles []string) gen.User {
	if roles == nil {
		roles = []string{}
	}
	md := map[string]any(u.Metadata)
	if md == nil {
		md = map[string]any{}
	}
	out := gen.User{
		Id:                  u.ID.String(),
		CreatedAt:           u.CreatedAt,
		DisplayName:         u.DisplayName,
		AvatarUrl:           u.AvatarURL,
		Locale:              u.Locale,
		EmailVerified:       u.EmailVerified,
		PhoneNumber:         u.PhoneNumber,
		PhoneNumberVerified: u.PhoneNumberVerified,
		DefaultRole:         u.DefaultRole,
		Roles:               roles,
		IsAnonymous:         u.IsAnonymous,
		Metadata:            md,
		ActiveMfaType:       u.ActiveMFAType,
	}
	if u.Email != nil {
		e := openapi_types.Email(*u.Email)
		out.Email = &e
	}
	return out
}

// profileFromNhost reads Nhost's SignUpOptions.
func profileFromNhost(o *gen.SignUpOptions) profileOptions {
	if o == nil {
		return profileOptions{}
	}
	var md map[string]any
	if o.Metadata != nil {
		md = *o.Metadata
	}
	return profileOptions{DisplayName: o.DisplayName, Locale: o.Locale, Metadata: md,
		DefaultRole: o.DefaultRole, AllowedRoles: o.AllowedRoles, RedirectTo: o.RedirectTo}
}
