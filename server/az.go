package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/mail"
	"github.com/latchkey/latchkey/store"
)

// The Authentication Zero API-mode dialect at the root (seed 004). Its credential is an opaque
// session token handed out in the X-Session-Token header. The generator's sessions never expire
// by idleness; here the token and its session live the server's refresh-token lifetime from
// their last use. Both generations of its API are served: the published document
// (current_password, token) and the current generator (password_challenge, sid, PATCH).

// azPasswordMin is the dialect's shortest password (the generator validates 12 characters).
const azPasswordMin = 12

// azSlideGap is how stale a session's last activity may be before a use records it again.
const azSlideGap = time.Minute

// azSpec is how Authentication Zero sessions live.
func (s *Server) azSpec() sessionSpec {
	return sessionSpec{Method: methodPassword, Life: s.cfg.RefreshTokenTTL, TokenKind: store.SessionTokenAZ, TokenIdle: s.cfg.RefreshTokenTTL}
}

// AzSignUp implements POST /sign_up (Authentication Zero).
func (s *Server) AzSignUp(ctx context.Context, req gen.AzSignUpRequestObject) (gen.AzSignUpResponseObject, error) {
	b := azBody(req.JSONBody, req.FormdataBody)
	if err := s.azCheckNewPassword(b.Password, b.PasswordConfirmation); err != nil {
		return nil, err
	}
	u, err := s.azSignUp(ctx, string(b.Email), secret(b.Password))
	if err != nil {
		return nil, err
	}
	return gen.AzSignUp201JSONResponse(azUser(u)), nil
}

// AzSignIn implements POST /sign_in (Authentication Zero).
func (s *Server) AzSignIn(ctx context.Context, req gen.AzSignInRequestObject) (gen.AzSignInResponseObject, error) {
	b := azBody(req.JSONBody, req.FormdataBody)
	spec := s.azSpec()
	res, err := s.signIn(ctx, signInInput{Email: string(b.Email), Password: secret(b.Password), Spec: &spec})
	if err != nil {
		return nil, err
	}
	sess, err := s.store.SessionByID(ctx, res.ID)
	if err != nil {
		return nil, fmt.Errorf("load new session: %w", err)
	}
	return gen.AzSignIn201JSONResponse{Body: azSession(sess),
		Headers: gen.AzSignIn201ResponseHeaders{XSessionToken: string(res.SessionToken)}}, nil
}

// AzListSessions implements GET /sessions (Authentication Zero).
func (s *Server) AzListSessions(ctx context.Context, _ gen.AzListSessionsRequestObject) (gen.AzListSessionsResponseObject, error) {
	list, err := s.store.UserLiveSessions(ctx, principalFrom(ctx).User.ID)
	if err != nil {
		return nil, err
	}
	out := make(gen.AzListSessions200JSONResponse, 0, len(list))
	for i := range list {
		out = append(out, azSession(&list[i]))
	}
	return out, nil
}

// AzGetSession implements GET /sessions/{id} (Authentication Zero).
func (s *Server) AzGetSession(ctx context.Context, req gen.AzGetSessionRequestObject) (gen.AzGetSessionResponseObject, error) {
	sess, err := s.azOwnSession(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return gen.AzGetSession200JSONResponse(azSession(sess)), nil
}

// AzDeleteSession implements DELETE /sessions/{id} (Authentication Zero): the session ends in
// every dialect.
func (s *Server) AzDeleteSession(ctx context.Context, req gen.AzDeleteSessionRequestObject) (gen.AzDeleteSessionResponseObject, error) {
	sess, err := s.azOwnSession(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	if err := s.endSession(ctx, sess.ID); err != nil {
		return nil, err
	}
	return gen.AzDeleteSession204Response{}, nil
}

// AzUpdatePassword implements PUT /password (Authentication Zero).
func (s *Server) AzUpdatePassword(ctx context.Context, req gen.AzUpdatePasswordRequestObject) (gen.AzUpdatePasswordResponseObject, error) {
	b := azBody(req.JSONBody, req.FormdataBody)
	u, err := s.azUpdatePassword(ctx, b)
	if err != nil {
		return nil, err
	}
	return gen.AzUpdatePassword200JSONResponse(azUser(u)), nil
}

// AzPatchPassword implements PATCH /password (Authentication Zero).
func (s *Server) AzPatchPassword(ctx context.Context, req gen.AzPatchPasswordRequestObject) (gen.AzPatchPasswordResponseObject, error) {
	b := azBody(req.JSONBody, req.FormdataBody)
	u, err := s.azUpdatePassword(ctx, b)
	if err != nil {
		return nil, err
	}
	return gen.AzPatchPassword200JSONResponse(azUser(u)), nil
}

// AzUpdateEmail implements PUT /identity/email (Authentication Zero).
func (s *Server) AzUpdateEmail(ctx context.Context, req gen.AzUpdateEmailRequestObject) (gen.AzUpdateEmailResponseObject, error) {
	b := azBody(req.JSONBody, req.FormdataBody)
	u, err := s.azUpdateEmail(ctx, b)
	if err != nil {
		return nil, err
	}
	return gen.AzUpdateEmail200JSONResponse(azUser(u)), nil
}

// AzPatchEmail implements PATCH /identity/email (Authentication Zero).
func (s *Server) AzPatchEmail(ctx context.Context, req gen.AzPatchEmailRequestObject) (gen.AzPatchEmailResponseObject, error) {
	b := azBody(req.JSONBody, req.FormdataBody)
	u, err := s.azUpdateEmail(ctx, b)
	if err != nil {
		return nil, err
	}
	return gen.AzPatchEmail200JSONResponse(azUser(u)), nil
}

// AzSendEmailVerification implements POST /identity/email_verification (Authentication Zero):
// the caller's address gets a fresh link, as the generator sends one whenever asked.
func (s *Server) AzSendEmailVerification(ctx context.Context, _ gen.AzSendEmailVerificationRequestObject) (gen.AzSendEmailVerificationResponseObject, error) {
	u, err := s.store.UserByID(ctx, principalFrom(ctx).User.ID)
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	if u.Email == nil {
		return nil, &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/email", Reason: azBlank}}}
	}
	err = s.inMailTx(ctx, func(tx *store.Store) error {
		return s.mailTicketLink(ctx, tx, u, store.TicketEmailVerify, *u.Email, s.cfg.ClientURL, s.azVerifyLink(*u.Email))
	})
	if err != nil {
		return nil, err
	}
	return gen.AzSendEmailVerification204Response{}, nil
}

// AzVerifyEmail implements GET /identity/email_verification (Authentication Zero): the mailed
// link, with email and token, or sid.
func (s *Server) AzVerifyEmail(ctx context.Context, req gen.AzVerifyEmailRequestObject) (gen.AzVerifyEmailResponseObject, error) {
	p := req.Params
	raw := firstSet(p.Token, p.Sid)
	if raw == "" {
		return nil, &Error{Code: CodeInvalidTicket, Err: errors.New("no token")}
	}
	// The link of an address change made in conceal mode carries its own kind; any other token is
	// a verification's, with or without its prefix.
	ticket := secret(raw)
	if kind, ok := ticketKindOf(ticket); !ok || kind != store.TicketEmailConfirmChange {
		ticket = azTicket(raw, store.TicketEmailVerify)
	}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		t, err := tx.SpendTicket(ctx, hashSecret(ticket), store.TicketEmailVerify, store.TicketEmailConfirmChange)
		if err != nil {
			return ticketError(err, CodeInvalidTicket)
		}
		if p.Email != nil && store.NormalizeEmail(*p.Email) != store.NormalizeEmail(t.Email) {
			return &Error{Code: CodeInvalidTicket, Err: errors.New("the link's address is not the ticket's")}
		}
		if err := s.applyTicketAddress(ctx, tx, t); err != nil {
			if e := (*Error)(nil); errors.As(err, &e) && e.Code == CodeEmailInUse {
				return &Error{Code: CodeInvalidTicket, Err: e} // taken meanwhile: the link is dead
			}
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditTicketUsed, User: t.UserID, Detail: store.JSONMap{"kind": t.Kind}})
	})
	if err != nil {
		return nil, err
	}
	return gen.AzVerifyEmail204Response{}, nil
}

// AzRequestPasswordReset implements POST /identity/password_reset (Authentication Zero).
func (s *Server) AzRequestPasswordReset(ctx context.Context, req gen.AzRequestPasswordResetRequestObject) (gen.AzRequestPasswordResetResponseObject, error) {
	b := azBody(req.JSONBody, req.FormdataBody)
	if err := s.azRequestPasswordReset(ctx, string(b.Email)); err != nil {
		return nil, err
	}
	return gen.AzRequestPasswordReset204Response{}, nil
}

// AzResetPassword implements PUT /identity/password_reset (Authentication Zero).
func (s *Server) AzResetPassword(ctx context.Context, req gen.AzResetPasswordRequestObject) (gen.AzResetPasswordResponseObject, error) {
	b := azBody(req.JSONBody, req.FormdataBody)
	u, err := s.azResetPassword(ctx, b)
	if err != nil {
		return nil, err
	}
	return gen.AzResetPassword200JSONResponse(azUser(u)), nil
}

// AzPatchPasswordReset implements PATCH /identity/password_reset (Authentication Zero).
func (s *Server) AzPatchPasswordReset(ctx context.Context, req gen.AzPatchPasswordResetRequestObject) (gen.AzPatchPasswordResetResponseObject, error) {
	b := azBody(req.JSONBody, req.FormdataBody)
	u, err := s.azResetPassword(ctx, b)
	if err != nil {
		return nil, err
	}
	return gen.AzPatchPasswordReset200JSONResponse(azUser(u)), nil
}

// AzEditPasswordReset implements GET /identity/password_reset/edit (Authentication Zero): 204
// when the mailed token would still set a password. Nothing is spent.
func (s *Server) AzEditPasswordReset(ctx context.Context, req gen.AzEditPasswordResetRequestObject) (gen.AzEditPasswordResetResponseObject, error) {
	if _, err := s.azResetTicket(ctx, firstSet(req.Params.Sid, req.Params.Token)); err != nil {
		return nil, err
	}
	return gen.AzEditPasswordReset204Response{}, nil
}

// authenticateAZ accepts a live Authentication Zero session token, from "Bearer <token>" or
// Rails' "Token token=<token>", slides its expiry and records the session's activity.
func (s *Server) authenticateAZ(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	raw, ok := azToken(in.RequestValidationInput.Request.Header.Get("Authorization"))
	if !ok {
		return &Error{Code: CodeUnauthenticated}
	}
	ttl := s.cfg.RefreshTokenTTL
	u, sid, err := s.store.UseSessionToken(ctx, store.SessionTokenAZ, hashSecret(secret(raw)), ttl)
	if err == nil {
		err = s.store.SlideSession(ctx, sid, s.now().Add(ttl), azSlideGap)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeUnauthenticated, Err: errors.New("unknown or expired session token")}
	case errors.Is(err, store.ErrUserDisabled):
		return &Error{Code: CodeDisabledUser}
	case err != nil:
		e := &Error{Code: CodeInternal, Err: err}
		stateFrom(ctx).authErr = e
		return e
	}
	stateFrom(ctx).principal = &principal{User: u, SessionID: sid}
	return nil
}

// azToken reads the session token from "Bearer <t>", "Token <t>" or "Token token=<t>" (quoted
// or not, possibly followed by other Rails token options).
func azToken(header string) (string, bool) {
	h := strings.TrimSpace(header)
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "bearer"):
	case strings.EqualFold(scheme, "token"):
		if v, found := strings.CutPrefix(rest, "token="); found {
			rest, _, _ = strings.Cut(v, ",")
			rest = strings.TrimSpace(rest)
			if len(rest) >= 2 && rest[0] == '"' && rest[len(rest)-1] == '"' {
				rest = rest[1 : len(rest)-1]
			}
		}
	default:
		return "", false
	}
	return rest, rest != "" && !strings.ContainsAny(rest, " \t\",")
}

// azSignUp creates an account as the Nhost sign-up does (default roles and locale, closed
// sign-up, new users disabled) and mails a verification link; it opens no session. The address
// is stored stripped and lower-cased, as the generator's User model normalizes it.
func (s *Server) azSignUp(ctx context.Context, email string, password secret) (*store.User, error) {
	email = store.NormalizeEmail(email)
	if s.cfg.DisableSignup {
		return nil, &Error{Code: CodeSignupDisabled}
	}
	if err := s.checkNewPassword(ctx, password); err != nil {
		return nil, err
	}
	p, err := s.resolveProfile(profileOptions{}, email)
	if err != nil {
		return nil, err
	}
	hash, err := s.passwords.Hash(ctx, string(password))
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u := s.newUser(p)
	u.Email, u.PasswordHash = &email, &hash
	u.Disabled = s.cfg.DisableNewUsers
	err = s.inMailTx(ctx, func(tx *store.Store) error {
		if err := tx.CreateUser(ctx, u, p.Roles); err != nil {
			return err
		}
		if err := s.record(ctx, tx, auditEvent{Action: auditSignUp, User: u.ID, Detail: store.JSONMap{"method": methodPassword}}); err != nil {
			return err
		}
		if u.Disabled {
			return nil // waiting for an administrator: no mail yet
		}
		return s.mailTicketLink(ctx, tx, u, store.TicketEmailVerify, email, s.cfg.ClientURL, s.azVerifyLink(email))
	})
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "email" {
		if s.cfg.ConcealErrors {
			// The answer a free address gets: this user, who was never stored. The owner of
			// the address is told instead.
			return u, s.addressTaken(ctx, email, auditEvent{Action: auditSignUp, Failed: true,
				Detail: store.JSONMap{"method": methodPassword, "reason": "email-in-use"}})
		}
		return nil, &Error{Code: CodeEmailInUse, Err: err}
	}
	return u, err
}

// azUpdatePassword checks the caller's current password and sets the new one; every other
// session of the user ends.
func (s *Server) azUpdatePassword(ctx context.Context, b *gen.AzPasswordUpdateRequest) (*store.User, error) {
	p := principalFrom(ctx)
	if err := s.azCheckCurrent(ctx, p.User.ID, b.CurrentPassword, b.PasswordChallenge); err != nil {
		return nil, err
	}
	if err := s.azCheckNewPassword(b.Password, b.PasswordConfirmation); err != nil {
		return nil, err
	}
	if err := s.changePassword(ctx, p, secret(b.Password), true); err != nil {
		return nil, err
	}
	return s.store.UserByID(ctx, p.User.ID)
}

// azUpdateEmail checks the caller's current password and changes the address at once, leaving
// it unverified: a verification link goes to the new address, a notice to the old one. In
// conceal mode an immediate change would tell the caller, in this answer or the next, whether
// the address was taken; the change then waits for the link mailed to the new address, as
// Nhost's does, and the answer is the caller as they stand, whatever the address.
func (s *Server) azUpdateEmail(ctx context.Context, b *gen.AzEmailUpdateRequest) (*store.User, error) {
	p := principalFrom(ctx)
	if err := s.azCheckCurrent(ctx, p.User.ID, b.CurrentPassword, b.PasswordChallenge); err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	email := store.NormalizeEmail(b.Email) // stored stripped and lower-cased, as the generator does
	if u.EmailLower != nil && *u.EmailLower == email {
		return u, nil // the same address: nothing changes, as a Rails update with the same value
	}
	if s.cfg.ConcealErrors {
		if err := s.requestEmailChange(ctx, p, email, nil, s.azVerifyLink(email)); err != nil {
			return nil, err
		}
		return u, nil
	}
	err = s.inMailTx(ctx, func(tx *store.Store) error {
		if err := tx.SetUnverifiedEmail(ctx, u.ID, email); err != nil {
			return err
		}
		if err := s.record(ctx, tx, auditEvent{Action: auditEmailChange, User: u.ID, Session: p.SessionID}); err != nil {
			return err
		}
		if err := s.mailTicketLink(ctx, tx, u, store.TicketEmailVerify, email, s.cfg.ClientURL, s.azVerifyLink(email)); err != nil {
			return err
		}
		if u.Email == nil {
			return nil
		}
		return s.queueMail(ctx, tx, mail.KindEmailChangeNotice, u.Locale,
			mail.Data{DisplayName: u.DisplayName, Email: *u.Email, NewEmail: email}, s.now().Add(s.cfg.TicketTTL))
	})
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "email" {
		return nil, &Error{Code: CodeEmailInUse, Err: err}
	}
	if err != nil {
		return nil, err
	}
	return s.store.UserByID(ctx, u.ID)
}

// azRequestPasswordReset mails a reset link to a verified address. Every other address, unknown,
// disabled or unverified, gets one answer, as the current generator (which looks up verified
// users only) gives it, so the answer does not tell which addresses have accounts. When the server
// conceals account state, that answer is the success one; only verified addresses get mail.
func (s *Server) azRequestPasswordReset(ctx context.Context, email string) error {
	u, err := s.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && (u.Disabled || u.Email == nil || !u.EmailVerified)):
		return s.concealed(&Error{Code: codeAZResetUnverified})
	case err != nil:
		return err
	}
	return s.inMailTx(ctx, func(tx *store.Store) error {
		if err := s.record(ctx, tx, auditEvent{Action: auditPasswordResetRequest, User: u.ID}); err != nil {
			return err
		}
		return s.mailTicketLink(ctx, tx, u, store.TicketPasswordReset, *u.Email, s.cfg.ClientURL, s.azResetLink)
	})
}

// azResetPassword sets a new password with a mailed reset token and ends every session of the
// user. As in the generator, a bad token is told before any problem with the password.
func (s *Server) azResetPassword(ctx context.Context, b *gen.AzPasswordReset) (*store.User, error) {
	ticket, err := s.azResetTicket(ctx, firstSet(b.Token, b.Sid))
	if err != nil {
		return nil, err
	}
	if err := s.azCheckNewPassword(b.Password, b.PasswordConfirmation); err != nil {
		return nil, err
	}
	if err := s.checkNewPassword(ctx, secret(b.Password)); err != nil {
		return nil, err
	}
	hash, err := s.passwords.Hash(ctx, b.Password)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	var u *store.User
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		t, err := tx.SpendTicket(ctx, hashSecret(ticket), store.TicketPasswordReset)
		if err != nil {
			return ticketError(err, CodeInvalidTicket)
		}
		if err := s.applyReset(ctx, tx, t, hash, CodeInvalidTicket); err != nil {
			return err
		}
		u, err = tx.UserByID(ctx, t.UserID)
		return err
	})
	return u, err
}

// azResetTicket checks, without spending it, that a mailed reset token would set a password:
// the ticket is usable, and its user is enabled and still has the address it went to.
func (s *Server) azResetTicket(ctx context.Context, raw string) (secret, error) {
	invalid := &Error{Code: CodeInvalidTicket}
	if raw == "" {
		return "", invalid
	}
	ticket := azTicket(raw, store.TicketPasswordReset)
	t, err := s.store.UsableTicket(ctx, hashSecret(ticket), store.TicketPasswordReset)
	if errors.Is(err, store.ErrNotFound) {
		return "", invalid
	}
	if err != nil {
		return "", err
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if err != nil {
		return "", fmt.Errorf("load user: %w", err)
	}
	if u.Disabled || u.EmailLower == nil || *u.EmailLower != store.NormalizeEmail(t.Email) {
		return "", invalid
	}
	return ticket, nil
}

// azCheckCurrent checks the current password given as current_password (the published
// document: a wrong one is 400) or password_challenge (the current generator: 422).
func (s *Server) azCheckCurrent(ctx context.Context, userID uuid.UUID, current, challenge *string) error {
	given, field := current, "/current_password"
	if given == nil {
		given, field = challenge, "/password_challenge"
	}
	if given == nil {
		return &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/current_password", Reason: azBlank}}}
	}
	wrong := &Error{Code: codeAZWrongPassword}
	if field == "/password_challenge" {
		wrong = &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: field, Reason: azInvalid}}}
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	err = s.checkCurrentPassword(ctx, u, *given)
	if errors.Is(err, errPasswordMismatch) {
		return wrong
	}
	return err
}

// azCheckNewPassword applies the dialect's password rules: present, within the password policy
// with 12 characters as the dialect's floor, and equal to password_confirmation when that is
// sent. The breach check comes after, in the shared core.
func (s *Server) azCheckNewPassword(password string, confirmation *string) error {
	var fields []FieldError
	pp := s.passwordPolicy(azPasswordMin)
	if password == "" {
		fields = append(fields, FieldError{Field: "/password", Reason: azBlank})
	} else if code := pp.check(password); code != "" {
		fields = append(fields, FieldError{Field: "/password", Reason: pp.reason(code)})
	}
	if confirmation != nil && *confirmation != password {
		fields = append(fields, FieldError{Field: "/password_confirmation", Reason: azConfirmation})
	}
	if len(fields) > 0 {
		return &Error{Code: CodeInvalidRequest, Fields: fields}
	}
	return nil
}

// azOwnSession loads one of the caller's live sessions; anything else is 404.
func (s *Server) azOwnSession(ctx context.Context, rawID string) (*store.Session, error) {
	id, err := uuid.Parse(rawID)
	if err != nil {
		return nil, &Error{Code: CodeNotFound, Err: err}
	}
	sess, err := s.store.UserLiveSession(ctx, principalFrom(ctx).User.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: CodeNotFound, Err: err}
	}
	return sess, err
}

// azVerifyLink is the mailed verification link for email: the dialect's own endpoint, with the
// email and token parameters of the published document.
func (s *Server) azVerifyLink(email string) func(secret) string {
	return func(ticket secret) string {
		return s.cfg.PublicURL + "/identity/email_verification?" + url.Values{"email": {email}, "token": {string(ticket)}}.Encode()
	}
}

// azResetLink is the mailed reset link, as the generator mails it: the edit endpoint with sid.
func (s *Server) azResetLink(ticket secret) string {
	return s.cfg.PublicURL + "/identity/password_reset/edit?" + url.Values{"sid": {string(ticket)}}.Encode()
}

// azTicket is a mailed token with its kind prefix: clients may send it with or without.
func azTicket(raw, kind string) secret {
	if !strings.HasPrefix(raw, kind+":") {
		raw = kind + ":" + raw
	}
	return secret(raw)
}

// firstSet is the first of the values that is set and not empty.
func firstSet(vs ...*string) string {
	for _, v := range vs {
		if v != nil && *v != "" {
			return *v
		}
	}
	return ""
}

// azUser is a user as Rails renders it.
func azUser(u *store.User) gen.AzUser {
	email := ""
	if u.Email != nil {
		email = *u.Email
	}
	return gen.AzUser{Id: u.ID, Email: email, Verified: u.EmailVerified, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// azSession is a session as Rails renders it; updated_at is its last activity.
func azSession(s *store.Session) gen.AzSession {
	return gen.AzSession{Id: openapi_types.UUID(s.ID), UserId: s.UserID, UserAgent: s.UserAgent, IpAddress: s.IP,
		CreatedAt: s.CreatedAt, UpdatedAt: s.LastActiveAt}
}

// azBody is the request body, whichever of JSON or a form it came as (the validator has made sure
// one did).
func azBody[T any](json, form *T) *T {
	if json != nil {
		return json
	}
	return form
}
