package store

import (
	"context"
	"fmt"
	"time"
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

// Lockout is the failed-attempt state of one key. Keys name what is counted: the wrong passwords
// given for one sign-in name (an address or a username), from one client address or from all,
// or the code guesses about one. Subject is the hashed name the key is about, whether or not an
// account has it: what an administrator clears an account's rows by.
type Lockout struct {
	Key         string
	Subject     string
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
// until keep after now, so failures far apart are forgotten; an expired row the purge has not
// deleted yet starts again at 1.
func (s *Store) FailSignIn(ctx context.Context, key, subject string, now time.Time, keep time.Duration) (int64, error) {
	var n int64
	t := now.Unix()
	err := s.w(ctx).Raw(`INSERT INTO lockouts (key, subject, failures, locked_until, expires_at) VALUES (?, ?, 1, 0, ?)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN lockouts.expires_at <= ? THEN 1 ELSE lockouts.failures + 1 END,
			locked_until = CASE WHEN lockouts.expires_at <= ? THEN 0 ELSE lockouts.locked_until END,
			expires_at = CASE WHEN lockouts.locked_until > excluded.expires_at THEN lockouts.locked_until ELSE excluded.expires_at END
		RETURNING failures`, key, subject, now.Add(keep).Unix(), t, t).Scan(&n).Error
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

// TakeGuess takes one of the limit tries that key allows in any span of window, before the try
// is judged, so concurrent tries cannot exceed it. It answers the tries taken so far, this one
// included, or 0 when none is left, with the end of the lock that refuses it.
//
// The tries are counted in one guarded statement: the try that reaches limit locks key for
// window, and a count with no try for window is forgotten. So no span of window holds more than
// limit tries: within one, the count cannot be forgotten, and the lock that the limit-th try sets
// outlasts it.
func (s *Store) TakeGuess(ctx context.Context, key, subject string, limit int, window time.Duration, now time.Time) (int64, time.Time, error) {
	t, end := now.Unix(), now.Add(window).Unix()
	first := int64(0)
	if limit <= 1 {
		first = end
	}
	var n int64
	// The CAST: beside the 0, PostgreSQL would type the parameter int4, which no Unix time after
	// 2038-01-19 fits.
	err := s.w(ctx).Raw(`INSERT INTO lockouts (key, subject, failures, locked_until, expires_at) VALUES (?, ?, 1, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN lockouts.expires_at <= ? THEN 1 ELSE lockouts.failures + 1 END,
			locked_until = CASE WHEN (CASE WHEN lockouts.expires_at <= ? THEN 1 ELSE lockouts.failures + 1 END) >= ? THEN CAST(? AS BIGINT) ELSE 0 END,
			expires_at = ?
		WHERE lockouts.locked_until <= ?
		RETURNING failures`, key, subject, first, end, t, t, limit, end, end, t).Scan(&n).Error
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("take guess: %w", err)
	}
	if n > 0 {
		return n, time.Time{}, nil
	}
	ls, err := s.LockoutsOf(ctx, key)
	if err != nil {
		return 0, time.Time{}, err
	}
	until := now.Add(window) // unlocked since: the statement saw a lock that has just ended
	if len(ls) == 1 && ls[0].LockedUntil > t {
		until = time.Unix(ls[0].LockedUntil, 0).UTC()
	}
	return 0, until, nil
}

// ClearLockouts forgets the failures of keys (a successful sign-in).
func (s *Store) ClearLockouts(ctx context.Context, keys ...string) error {
	if err := s.w(ctx).Exec(`DELETE FROM lockouts WHERE key IN ?`, keys).Error; err != nil {
		return fmt.Errorf("clear lockouts: %w", err)
	}
	return nil
}

// ClearSubjectLockouts forgets every failure, lock and guess count about the subjects (the
// names of one account) and reports how many rows went.
func (s *Store) ClearSubjectLockouts(ctx context.Context, subjects ...string) (int64, error) {
	if len(subjects) == 0 {
		return 0, nil
	}
	res := s.w(ctx).Exec(`DELETE FROM lockouts WHERE subject IN ?`, subjects)
	if res.Error != nil {
		return 0, fmt.Errorf("clear lockouts: %w", res.Error)
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
