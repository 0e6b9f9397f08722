package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// Ways a session can be opened, recorded on the session.
const (
	methodPassword  = "password"
	methodAnonymous = "anonymous"
	methodPAT       = "pat"
)

// session is a signed-in session as every dialect hands it out: the user, a fresh access token
// and the session's current refresh token.
type session struct {
	User            *store.User
	Roles           []string
	ID              uuid.UUID
	AccessToken     string
	AccessExpiresIn int64
	RefreshToken    secret
	RefreshTokenID  uuid.UUID
	SessionToken    secret // for sessions whose credential is a session token (Zesty)
	// MFATicket, when set, means no session was opened: the first factor passed and the user
	// must present the second with this ticket (secondFactorGate). Nothing else is set but User.
	MFATicket secret
}

// sessionSpec is how a dialect's sessions live: Nhost's refresh tokens rotate and live as long
// as the session slides; WME's are reused for their whole life and its access tokens last a day.
type sessionSpec struct {
	Method    string        // how the session was opened, recorded on it
	Rotates   bool          // the refresh token is single-use and replaced on each refresh
	Life      time.Duration // life of the session and of its refresh token
	AccessTTL time.Duration // life of its access tokens; 0: none is minted
	// TokenKind, when set, gives the session an opaque session token of that kind, living
	// TokenIdle after each use, instead of a refresh token.
	TokenKind string
	TokenIdle time.Duration
	// ForReset opens a session for a user who must choose a new password: only the session of a
	// password-reset ticket, whose next step (Nhost's) is setting that password, does.
	ForReset bool
	// APIToken is the personal access token the session is opened with: named in the audit
	// event and recorded on the session, which ends when the token is revoked.
	APIToken *store.APIToken
}

// nhostSession is the spec of sessions opened through the Nhost dialect (and the default).
func (s *Server) nhostSpec(method string) sessionSpec {
	return sessionSpec{Method: method, Rotates: true, Life: s.cfg.RefreshTokenTTL, AccessTTL: s.cfg.AccessTokenTTL}
}

// openSession opens a session for u with the Nhost dialect's lifetimes.
func (s *Server) openSession(ctx context.Context, st *store.Store, u *store.User, method string) (*session, error) {
	return s.openSessionSpec(ctx, st, u, s.nhostSpec(method))
}

// openSessionSpec opens a session for u: the session row, its first refresh token and the audit
// event are stored together (in st's transaction, when st is one), then the access token is
// minted. u.Roles is used when loaded, else read.
func (s *Server) openSessionSpec(ctx context.Context, st *store.Store, u *store.User, spec sessionSpec) (*session, error) {
	if u.NewPasswordRequired && !spec.ForReset {
		return nil, &Error{Code: CodeNewPasswordRequired}
	}
	now := s.now()
	c := clientFrom(ctx)
	sess := &store.Session{
		ID:           uuid.New(),
		UserID:       u.ID,
		Method:       spec.Method,
		CreatedAt:    now,
		LastActiveAt: now,
		ExpiresAt:    now.Add(spec.Life),
		UserAgent:    truncate(c.UserAgent, 512),
		IP:           c.IP,
	}
	tok, err := newOpaqueToken()
	if err != nil {
		return nil, err
	}
	detail := store.JSONMap{"method": spec.Method}
	if spec.APIToken != nil { // the token used is part of the record: audited token use
		detail["token_id"], detail["token_name"] = spec.APIToken.ID.String(), spec.APIToken.Name
		sess.APITokenID = &spec.APIToken.ID
	}
	ev := s.auditRow(ctx, auditEvent{Action: auditSignIn, User: u.ID, Session: sess.ID, Detail: detail})
	if spec.TokenKind != "" {
		err := st.Tx(ctx, func(tx *store.Store) error {
			if err := tx.OpenSession(ctx, sess, nil, ev); err != nil {
				return err
			}
			return tx.CreateSessionToken(ctx, &store.SessionToken{ID: uuid.New(), SessionID: sess.ID, Kind: spec.TokenKind,
				TokenHash: hashSecret(tok), CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(spec.TokenIdle)})
		})
		if err != nil {
			return nil, err
		}
		return &session{User: u, Roles: u.Roles, ID: sess.ID, SessionToken: tok}, nil
	}
	rt := &store.RefreshToken{
		ID:        uuid.New(),
		TokenHash: hashSecret(tok),
		Rotates:   spec.Rotates,
		CreatedAt: now,
		ExpiresAt: now.Add(spec.Life),
	}
	if err := st.OpenSession(ctx, sess, rt, ev); err != nil {
		return nil, err
	}
	if u.Roles == nil {
		roles, err := st.UserRoles(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		u.Roles = roles
	}
	return s.issueTTL(u, sess.ID, tok, rt.ID, spec.AccessTTL)
}

// issueFor mints an access token with the Nhost lifetime for a user whose roles are loaded.
func (s *Server) issueFor(u *store.User, sid uuid.UUID, refresh secret, refreshID uuid.UUID) (*session, error) {
	return s.issueTTL(u, sid, refresh, refreshID, s.cfg.AccessTokenTTL)
}

// issueTTL mints an access token living ttl for a user whose roles are loaded.
func (s *Server) issueTTL(u *store.User, sid uuid.UUID, refresh secret, refreshID uuid.UUID, ttl time.Duration) (*session, error) {
	access, expiresIn, err := s.mintAccessToken(u, u.Roles, sid, ttl)
	if err != nil {
		return nil, err
	}
	return &session{User: u, Roles: u.Roles, ID: sid, AccessToken: access, AccessExpiresIn: expiresIn,
		RefreshToken: refresh, RefreshTokenID: refreshID}, nil
}

// signOutInput says which sessions to end: every session of the caller, the session of a
// refresh token, or the caller's own session.
type signOutInput struct {
	All       bool
	Refresh   secret // "" when absent
	Principal *principal
}

// signOut ends sessions. Ending an unknown or already ended session is not an error: the caller's
// goal (that session being over) holds.
func (s *Server) signOut(ctx context.Context, in signOutInput) error {
	switch {
	case in.All:
		p, err := requirePrincipal(ctx)
		if err != nil {
			return err
		}
		uid := p.User.ID
		return s.store.Tx(ctx, func(tx *store.Store) error {
			n, err := tx.RevokeUserSessions(ctx, uid, uuid.Nil, "sign-out-all")
			if err != nil {
				return err
			}
			return s.record(ctx, tx, auditEvent{Action: auditSessionsEndedAll, User: uid, Detail: store.JSONMap{"sessions": n}})
		})
	case in.Refresh != "":
		rt, err := s.store.RefreshTokenByHash(ctx, hashSecret(in.Refresh))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.endSession(ctx, rt.SessionID)
	case in.Principal != nil:
		return s.endSession(ctx, in.Principal.SessionID)
	default:
		return &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/refreshToken", Reason: "a refresh token or a valid access token is required"}}}
	}
}

// endSession revokes one session and records it.
func (s *Server) endSession(ctx context.Context, sid uuid.UUID) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		sess, err := tx.SessionByID(ctx, sid)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sess.RevokedAt != nil {
			return nil
		}
		if err := tx.RevokeSession(ctx, sid, "sign-out"); err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditSignOut, User: sess.UserID, Session: sid})
	})
}

// loadUsableUser loads a user for a new session, refusing disabled ones.
func loadUsableUser(ctx context.Context, st *store.Store, id uuid.UUID) (*store.User, error) {
	u, err := st.UserByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	if u.Disabled {
		return nil, &Error{Code: CodeDisabledUser}
	}
	return u, nil
}
