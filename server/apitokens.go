package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// DefaultPATMaxTTL is the longest life a personal access token may ask for unless configured
// otherwise: a year, long enough for a yearly rotation, short enough that a forgotten token dies.
const DefaultPATMaxTTL = 365 * 24 * time.Hour

// createPAT mints a personal access token for the caller. The plaintext is returned once; only
// its hash is stored.
func (s *Server) createPAT(ctx context.Context, p *principal, expiresAt time.Time, metadata map[string]any) (uuid.UUID, secret, error) {
	if p.User.IsAnonymous {
		return uuid.Nil, "", &Error{Code: CodeForbiddenAnonymous}
	}
	now := s.now()
	if !expiresAt.After(now) {
		return uuid.Nil, "", &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/expiresAt", Reason: "must be in the future"}}}
	}
	// Refused rather than shortened: the answer carries no expiry, so a client given less than
	// it asked for would only learn it when its token stopped working.
	if max := s.cfg.PATMaxTTL; expiresAt.Sub(now) > max {
		return uuid.Nil, "", &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/expiresAt",
			Reason: "must be at most " + lifeText(max) + " from now (the longest a personal access token may live)"}}}
	}
	tok, err := newOpaqueToken()
	if err != nil {
		return uuid.Nil, "", err
	}
	name, _ := metadata["name"].(string)
	uid := p.User.ID
	t := &store.APIToken{
		ID:        uuid.New(),
		Kind:      store.APITokenPAT,
		UserID:    &uid,
		Name:      truncate(name, 200),
		TokenHash: hashSecret(tok),
		Metadata:  store.JSONMap(metadata),
		CreatedAt: now,
		ExpiresAt: expiresAt.UTC(),
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateAPIToken(ctx, t); err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditPATCreate, User: uid, Session: p.SessionID,
			Detail: store.JSONMap{"token_id": t.ID.String(), "name": t.Name}})
	})
	if err != nil {
		return uuid.Nil, "", err
	}
	return t.ID, tok, nil
}

// lifeText says a duration the way people set token lives: whole days as days.
func lifeText(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// listPATs lists the caller's personal access tokens that still sign in, newest first.
func (s *Server) listPATs(ctx context.Context, p *principal) ([]store.APIToken, error) {
	return s.store.UserPATs(ctx, p.User.ID)
}

// deletePAT ends one of the caller's personal access tokens and the sessions opened with it
// (whoever holds it may have exchanged it for a session already). A token that is not the caller's,
// or no longer signs in, is not found, whoever it belongs to.
func (s *Server) deletePAT(ctx context.Context, p *principal, id uuid.UUID) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		t, ended, err := tx.RevokeUserPAT(ctx, p.User.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Code: CodeNotFound, Err: errors.New("no live personal access token of the caller has that id")}
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditPATDelete, User: p.User.ID, Session: p.SessionID,
			Detail: store.JSONMap{"token_id": t.ID.String(), "name": t.Name, "sessions_ended": ended}})
	})
}

// revokeOnRecovery revokes, in tx and unless configured otherwise, every API token the user
// could have handed to someone else: their personal access tokens and the Zesty access tokens
// they created, with the sessions opened with them (kept otherwise when sessions survive a
// password change). It runs when the password is reset (account recovery) or set by an
// administrator: whoever minted those tokens may be the one the new password locks out, and
// would otherwise keep the account. The counts go into detail, the audit event's. A change of
// password with the current one is no recovery and keeps them.
func (s *Server) revokeOnRecovery(ctx context.Context, tx *store.Store, userID uuid.UUID, detail store.JSONMap) error {
	if s.cfg.KeepPATsOnReset {
		return nil
	}
	n, err := tx.RevokeUserAPITokens(ctx, userID)
	if err != nil {
		return err
	}
	detail["pats_revoked"], detail["access_tokens_revoked"] = n.PATs, n.AccessTokens
	detail["pat_sessions_ended"] = n.Sessions // those the recovery did not end already
	return nil
}

// revokeIfMailedSession is revokeOnRecovery when the caller's session was opened by a mailed
// ticket or code (a password-reset, sign-in or verification link, or a one-time code): setting
// a password without the current one in such a session is an account recovery by whoever reads
// the mail, as a reset by ticket is.
func (s *Server) revokeIfMailedSession(ctx context.Context, tx *store.Store, p *principal, detail store.JSONMap) error {
	if s.cfg.KeepPATsOnReset || p.SessionID == uuid.Nil {
		return nil
	}
	sess, err := tx.SessionByID(ctx, p.SessionID)
	if err != nil {
		return fmt.Errorf("load the caller's session: %w", err)
	}
	if !mailedMethod(sess.Method) {
		return nil
	}
	return s.revokeOnRecovery(ctx, tx, p.User.ID, detail)
}

// mailedMethod tells whether a session opened by method was opened with a mailed ticket or code.
func mailedMethod(method string) bool {
	for _, k := range ticketKinds {
		if k.method == method {
			return true
		}
	}
	return false
}
