package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// signInInput is a password sign-in in any dialect.
type signInInput struct {
	Email    string // an address (Nhost)
	Login    string // a username or an address (WME); used when Email is ""
	Password secret
	// Spec is how the session lives; nil means the Nhost dialect's lifetimes.
	Spec *sessionSpec
	// Challenge: a user who must choose a new password gets *newPasswordChallenge instead of a
	// session.
	Challenge bool
	// MFAChallenge: the dialect can ask for a second factor, so a user with one gets a session
	// holding only an MFA ticket; without it such a user gets CodeMFARequired.
	MFAChallenge bool
}

// newPasswordChallenge is the answer to a sign-in with the right password by a user who must
// choose a new one before getting a session.
type newPasswordChallenge struct {
	User *store.User
}

func (*newPasswordChallenge) Error() string { return "new password required" }

// signIn checks a password and opens a session; every dialect's password login ends here.
func (s *Server) signIn(ctx context.Context, in signInInput) (*session, error) {
	// A full hashing queue refuses before the account is even looked up (see passwords.admit).
	ctx, done, err := s.passwords.admit(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	name := in.Email
	if name == "" {
		name = in.Login
	}
	// The lock is on the name given, account or not, and is looked at before the account: an
	// address without one is locked, and answered, exactly as one with an account.
	subj := subject(name)
	failures, err := s.checkLock(ctx, subj) // a locked name's password is not checked
	if err != nil {
		return nil, err
	}
	var u *store.User
	if in.Email != "" {
		u, err = s.store.UserByEmail(ctx, in.Email)
	} else {
		u, err = s.store.UserByLogin(ctx, in.Login)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.PasswordHash == nil) {
		// Same cost and the same queue as a real check, so neither timing nor a full hashing
		// queue (503) tells an unknown account from a known one; and the same count toward a lock.
		if err := s.passwords.VerifyDummy(ctx); err != nil {
			return nil, fmt.Errorf("verify password: %w", err)
		}
		if err := s.failLock(ctx, subj); err != nil {
			return nil, err
		}
		return nil, s.signInFailed(ctx, uuid.Nil, "unknown-account")
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	upgraded, err := s.passwords.Verify(ctx, string(in.Password), *u.PasswordHash)
	if errors.Is(err, errPasswordMismatch) {
		if err := s.failLock(ctx, subj); err != nil {
			return nil, err
		}
		return nil, s.signInFailed(ctx, u.ID, "wrong-password")
	}
	if err != nil {
		return nil, fmt.Errorf("verify password: %w", err)
	}
	if why := s.concealedState(u); why != "" {
		// Refused, audited and counted toward the lock as a wrong password, and the lock is not
		// cleared: nothing, now or after more tries, sets it apart from one.
		if err := s.failLock(ctx, subj); err != nil {
			return nil, err
		}
		return nil, s.signInFailed(ctx, u.ID, why)
	}
	if failures {
		if err := s.clearLock(ctx, subj); err != nil {
			return nil, err
		}
	}
	// Account state is checked only after the password, so it is told only to the owner.
	switch {
	case u.Disabled:
		return nil, &Error{Code: CodeDisabledUser}
	case s.cfg.RequireVerifiedEmail && !u.EmailVerified:
		return nil, &Error{Code: CodeUnverifiedUser}
	}
	spec := s.nhostSpec(methodPassword)
	if in.Spec != nil {
		spec = *in.Spec
	}
	// The second factor comes before a new-password challenge: answering that challenge opens a
	// session, which must not be had with the password alone.
	ticket, err := s.secondFactorGate(ctx, s.store, u, spec.Method, in.MFAChallenge)
	if err != nil {
		return nil, err
	}
	if ticket != "" {
		if upgraded != "" {
			if err := s.store.SetPasswordHash(ctx, u.ID, upgraded); err != nil {
				return nil, err
			}
		}
		return mfaChallenge(u, ticket), nil
	}
	if in.Challenge && u.NewPasswordRequired {
		return nil, &newPasswordChallenge{User: u}
	}
	if upgraded == "" {
		return s.openSessionSpec(ctx, s.store, u, spec) // the common case: no transaction of ours
	}
	var out *session
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		// An imported bcrypt hash, or older parameters: store today's with the session.
		if err := tx.SetPasswordHash(ctx, u.ID, upgraded); err != nil {
			return err
		}
		var err error
		out, err = s.openSessionSpec(ctx, tx, u, spec)
		return err
	})
	return out, err
}

// concealedState is why, in conceal mode, the right password of u opens no session and is
// answered as a wrong one ("" when it opens one, and always outside conceal mode). Anyone may
// sign an address up with a password of their own, and the sign-up answers a taken and a free
// address alike; were the new account, its address not yet proven, to sign in with that password,
// the next sign-in would tell the two apart. So an account whose address is unverified must
// follow a mailed link first (the verification link a sign-up mails, a password reset, a sign-in
// link), whether or not verified addresses are required. Accounts with no address (a username
// only) are not concerned: there is no address to tell about. A disabled account is refused the
// same way: when new accounts start disabled, its sign-up made one too.
func (s *Server) concealedState(u *store.User) string {
	switch {
	case !s.cfg.ConcealErrors:
		return ""
	case u.Disabled:
		return "disabled"
	case u.Email != nil && !u.EmailVerified:
		return "unverified-address"
	}
	return ""
}

// checkCurrentPassword checks the password of a caller a token identifies (a password or address
// change) as a sign-in checks one: within the account's per-account rate limit and lockout, and
// a wrong one counts as a failed sign-in. The client typed no name, so every name of the account
// is counted. A wrong password is errPasswordMismatch, for the dialect to tell its own way.
func (s *Server) checkCurrentPassword(ctx context.Context, u *store.User, given string) error {
	subjects := accountSubjects(u)
	if err := s.limitAccount(ctx, LimitSignIn, "password attempts", subjects); err != nil {
		return err
	}
	failures, err := s.checkLock(ctx, subjects...) // a locked account's password is not checked
	if err != nil {
		return err
	}
	if u.PasswordHash == nil {
		err = s.passwords.VerifyDummy(ctx)
		if err == nil {
			err = errPasswordMismatch
		}
	} else {
		_, err = s.passwords.Verify(ctx, given, *u.PasswordHash)
	}
	if errors.Is(err, errPasswordMismatch) {
		if err := s.failLock(ctx, subjects...); err != nil {
			return err
		}
		return errPasswordMismatch
	}
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	if failures {
		return s.clearLock(ctx, subjects...)
	}
	return nil
}

// signInFailed audits a failed sign-in and returns the answer every failure gets.
func (s *Server) signInFailed(ctx context.Context, userID uuid.UUID, why string) error {
	if err := s.record(ctx, s.store, auditEvent{Action: auditSignInFailed, Failed: true, User: userID,
		Detail: store.JSONMap{"reason": why}}); err != nil {
		return err
	}
	return &Error{Code: CodeInvalidCredentials}
}

// signInPAT opens a session with a personal access token.
func (s *Server) signInPAT(ctx context.Context, token secret) (*session, error) {
	var out *session
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		t, err := tx.UsableAPIToken(ctx, store.APITokenPAT, hashSecret(token))
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Code: CodeInvalidPAT}
		}
		if err != nil {
			return err
		}
		u, err := loadUsableUser(ctx, tx, *t.UserID)
		if err != nil {
			return err
		}
		spec := s.nhostSpec(methodPAT)
		spec.APIToken = t
		// The session lives no longer than the token (nor does it slide past it: the store
		// caps each refresh's slide at the token's expiry).
		spec.Life = min(spec.Life, t.ExpiresAt.Sub(s.now()))
		out, err = s.openSessionSpec(ctx, tx, u, spec)
		return err
	})
	var e *Error
	if errors.As(err, &e) && e.Code == CodeInvalidPAT {
		if aerr := s.record(ctx, s.store, auditEvent{Action: auditPATSignInFailed, Failed: true}); aerr != nil {
			return nil, aerr
		}
	}
	return out, err
}
