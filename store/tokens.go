package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// CreateRefreshToken inserts the hash of a new refresh token.
func (s *Store) CreateRefreshToken(ctx context.Context, rt *RefreshToken) error {
	if err := translate(s.w(ctx).Create(rt).Error); err != nil {
		return fmt.Errorf("insert refresh token: %w", err)
	}
	return nil
}

// RefreshTokenByHash loads a refresh token whatever its state.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (*RefreshToken, error) {
	var rt RefreshToken
	if err := s.w(ctx).Where("token_hash = ?", hash).Take(&rt).Error; err != nil {
		return nil, translate(err)
	}
	return &rt, nil
}

// Rotation is one use of a rotating refresh token: the token presented and the one that replaces it.
type Rotation struct {
	Hash             []byte        // hash of the presented token
	Sealed           []byte        // the successor's plaintext, sealed for holders of the presented token
	Next             *RefreshToken // the successor: ID, TokenHash and ExpiresAt set by the caller
	SessionExpiresAt time.Time     // the session's new expiry
}

// RotateRefreshToken spends a rotating refresh token and stores its successor in one atomic step,
// provided the token is unspent and unexpired, its session live and its user enabled. Of any
// number of concurrent callers, on any number of instances, exactly one succeeds. It returns the
// session's user with roles, and the session id.
//
// Otherwise nothing changes and the error says why: ErrAlreadyUsed (with the spent row, whose
// sealed successor serves the reuse leeway), ErrExpired, ErrUserDisabled, or ErrNotFound (unknown
// or non-rotating token, or an ended session).
func (s *Store) RotateRefreshToken(ctx context.Context, r Rotation) (*User, uuid.UUID, *RefreshToken, error) {
	now := s.now()
	r.SessionExpiresAt = r.SessionExpiresAt.UTC() // SQLite compares times as text: see models.go
	r.Next.CreatedAt, r.Next.Rotates = now, true
	u, sid, ok, err := s.rotatePG(ctx, r, now)
	if !ok {
		u, sid, err = s.rotateGORM(ctx, r, now)
	}
	switch {
	case err == nil:
		r.Next.SessionID = sid
		return u, sid, nil, nil
	case errors.Is(err, ErrNotFound):
		rt, err := s.whyNotRotated(ctx, r.Hash)
		return nil, uuid.Nil, rt, err
	default:
		// translate: a successor hash that collides is a ConflictError on PostgreSQL's path too,
		// as it already is on the GORM path.
		return nil, uuid.Nil, nil, fmt.Errorf("rotate refresh token: %w", translate(err))
	}
}

// whyNotRotated explains a rotation that changed nothing. In PostgreSQL (read committed) a
// concurrent winner held the row until it committed, so this read sees its result; SQLite
// serialises writers.
func (s *Store) whyNotRotated(ctx context.Context, hash []byte) (*RefreshToken, error) {
	now := s.now()
	rt, err := s.RefreshTokenByHash(ctx, hash)
	switch {
	case err != nil:
		return nil, err
	case !rt.Rotates:
		return nil, ErrNotFound
	case rt.UsedAt != nil:
		return rt, ErrAlreadyUsed
	case !rt.ExpiresAt.After(now):
		return rt, ErrExpired
	}
	var sess Session
	if err := s.w(ctx).Where("id = ?", rt.SessionID).Take(&sess).Error; err != nil {
		return nil, translate(err)
	}
	if sess.RevokedAt != nil || !sess.ExpiresAt.After(now) {
		return nil, ErrNotFound
	}
	var u User
	if err := s.w(ctx).Where("id = ?", sess.UserID).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	if u.Disabled {
		return nil, ErrUserDisabled
	}
	// Everything held a moment ago: a concurrent change (such as a revocation) came and went.
	return nil, ErrNotFound
}

// CreateAPIToken inserts the hash of a new API token.
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken) error {
	if err := translate(s.w(ctx).Create(t).Error); err != nil {
		return fmt.Errorf("insert api token: %w", err)
	}
	return nil
}

// UsableAPIToken loads an API token of the given kind that is neither revoked nor expired, and
// records its use. Anything else is ErrNotFound.
func (s *Store) UsableAPIToken(ctx context.Context, kind string, hash []byte) (*APIToken, error) {
	now := s.now()
	var t APIToken
	err := s.w(ctx).Where("token_hash = ? AND kind = ? AND revoked_at IS NULL AND expires_at > ?", hash, kind, now).
		Take(&t).Error
	if err != nil {
		return nil, translate(err)
	}
	if err := s.recordTokenUse(ctx, &t, now); err != nil {
		return nil, err
	}
	return &t, nil
}

// recordTokenUse marks an API token, and t, as used at now.
func (s *Store) recordTokenUse(ctx context.Context, t *APIToken, now time.Time) error {
	if err := s.w(ctx).Model(&APIToken{}).Where("id = ?", t.ID).UpdateColumn("last_used_at", now).Error; err != nil {
		return fmt.Errorf("record api token use: %w", err)
	}
	t.LastUsedAt = &now
	return nil
}

// UserPATs lists the personal access tokens of a user that still sign in (neither revoked nor
// expired), newest first.
func (s *Store) UserPATs(ctx context.Context, userID uuid.UUID) ([]APIToken, error) {
	var out []APIToken
	err := s.r(ctx).Where("user_id = ? AND kind = ? AND revoked_at IS NULL AND expires_at > ?", userID, APITokenPAT, s.now()).
		Order("created_at DESC, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list personal access tokens: %w", err)
	}
	return out, nil
}

// RevokeUserPAT revokes a personal access token of the user that still signs in, ends the
// sessions it opened, and returns the revoked token with the number of sessions that ended. Any
// other token (another user's, a Zesty one, one already revoked or expired, an unknown id) is
// ErrNotFound, and nothing is written.
func (s *Store) RevokeUserPAT(ctx context.Context, userID, id uuid.UUID) (*APIToken, int64, error) {
	now := s.now()
	var (
		revoked []APIToken
		ended   int64
	)
	err := s.Tx(ctx, func(tx *Store) error {
		// One guarded statement: of concurrent revocations, one changes the row and gets it.
		err := tx.w(ctx).Raw(`UPDATE api_tokens SET revoked_at = ?
			WHERE id = ? AND user_id = ? AND kind = ? AND revoked_at IS NULL AND expires_at > ?
			RETURNING *`, now, id, userID, APITokenPAT, now).Scan(&revoked).Error
		if err != nil {
			return fmt.Errorf("revoke personal access token: %w", err)
		}
		if len(revoked) == 0 {
			return ErrNotFound
		}
		ended, err = tx.endTokenSessions(ctx, "api_token_id = ?", id)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return &revoked[0], ended, nil
}

// RevokedTokens counts what a revocation of a user's API tokens ended.
type RevokedTokens struct {
	PATs         int64 // personal access tokens
	AccessTokens int64 // Zesty access tokens the user created
	Sessions     int64 // live sessions opened with any of them
}

// RevokeUserAPITokens revokes, for an account recovery, every API token the user could have
// handed to someone: their personal access tokens and the Zesty access tokens they created; and
// it ends every session opened with one of them.
func (s *Store) RevokeUserAPITokens(ctx context.Context, userID uuid.UUID) (RevokedTokens, error) {
	now := s.now()
	var out RevokedTokens
	err := s.Tx(ctx, func(tx *Store) error {
		res := tx.w(ctx).Model(&APIToken{}).Where("user_id = ? AND kind = ? AND revoked_at IS NULL", userID, APITokenPAT).
			UpdateColumn("revoked_at", now)
		if res.Error != nil {
			return fmt.Errorf("revoke personal access tokens: %w", res.Error)
		}
		out.PATs = res.RowsAffected
		res = tx.w(ctx).Model(&APIToken{}).Where("created_by = ? AND kind = ? AND revoked_at IS NULL", userID, APITokenZesty).
			UpdateColumn("revoked_at", now)
		if res.Error != nil {
			return fmt.Errorf("revoke access tokens: %w", res.Error)
		}
		out.AccessTokens = res.RowsAffected
		// A session is its user's; the user's sessions opened with a token were opened with
		// one of the PATs just revoked (or revoked before, whose sessions already ended).
		var err error
		out.Sessions, err = tx.endTokenSessions(ctx, "user_id = ?", userID)
		return err
	})
	if err != nil {
		return RevokedTokens{}, err
	}
	return out, nil
}

// endTokenSessions ends the live sessions opened with an API token that also match where, as
// RevokeSession ends one (every token of a session stops working with it), and reports how many
// ended.
func (s *Store) endTokenSessions(ctx context.Context, where string, args ...any) (int64, error) {
	defer s.invalidate(everyKey)
	res := s.w(ctx).Model(&Session{}).Where("api_token_id IS NOT NULL AND revoked_at IS NULL").Where(where, args...).
		Updates(map[string]any{"revoked_at": s.now(), "revoke_reason": "api-token-revoked"})
	if res.Error != nil {
		return 0, fmt.Errorf("end the sessions of revoked api tokens: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// Purge deletes what no longer serves a purpose: refresh tokens past their expiry or spent before
// spentBefore (reuse of those is no longer detected, only refused), tickets (mailed and MFA) spent or expired
// before spentBefore, sessions that ended and mail that was settled (sent or given up) before
// endedBefore. It reports how many rows went.
func (s *Store) Purge(ctx context.Context, spentBefore, endedBefore time.Time) (int64, error) {
	now := s.now()
	spentBefore, endedBefore = spentBefore.UTC(), endedBefore.UTC() // SQLite compares text: see models.go
	var n int64
	res := s.w(ctx).Where("expires_at <= ? OR used_at < ?", now, spentBefore).Delete(&RefreshToken{})
	if res.Error != nil {
		return n, fmt.Errorf("purge refresh tokens: %w", res.Error)
	}
	n += res.RowsAffected
	res = s.w(ctx).Where("expires_at < ? OR revoked_at < ?", endedBefore, endedBefore).Delete(&Session{})
	if res.Error != nil {
		return n, fmt.Errorf("purge sessions: %w", res.Error)
	}
	n += res.RowsAffected
	res = s.w(ctx).Where("expires_at <= ? OR used_at < ?", spentBefore, spentBefore).Delete(&Ticket{})
	if res.Error != nil {
		return n, fmt.Errorf("purge tickets: %w", res.Error)
	}
	n += res.RowsAffected
	res = s.w(ctx).Where("expires_at <= ? OR used_at < ?", spentBefore, spentBefore).Delete(&MFATicket{})
	if res.Error != nil {
		return n, fmt.Errorf("purge mfa tickets: %w", res.Error)
	}
	n += res.RowsAffected
	res = s.w(ctx).Where("sent_at < ? OR failed_at < ?", endedBefore, endedBefore).Delete(&OutboxMail{})
	if res.Error != nil {
		return n, fmt.Errorf("purge mail: %w", res.Error)
	}
	n += res.RowsAffected
	m, err := s.purgeFederation(ctx, now, spentBefore)
	return n + m, err
}
