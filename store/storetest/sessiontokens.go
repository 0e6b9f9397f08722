package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The contract of opaque session tokens (the Zesty dialect's credential): CreateSessionToken,
// UseSessionToken's guarded sliding expiry, the cascade from sessions, and OpenSession without a
// refresh token. Registered in contracts() as "contract=session-tokens".
//
// The store has no reader for a session token's row: UseSessionToken is the only way back. So the
// round trip covers what it can observe (the session, the kind, the hash byte for byte, the expiry
// to the microsecond); created_at and last_used_at are written but nothing reads them.

// stIdle is the idle time the cases slide by: Zesty's 30 minutes.
const stIdle = 30 * time.Minute

// sessionToken creates a token of kind for sessionID that expires ttl from now.
func (e *env) sessionToken(sessionID uuid.UUID, kind string, ttl time.Duration) *store.SessionToken {
	e.t.Helper()
	now := e.now()
	tok := &store.SessionToken{
		ID: uuid.New(), SessionID: sessionID, Kind: kind, TokenHash: randomBytes(32),
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(ttl),
	}
	must(e.t, "CreateSessionToken", e.st.CreateSessionToken(e.ctx, tok))
	return tok
}

// useToken calls UseSessionToken with Zesty's kind and idle time.
func (e *env) useToken(hash []byte) (*store.User, uuid.UUID, error) {
	return e.st.UseSessionToken(e.ctx, store.SessionTokenZesty, hash, stIdle)
}

// wantUsable asserts that hash authenticates as user u (with roles) in session sid.
func (e *env) wantUsable(t *testing.T, what string, hash []byte, u *store.User, roles []string, sid uuid.UUID) {
	t.Helper()
	got, gotSID, err := e.useToken(hash)
	if err != nil {
		t.Errorf("%s: UseSessionToken: error = %v, want the user", what, err)
		return
	}
	want := *u
	want.Roles = roles
	wantEqual(t, what+": user", got, &want)
	if gotSID != sid {
		t.Errorf("%s: session = %s, want %s", what, gotSID, sid)
	}
}

// wantRefused asserts that hash does not authenticate, with want, and that nothing comes back.
func (e *env) wantRefused(t *testing.T, what string, hash []byte, want error) {
	t.Helper()
	got, sid, err := e.useToken(hash)
	wantErr(t, what+": UseSessionToken", err, want)
	if got != nil || sid != uuid.Nil {
		t.Errorf("%s: UseSessionToken = (user %v, session %s), want (nil, %s)", what, got != nil, sid, uuid.Nil)
	}
}

// ---- round trip

// sessionTokensRoundTrip writes a token with every column set (a hash no text encoding survives,
// an expiry with odd microseconds) and reads back through UseSessionToken what it can: the
// session, the kind, the hash exactly and the expiry to the microsecond.
func sessionTokensRoundTrip(t *testing.T, e *env) {
	u := e.newUser(func(u *store.User) { u.DisplayName = "Zoë Token"; u.Metadata = metadata() })
	must(t, "CreateUser", e.st.CreateUser(e.ctx, u, []string{"user", "editor"}))
	u = e.userByID(u.ID)
	s := e.session(u.ID, 24*time.Hour)
	other := e.session(u.ID, 24*time.Hour) // a second session, so the session id is not a guess

	hash := make([]byte, 32)
	for i := range hash {
		hash[i] = byte(255 - i*8) // 0xff first, 0x07 last
	}
	hash[7], hash[8] = 0x00, '\'' // a NUL and a quote in the middle
	expires := e.at(10 * time.Minute)
	tok := &store.SessionToken{
		ID: uuid.New(), SessionID: s.ID, Kind: store.SessionTokenZesty, TokenHash: bytes.Clone(hash),
		CreatedAt: e.at(-time.Hour), LastUsedAt: e.at(-time.Minute), ExpiresAt: expires,
	}
	must(t, "CreateSessionToken", e.st.CreateSessionToken(e.ctx, tok))
	// A twin with the same expiry on the other session, to find the expiry's last microsecond.
	twin := &store.SessionToken{
		ID: uuid.New(), SessionID: other.ID, Kind: store.SessionTokenZesty, TokenHash: randomBytes(32),
		CreatedAt: e.at(-time.Hour), LastUsedAt: e.at(-time.Minute), ExpiresAt: expires,
	}
	must(t, "CreateSessionToken(twin)", e.st.CreateSessionToken(e.ctx, twin))
	if c := e.rowCounts()["session_tokens"]; c != 2 {
		t.Fatalf("session_tokens rows = %d, want 2", c)
	}

	// The hash must match byte for byte: one bit off, a prefix or a longer value is another token.
	flipped := bytes.Clone(hash)
	flipped[31] ^= 0x01
	for _, h := range []struct {
		name string
		hash []byte
	}{
		{"last-bit-flipped", flipped},
		{"prefix", hash[:31]},
		{"extended", append(bytes.Clone(hash), 0x00)},
		{"empty", []byte{}},
		{"nil", nil},
	} {
		e.wantRefused(t, "hash "+h.name, h.hash, store.ErrNotFound)
	}
	// The kind must match exactly.
	for _, kind := range []string{"Zesty", "ZESTY", "zesty ", "", "nhost"} {
		got, sid, err := e.st.UseSessionToken(e.ctx, kind, hash, stIdle)
		wantErr(t, fmt.Sprintf("UseSessionToken(kind %q)", kind), err, store.ErrNotFound)
		if got != nil || sid != uuid.Nil {
			t.Errorf("UseSessionToken(kind %q) = (user %v, session %s), want nothing", kind, got != nil, sid)
		}
	}

	// One microsecond before the expiry the token works, at the expiry it does not.
	e.clock.Advance(expires.Sub(e.now()) - time.Microsecond)
	e.wantUsable(t, "a microsecond before expiry", hash, u, []string{"editor", "user"}, s.ID)
	e.clock.Advance(time.Microsecond)
	if !e.now().Equal(expires) {
		t.Fatalf("clock at %s, want the expiry %s", e.now().Format(timeFormat), expires.Format(timeFormat))
	}
	e.wantRefused(t, "the twin at its expiry", twin.TokenHash, store.ErrNotFound)
}

// sessionTokensOtherZones: expiries written in other zones compare as instants (SQLite compares
// text, which only works when every value is UTC).
func sessionTokensOtherZones(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, 24*time.Hour)
	for _, tc := range []struct {
		name     string
		ttl      time.Duration
		zone     *time.Location
		wantLive bool
	}{
		{"live-written-west-of-utc", time.Hour, time.FixedZone("EST", -5*3600), true},
		{"live-written-east-of-utc", time.Hour, time.FixedZone("LINT", 14*3600), true},
		{"expired-written-east-of-utc", -time.Hour, time.FixedZone("LINT", 14*3600), false},
		{"expired-written-west-of-utc", -time.Hour, time.FixedZone("EST", -5*3600), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			now := e.now()
			tok := &store.SessionToken{
				ID: uuid.New(), SessionID: s.ID, Kind: store.SessionTokenZesty, TokenHash: randomBytes(32),
				CreatedAt: now.In(tc.zone), LastUsedAt: now.In(tc.zone), ExpiresAt: now.Add(tc.ttl).In(tc.zone),
			}
			must(t, "CreateSessionToken", e.st.CreateSessionToken(e.ctx, tok))
			if tc.wantLive {
				e.wantUsable(t, "token", tok.TokenHash, u, []string{"user"}, s.ID)
			} else {
				e.wantRefused(t, "token", tok.TokenHash, store.ErrNotFound)
			}
		})
	}
}

// sessionTokensSubMicrosecond: the store keeps times to the microsecond (its clock is truncated
// to them): an expiry written with nanoseconds is its microsecond, on every backend, so the
// token is refused from that microsecond on, as one written without them would be.
func sessionTokensSubMicrosecond(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	expires := e.now().Add(10*time.Minute + 500*time.Nanosecond) // e.now() has no nanoseconds
	tok := &store.SessionToken{ID: uuid.New(), SessionID: s.ID, Kind: store.SessionTokenZesty, TokenHash: randomBytes(32),
		CreatedAt: e.now(), LastUsedAt: e.now(), ExpiresAt: expires}
	must(t, "CreateSessionToken", e.st.CreateSessionToken(e.ctx, tok))
	e.clock.Advance(10*time.Minute - time.Microsecond)
	e.wantUsable(t, "a microsecond before the expiry's microsecond", tok.TokenHash, u, []string{"user"}, s.ID)
	// That use slid it: write another with the same expiry to find the boundary.
	twin := &store.SessionToken{ID: uuid.New(), SessionID: s.ID, Kind: store.SessionTokenZesty, TokenHash: randomBytes(32),
		CreatedAt: e.now(), LastUsedAt: e.now(), ExpiresAt: expires}
	must(t, "CreateSessionToken(twin)", e.st.CreateSessionToken(e.ctx, twin))
	e.clock.Advance(time.Microsecond)
	e.wantRefused(t, fmt.Sprintf("token at %s, expiring %s", e.now().Format(timeFormat), expires.Format(time.RFC3339Nano)),
		twin.TokenHash, store.ErrNotFound)
}

// ---- the sliding expiry

// sessionTokensSlide: each use sets the expiry to the time of use plus idle (it moves later, or
// earlier when idle is shorter than what was left), the session is left as it was, and a refused
// use changes nothing.
func sessionTokensSlide(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, 24*time.Hour)
	sessBefore := e.sessionByID(s.ID)
	a := e.sessionToken(s.ID, store.SessionTokenZesty, 10*time.Minute)
	b := e.sessionToken(s.ID, store.SessionTokenZesty, 10*time.Minute)

	// Used at t1 = T0+9m, before the 10-minute expiry: both now expire at t1+idle.
	e.clock.Advance(9 * time.Minute)
	e.wantUsable(t, "a at T0+9m", a.TokenHash, u, []string{"user"}, s.ID)
	e.wantUsable(t, "b at T0+9m", b.TokenHash, u, []string{"user"}, s.ID)
	t1 := e.now()
	// Past the expiry written at creation: the use moved it.
	e.clock.Advance(stIdle - time.Microsecond)
	e.wantUsable(t, "a a microsecond before t1+idle", a.TokenHash, u, []string{"user"}, s.ID)
	e.clock.Advance(time.Microsecond)
	if !e.now().Equal(t1.Add(stIdle)) {
		t.Fatalf("clock at %s, want t1+idle %s", e.now().Format(timeFormat), t1.Add(stIdle).Format(timeFormat))
	}
	// Not later than t1+idle either.
	e.wantRefused(t, "b at t1+idle", b.TokenHash, store.ErrNotFound)
	// The refused use did not slide it: it stays refused.
	e.wantRefused(t, "b again after a refused use", b.TokenHash, store.ErrNotFound)
	e.clock.Advance(time.Hour)
	e.wantRefused(t, "b an hour later", b.TokenHash, store.ErrNotFound)
	// a was slid at t1+idle-1µs, so it expired an hour ago as well.
	e.wantRefused(t, "a an hour later", a.TokenHash, store.ErrNotFound)

	// The expiry is set, not extended: a token with an hour left, used with a 5-minute idle time,
	// expires 5 minutes after the use.
	c := e.sessionToken(s.ID, store.SessionTokenZesty, time.Hour)
	_, _, err := e.st.UseSessionToken(e.ctx, store.SessionTokenZesty, c.TokenHash, 5*time.Minute)
	must(t, "UseSessionToken(idle 5m)", err)
	e.clock.Advance(5 * time.Minute)
	e.wantRefused(t, "c 5 minutes after a use with a 5-minute idle time", c.TokenHash, store.ErrNotFound)

	// UseSessionToken slides the token, not the session.
	wantEqual(t, "session after uses of its tokens", e.sessionByID(s.ID), sessBefore)
}

// sessionTokensKindMismatch: a token used as another kind is not found and not slid.
func sessionTokensKindMismatch(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, 24*time.Hour)
	tok := e.sessionToken(s.ID, store.SessionTokenZesty, 10*time.Minute)
	other := e.sessionToken(s.ID, "other-kind", 10*time.Minute)
	e.clock.Advance(9 * time.Minute)
	for _, kind := range []string{"other-kind", "Zesty", ""} {
		got, sid, err := e.st.UseSessionToken(e.ctx, kind, tok.TokenHash, stIdle)
		wantErr(t, fmt.Sprintf("UseSessionToken(kind %q) of a zesty token", kind), err, store.ErrNotFound)
		if got != nil || sid != uuid.Nil {
			t.Errorf("UseSessionToken(kind %q) = (user %v, session %s), want nothing", kind, got != nil, sid)
		}
	}
	e.wantRefused(t, "a token of another kind used as zesty", other.TokenHash, store.ErrNotFound)
	// Of its own kind it works.
	if _, sid, err := e.st.UseSessionToken(e.ctx, "other-kind", other.TokenHash, stIdle); err != nil || sid != s.ID {
		t.Errorf("UseSessionToken of its own kind = (%s, %v), want (%s, nil)", sid, err, s.ID)
	}
	// The refused uses did not slide the zesty token: it expires at T0+10m as written.
	e.clock.Advance(time.Minute)
	e.wantRefused(t, "zesty token at its original expiry after refused uses", tok.TokenHash, store.ErrNotFound)
}

// sessionTokensDeadSession: the token of a revoked or expired session is not found, however long
// the token itself has left; a disabled user's live token is ErrUserDisabled.
func sessionTokensDeadSession(t *testing.T, e *env) {
	u := e.user()
	revoked := e.session(u.ID, 24*time.Hour)
	rTok := e.sessionToken(revoked.ID, store.SessionTokenZesty, time.Hour)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, revoked.ID, "test"))
	e.wantRefused(t, "token of a revoked session", rTok.TokenHash, store.ErrNotFound)

	expiring := e.session(u.ID, time.Minute)
	xTok := e.sessionToken(expiring.ID, store.SessionTokenZesty, time.Hour)
	e.wantUsable(t, "token of a session that has a minute left", xTok.TokenHash, u, []string{"user"}, expiring.ID)
	e.clock.Advance(time.Minute)
	e.wantRefused(t, "token of a session at its expiry", xTok.TokenHash, store.ErrNotFound)
	e.clock.Advance(time.Hour)
	e.wantRefused(t, "token of an expired session, later", xTok.TokenHash, store.ErrNotFound)
}

func sessionTokensDisabledUser(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, 24*time.Hour)
	tok := e.sessionToken(s.ID, store.SessionTokenZesty, time.Hour)
	must(t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, u.ID, true))
	e.wantRefused(t, "token of a disabled user", tok.TokenHash, store.ErrUserDisabled)
	// Judged as a token first: a disabled user's expired token is just not found.
	expired := e.sessionToken(s.ID, store.SessionTokenZesty, time.Minute)
	e.clock.Advance(time.Minute)
	e.wantRefused(t, "expired token of a disabled user", expired.TokenHash, store.ErrNotFound)
	// Enabled again, the live token works again.
	must(t, "SetUserDisabled(false)", e.st.SetUserDisabled(e.ctx, u.ID, false))
	e.wantUsable(t, "token after re-enabling", tok.TokenHash, e.userByID(u.ID), []string{"user"}, s.ID)

	// A refused use extends nothing: the token still dies the idle time (30 minutes) after its
	// last good use.
	e.clock.Advance(20 * time.Minute)
	must(t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, u.ID, true))
	e.wantRefused(t, "token of a disabled user, 20 minutes on", tok.TokenHash, store.ErrUserDisabled)
	must(t, "SetUserDisabled(false)", e.st.SetUserDisabled(e.ctx, u.ID, false))
	e.clock.Advance(10 * time.Minute)
	e.wantRefused(t, "token 30 minutes after its last good use", tok.TokenHash, store.ErrNotFound)
}

func sessionTokensUnknown(t *testing.T, e *env) {
	e.wantRefused(t, "unknown hash on an empty store", randomBytes(32), store.ErrNotFound)
	u := e.user()
	e.sessionToken(e.session(u.ID, time.Hour).ID, store.SessionTokenZesty, time.Hour)
	e.wantRefused(t, "unknown hash beside a live token", randomBytes(32), store.ErrNotFound)
	e.wantRefused(t, "nil hash", nil, store.ErrNotFound)
}

// sessionTokensDuplicateHash: a taken hash is a conflict on "token", whatever the kind or
// session, and the first token is untouched.
func sessionTokensDuplicateHash(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	first := e.sessionToken(s.ID, store.SessionTokenZesty, time.Hour)
	other := e.session(u.ID, time.Hour)
	before := e.rowCounts()
	for _, tc := range []struct {
		name    string
		session uuid.UUID
		kind    string
	}{
		{"same-session-same-kind", s.ID, store.SessionTokenZesty},
		{"other-session", other.ID, store.SessionTokenZesty},
		{"other-kind", s.ID, "other-kind"},
	} {
		dup := &store.SessionToken{ID: uuid.New(), SessionID: tc.session, Kind: tc.kind, TokenHash: bytes.Clone(first.TokenHash),
			ExpiresAt: e.now().Add(time.Hour)}
		wantConflict(t, "CreateSessionToken(taken hash, "+tc.name+")", e.st.CreateSessionToken(e.ctx, dup), "token")
		// Inside a transaction too, which then rolls back.
		err := e.st.Tx(e.ctx, func(tx *store.Store) error {
			dup.ID = uuid.New()
			return tx.CreateSessionToken(e.ctx, dup)
		})
		wantConflict(t, "CreateSessionToken(taken hash, "+tc.name+", in Tx)", err, "token")
	}
	if after := e.rowCounts(); !maps.Equal(before, after) {
		t.Errorf("rows changed by refused inserts: %v → %v", before, after)
	}
	e.wantUsable(t, "the first token", first.TokenHash, u, []string{"user"}, s.ID)
}

// sessionTokensCascade: purging an ended session deletes its tokens (ON DELETE CASCADE, which
// SQLite enforces only with foreign_keys on); the tokens of kept sessions stay.
func sessionTokensCascade(t *testing.T, e *env) {
	u := e.user()
	ended := e.session(u.ID, 48*time.Hour)
	gone := []*store.SessionToken{
		e.sessionToken(ended.ID, store.SessionTokenZesty, 72*time.Hour),
		e.sessionToken(ended.ID, "other-kind", 72*time.Hour),
	}
	kept := e.session(u.ID, 48*time.Hour)
	keptTok := e.sessionToken(kept.ID, store.SessionTokenZesty, 72*time.Hour)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, ended.ID, "test"))
	e.clock.Advance(2 * time.Hour)
	if c := e.rowCounts()["session_tokens"]; c != 3 {
		t.Fatalf("session_tokens rows before Purge = %d, want 3", c)
	}
	n, err := e.st.Purge(e.ctx, e.now().Add(-24*time.Hour), e.now().Add(-time.Hour))
	must(t, "Purge", err)
	if n != 1 {
		t.Errorf("Purge = %d, want 1 (the revoked session; its tokens go by cascade, uncounted)", n)
	}
	wantErr(t, "SessionByID(purged session)", errOnly(e.st.SessionByID(e.ctx, ended.ID)), store.ErrNotFound)
	if c := e.rowCounts()["session_tokens"]; c != 1 {
		t.Errorf("session_tokens rows after Purge = %d, want 1 (the kept session's)", c)
	}
	// The hashes are free again: the rows are gone, not just unusable.
	for i, g := range gone {
		again := &store.SessionToken{ID: uuid.New(), SessionID: kept.ID, Kind: g.Kind, TokenHash: g.TokenHash, ExpiresAt: e.now().Add(time.Hour)}
		must(t, fmt.Sprintf("CreateSessionToken(hash of purged token %d)", i), e.st.CreateSessionToken(e.ctx, again))
	}
	e.wantUsable(t, "token of the kept session", keptTok.TokenHash, u, []string{"user"}, kept.ID)
}

// ---- OpenSession without a refresh token

// sessionTokensOpenSessionNoRefresh: OpenSession with a nil refresh token stores the session and
// the audit event, every column, and no refresh token.
func sessionTokensOpenSessionNoRefresh(t *testing.T, e *env, inTx bool) {
	u := e.user()
	sess, _, ev := e.openSessionRows(u.ID)
	before := e.rowCounts()
	must(t, "OpenSession(nil refresh token)", e.openSession(inTx, sess, nil, ev))
	wantEqual(t, "session", e.sessionByID(sess.ID), sess)
	events := mustValue(e.st.AuditEvents(e.ctx, ev.Action, 10))(t, "AuditEvents")
	if len(events) != 1 {
		t.Fatalf("audit events = %d, want 1", len(events))
	}
	wantEqual(t, "audit event", &events[0], ev)
	want := maps.Clone(before)
	want["sessions"]++
	want["audit_events"]++
	if after := e.rowCounts(); !maps.Equal(after, want) {
		t.Errorf("rows after OpenSession(nil refresh token) = %v, want %v", after, want)
	}
	// The session takes a token of its own afterwards.
	tok := e.sessionToken(sess.ID, store.SessionTokenZesty, time.Hour)
	e.wantUsable(t, "token of the opened session", tok.TokenHash, u, []string{"user"}, sess.ID)
}

// sessionTokensOpenSessionNoRefreshAllOrNothing: when the audit insert fails (a taken id), the
// session does not stay either.
func sessionTokensOpenSessionNoRefreshAllOrNothing(t *testing.T, e *env, inTx bool) {
	u := e.user()
	sess, _, ev := e.openSessionRows(u.ID)
	must(t, "OpenSession(nil refresh token)", e.openSession(inTx, sess, nil, ev))
	before := e.rowCounts()
	sess2, _, ev2 := e.openSessionRows(u.ID)
	ev2.ID = ev.ID
	if err := e.openSession(inTx, sess2, nil, ev2); err == nil {
		t.Fatalf("OpenSession with a taken audit event id: error = nil, want an error")
	}
	if after := e.rowCounts(); !maps.Equal(before, after) {
		t.Errorf("rows changed by a failed OpenSession: %v → %v", before, after)
	}
	wantErr(t, "SessionByID(session of the failed OpenSession)", errOnly(e.st.SessionByID(e.ctx, sess2.ID)), store.ErrNotFound)
}

// ---- race

// sessionTokensRace has 16 goroutines use one token at the same moment (the tabs of one browser),
// and 16 more another token of the same session. They do not compete: every use must succeed
// (no SQLITE_BUSY, no deadlock, no serialization failure), and each token must end up expiring
// exactly idle after the race: not before (a lost update), not after.
func sessionTokensRace(t *testing.T, e *env, inTx bool) {
	u := e.user()
	s := e.session(u.ID, 24*time.Hour)
	for i := range raceIterations / 2 {
		a := e.sessionToken(s.ID, store.SessionTokenZesty, time.Minute)
		b := e.sessionToken(s.ID, store.SessionTokenZesty, time.Minute)
		e.clock.Advance(30 * time.Second)
		raceAt := e.now()
		type result struct {
			sid uuid.UUID
			err error
		}
		results := make([]result, 2*racers)
		for g, err := range e.atOnce(len(results), inTx, func(g int, st *store.Store) error {
			hash := a.TokenHash
			if g%2 == 1 {
				hash = b.TokenHash
			}
			var err error
			_, results[g].sid, err = st.UseSessionToken(e.ctx, store.SessionTokenZesty, hash, stIdle)
			return err
		}) {
			results[g].err = err
		}
		var failed []string
		for g, r := range results {
			switch {
			case r.err != nil:
				failed = append(failed, fmt.Sprintf("goroutine %d: %v", g, r.err))
			case r.sid != s.ID:
				failed = append(failed, fmt.Sprintf("goroutine %d: session %s, want %s", g, r.sid, s.ID))
			}
		}
		if len(failed) > 0 {
			t.Fatalf("iteration %d: %d of %d uses failed, want every one to succeed: %q", i, len(failed), len(results), failed)
		}
		// Every use set the expiry to raceAt+idle: usable a microsecond before, not at it.
		e.clock.Advance(stIdle - time.Microsecond)
		if _, _, err := e.useToken(a.TokenHash); err != nil {
			t.Fatalf("iteration %d: token a a microsecond before race time + idle: %v, want usable (an update was lost)", i, err)
		}
		e.clock.Advance(time.Microsecond)
		if !e.now().Equal(raceAt.Add(stIdle)) {
			t.Fatalf("clock at %s, want %s", e.now().Format(timeFormat), raceAt.Add(stIdle).Format(timeFormat))
		}
		if _, _, err := e.useToken(b.TokenHash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("iteration %d: token b at race time + idle: error = %v, want ErrNotFound (expiry past now+idle)", i, err)
		}
		if c := e.rowCounts()["session_tokens"]; c != int64(2*(i+1)) {
			t.Errorf("iteration %d: session_tokens rows = %d, want %d (uses write no rows)", i, c, 2*(i+1))
		}
	}
}
