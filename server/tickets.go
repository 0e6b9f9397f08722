package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/server/mail"
	"github.com/latchkey/latchkey/store"
)

// ticketKind says how one kind of mailed ticket is made and what using it means.
type ticketKind struct {
	mail    mail.Kind
	ttl     func(Config) time.Duration
	link    bool   // mailed as a /v1/verify link
	codeLen int    // digits of the code mailed with it
	method  string // the method recorded on the session it opens
}

// Session methods of tickets.
const (
	methodMagicLink = "magic-link"
	methodEmailOTP  = "email-otp"
	methodTicket    = "ticket"
	// methodPasswordReset: the session of a password-reset link or code. Setting the password
	// in it (as in any session a mailed ticket opened) ends an account recovery (see
	// changePassword).
	methodPasswordReset = "password-reset"
)

// ticketKinds: every link also carries an 8-digit code for the same ticket, for people whose
// mail scanner used the link first or who read mail on another device. One-time sign-in codes
// have no link.
var ticketKinds = map[string]ticketKind{
	store.TicketEmailVerify: {mail: mail.KindEmailVerify, link: true, codeLen: 8, method: methodTicket,
		ttl: func(c Config) time.Duration { return c.EmailVerificationTTL }},
	store.TicketEmailConfirmChange: {mail: mail.KindEmailConfirmChange, link: true, codeLen: 8, method: methodTicket,
		ttl: func(c Config) time.Duration { return c.TicketTTL }},
	store.TicketSignInPasswordless: {mail: mail.KindSignInPasswordless, link: true, codeLen: 8, method: methodMagicLink,
		ttl: func(c Config) time.Duration { return c.TicketTTL }},
	store.TicketPasswordReset: {mail: mail.KindPasswordReset, link: true, codeLen: 8, method: methodPasswordReset,
		ttl: func(c Config) time.Duration { return c.TicketTTL }},
	store.TicketSignInOTP: {mail: mail.KindSignInOTP, codeLen: 6, method: methodEmailOTP,
		ttl: func(c Config) time.Duration { return c.OTPTTL }},
}

// mailTicket creates a ticket of kind for u, mailed to `to` (u's address, or the new one for an
// address change), and queues its mail, all through st. Older unused tickets of the same kind
// for u stop working. The caller wakes the mailer once st commits.
func (s *Server) mailTicket(ctx context.Context, st *store.Store, u *store.User, kind, to, redirectTo string) error {
	return s.mailTicketLink(ctx, st, u, kind, to, redirectTo, nil)
}

// mailTicketLink is mailTicket with the mailed link made by link (nil: Nhost's /v1/verify link),
// for dialects whose links lead to their own endpoints.
func (s *Server) mailTicketLink(ctx context.Context, st *store.Store, u *store.User, kind, to, redirectTo string, link func(ticket secret) string) error {
	k := ticketKinds[kind]
	now := s.now()
	ttl := k.ttl(s.cfg)
	t := &store.Ticket{ID: uuid.New(), Kind: kind, UserID: u.ID, Email: to, RedirectTo: redirectTo,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if k.link {
		t.CodeChallenge = codeChallengeFrom(ctx)
	}
	d := mail.Data{DisplayName: u.DisplayName, Email: to, ExpiresIn: ttl}
	if kind == store.TicketEmailConfirmChange {
		d.NewEmail = to
	}
	if k.link {
		tok, err := newOpaqueToken()
		if err != nil {
			return err
		}
		ticket := secret(kind + ":" + string(tok))
		t.TokenHash = hashSecret(ticket)
		if link != nil {
			d.Link = link(ticket)
		} else {
			d.Link = s.ticketLink(ticket, kind, redirectTo)
		}
	}
	code, err := newCode(k.codeLen)
	if err != nil {
		return err
	}
	t.CodeHash, d.Code = codeHash(t.ID, code), string(code)
	if err := st.CreateTicket(ctx, t); err != nil {
		return err
	}
	return s.queueMail(ctx, st, k.mail, u.Locale, d, t.ExpiresAt)
}

// ticketLink is the mailed link: Nhost's /v1/verify with the ticket, its type and the redirect.
func (s *Server) ticketLink(ticket secret, kind, redirectTo string) string {
	q := url.Values{"ticket": {string(ticket)}, "type": {kind}, "redirectTo": {redirectTo}}
	return s.cfg.PublicURL + "/v1/verify?" + q.Encode()
}

// newCode returns n uniformly random decimal digits.
func newCode(n int) (secret, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", fmt.Errorf("random code: %w", err)
	}
	return secret(fmt.Sprintf("%0*d", n, v)), nil
}

// codeHash is how a short code is stored: SHA-256 of the ticket id and the code, so equal codes
// of different tickets hash differently and no table of the million codes fits every ticket.
func codeHash(id uuid.UUID, code secret) []byte {
	h := sha256.New()
	h.Write(id[:])
	h.Write([]byte(code))
	return h.Sum(nil)
}

// redirectTarget is where a mailed link leads back to: redirectTo when the rules allow it, the
// client URL when it is absent.
func (s *Server) redirectTarget(redirectTo *string) (string, error) {
	if redirectTo == nil || *redirectTo == "" {
		return s.cfg.ClientURL, nil
	}
	if !s.redirects.allowed(*redirectTo) {
		return "", &Error{Code: CodeRedirectNotAllowed}
	}
	return *redirectTo, nil
}

// ticketKindOf reads the kind a link ticket names before its colon.
func ticketKindOf(ticket secret) (string, bool) {
	kind, _, ok := strings.Cut(string(ticket), ":")
	k, known := ticketKinds[kind]
	return kind, ok && known && k.link
}

// useTicket spends a mailed link's ticket, does what it is for and signs its owner in. It
// returns the session and the ticket's kind; or, for a link mailed by a request that carried a
// PKCE challenge, no session but the one-time code that yields it.
func (s *Server) useTicket(ctx context.Context, ticket secret) (*session, secret, string, error) {
	kind, ok := ticketKindOf(ticket)
	if !ok {
		return nil, "", "", &Error{Code: CodeInvalidTicket}
	}
	var (
		out  *session
		code secret
	)
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		t, err := tx.SpendTicket(ctx, hashSecret(ticket), kind)
		if err != nil {
			return ticketError(err, CodeInvalidTicket)
		}
		if t.CodeChallenge != "" {
			code, err = s.completeTicketCode(ctx, tx, t)
			return err
		}
		out, err = s.completeTicket(ctx, tx, t)
		return err
	})
	return out, code, kind, err
}

// useTicketCode spends the ticket of kind mailed to email whose code is code, does what it is
// for and signs its owner in.
func (s *Server) useTicketCode(ctx context.Context, email, kind string, code secret, failure Code) (*session, error) {
	var out *session
	err := s.spendTicketCode(ctx, email, nil, kind, code, failure, func(tx *store.Store, t *store.Ticket) error {
		var err error
		out, err = s.completeTicket(ctx, tx, t)
		return err
	})
	return out, err
}

// spendTicketCode finds the ticket of kind mailed to the account name names whose code is code,
// and spends it and runs fn in one transaction. The guess counts against name's cap on code
// guesses (guessCode) before anything else, account or not. The tickets are looked up by the
// address lookup finds for name (nil: name is the address); none found, the code is wrong. Each
// try of a ticket is counted before the code is compared, so concurrent guesses cannot exceed
// CodeMaxAttempts; a code out of tries is dead (its link still works).
func (s *Server) spendTicketCode(ctx context.Context, name string, lookup func(context.Context, string) (string, bool, error),
	kind string, code secret, failure Code, fn func(tx *store.Store, t *store.Ticket) error) error {
	var spent error // the answer of a right code: fn's
	right, err := s.guessCode(ctx, kind, []string{subject(name)}, func() (bool, uuid.UUID, error) {
		email := name
		if lookup != nil {
			e, ok, err := lookup(ctx, name)
			if err != nil || !ok {
				return false, uuid.Nil, err
			}
			email = e
		}
		max := s.cfg.CodeMaxAttempts
		pending, err := s.store.PendingCodeTickets(ctx, email, kind, max)
		if err != nil {
			return false, uuid.Nil, err
		}
		var owner uuid.UUID
		for _, t := range pending {
			owner = t.UserID
			ok, err := s.store.TakeTicketAttempt(ctx, t.ID, max)
			if err != nil {
				return false, owner, err
			}
			if !ok || subtle.ConstantTimeCompare(codeHash(t.ID, code), t.CodeHash) != 1 {
				continue
			}
			spent = s.store.Tx(ctx, func(tx *store.Store) error {
				if err := tx.SpendTicketByID(ctx, t.ID); err != nil {
					return ticketError(err, failure)
				}
				return fn(tx, &t)
			})
			return true, owner, nil
		}
		return false, owner, nil
	})
	if err != nil {
		return err
	}
	if right {
		return spent
	}
	if err := s.record(ctx, s.store, auditEvent{Action: auditTicketCodeFailed, Failed: true,
		Detail: store.JSONMap{"kind": kind}}); err != nil {
		return err
	}
	return &Error{Code: failure}
}

// ticketError turns the store's verdict on a ticket into the client's.
func ticketError(err error, code Code) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyUsed) || errors.Is(err, store.ErrExpired) {
		return &Error{Code: code, Err: err}
	}
	return err
}

// completeTicket does what a spent ticket is for, then opens a session for its owner in tx.
// Every ticket proves its holder reads the mailbox it went to, so each verifies that address
// (an address change makes the new address the user's).
func (s *Server) completeTicket(ctx context.Context, tx *store.Store, t *store.Ticket) (*session, error) {
	if err := s.applyTicketAddress(ctx, tx, t); err != nil {
		return nil, err
	}
	u, err := loadUsableUser(ctx, tx, t.UserID)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, tx, auditEvent{Action: auditTicketUsed, User: u.ID, Detail: store.JSONMap{"kind": t.Kind}}); err != nil {
		return nil, err
	}
	// Every mailed ticket that opens a session is a first factor (the mailbox): a user with a
	// second factor proves it too, password reset included, or a mailbox alone would be enough.
	method := ticketKinds[t.Kind].method
	ticket, err := s.secondFactorGate(ctx, tx, u, method, true)
	if err != nil {
		return nil, err
	}
	if ticket != "" {
		return mfaChallenge(u, ticket), nil
	}
	spec := s.nhostSpec(method)
	spec.ForReset = t.Kind == store.TicketPasswordReset
	return s.openSessionSpec(ctx, tx, u, spec)
}

// completeTicketCode is completeTicket for a link mailed with a PKCE challenge: the session
// opens later, at the code's exchange.
func (s *Server) completeTicketCode(ctx context.Context, tx *store.Store, t *store.Ticket) (secret, error) {
	if err := s.applyTicketAddress(ctx, tx, t); err != nil {
		return "", err
	}
	u, err := loadUsableUser(ctx, tx, t.UserID)
	if err != nil {
		return "", err
	}
	if err := s.record(ctx, tx, auditEvent{Action: auditTicketUsed, User: u.ID, Detail: store.JSONMap{"kind": t.Kind}}); err != nil {
		return "", err
	}
	return s.issueAuthCode(ctx, tx, u, t.CodeChallenge, ticketKinds[t.Kind].method)
}

// applyTicketAddress does, in tx, what a spent ticket proves about its owner's address: an
// address change makes the new address the user's, verified (email-in-use when it was taken
// meanwhile); any other ticket verifies the address it went to, if that is still the user's.
func (s *Server) applyTicketAddress(ctx context.Context, tx *store.Store, t *store.Ticket) error {
	if t.Kind != store.TicketEmailConfirmChange {
		if err := s.forgetUnprovenWaysIn(ctx, tx, t); err != nil {
			return err
		}
		err := tx.MarkEmailVerified(ctx, t.UserID, t.Email)
		if errors.Is(err, store.ErrEmailChanged) {
			return &Error{Code: CodeInvalidTicket, Err: err}
		}
		return err
	}
	err := tx.ChangeEmail(ctx, t.UserID, t.Email)
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "email" {
		return &Error{Code: CodeEmailInUse, Err: err}
	}
	if err != nil {
		return err
	}
	return s.record(ctx, tx, auditEvent{Action: auditEmailChange, User: t.UserID})
}

// inMailTx runs fn in one transaction and, once it has committed, wakes the mailer for the mail
// fn queued.
func (s *Server) inMailTx(ctx context.Context, fn func(tx *store.Store) error) error {
	if err := s.store.Tx(ctx, fn); err != nil {
		return err
	}
	s.wakeMailer()
	return nil
}
