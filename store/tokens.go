package store

import (
	"context"
	"fmt"
	"time"
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

// SpendRefreshToken spends a rotating refresh token with one guarded update, so that of any
// number of concurrent callers (on any number of instances) exactly one wins. The winner gets the
// token with UsedAt set. The others get the token as it stands with ErrAlreadyUsed, or
// ErrExpired, or ErrNotFound when the hash is unknown or the token does not rotate.
func (s *Store) SpendRefreshToken(ctx context.Context, hash []byte) (*RefreshToken, error) {
	now := s.now()
	var won []RefreshToken
	err := s.w(ctx).Raw(`UPDATE refresh_tokens SET used_at = ?
		WHERE token_hash = ? AND rotates AND used_at IS NULL AND expires_at > ?
		RETURNING id, session_id, token_hash, successor_salt, rotates, created_at, expires_at, used_at`,
		now, hash, now).Scan(&won).Error
	if err != nil {
		return nil, fmt.Errorf("spend refresh token: %w", err)
	}
	if len(won) == 1 {
		return &won[0], nil
	}
	// Lost: find out why. In PostgreSQL (read committed) a concurrent winner's update held the
	// row until it committed, so this read sees its result; SQLite serialises the writers.
	rt, err := s.RefreshTokenByHash(ctx, hash)
	switch {
	case err != nil:
		return nil, err
	case !rt.Rotates:
		return nil, ErrNotFound
	case rt.UsedAt != nil:
		return rt, ErrAlreadyUsed
	default:
		return rt, ErrExpired
	}
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
	if err := s.w(ctx).Model(&APIToken{}).Where("id = ?", t.ID).UpdateColumn("last_used_at", now).Error; err != nil {
		return nil, fmt.Errorf("record api token use: %w", err)
	}
	t.LastUsedAt = &now
	return &t, nil
}

// Purge deletes what no longer serves a purpose: refresh tokens past their expiry or spent before
// spentBefore (reuse of those is no longer detected, only refused), and sessions that ended
// before endedBefore. It reports how many rows went.
func (s *Store) Purge(ctx context.Context, spentBefore, endedBefore time.Time) (int64, error) {
	now := s.now()
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
	return n + res.RowsAffected, nil
}
