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
// several times within moments. The first use spends it and stores its successor in one atomic
// step (store.RotateRefreshToken); every later use within RefreshReuseLeeway of that spend gets
// the same successor, which the spent row keeps sealed under a key only holders of the spent
// token can derive. A use after the leeway is a replay of a spent token, the mark of a stolen one:
// the whole session ends and the event is audited.
func (s *Server) refresh(ctx context.Context, presented secret) (*session, error) {
	now := s.now()
	next, err := newOpaqueToken()
	if err != nil {
		return nil, err
	}
	sealed, err := sealSuccessor(presented, next)
	if err != nil {
		return nil, err
	}
	row := &store.RefreshToken{ID: uuid.New(), TokenHash: hashSecret(next), ExpiresAt: now.Add(s.cfg.RefreshTokenTTL)}
	u, sid, spent, err := s.store.RotateRefreshToken(ctx, store.Rotation{
		Hash:             hashSecret(presented),
		Sealed:           sealed,
		Next:             row,
		SessionExpiresAt: now.Add(s.cfg.RefreshTokenTTL),
	})
	switch {
	case err == nil:
		return s.issueFor(u, sid, next, row.ID)
	case errors.Is(err, store.ErrAlreadyUsed):
		if s.cfg.RefreshReuseLeeway > 0 && now.Sub(*spent.UsedAt) <= s.cfg.RefreshReuseLeeway {
			return s.refreshWithinLeeway(ctx, presented, spent)
		}
		return nil, s.refreshReused(ctx, spent)
	case errors.Is(err, store.ErrUserDisabled):
		return nil, &Error{Code: CodeDisabledUser}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired):
		return nil, &Error{Code: CodeInvalidRefreshToken, Err: err}
	default:
		return nil, err
	}
}

// refreshWithinLeeway answers a racing tab: it follows the chain from the spent token to its
// live successor and hands that out with a fresh access token, provided the session still lives.
func (s *Server) refreshWithinLeeway(ctx context.Context, tok secret, rt *store.RefreshToken) (*session, error) {
	for range maxSuccessorWalk {
		if rt.Successor == nil {
			return nil, &Error{Code: CodeInvalidRefreshToken, Err: errors.New("spent token without a successor")}
		}
		succ, err := openSuccessor(tok, rt.Successor)
		if err != nil {
			return nil, &Error{Code: CodeInvalidRefreshToken, Err: err}
		}
		next, err := s.store.RefreshTokenByHash(ctx, hashSecret(succ))
		if err != nil {
			return nil, refreshRefused(err)
		}
		if next.UsedAt == nil {
			u, err := s.store.LiveSessionUser(ctx, next.SessionID)
			if err != nil {
				return nil, refreshRefused(err)
			}
			if u.Disabled {
				return nil, &Error{Code: CodeDisabledUser}
			}
			return s.issueFor(u, next.SessionID, succ, next.ID)
		}
		tok, rt = succ, next
	}
	return nil, &Error{Code: CodeInvalidRefreshToken, Err: errors.New("successor chain too long")}
}

// refreshReused ends the session of a spent token replayed after the leeway, records it, and
// returns the answer the caller gets.
func (s *Server) refreshReused(ctx context.Context, rt *store.RefreshToken) error {
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		sess, err := tx.SessionByID(ctx, rt.SessionID)
		if err != nil {
			return err
		}
		if err := tx.RevokeSession(ctx, rt.SessionID, "refresh-token-reuse"); err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditRefreshReuse, Failed: true,
			User: sess.UserID, Session: sess.ID, Detail: store.JSONMap{"refresh_token_id": rt.ID.String()}})
	})
	if err != nil {
		return err
	}
	return &Error{Code: CodeInvalidRefreshToken, Err: errors.New("spent refresh token replayed; session revoked")}
}

// refreshRefused turns "no such live row" into invalid-refresh-token and keeps other errors.
func refreshRefused(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Code: CodeInvalidRefreshToken, Err: err}
	}
	return fmt.Errorf("refresh: %w", err)
}
