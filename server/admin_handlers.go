package server

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// The admin API's handlers (/v1/admin): each checks the caller, makes one core call and
// translates the answer.

// AdminListUsers implements GET /v1/admin/users (admin).
func (s *Server) AdminListUsers(ctx context.Context, req gen.AdminListUsersRequestObject) (gen.AdminListUsersResponseObject, error) {
	if _, err := s.admin(ctx); err != nil {
		return nil, err
	}
	p := req.Params
	f := store.UserFilter{Limit: 50, Disabled: p.Disabled}
	if p.Limit != nil {
		f.Limit = *p.Limit
	}
	if p.Offset != nil {
		f.Offset = *p.Offset
	}
	if p.Email != nil {
		f.EmailContains = *p.Email
	}
	if p.Role != nil {
		f.Role = *p.Role
	}
	users, total, err := s.store.ListUsers(ctx, f)
	if err != nil {
		return nil, err
	}
	out := gen.AdminListUsers200JSONResponse{Users: make([]gen.AdminUser, len(users)), Total: int(total)}
	for i := range users {
		out.Users[i] = adminUserBody(&users[i])
	}
	return out, nil
}

// AdminCreateUser implements POST /v1/admin/users (admin).
func (s *Server) AdminCreateUser(ctx context.Context, req gen.AdminCreateUserRequestObject) (gen.AdminCreateUserResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	b := req.Body
	in := CreateUserInput{Email: string(b.Email), Username: b.Username, DisplayName: b.DisplayName, Locale: b.Locale,
		DefaultRole: b.DefaultRole, Password: b.Password,
		EmailVerified: b.EmailVerified != nil && *b.EmailVerified, TemporaryPassword: b.TemporaryPassword != nil && *b.TemporaryPassword}
	if b.Metadata != nil {
		in.Metadata = *b.Metadata
	}
	if b.Roles != nil {
		in.Roles = *b.Roles
	}
	res, err := s.createUser(ctx, by, in)
	if err != nil {
		return nil, err
	}
	out := gen.AdminCreateUser201JSONResponse{User: adminUserBody(res.User)}
	if res.TemporaryPassword != "" {
		out.TemporaryPassword = &res.TemporaryPassword
	}
	return out, nil
}

// AdminGetUser implements GET /v1/admin/users/{userId} (admin).
func (s *Server) AdminGetUser(ctx context.Context, req gen.AdminGetUserRequestObject) (gen.AdminGetUserResponseObject, error) {
	if _, err := s.admin(ctx); err != nil {
		return nil, err
	}
	u, err := adminUser(ctx, s.store, req.UserId)
	if err != nil {
		return nil, err
	}
	out := adminUserBody(u)
	keys, err := s.store.CountWebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	n := int(keys)
	out.SecurityKeys = &n
	return gen.AdminGetUser200JSONResponse(out), nil
}

// AdminUpdateUser implements PATCH /v1/admin/users/{userId} (admin).
func (s *Server) AdminUpdateUser(ctx context.Context, req gen.AdminUpdateUserRequestObject) (gen.AdminUpdateUserResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	b := req.Body
	upd := userUpdate{UserUpdate: store.UserUpdate{DisplayName: b.DisplayName, Locale: b.Locale, EmailVerified: b.EmailVerified},
		DefaultRole: b.DefaultRole, Roles: b.Roles}
	if b.Metadata != nil {
		upd.Metadata = store.JSONMap(*b.Metadata)
	}
	u, err := s.updateUser(ctx, by, req.UserId, upd)
	if err != nil {
		return nil, err
	}
	return gen.AdminUpdateUser200JSONResponse(adminUserBody(u)), nil
}

// AdminDeleteUser implements DELETE /v1/admin/users/{userId} (admin).
func (s *Server) AdminDeleteUser(ctx context.Context, req gen.AdminDeleteUserRequestObject) (gen.AdminDeleteUserResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.deleteUser(ctx, by, req.UserId); err != nil {
		return nil, err
	}
	return gen.AdminDeleteUser204Response{}, nil
}

// AdminDisableUser implements POST /v1/admin/users/{userId}/disable (admin).
func (s *Server) AdminDisableUser(ctx context.Context, req gen.AdminDisableUserRequestObject) (gen.AdminDisableUserResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.setDisabled(ctx, by, req.UserId, true)
	if err != nil {
		return nil, err
	}
	return gen.AdminDisableUser200JSONResponse(adminUserBody(u)), nil
}

// AdminEnableUser implements POST /v1/admin/users/{userId}/enable (admin).
func (s *Server) AdminEnableUser(ctx context.Context, req gen.AdminEnableUserRequestObject) (gen.AdminEnableUserResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.setDisabled(ctx, by, req.UserId, false)
	if err != nil {
		return nil, err
	}
	return gen.AdminEnableUser200JSONResponse(adminUserBody(u)), nil
}

// AdminSetUserPassword implements POST /v1/admin/users/{userId}/password (admin).
func (s *Server) AdminSetUserPassword(ctx context.Context, req gen.AdminSetUserPasswordRequestObject) (gen.AdminSetUserPasswordResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	temporary := req.Body.Temporary == nil || *req.Body.Temporary
	u, generated, err := s.setPassword(ctx, by, req.UserId, req.Body.Password, temporary)
	if err != nil {
		return nil, err
	}
	out := gen.AdminSetUserPassword200JSONResponse{User: adminUserBody(u)}
	if generated != "" {
		pw := string(generated)
		out.Password = &pw
	}
	return out, nil
}

// AdminListUserSessions implements GET /v1/admin/users/{userId}/sessions (admin).
func (s *Server) AdminListUserSessions(ctx context.Context, req gen.AdminListUserSessionsRequestObject) (gen.AdminListUserSessionsResponseObject, error) {
	if _, err := s.admin(ctx); err != nil {
		return nil, err
	}
	if _, err := adminUser(ctx, s.store, req.UserId); err != nil {
		return nil, err
	}
	sessions, err := s.store.UserSessions(ctx, req.UserId)
	if err != nil {
		return nil, err
	}
	out := gen.AdminListUserSessions200JSONResponse{Sessions: make([]gen.AdminSession, len(sessions))}
	for i, x := range sessions {
		out.Sessions[i] = gen.AdminSession{Id: x.ID, Method: x.Method, UserAgent: x.UserAgent, Ip: x.IP,
			CreatedAt: x.CreatedAt, LastActiveAt: x.LastActiveAt, ExpiresAt: x.ExpiresAt, RevokedAt: x.RevokedAt}
	}
	return out, nil
}

// AdminRevokeUserSessions implements DELETE /v1/admin/users/{userId}/sessions (admin).
func (s *Server) AdminRevokeUserSessions(ctx context.Context, req gen.AdminRevokeUserSessionsRequestObject) (gen.AdminRevokeUserSessionsResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.revokeSessions(ctx, by, req.UserId, nil); err != nil {
		return nil, err
	}
	return gen.AdminRevokeUserSessions204Response{}, nil
}

// AdminRevokeUserSession implements DELETE /v1/admin/users/{userId}/sessions/{sessionId} (admin).
func (s *Server) AdminRevokeUserSession(ctx context.Context, req gen.AdminRevokeUserSessionRequestObject) (gen.AdminRevokeUserSessionResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	sid := req.SessionId
	if err := s.revokeSessions(ctx, by, req.UserId, &sid); err != nil {
		return nil, err
	}
	return gen.AdminRevokeUserSession204Response{}, nil
}

// AdminListUserTokens implements GET /v1/admin/users/{userId}/tokens (admin).
func (s *Server) AdminListUserTokens(ctx context.Context, req gen.AdminListUserTokensRequestObject) (gen.AdminListUserTokensResponseObject, error) {
	if _, err := s.admin(ctx); err != nil {
		return nil, err
	}
	if _, err := adminUser(ctx, s.store, req.UserId); err != nil {
		return nil, err
	}
	tokens, err := s.store.UserAPITokens(ctx, req.UserId)
	if err != nil {
		return nil, err
	}
	out := gen.AdminListUserTokens200JSONResponse{Tokens: make([]gen.AdminToken, len(tokens))}
	for i, t := range tokens {
		out.Tokens[i] = gen.AdminToken{Id: t.ID, Kind: t.Kind, Name: t.Name, CreatedAt: t.CreatedAt,
			ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
	}
	return out, nil
}

// AdminRevokeUserToken implements DELETE /v1/admin/users/{userId}/tokens/{tokenId} (admin).
func (s *Server) AdminRevokeUserToken(ctx context.Context, req gen.AdminRevokeUserTokenRequestObject) (gen.AdminRevokeUserTokenResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.revokeToken(ctx, by, req.UserId, req.TokenId); err != nil {
		return nil, err
	}
	return gen.AdminRevokeUserToken204Response{}, nil
}

// AdminListAuditEvents implements GET /v1/admin/audit (admin).
func (s *Server) AdminListAuditEvents(ctx context.Context, req gen.AdminListAuditEventsRequestObject) (gen.AdminListAuditEventsResponseObject, error) {
	if _, err := s.admin(ctx); err != nil {
		return nil, err
	}
	p := req.Params
	limit := 50
	if p.Limit != nil {
		limit = *p.Limit
	}
	f := store.AuditFilter{ActorUserID: p.ActorUserId, TargetUserID: p.TargetUserId, Since: p.Since, Until: p.Until,
		Limit: limit + 1} // one more tells whether a next page exists
	if p.ActorTokenName != nil {
		f.ActorTokenName = *p.ActorTokenName
	}
	if p.Action != nil {
		f.Action = *p.Action
	}
	if p.Cursor != nil {
		c, err := decodeAuditCursor(*p.Cursor)
		if err != nil {
			return nil, fieldError("cursor", "is not a cursor this server issued")
		}
		f.After = &c
	}
	events, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	out := gen.AdminListAuditEvents200JSONResponse{Events: []gen.AdminAuditEvent{}}
	if len(events) > limit {
		events = events[:limit]
		last := events[limit-1]
		next := encodeAuditCursor(store.AuditCursor{At: last.At, ID: last.ID})
		out.Next = &next
	}
	for _, e := range events {
		detail := map[string]any(e.Detail)
		if detail == nil {
			detail = map[string]any{}
		}
		out.Events = append(out.Events, gen.AdminAuditEvent{Id: e.ID, At: e.At, Action: e.Action,
			Outcome: gen.AdminAuditEventOutcome(e.Outcome), ActorUserId: e.ActorUserID, ActorTokenName: e.ActorTokenName,
			TargetUserId: e.TargetUserID, SessionId: e.SessionID, Ip: e.IP, UserAgent: e.UserAgent,
			RequestId: e.RequestID, Detail: detail})
	}
	return out, nil
}

// encodeAuditCursor makes the opaque cursor of the page after the event at c.
func encodeAuditCursor(c store.AuditCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.At.UTC().Format(time.RFC3339Nano) + "|" + c.ID.String()))
}

func decodeAuditCursor(s string) (store.AuditCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.AuditCursor{}, err
	}
	at, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return store.AuditCursor{}, errors.New("malformed cursor")
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return store.AuditCursor{}, err
	}
	uid, err := uuid.Parse(id)
	if err != nil {
		return store.AuditCursor{}, err
	}
	return store.AuditCursor{At: t, ID: uid}, nil
}

// adminUserBody is a user as the admin API shows it.
func adminUserBody(u *store.User) gen.AdminUser {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	md := map[string]any(u.Metadata)
	if md == nil {
		md = map[string]any{}
	}
	return gen.AdminUser{Id: u.ID, Zuid: u.ZUID, Email: u.Email, Username: u.Username, DisplayName: u.DisplayName,
		AvatarUrl: u.AvatarURL, Locale: u.Locale, Metadata: md, DefaultRole: u.DefaultRole, Roles: roles,
		EmailVerified: u.EmailVerified, PhoneNumber: u.PhoneNumber, PhoneNumberVerified: u.PhoneNumberVerified, Disabled: u.Disabled, IsAnonymous: u.IsAnonymous,
		NewPasswordRequired: u.NewPasswordRequired, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastSeenAt: u.LastSeenAt,
		TotpActive: hasTOTP(u)}
}
