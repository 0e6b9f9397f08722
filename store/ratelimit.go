package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Counter counts hits in fixed windows, shared by every instance. The store implements it over
// the rate_limits table; a Redis implementation (INCR + EXPIRE on the same key) can stand in
// for it without the server noticing.
type Counter interface {
	// Hit counts one hit on key in the window of length window that holds now, and returns the
	// hits in that window so far (this one included) and when the window ends.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (hits int64, resetAt time.Time, err error)
}

var _ Counter = (*Store)(nil)

// Hit is one atomic upsert: a key whose stored window has passed starts again at 1.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Time, error) {
	secs := int64(window / time.Second)
	if secs < 1 {
		secs = 1
	}
	start := now.Unix() / secs * secs
	end := start + secs
	var hits int64
	err := s.w(ctx).Raw(`INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES (?, ?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET
			hits = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.hits + 1 ELSE 1 END,
			window_start = excluded.window_start, expires_at = excluded.expires_at
		RETURNING hits`, key, start, end).Scan(&hits).Error
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count %s: %w", key, err)
	}
	return hits, time.Unix(end, 0).UTC(), nil
}

// Lockout is the failed-password state of one key (an account, or an account from one address).
type Lockout struct {
	Key         string
	UserID      uuid.UUID
	Failures    int64
	LockedUntil int64 // Unix seconds; 0 when not locked
	ExpiresAt   int64 // Unix seconds; the row is forgotten after it
}

// LockoutsOf returns the lockout rows of keys, in no order.
func (s *Store) LockoutsOf(ctx context.Context, keys ...string) ([]Lockout, error) {
	var out []Lockout
	if err := s.w(ctx).Table("lockouts").Where("key IN ?", keys).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("load lockouts: %w", err)
	}
	return out, nil
}

// FailSignIn counts one more consecutive failure on key and returns the count. The row lives
// until keep after now, so failures far apart are forgotten.
func (s *Store) FailSignIn(ctx context.Context, key string, userID uuid.UUID, now time.Time, keep time.Duration) (int64, error) {
	var n int64
	err := s.w(ctx).Raw(`INSERT INTO lockouts (key, user_id, failures, locked_until, expires_at) VALUES (?, ?, 1, 0, ?)
		ON CONFLICT (key) DO UPDATE SET failures = lockouts.failures + 1, expires_at = excluded.expires_at
		RETURNING failures`, key, userID, now.Add(keep).Unix()).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count failure: %w", err)
	}
	return n, nil
}

// LockUntil locks key until the given time, keeping its row at least that long.
func (s *Store) LockUntil(ctx context.Context, key string, until time.Time) error {
	u := until.Unix()
	err := s.w(ctx).Exec(`UPDATE lockouts SET locked_until = ?, expires_at = CASE WHEN expires_at < ? THEN ? ELSE expires_at END
		WHERE key = ?`, u, u, u, key).Error
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}

// ClearLockouts forgets the failures of keys (a successful sign-in).
func (s *Store) ClearLockouts(ctx context.Context, keys ...string) error {
	if err := s.w(ctx).Exec(`DELETE FROM lockouts WHERE key IN ?`, keys).Error; err != nil {
		return fmt.Errorf("clear lockouts: %w", err)
	}
	return nil
}

// ClearUserLockouts forgets every failure and lock of one user and reports how many rows went.
func (s *Store) ClearUserLockouts(ctx context.Context, userID uuid.UUID) (int64, error) {
	res := s.w(ctx).Exec(`DELETE FROM lockouts WHERE user_id = ?`, userID)
	if res.Error != nil {
		return 0, fmt.Errorf("clear user lockouts: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// PurgeRateLimits deletes counters and lockouts that have expired.
func (s *Store) PurgeRateLimits(ctx context.Context, now time.Time) (int64, error) {
	res := s.w(ctx).Exec(`DELETE FROM rate_limits WHERE expires_at <= ?`, now.Unix())
	if res.Error != nil {
		return 0, fmt.Errorf("purge rate limits: %w", res.Error)
	}
	n := res.RowsAffected
	res = s.w(ctx).Exec(`DELETE FROM lockouts WHERE expires_at <= ?`, now.Unix())
	if res.Error != nil {
		return n, fmt.Errorf("purge lockouts: %w", res.Error)
	}
	return n + res.RowsAffected, nil
}
