package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// profileOptions are the optional choices a new user makes (Nhost's SignUpOptions).
type profileOptions struct {
	DisplayName  *string
	Locale       *string
	Metadata     map[string]any
	DefaultRole  *string
	AllowedRoles *[]string
	RedirectTo   *string // where mailed links lead back to
}

// profile is what resolveProfile settles from the options and the server's rules.
type profile struct {
	DisplayName string
	Locale      string
	Metadata    store.JSONMap
	DefaultRole string
	Roles       []string
}

// resolveProfile applies the server's rules to sign-up options: requested roles must be among
// the configured default allowed roles, the default role among the granted ones, the locale among
// the allowed locales. displayName falls back to fallbackName.
func (s *Server) resolveProfile(o profileOptions, fallbackName string) (profile, error) {
	p := profile{
		DisplayName: fallbackName,
		Locale:      s.cfg.DefaultLocale,
		Metadata:    store.JSONMap(o.Metadata),
		DefaultRole: s.cfg.DefaultRole,
		Roles:       slices.Clone(s.cfg.DefaultAllowedRoles),
	}
	if o.DisplayName != nil {
		p.DisplayName = *o.DisplayName
	}
	if o.Locale != nil {
		if !slices.Contains(s.cfg.AllowedLocales, *o.Locale) {
			return p, &Error{Code: CodeLocaleNotAllowed}
		}
		p.Locale = *o.Locale
	}
	if o.AllowedRoles != nil {
		for _, r := range *o.AllowedRoles {
			if !slices.Contains(s.cfg.DefaultAllowedRoles, r) {
				return p, &Error{Code: CodeRoleNotAllowed}
			}
		}
		p.Roles = uniqueSorted(*o.AllowedRoles)
	}
	if o.DefaultRole != nil {
		p.DefaultRole = *o.DefaultRole
	}
	if !slices.Contains(p.Roles, p.DefaultRole) {
		return p, &Error{Code: CodeDefaultRoleNotAllowed}
	}
	if p.Metadata == nil {
		p.Metadata = store.JSONMap{}
	}
	return p, nil
}

func uniqueSorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// signUpInput is an email/password sign-up.
type signUpInput struct {
	Email    string
	Password secret
	Options  profileOptions
}

// signUp creates an account and, unless addresses must be verified first or new users start
// disabled, signs it in. A nil session with a nil error means "created, no session yet". In
// conceal mode a taken address gets that answer too, and its owner a notice; so that the
// answers match, a new account then gets no session either, but the verification link, which
// signs it in.
func (s *Server) signUp(ctx context.Context, in signUpInput) (*session, error) {
	if s.cfg.DisableSignup {
		return nil, &Error{Code: CodeSignupDisabled}
	}
	if err := s.checkNewPassword(ctx, in.Password); err != nil {
		return nil, err
	}
	p, err := s.resolveProfile(in.Options, in.Email)
	if err != nil {
		return nil, err
	}
	target, err := s.redirectTarget(in.Options.RedirectTo)
	if err != nil {
		return nil, err
	}
	// Hash before looking at the address, so a taken address costs the same time as a free one.
	hash, err := s.passwords.Hash(ctx, string(in.Password))
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u := s.newUser(p)
	u.Email, u.PasswordHash = &in.Email, &hash
	u.Disabled = s.cfg.DisableNewUsers

	return s.createEmailAccount(ctx, u, p.Roles, in.Email, target, methodPassword, nil, nil)
}

// createEmailAccount is the end of every sign-up with an address (a password's, a passkey's):
// in one transaction it runs before (nil: nothing; a passkey spends its ceremony), creates u with
// roles, runs after (nil: nothing; a passkey stores its key), audits it and, unless u starts disabled,
// opens its session, or mails the verification link when addresses must be verified first or
// errors are concealed (no session then). A taken address is email-in-use, or in conceal mode
// the same answer as a new account and a notice to the owner. Other errors return as they are.
func (s *Server) createEmailAccount(ctx context.Context, u *store.User, roles []string, email, target, method string,
	before, after func(tx *store.Store) error) (*session, error) {
	var out *session
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if before != nil {
			if err := before(tx); err != nil {
				return err
			}
		}
		if err := tx.CreateUser(ctx, u, roles); err != nil {
			return err
		}
		if after != nil {
			if err := after(tx); err != nil {
				return err
			}
		}
		if err := s.record(ctx, tx, auditEvent{Action: auditSignUp, User: u.ID, Detail: store.JSONMap{"method": method}}); err != nil {
			return err
		}
		if u.Disabled {
			return nil
		}
		if s.cfg.RequireVerifiedEmail || s.cfg.ConcealErrors {
			return s.mailTicket(ctx, tx, u, store.TicketEmailVerify, email, target)
		}
		var err error
		out, err = s.openSession(ctx, tx, u, method)
		return err
	})
	if err == nil && out == nil {
		s.wakeMailer()
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "email" {
		if s.cfg.ConcealErrors {
			return nil, s.addressTaken(ctx, email, auditEvent{Action: auditSignUp, Failed: true,
				Detail: store.JSONMap{"method": method, "reason": "email-in-use"}})
		}
		return nil, &Error{Code: CodeEmailInUse, Err: err}
	}
	return out, err
}

// newUser starts a user record from a resolved profile.
func (s *Server) newUser(p profile) *store.User {
	now := s.now()
	id := uuid.New()
	return &store.User{
		ID:          id,
		ZUID:        newZUID(zuidUser),
		CreatedAt:   now,
		UpdatedAt:   now,
		DisplayName: p.DisplayName,
		Locale:      p.Locale,
		Metadata:    p.Metadata,
		DefaultRole: p.DefaultRole,
	}
}

// anonymousRole is the role of anonymous users, as in Nhost.
const anonymousRole = "anonymous"

// signInAnonymous creates an anonymous user and signs it in.
func (s *Server) signInAnonymous(ctx context.Context, o profileOptions) (*session, error) {
	if !s.cfg.AnonymousUsers {
		return nil, &Error{Code: CodeDisabledEndpoint}
	}
	p := profile{DisplayName: "Anonymous User", Locale: s.cfg.DefaultLocale, Metadata: store.JSONMap(o.Metadata),
		DefaultRole: anonymousRole, Roles: []string{anonymousRole}}
	if o.DisplayName != nil {
		p.DisplayName = *o.DisplayName
	}
	if o.Locale != nil {
		if !slices.Contains(s.cfg.AllowedLocales, *o.Locale) {
			return nil, &Error{Code: CodeLocaleNotAllowed}
		}
		p.Locale = *o.Locale
	}
	u := s.newUser(p)
	u.IsAnonymous = true
	var out *session
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateUser(ctx, u, p.Roles); err != nil {
			return err
		}
		if err := s.record(ctx, tx, auditEvent{Action: auditSignUp, User: u.ID, Detail: store.JSONMap{"method": methodAnonymous}}); err != nil {
			return err
		}
		var err error
		out, err = s.openSession(ctx, tx, u, methodAnonymous)
		return err
	})
	return out, err
}

// deanonymizeInput turns the caller's anonymous account into an email/password account.
type deanonymizeInput struct {
	Principal *principal
	Email     string
	Password  *secret
	// Passwordless: no password; a sign-in link goes to the new address instead.
	Passwordless bool
	Options      profileOptions
}

// deanonymize gives an anonymous user an address, a password and regular roles. The user keeps
// its id, data and sessions; its next refresh carries the new roles.
func (s *Server) deanonymize(ctx context.Context, in deanonymizeInput) error {
	u := in.Principal.User
	if !u.IsAnonymous {
		return &Error{Code: CodeUserNotAnonymous}
	}
	if in.Password == nil && !in.Passwordless {
		return &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/password", Reason: "required for email-password"}}}
	}
	if in.Password != nil {
		if err := s.checkNewPassword(ctx, *in.Password); err != nil {
			return err
		}
	}
	p, err := s.resolveProfile(in.Options, in.Email)
	if err != nil {
		return err
	}
	target, err := s.redirectTarget(in.Options.RedirectTo)
	if err != nil {
		return err
	}
	if in.Options.DisplayName == nil && u.DisplayName != "" {
		p.DisplayName = u.DisplayName
	}
	upd := *u
	upd.Email = &in.Email
	if in.Password != nil {
		hash, err := s.passwords.Hash(ctx, string(*in.Password))
		if err != nil {
			return fmt.Errorf("hash password: %w", err)
		}
		upd.PasswordHash = &hash
	}
	upd.DisplayName, upd.Locale, upd.DefaultRole = p.DisplayName, p.Locale, p.DefaultRole
	if in.Options.Metadata != nil {
		upd.Metadata = p.Metadata
	}
	if s.cfg.ConcealErrors {
		return s.deanonymizeConcealed(ctx, in, &upd, p.Roles, target)
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.Deanonymize(ctx, &upd, p.Roles); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return &Error{Code: CodeUserNotAnonymous}
			}
			return err
		}
		if err := s.record(ctx, tx, auditEvent{Action: auditDeanonymize, User: u.ID, Session: in.Principal.SessionID}); err != nil {
			return err
		}
		if in.Passwordless {
			return s.mailTicket(ctx, tx, &upd, store.TicketSignInPasswordless, in.Email, target)
		}
		if s.cfg.RequireVerifiedEmail {
			return s.mailTicket(ctx, tx, &upd, store.TicketEmailVerify, in.Email, target)
		}
		return nil
	})
	if err == nil {
		s.wakeMailer()
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "email" {
		return &Error{Code: CodeEmailInUse, Err: err}
	}
	return err
}

// deanonymizeConcealed is deanonymize in conceal mode, where neither its answer nor the account
// the caller has afterwards may tell whether the address was taken. The caller becomes a regular
// account at once, with the password and profile asked for but no address yet, whatever the
// address; the address then follows as in an address change: a free one gets a confirmation link
// that makes it the account's, verified, and signs in (which covers passwordless
// deanonymization), and the owner of a taken one is told that someone tried, their account
// untouched. The anonymous account's address is known to no one, so no notice goes elsewhere.
func (s *Server) deanonymizeConcealed(ctx context.Context, in deanonymizeInput, upd *store.User, roles []string, target string) error {
	upd.Email, upd.EmailVerified = nil, false
	return s.inMailTx(ctx, func(tx *store.Store) error {
		owner, err := tx.UserByEmail(ctx, in.Email)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.Deanonymize(ctx, upd, roles); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return &Error{Code: CodeUserNotAnonymous}
			}
			return err
		}
		if err := s.record(ctx, tx, auditEvent{Action: auditDeanonymize, User: upd.ID, Session: in.Principal.SessionID}); err != nil {
			return err
		}
		if owner != nil {
			if err := s.record(ctx, tx, auditEvent{Action: auditEmailChangeRequest, User: upd.ID, Session: in.Principal.SessionID,
				Failed: true, Detail: store.JSONMap{"reason": "email-in-use"}}); err != nil {
				return err
			}
			return s.queueAddressTaken(ctx, tx, owner)
		}
		if err := s.mailTicket(ctx, tx, upd, store.TicketEmailConfirmChange, in.Email, target); err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditEmailChangeRequest, User: upd.ID, Session: in.Principal.SessionID})
	})
}

// changePassword sets a new password for the signed-in user and, unless configured otherwise,
// ends the user's other sessions (the caller's stays). withCurrent says the caller gave the
// current password. Without it, in a session that a mailed ticket or code opened (Nhost's reset:
// the mailed link or code signs in, then the password is set; or a magic link or one-time code),
// it is an account recovery and revokes the user's API tokens as applyReset does.
func (s *Server) changePassword(ctx context.Context, p *principal, password secret, withCurrent bool) error {
	if p.User.IsAnonymous {
		return &Error{Code: CodeForbiddenAnonymous}
	}
	if err := s.checkNewPassword(ctx, password); err != nil {
		return err
	}
	hash, err := s.passwords.Hash(ctx, string(password))
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.SetPasswordHash(ctx, p.User.ID, hash); err != nil {
			return err
		}
		var ended int64
		if !s.cfg.KeepSessionsOnPasswordChange {
			if ended, err = tx.RevokeUserSessions(ctx, p.User.ID, p.SessionID, "password-change"); err != nil {
				return err
			}
		}
		detail := store.JSONMap{"other_sessions_ended": ended}
		if !withCurrent {
			if err := s.revokeIfMailedSession(ctx, tx, p, detail); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, auditEvent{Action: auditPasswordChange, User: p.User.ID, Session: p.SessionID, Detail: detail})
	})
}
