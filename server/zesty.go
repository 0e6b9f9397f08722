package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"strings"
	"time"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// The Zesty Auth dialect at the root. Its credential is an opaque session token that is the
// session itself to the client: it expires 30 minutes after its last authenticated use.

// zestyIdle is how long a Zesty session token lives after its last use.
const zestyIdle = 30 * time.Minute

// ZestyLogin implements POST /login (Zesty): JSON, url-encoded or multipart form.
func (s *Server) ZestyLogin(ctx context.Context, req gen.ZestyLoginRequestObject) (gen.ZestyLoginResponseObject, error) {
	var email, password string
	switch {
	case req.JSONBody != nil:
		email, password = string(req.JSONBody.Email), req.JSONBody.Password
	case req.FormdataBody != nil:
		email, password = string(req.FormdataBody.Email), req.FormdataBody.Password
	case req.MultipartBody != nil:
		f, err := multipartFields(req.MultipartBody, "email", "password")
		if err != nil {
			return nil, &Error{Code: CodeInvalidRequest, Err: err}
		}
		email, password = f["email"], f["password"]
	}
	// The session lives at most as long as a refresh token would; its token, 30 minutes after
	// each use.
	spec := sessionSpec{Method: methodPassword, Life: s.cfg.RefreshTokenTTL, TokenKind: store.SessionTokenZesty, TokenIdle: zestyIdle}
	res, err := s.signIn(ctx, signInInput{Email: email, Password: secret(password), Spec: &spec})
	if err != nil {
		return nil, err
	}
	return gen.ZestyLogin200JSONResponse{Code: gen.ZestyLoginResponseCodeN200, Message: "Logged in",
		Data: string(res.SessionToken), Meta: struct {
			Token string `json:"token"`
		}{Token: string(res.SessionToken)}}, nil
}

// ZestyVerify implements GET /verify (Zesty).
func (s *Server) ZestyVerify(ctx context.Context, _ gen.ZestyVerifyRequestObject) (gen.ZestyVerifyResponseObject, error) {
	p := principalFrom(ctx)
	if t := p.Token; t != nil {
		if t.Lapsed {
			// Its creator no longer stands behind it, so it can act for nothing: it verifies as
			// an unknown token does. (Elsewhere it is answered as a stranger to its instance,
			// and acts again if its creator's standing comes back.)
			return nil, &Error{Code: CodeUnauthenticated, Err: errors.New("access token whose creator lost standing")}
		}
		// An access token has no user: it is named by its own ZUID and name, with no address.
		return gen.ZestyVerify200JSONResponse{Code: gen.ZestyVerifyResponseCodeN200, Message: "Valid access token",
			Data: gen.ZestyUser{ZUID: t.ZUID, Email: "", FirstName: t.Name, LastName: ""}}, nil
	}
	u := p.User
	first, last := splitName(u.DisplayName)
	email := ""
	if u.Email != nil {
		email = *u.Email
	}
	return gen.ZestyVerify200JSONResponse{Code: gen.ZestyVerifyResponseCodeN200, Message: "Valid session",
		Data: gen.ZestyUser{ZUID: u.ZUID, Email: email, FirstName: first, LastName: last}}, nil
}

// ZestyLogout implements DELETE /logout (Zesty).
func (s *Server) ZestyLogout(ctx context.Context, _ gen.ZestyLogoutRequestObject) (gen.ZestyLogoutResponseObject, error) {
	// An access token has no session to end; it is revoked with DELETE /v1/tokens/{tokenZUID}.
	if err := requireUserSession(principalFrom(ctx)); err != nil {
		return nil, err
	}
	if err := s.endSession(ctx, principalFrom(ctx).SessionID); err != nil {
		return nil, err
	}
	return gen.ZestyLogout200JSONResponse{Code: gen.ZestyMessageCodeN200, Message: "Logged out"}, nil
}

// ZestyPasswordRequest implements POST /password/request (Zesty).
func (s *Server) ZestyPasswordRequest(ctx context.Context, req gen.ZestyPasswordRequestRequestObject) (gen.ZestyPasswordRequestResponseObject, error) {
	var email string
	switch {
	case req.JSONBody != nil:
		email = string(req.JSONBody.Email)
	case req.FormdataBody != nil:
		email = string(req.FormdataBody.Email)
	}
	if err := s.requestPasswordReset(ctx, email, nil); err != nil {
		return nil, err
	}
	return gen.ZestyPasswordRequest200JSONResponse{Code: gen.ZestyMessageCodeN200, Message: "If the account exists, a reset token is on its way"}, nil
}

// ZestyPasswordReset implements POST /password/reset (Zesty).
func (s *Server) ZestyPasswordReset(ctx context.Context, req gen.ZestyPasswordResetRequestObject) (gen.ZestyPasswordResetResponseObject, error) {
	var token, password string
	switch {
	case req.JSONBody != nil:
		token, password = req.JSONBody.Token, req.JSONBody.Password
	case req.FormdataBody != nil:
		token, password = req.FormdataBody.Token, req.FormdataBody.Password
	}
	if !strings.HasPrefix(token, store.TicketPasswordReset+":") {
		token = store.TicketPasswordReset + ":" + token
	}
	if err := s.resetPassword(ctx, secret(token), secret(password)); err != nil {
		return nil, err
	}
	return gen.ZestyPasswordReset200JSONResponse{Code: gen.ZestyMessageCodeN200, Message: "Password changed"}, nil
}

// authenticateZestyToken accepts a live Zesty session token, and slides its expiry, or a live
// Zesty access token (told apart by its prefix, so neither kind costs a lookup of the other).
func (s *Server) authenticateZestyToken(ctx context.Context, raw string) (*principal, error) {
	if isZestyAccessToken(raw) {
		return s.authenticateZestyAccessToken(ctx, raw)
	}
	u, sid, err := s.store.UseSessionToken(ctx, store.SessionTokenZesty, hashSecret(secret(raw)), zestyIdle)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, &Error{Code: CodeUnauthenticated, Err: errors.New("unknown or expired session token")}
	case errors.Is(err, store.ErrUserDisabled):
		return nil, &Error{Code: CodeDisabledUser}
	case err != nil:
		return nil, &Error{Code: CodeInternal, Err: err}
	}
	return &principal{User: u, SessionID: sid}, nil
}

// zestyToken reads the session token from Authorization: bare, or after "Bearer ".
func zestyToken(header string) string {
	h := strings.TrimSpace(header)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		h = strings.TrimSpace(h[7:])
	}
	return h
}

// splitName splits a display name into Zesty's first and last names at its last space.
func splitName(name string) (first, last string) {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// multipartFields reads the named fields of a multipart form (each at most 4 KiB); other parts
// are skipped.
func multipartFields(r *multipart.Reader, names ...string) (map[string]string, error) {
	out := map[string]string{}
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read multipart form: %w", err)
		}
		for _, n := range names {
			if p.FormName() != n {
				continue
			}
			if _, dup := out[n]; dup {
				// The validator judged the first value; a second one would go unchecked.
				return nil, fmt.Errorf("multipart field %q given twice", n)
			}
			b, err := io.ReadAll(io.LimitReader(p, 4<<10))
			if err != nil {
				return nil, fmt.Errorf("read multipart field: %w", err)
			}
			out[n] = string(b)
		}
	}
}
