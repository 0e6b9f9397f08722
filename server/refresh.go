package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// maxSuccessorWalk bounds how far a token presented within the leeway is followed down its chain
// of successors to the live one. A chain grows by one per rotation; a tab that slept through more
// rotations than this within the leeway is not a real browser.
const maxSuccessorWalk = 8

// refresh exchanges a rotating refresh token for a new access token and its successor.
//
// Browser tabs share one stored session and race to refresh it, so the same token often arrives
// several times within moments. The first use spends it with one guarded update (store
// SpendRefreshToken); every later use within RefreshReuseLeeway of that spend gets the same
// successor, which is derived from the token and a stored salt rather than stored, so only
// hashes are kept. A use after the leeway is a replay of a spent token, the mark of a stolen
// one: the whole session ends and the event is audited.
func (s *Server) refresh(ctx context.Context, presented secret) (*session, error) {
	var (
		out     *session
		reused  bool
		invalid error
	)
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		now := s.now()
		rt, err := tx.SpendRefreshToken(ctx, hashSecret(presented))
		switch {
		case err == nil:
			// This call spent the token: extend the session and store the successor.
			if err := tx.ExtendSession(ctx, rt.SessionID, now.Add(s.cfg.RefreshTokenTTL)); err != nil {
				return refreshRefused(err)
			}
			u, err := liveUser(ctx, tx, rt.SessionID)
			if err != nil {
				return err
			}
			succ := successorOf(presented, rt.SuccessorSalt)
			salt, err := newSalt()
			if err != nil {
				return err
			}
			next := &store.RefreshToken{
				ID:            uuid.New(),
				SessionID:     rt.SessionID,
				TokenHash:     hashSecret(succ),
				SuccessorSalt: salt,
				Rotates:       true,
				CreatedAt:     now,
				ExpiresAt:     now.Add(s.cfg.RefreshTokenTTL),
			}
			if err := tx.CreateRefreshToken(ctx, next); err != nil {
				return err
			}
			out, err = s.issue(ctx, tx, u, rt.SessionID, succ, next.ID)
			return err

		case errors.Is(err, store.ErrAlreadyUsed):
			if s.cfg.RefreshReuseLeeway > 0 && now.Sub(*rt.UsedAt) <= s.cfg.RefreshReuseLeeway {
				tok, next, err := liveSuccessor(ctx, tx, presented, rt)
				if err != nil {
					return err
				}
				u, err := liveUser(ctx, tx, rt.SessionID)
				if err != nil {
					return err
				}
				out, err = s.issue(ctx, tx, u, rt.SessionID, tok, next.ID)
				return err
			}
			// A replay after the leeway: end the session. This branch changes nothing but the
			// revocation and its audit record, so it commits and the caller gets 401.
			reused = true
			sess, err := tx.SessionByID(ctx, rt.SessionID)
			if err != nil {
				return err
			}
			if err := tx.RevokeSession(ctx, rt.SessionID, "refresh-token-reuse"); err != nil {
				return err
			}
			return s.record(ctx, tx, auditEvent{Action: auditRefreshReuse, Failed: true,
				User: sess.UserID, Session: sess.ID, Detail: store.JSONMap{"refresh_token_id": rt.ID.String()}})

		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired):
			invalid = &Error{Code: CodeInvalidRefreshToken, Err: err}
			return nil
		default:
			return err
		}
	})
	switch {
	case err != nil:
		return nil, err
	case reused:
		return nil, &Error{Code: CodeInvalidRefreshToken, Err: errors.New("spent refresh token replayed; session revoked")}
	case invalid != nil:
		return nil, invalid
	}
	return out, nil
}

// liveSuccessor follows the chain from a token spent within the leeway to the first successor
// that is not spent yet, and returns it with its plaintext.
func liveSuccessor(ctx context.Context, tx *store.Store, tok secret, rt *store.RefreshToken) (secret, *store.RefreshToken, error) {
	for range maxSuccessorWalk {
		succ := successorOf(tok, rt.SuccessorSalt)
		next, err := tx.RefreshTokenByHash(ctx, hashSecret(succ))
		if err != nil {
			return "", nil, refreshRefused(err)
		}
		if next.UsedAt == nil {
			return succ, next, nil
		}
		tok, rt = succ, next
	}
	return "", nil, &Error{Code: CodeInvalidRefreshToken, Err: errors.New("successor chain too long")}
}

// liveUser loads the user of a live session, refusing ended sessions and disabled users.
func liveUser(ctx context.Context, tx *store.Store, sid uuid.UUID) (*store.User, error) {
	u, err := tx.LiveSessionUser(ctx, sid)
	if err != nil {
		return nil, refreshRefused(err)
	}
	if u.Disabled {
		return nil, &Error{Code: CodeDisabledUser}
	}
	return u, nil
}

// refreshRefused turns "no such live row" into invalid-refresh-token and keeps other errors.
func refreshRefused(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Code: CodeInvalidRefreshToken, Err: err}
	}
	return fmt.Errorf("refresh: %w", err)
}
