package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/server/mail"
	"github.com/latchkey/latchkey/store"
)

// Account mail flows shared by every dialect: each looks the account up, decides whether mail
// goes out, and writes the ticket and its mail in one transaction. Requests about an address
// with no account get the same answer as the others and send nothing.

// mailableUser loads the account of email for a mail flow: nil when there is none, or when it is
// disabled (no mail; the same answer).
func (s *Server) mailableUser(ctx context.Context, email string) (*store.User, error) {
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (u.Disabled || u.Email == nil)) {
		return nil, nil
	}
	return u, err
}

// sendVerificationEmail mails a fresh address-verification link to the owner of email.
func (s *Server) sendVerificationEmail(ctx context.Context, email string, redirectTo *string) error {
	target, err := s.redirectTarget(redirectTo)
	if err != nil {
		return err
	}
	u, err := s.mailableUser(ctx, email)
	if err != nil || u == nil {
		return err
	}
	if u.EmailVerified {
		if s.cfg.ConcealErrors {
			return nil // the same answer as any other address
		}
		return &Error{Code: CodeEmailAlreadyVerified}
	}
	return s.inMailTx(ctx, func(tx *store.Store) error {
		return s.mailTicket(ctx, tx, u, store.TicketEmailVerify, *u.Email, target)
	})
}

// requestPasswordReset mails a password-reset link to the owner of email.
func (s *Server) requestPasswordReset(ctx context.Context, email string, redirectTo *string) error {
	target, err := s.redirectTarget(redirectTo)
	if err != nil {
		return err
	}
	u, err := s.mailableUser(ctx, email)
	if err != nil || u == nil {
		return err
	}
	return s.inMailTx(ctx, func(tx *store.Store) error {
		if err := s.record(ctx, tx, auditEvent{Action: auditPasswordResetRequest, User: u.ID}); err != nil {
			return err
		}
		return s.mailTicket(ctx, tx, u, store.TicketPasswordReset, *u.Email, target)
	})
}

// resetPassword sets a new password with a password-reset link's ticket.
func (s *Server) resetPassword(ctx context.Context, ticket, password secret) error {
	if kind, ok := ticketKindOf(ticket); !ok || kind != store.TicketPasswordReset {
		return &Error{Code: CodeInvalidTicket}
	}
	if err := s.checkNewPassword(ctx, password); err != nil {
		return err
	}
	hash, err := s.passwords.Hash(ctx, string(password))
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.store.Tx(ctx, func(tx *store.Store) error {
		t, err := tx.SpendTicket(ctx, hashSecret(ticket), store.TicketPasswordReset)
		if err != nil {
			return ticketError(err, CodeInvalidTicket)
		}
		return s.applyReset(ctx, tx, t, hash, CodeInvalidTicket)
	})
}

// resetPasswordWithCode sets a new password with the code of a password-reset ticket mailed to
// the account login names, by username or address (WME's confirmation code). The new password is
// checked first, for every login alike, so the answer tells no one whether login has an account.
func (s *Server) resetPasswordWithCode(ctx context.Context, login string, code, password secret) error {
	if err := s.checkNewPassword(ctx, password); err != nil {
		return err
	}
	hash, err := s.passwords.Hash(ctx, string(password))
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.spendTicketCode(ctx, login, s.loginEmail, store.TicketPasswordReset, code, CodeInvalidTicket,
		func(tx *store.Store, t *store.Ticket) error { return s.applyReset(ctx, tx, t, hash, CodeInvalidTicket) })
}

// applyReset gives the owner of a spent reset ticket the new password hash and, unless
// configured otherwise, ends every session of the user and revokes their API tokens: whoever
// asked for the reset may not be the one signed in elsewhere, or holding a token. The ticket
// proves its holder reads the address, which is then verified.
func (s *Server) applyReset(ctx context.Context, tx *store.Store, t *store.Ticket, hash string, failure Code) error {
	if err := s.forgetUnprovenWaysIn(ctx, tx, t); err != nil {
		return err
	}
	if err := tx.MarkEmailVerified(ctx, t.UserID, t.Email); err != nil {
		if errors.Is(err, store.ErrEmailChanged) {
			return &Error{Code: failure, Err: err}
		}
		return err
	}
	if _, err := loadUsableUser(ctx, tx, t.UserID); err != nil {
		return err
	}
	if err := tx.SetPasswordHash(ctx, t.UserID, hash); err != nil {
		return err
	}
	var ended int64
	var err error
	if !s.cfg.KeepSessionsOnPasswordChange {
		if ended, err = tx.RevokeUserSessions(ctx, t.UserID, uuid.Nil, "password-reset"); err != nil {
			return err
		}
	}
	detail := store.JSONMap{"sessions_ended": ended}
	if err := s.revokeOnRecovery(ctx, tx, t.UserID, detail); err != nil {
		return err
	}
	return s.record(ctx, tx, auditEvent{Action: auditPasswordReset, User: t.UserID, Detail: detail})
}

// forgetUnprovenWaysIn runs, in tx, before a password-reset ticket marks its address verified.
// When nobody had proven that address yet, the account may have been opened by someone else
// under it (through a provider that does not vouch for addresses, or a passkey sign-up) and the
// owner is only now taking it back: the provider links and security keys added before this proof
// go, audited, or whoever planted them would keep a way in after the reset.
func (s *Server) forgetUnprovenWaysIn(ctx context.Context, tx *store.Store, t *store.Ticket) error {
	if t.Kind != store.TicketPasswordReset {
		return nil
	}
	u, err := tx.UserByID(ctx, t.UserID)
	if err != nil || u.EmailVerified {
		return err
	}
	links, keys, err := tx.ForgetUnprovenWaysIn(ctx, t.UserID)
	if err != nil || links+keys == 0 {
		return err
	}
	return s.record(ctx, tx, auditEvent{Action: auditUnprovenWaysForgotten, User: t.UserID,
		Detail: store.JSONMap{"provider_links": links, "security_keys": keys}})
}

// requestEmailChange mails a confirmation link to newEmail (made by link; nil: Nhost's
// /v1/verify link); the address changes when it is used. The current address gets a notice, so
// a hijacked session cannot move an account away silently. A taken address is email-in-use,
// except in conceal mode: then the caller gets the answer, and the current address the notice, a
// free address gets, and the taken address's owner is told that someone tried instead.
func (s *Server) requestEmailChange(ctx context.Context, p *principal, newEmail string, redirectTo *string, link func(secret) string) error {
	if p.User.IsAnonymous {
		return &Error{Code: CodeForbiddenAnonymous}
	}
	target, err := s.redirectTarget(redirectTo)
	if err != nil {
		return err
	}
	owner, err := s.store.UserByEmail(ctx, newEmail)
	switch {
	case err == nil && !s.cfg.ConcealErrors:
		return &Error{Code: CodeEmailInUse}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	u := p.User
	return s.inMailTx(ctx, func(tx *store.Store) error {
		if owner != nil {
			if err := s.record(ctx, tx, auditEvent{Action: auditEmailChangeRequest, User: u.ID, Session: p.SessionID,
				Failed: true, Detail: store.JSONMap{"reason": "email-in-use"}}); err != nil {
				return err
			}
			if err := s.queueAddressTaken(ctx, tx, owner); err != nil {
				return err
			}
		} else {
			if err := s.mailTicketLink(ctx, tx, u, store.TicketEmailConfirmChange, newEmail, target, link); err != nil {
				return err
			}
			if err := s.record(ctx, tx, auditEvent{Action: auditEmailChangeRequest, User: u.ID, Session: p.SessionID}); err != nil {
				return err
			}
		}
		if u.Email == nil {
			return nil
		}
		return s.queueMail(ctx, tx, mail.KindEmailChangeNotice, u.Locale,
			mail.Data{DisplayName: u.DisplayName, Email: *u.Email, NewEmail: newEmail}, s.now().Add(s.cfg.TicketTTL))
	})
}

// mailSignIn mails a sign-in link (kind signinPasswordless) or one-time code (signinOTP) to the
// owner of email, creating the account first when there is none and sign-up is open.
func (s *Server) mailSignIn(ctx context.Context, kind, email string, o profileOptions) error {
	target, err := s.redirectTarget(o.RedirectTo)
	if err != nil {
		return err
	}
	u, err := s.store.UserByEmail(ctx, email)
	create := errors.Is(err, store.ErrNotFound)
	switch {
	case create && s.cfg.DisableSignup:
		return s.concealed(&Error{Code: CodeSignupDisabled})
	case create:
		p, err := s.resolveProfile(o, email)
		if err != nil {
			return err
		}
		u = s.newUser(p)
		u.Email, u.Disabled = &email, s.cfg.DisableNewUsers
		u.Roles = p.Roles
	case err != nil:
		return err
	case u.Disabled:
		return s.concealed(&Error{Code: CodeDisabledUser})
	}
	err = s.inMailTx(ctx, func(tx *store.Store) error {
		if create {
			if err := tx.CreateUser(ctx, u, u.Roles); err != nil {
				return err
			}
			method := methodMagicLink
			if kind == store.TicketSignInOTP {
				method = methodEmailOTP
			}
			if err := s.record(ctx, tx, auditEvent{Action: auditSignUp, User: u.ID, Detail: store.JSONMap{"method": method}}); err != nil {
				return err
			}
			if u.Disabled {
				return nil // created, waiting for an administrator: no way in yet
			}
		}
		return s.mailTicket(ctx, tx, u, kind, *u.Email, target)
	})
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "email" {
		return s.mailSignIn(ctx, kind, email, o) // created meanwhile by a concurrent request: mail that account
	}
	return err
}

// addressTaken is conceal mode's answer to a sign-up whose address is taken, recorded as ev: the
// caller gets the answer a free address gets (nothing to tell it apart), and the address's owner,
// who may be the caller having forgotten the account, is told by mail that someone tried.
func (s *Server) addressTaken(ctx context.Context, email string, ev auditEvent) error {
	owner, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted meanwhile: nobody to tell
	}
	if err != nil {
		return err
	}
	return s.inMailTx(ctx, func(tx *store.Store) error {
		if err := s.record(ctx, tx, ev); err != nil {
			return err
		}
		return s.queueAddressTaken(ctx, tx, owner)
	})
}

// queueAddressTaken queues, through st, the notice that someone tried to use owner's address for
// a new account or another one. A disabled account gets no mail, as in every other mail flow.
func (s *Server) queueAddressTaken(ctx context.Context, st *store.Store, owner *store.User) error {
	if owner.Disabled || owner.Email == nil {
		return nil
	}
	return s.queueMail(ctx, st, mail.KindAccountExists, owner.Locale,
		mail.Data{DisplayName: owner.DisplayName, Email: *owner.Email}, s.now().Add(s.cfg.TicketTTL))
}

// concealed is nil in conceal mode, so a mail request about an account that cannot receive one
// gets the same answer as any other; otherwise it is err.
func (s *Server) concealed(err error) error {
	if s.cfg.ConcealErrors {
		return nil
	}
	return err
}
