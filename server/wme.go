package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// The Wikimedia Enterprise dialect: thin handlers over the shared core. Its sessions keep one
// refresh token for their whole life (its SDKs reuse it for up to 90 days) and its access and id
// tokens last a day.

// wmeSpec is how WME sessions live.
func (s *Server) wmeSpec() sessionSpec {
	return sessionSpec{Method: methodPassword, Rotates: false, Life: s.cfg.WMERefreshTokenTTL, AccessTTL: s.cfg.WMEAccessTokenTTL}
}

// wmeOK is WME's answer without data.
func wmeOK(msg string) gen.WmeMessage {
	return gen.WmeMessage{Message: msg, Status: gen.WmeMessageStatusN200}
}

// WmeLogin implements POST /v1/login (WME).
func (s *Server) WmeLogin(ctx context.Context, req gen.WmeLoginRequestObject) (gen.WmeLoginResponseObject, error) {
	spec := s.wmeSpec()
	res, err := s.signIn(ctx, signInInput{Login: req.Body.Username, Password: secret(req.Body.Password), Spec: &spec, Challenge: true})
	var ch *newPasswordChallenge
	if errors.As(err, &ch) {
		token, err := s.newPasswordChallenge(ctx, ch.User)
		if err != nil {
			return nil, err
		}
		name, session := gen.WmeLoginResponseChallengeNameNEWPASSWORDREQUIRED, string(token)
		return gen.WmeLogin200JSONResponse{ChallengeName: &name, Session: &session}, nil
	}
	if err != nil {
		return nil, err
	}
	body, err := s.wmeTokens(res, true)
	if err != nil {
		return nil, err
	}
	return gen.WmeLogin200JSONResponse(body), nil
}

// WmeNewPasswordRequired implements POST /v1/new-password-required (WME).
func (s *Server) WmeNewPasswordRequired(ctx context.Context, req gen.WmeNewPasswordRequiredRequestObject) (gen.WmeNewPasswordRequiredResponseObject, error) {
	res, err := s.answerNewPasswordChallenge(ctx, secret(req.Body.Session), req.Body.Username, secret(req.Body.NewPassword))
	if err != nil {
		return nil, err
	}
	body, err := s.wmeTokens(res, true)
	if err != nil {
		return nil, err
	}
	return gen.WmeNewPasswordRequired200JSONResponse(body), nil
}

// WmeTokenRefresh implements POST /v1/token-refresh (WME): new tokens, the same refresh token.
func (s *Server) WmeTokenRefresh(ctx context.Context, req gen.WmeTokenRefreshRequestObject) (gen.WmeTokenRefreshResponseObject, error) {
	u, sid, err := s.store.ReusableRefreshToken(ctx, hashSecret(secret(req.Body.RefreshToken)))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, &Error{Code: CodeInvalidRefreshToken, Err: err}
	case errors.Is(err, store.ErrUserDisabled):
		return nil, &Error{Code: CodeDisabledUser}
	case err != nil:
		return nil, err
	case !loginNames(u, req.Body.Username):
		return nil, &Error{Code: CodeInvalidRefreshToken, Err: errors.New("refresh token of another user")}
	}
	res, err := s.issueTTL(u, sid, "", uuid.Nil, s.cfg.WMEAccessTokenTTL)
	if err != nil {
		return nil, err
	}
	body, err := s.wmeTokens(res, false)
	if err != nil {
		return nil, err
	}
	return gen.WmeTokenRefresh200JSONResponse{AccessToken: *body.AccessToken, IdToken: *body.IdToken, ExpiresIn: *body.ExpiresIn}, nil
}

// WmeTokenRevoke implements POST /v1/token-revoke (WME).
func (s *Server) WmeTokenRevoke(ctx context.Context, req gen.WmeTokenRevokeRequestObject) (gen.WmeTokenRevokeResponseObject, error) {
	if err := s.signOut(ctx, signOutInput{Refresh: secret(req.Body.RefreshToken)}); err != nil {
		return nil, err
	}
	return gen.WmeTokenRevoke200JSONResponse(wmeOK("Token revoked")), nil
}

// WmeForgotPassword implements POST /v1/forgot-password (WME).
func (s *Server) WmeForgotPassword(ctx context.Context, req gen.WmeForgotPasswordRequestObject) (gen.WmeForgotPasswordResponseObject, error) {
	if email, ok, err := s.loginEmail(ctx, req.Body.Username); err != nil {
		return nil, err
	} else if ok {
		if err := s.requestPasswordReset(ctx, email, nil); err != nil {
			return nil, err
		}
	}
	return gen.WmeForgotPassword200JSONResponse(wmeOK("If the account exists, a confirmation code is on its way")), nil
}

// WmeForgotPasswordConfirm implements POST /v1/forgot-password-confirm (WME).
func (s *Server) WmeForgotPasswordConfirm(ctx context.Context, req gen.WmeForgotPasswordConfirmRequestObject) (gen.WmeForgotPasswordConfirmResponseObject, error) {
	b := req.Body
	if err := s.resetPasswordWithCode(ctx, b.Username, secret(b.ConfirmationCode), secret(b.Password)); err != nil {
		return nil, err
	}
	return gen.WmeForgotPasswordConfirm200JSONResponse(wmeOK("Password changed")), nil
}

// WmeChangePassword implements POST /v1/change-password (WME): the access token travels in the
// body, and the current password must be right.
func (s *Server) WmeChangePassword(ctx context.Context, req gen.WmeChangePasswordRequestObject) (gen.WmeChangePasswordResponseObject, error) {
	b := req.Body
	p, err := s.authenticateAccessToken(ctx, b.AccessToken)
	if err != nil {
		return nil, err
	}
	if err := s.checkCurrentPassword(ctx, p.User, b.PreviousPassword); err != nil {
		if errors.Is(err, errPasswordMismatch) {
			return nil, &Error{Code: CodeInvalidCredentials}
		}
		return nil, err
	}
	if err := s.changePassword(ctx, p, secret(b.ProposedPassword), true); err != nil {
		return nil, err
	}
	return gen.WmeChangePassword200JSONResponse(wmeOK("Password changed")), nil
}

// wmeTokens is WME's token answer for a session: access and id tokens and, when withRefresh, the
// refresh token.
func (s *Server) wmeTokens(res *session, withRefresh bool) (gen.WmeLoginResponse, error) {
	id, err := s.mintIDToken(res.User, res.ID, s.cfg.WMEAccessTokenTTL)
	if err != nil {
		return gen.WmeLoginResponse{}, err
	}
	expires := int(res.AccessExpiresIn)
	out := gen.WmeLoginResponse{AccessToken: &res.AccessToken, IdToken: &id, ExpiresIn: &expires}
	if withRefresh {
		rt := string(res.RefreshToken)
		out.RefreshToken = &rt
	}
	return out, nil
}

// mintIDToken signs an OpenID-style id token for the user of a session: who they are, not what
// they may do.
func (s *Server) mintIDToken(u *store.User, sid uuid.UUID, ttl time.Duration) (string, error) {
	now := s.now()
	claims := jwt.MapClaims{
		"sub": u.ID.String(), "sid": sid.String(), "iss": s.cfg.JWT.Issuer, "aud": s.cfg.JWT.Issuer,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "token_use": "id", "email_verified": u.EmailVerified,
	}
	if u.Email != nil {
		claims["email"] = *u.Email
	}
	if u.Username != nil {
		claims["username"] = *u.Username
	}
	signed, err := s.sign(claims)
	if err != nil {
		return "", fmt.Errorf("sign id token: %w", err)
	}
	return signed, nil
}

// loginNames reports whether login names u: its username or its address, in any case.
func loginNames(u *store.User, login string) bool {
	l := store.NormalizeEmail(login)
	return (u.Username != nil && *u.Username == l) || (u.EmailLower != nil && *u.EmailLower == l)
}

// loginEmail is the address of the account login names; ok is false when there is none (or it
// has no address).
func (s *Server) loginEmail(ctx context.Context, login string) (string, bool, error) {
	u, err := s.store.UserByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Email == nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return *u.Email, true, nil
}

// newPasswordChallenge starts the challenge of a user who must choose a new password: a
// short-lived, single-use token stored as a hash.
func (s *Server) newPasswordChallenge(ctx context.Context, u *store.User) (secret, error) {
	tok, err := newOpaqueToken()
	if err != nil {
		return "", err
	}
	now := s.now()
	email := ""
	if u.Email != nil {
		email = *u.Email
	}
	t := &store.Ticket{ID: uuid.New(), Kind: store.TicketNewPassword, UserID: u.ID, Email: email,
		TokenHash: hashSecret(tok), CreatedAt: now, ExpiresAt: now.Add(s.cfg.NewPasswordChallengeTTL)}
	if err := s.store.CreateTicket(ctx, t); err != nil {
		return "", err
	}
	return tok, nil
}

// answerNewPasswordChallenge sets the new password of the challenge's user, who must be the one
// login names, and opens a WME session.
func (s *Server) answerNewPasswordChallenge(ctx context.Context, challenge secret, login string, password secret) (*session, error) {
	if err := s.checkNewPassword(ctx, password); err != nil {
		return nil, err
	}
	hash, err := s.passwords.Hash(ctx, string(password))
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	var out *session
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		t, err := tx.SpendTicket(ctx, hashSecret(challenge), store.TicketNewPassword)
		if err != nil {
			return ticketError(err, CodeInvalidTicket)
		}
		u, err := loadUsableUser(ctx, tx, t.UserID)
		if err != nil {
			return err
		}
		if !loginNames(u, login) {
			return &Error{Code: CodeInvalidTicket, Err: errors.New("challenge of another user")}
		}
		if err := tx.SetPasswordHash(ctx, u.ID, hash); err != nil { // also clears the flag
			return err
		}
		u.NewPasswordRequired = false
		// The challenge is issued only past the second factor's gate; TOTP turned on since then
		// is caught here (WME has no MFA step).
		if s.cfg.MFAEnabled && hasTOTP(u) {
			return &Error{Code: CodeMFARequired}
		}
		if err := s.record(ctx, tx, auditEvent{Action: auditPasswordChange, User: u.ID,
			Detail: store.JSONMap{"reason": "new-password-required"}}); err != nil {
			return err
		}
		out, err = s.openSessionSpec(ctx, tx, u, s.wmeSpec())
		return err
	})
	return out, err
}
