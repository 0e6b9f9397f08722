package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/store"
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

// lockoutCycle: failures count up, a lock holds its time, clearing forgets them, an expired row
// starts again, and clearing by subject takes every row of the subject and no other.
func lockoutCycle(t *testing.T, e *env) {
	now := e.now()
	const key, subject = "pw:subject-a", "subject-a"
	for want := int64(1); want <= 3; want++ {
		n, err := e.st.FailSignIn(e.ctx, key, subject, now, time.Hour)
		must(t, "fail", err)
		if n != want {
			t.Fatalf("failure %d counted as %d", want, n)
		}
	}
	must(t, "lock", e.st.LockUntil(e.ctx, key, now.Add(2*time.Hour)))
	ls, err := e.st.LockoutsOf(e.ctx, key, "other")
	must(t, "load", err)
	if len(ls) != 1 || ls[0].Failures != 3 || ls[0].LockedUntil != now.Add(2*time.Hour).Unix() || ls[0].Subject != subject ||
		ls[0].ExpiresAt < ls[0].LockedUntil {
		t.Fatalf("lockouts: %+v", ls)
	}
	if n, err := e.st.PurgeRateLimits(e.ctx, now.Add(90*time.Minute)); err != nil || n != 0 {
		t.Fatalf("purge during the lock: %d %v", n, err)
	}
	must(t, "clear", e.st.ClearLockouts(e.ctx, key))
	ls, err = e.st.LockoutsOf(e.ctx, key)
	if err != nil || len(ls) != 0 {
		t.Fatalf("cleared, still %+v (%v)", ls, err)
	}
	// A row past its expiry counts again from 1, purged or not.
	_, err = e.st.FailSignIn(e.ctx, key, subject, now, time.Hour)
	must(t, "fail", err)
	if n, err := e.st.FailSignIn(e.ctx, key, subject, now.Add(time.Hour), time.Hour); err != nil || n != 1 {
		t.Fatalf("failure after the row expired: %d %v, want 1", n, err)
	}
	_, err = e.st.FailSignIn(e.ctx, key+"|ip", subject, now, time.Hour)
	must(t, "fail", err)
	_, err = e.st.FailSignIn(e.ctx, "pw:subject-b", "subject-b", now, time.Hour)
	must(t, "fail", err)
	if n, err := e.st.ClearSubjectLockouts(e.ctx, subject, "subject-c"); err != nil || n != 2 {
		t.Fatalf("clear subject: %d %v, want 2", n, err)
	}
	if ls, err := e.st.LockoutsOf(e.ctx, "pw:subject-b"); err != nil || len(ls) != 1 {
		t.Fatalf("another subject's row after the clear: %+v (%v), want it kept", ls, err)
	}
	if n, err := e.st.ClearSubjectLockouts(e.ctx); err != nil || n != 0 {
		t.Fatalf("clear no subject: %d %v", n, err)
	}
}

// guessCap: TakeGuess grants limit tries, then refuses until the lock the last one set ends; a
// count with no try for a window is forgotten; tries about other keys are apart.
func guessCap(t *testing.T, e *env) {
	now := e.now().Truncate(time.Second) // the table keeps Unix seconds
	const key, subject, limit, window = "code:s", "s", 3, time.Hour
	take := func(at time.Time) (int64, time.Time) {
		t.Helper()
		n, until, err := e.st.TakeGuess(e.ctx, key, subject, limit, window, at)
		must(t, "take guess", err)
		return n, until
	}
	for want := int64(1); want <= limit; want++ {
		if n, _ := take(now.Add(time.Duration(want) * time.Minute)); n != want {
			t.Fatalf("try %d: took %d", want, n)
		}
	}
	lockEnd := now.Add(limit * time.Minute).Add(window) // the limit-th try, at minute 3, locks for the window
	before, err := e.st.LockoutsOf(e.ctx, key)
	must(t, "load", err)
	if n, until := take(now.Add(30 * time.Minute)); n != 0 || !until.Equal(lockEnd) {
		t.Fatalf("try over the limit: took %d, locked until %v; want refused until %v", n, until, lockEnd)
	}
	after, err := e.st.LockoutsOf(e.ctx, key)
	must(t, "load", err)
	if !reflect.DeepEqual(before, after) || len(after) != 1 || after[0].LockedUntil != lockEnd.Unix() {
		t.Fatalf("a refused try changed the row: %+v, then %+v", before, after)
	}
	if n, _, err := e.st.TakeGuess(e.ctx, "code:other", "other", limit, window, now.Add(30*time.Minute)); err != nil || n != 1 {
		t.Fatalf("another key: %d %v", n, err)
	}
	if n, until := take(lockEnd.Add(-time.Second)); n != 0 || !until.Equal(lockEnd) {
		t.Fatalf("a second before the lock ends: took %d, until %v", n, until)
	}
	// The lock ends and the count starts again.
	if n, _ := take(lockEnd); n != 1 {
		t.Fatalf("at the lock's end: took %d, want 1", n)
	}
	if n, _ := take(lockEnd.Add(time.Minute)); n != 2 {
		t.Fatalf("after the lock: took %d, want 2", n)
	}
	// No try for a window: the count is forgotten.
	if n, _ := take(lockEnd.Add(time.Minute + window)); n != 1 {
		t.Fatalf("a window after the last try: took %d, want 1", n)
	}
	// A limit of 1 locks at the first try.
	if n, _, err := e.st.TakeGuess(e.ctx, "code:one", "one", 1, window, now); err != nil || n != 1 {
		t.Fatalf("limit 1, first try: %d %v", n, err)
	}
	if n, until, err := e.st.TakeGuess(e.ctx, "code:one", "one", 1, window, now.Add(time.Second)); err != nil || n != 0 || !until.Equal(now.Add(window)) {
		t.Fatalf("limit 1, second try: %d until %v (%v)", n, until, err)
	}
	// Clearing by subject forgets the count and the lock.
	if n, err := e.st.ClearSubjectLockouts(e.ctx, "one"); err != nil || n != 1 {
		t.Fatalf("clear: %d %v", n, err)
	}
	if n, _, err := e.st.TakeGuess(e.ctx, "code:one", "one", 1, window, now.Add(2*time.Second)); err != nil || n != 1 {
		t.Fatalf("after the clear: %d %v", n, err)
	}
}

// raceTakeGuess has 16 goroutines take a guess about one subject at the same moment with 5
// allowed: exactly 5 may take one, whatever the interleaving, and the rest see the lock.
func raceTakeGuess(t *testing.T, e *env, inTx bool) {
	const limit = 5
	for i := range raceIterations / 2 {
		key := fmt.Sprintf("code:race-%d", i)
		now := e.now()
		taken := make([]int64, racers)
		errs := e.atOnce(racers, inTx, func(g int, st *store.Store) error {
			var err error
			taken[g], _, err = st.TakeGuess(e.ctx, key, key, limit, time.Hour, now)
			return err
		})
		var got []int64
		var others []string
		for g := range racers {
			switch {
			case errs[g] != nil:
				others = append(others, fmt.Sprintf("goroutine %d: %v", g, errs[g]))
			case taken[g] > 0:
				got = append(got, taken[g])
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, []int64{1, 2, 3, 4, 5}) || len(others) != 0 {
			t.Fatalf("iteration %d: tries taken as %v, errors %q; want 1…%d once each and no errors", i, got, others, limit)
		}
	}
}
