package storetest

import (
	"testing"
	"time"
)

// rateLimitWindows: hits count up within a window and start again in the next; keys are apart.
func rateLimitWindows(t *testing.T, e *env) {
	now := time.Unix(1_700_000_020, 0).UTC() // 40 s into a minute
	for want := int64(1); want <= 3; want++ {
		n, reset, err := e.st.Hit(e.ctx, "ip:a", time.Minute, now)
		must(t, "hit", err)
		if n != want || !reset.Equal(time.Unix(1_700_000_040, 0)) {
			t.Fatalf("hit %d: got %d, reset %v", want, n, reset)
		}
	}
	if n, _, err := e.st.Hit(e.ctx, "ip:b", time.Minute, now); err != nil || n != 1 {
		t.Fatalf("other key: %d %v", n, err)
	}
	if n, _, err := e.st.Hit(e.ctx, "ip:a", time.Minute, now.Add(20*time.Second)); err != nil || n != 1 {
		t.Fatalf("next window: %d %v", n, err)
	}
	// Purge keeps the live windows and drops the passed ones.
	if _, err := e.st.PurgeRateLimits(e.ctx, now.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := e.st.Hit(e.ctx, "ip:a", time.Minute, now.Add(21*time.Second)); err != nil || n != 2 {
		t.Fatalf("after purge, live window kept: %d %v", n, err)
	}
	gone, err := e.st.PurgeRateLimits(e.ctx, now.Add(10*time.Minute))
	if err != nil || gone != 1 { // ip:b went with its window in the first purge
		t.Fatalf("purge all: %d %v", gone, err)
	}
}

// lockoutCycle: failures count up, a lock holds its time, clearing forgets them, and deleting
// the user deletes its rows.
func lockoutCycle(t *testing.T, e *env) {
	u := e.user()
	now := e.now()
	key := "acct:" + u.ID.String()
	for want := int64(1); want <= 3; want++ {
		n, err := e.st.FailSignIn(e.ctx, key, u.ID, now, time.Hour)
		must(t, "fail", err)
		if n != want {
			t.Fatalf("failure %d counted as %d", want, n)
		}
	}
	must(t, "lock", e.st.LockUntil(e.ctx, key, now.Add(2*time.Hour)))
	ls, err := e.st.LockoutsOf(e.ctx, key, "other")
	must(t, "load", err)
	if len(ls) != 1 || ls[0].Failures != 3 || ls[0].LockedUntil != now.Add(2*time.Hour).Unix() || ls[0].UserID != u.ID ||
		ls[0].ExpiresAt < ls[0].LockedUntil {
		t.Fatalf("lockouts: %+v", ls)
	}
	if n, err := e.st.PurgeRateLimits(e.ctx, now.Add(90*time.Minute)); err != nil || n != 0 {
		t.Fatalf("purge during the lock: %d %v", n, err)
	}
	must(t, "clear", e.st.ClearLockouts(e.ctx, key))
	ls, err = e.st.LockoutsOf(e.ctx, key)
	must(t, "load after clear", err)
	if len(ls) != 0 {
		t.Fatalf("cleared, still %+v", ls)
	}
	_, err = e.st.FailSignIn(e.ctx, key, u.ID, now, time.Hour)
	must(t, "fail", err)
	_, err = e.st.FailSignIn(e.ctx, key+"|ip", u.ID, now, time.Hour)
	must(t, "fail", err)
	if n, err := e.st.ClearUserLockouts(e.ctx, u.ID); err != nil || n != 2 {
		t.Fatalf("clear user: %d %v", n, err)
	}
	// Deleting the user deletes its rows (ON DELETE CASCADE).
	_, err = e.st.FailSignIn(e.ctx, key, u.ID, now, time.Hour)
	must(t, "fail", err)
	must(t, "DeleteUser", e.st.DeleteUser(e.ctx, u.ID))
	ls, err = e.st.LockoutsOf(e.ctx, key)
	must(t, "load after the user is deleted", err)
	if len(ls) != 0 {
		t.Fatalf("the user is deleted, its lockout rows are not: %+v", ls)
	}
}
