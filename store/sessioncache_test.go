package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// testBound is the revocation bound of these tests.
const testBound = 250 * time.Millisecond

// cacheWorld is two instances, a and b, on one database, each with its session cache on.
type cacheWorld struct {
	t     *testing.T
	ctx   context.Context
	a, b  *store.Store
	clock *testdb.Clock
	seq   int
}

func newCacheWorld(t *testing.T) *cacheWorld {
	clock := testdb.NewClock()
	sts := testdb.OpenMany(t, 2, testdb.Options{Now: clock.Now, RevocationBound: testBound})
	w := &cacheWorld{t: t, ctx: t.Context(), a: sts[0], b: sts[1], clock: clock}
	w.waitLease(w.a, time.Now())
	w.waitLease(w.b, time.Now())
	return w
}

// user creates a user with the roles "user" and "editor", and a live session of theirs.
func (w *cacheWorld) user(mods ...func(*store.User)) (*store.User, *store.Session) {
	w.t.Helper()
	w.seq++
	u := &store.User{ID: uuid.New(), ZUID: fmt.Sprintf("5-%06d-cache", w.seq), Email: ptrTo(fmt.Sprintf("cache%d@example.com", w.seq)),
		Locale: "en", DefaultRole: "user", Metadata: store.JSONMap{}, PasswordHash: ptrTo("x")}
	for _, m := range mods {
		m(u)
	}
	if err := w.a.CreateUser(w.ctx, u, []string{"user", "editor"}); err != nil {
		w.t.Fatalf("create user: %v", err)
	}
	return u, w.session(u.ID, nil)
}

func (w *cacheWorld) session(userID uuid.UUID, tokenID *uuid.UUID) *store.Session {
	w.t.Helper()
	now := w.a.Now()
	s := &store.Session{ID: uuid.New(), UserID: userID, Method: "password", CreatedAt: now, LastActiveAt: now,
		ExpiresAt: now.Add(time.Hour), APITokenID: tokenID}
	if err := w.a.CreateSession(w.ctx, s); err != nil {
		w.t.Fatalf("create session: %v", err)
	}
	return s
}

// waitLease waits until st holds a lease taken after t: every change committed before t has
// been applied to its cache.
func (w *cacheWorld) waitLease(st *store.Store, t time.Time) {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := st.SessionCacheStats()
		if s.HasLease && time.Now().Add(-s.LeaseAge).After(t) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no lease newer than %s within 5s: %+v", time.Since(t), s)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// warm reads the session on st until the read is a hit.
func (w *cacheWorld) warm(st *store.Store, sid uuid.UUID) {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a loaded machine can let the lease lapse a while
	for time.Now().Before(deadline) {
		before := st.SessionCacheStats().Hits
		if _, err := st.LiveSessionUser(w.ctx, sid); err != nil {
			w.t.Fatalf("warm: %v", err)
		}
		if st.SessionCacheStats().Hits > before {
			return
		}
	}
	w.t.Fatalf("session never served from the cache: %+v", st.SessionCacheStats())
}

// stillCached fails unless st answers the session from its cache: a hit, not a miss (the entry
// gone). A fallback (a loaded machine let the lease lapse) tells nothing: it asks again.
func (w *cacheWorld) stillCached(st *store.Store, sid uuid.UUID) {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		before := st.SessionCacheStats()
		if _, err := st.LiveSessionUser(w.ctx, sid); err != nil {
			w.t.Fatal(err)
		}
		after := st.SessionCacheStats()
		switch {
		case after.Hits > before.Hits:
			return
		case after.Misses > before.Misses:
			w.t.Fatalf("the session is no longer cached: %+v", after)
		}
	}
	w.t.Fatalf("no fresh lease within 10s: %+v", st.SessionCacheStats())
}

// truth is what the database says of the session: LiveSessionUser inside a transaction, where
// the cache is never used.
func (w *cacheWorld) truth(sid uuid.UUID) (*store.User, error) {
	var (
		u   *store.User
		err error
	)
	txErr := w.a.Tx(w.ctx, func(tx *store.Store) error {
		u, err = tx.LiveSessionUser(w.ctx, sid)
		return nil
	})
	if txErr != nil {
		w.t.Fatal(txErr)
	}
	return u, err
}

func (w *cacheWorld) sameAsTruth(what string, st *store.Store, sid uuid.UUID) {
	w.t.Helper()
	want, wantErr := w.truth(sid)
	got, err := st.LiveSessionUser(w.ctx, sid)
	if !errors.Is(err, wantErr) && !(err == nil && wantErr == nil) {
		w.t.Fatalf("%s: LiveSessionUser error %v, the database says %v", what, err, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		w.t.Fatalf("%s: LiveSessionUser\n got %+v\nwant %+v", what, got, want)
	}
}

func changes(s store.SessionCacheStats) uint64 { return s.Invalidations + s.Flushes }

// cacheWrite is a store write and whether it can end a session or change what LiveSessionUser
// returns (then the instance that made it must answer the change at once, and every other
// instance within the bound) or not (then no instance may be told: the hot writes).
type cacheWrite struct {
	name    string
	methods []string // the store methods it exercises
	affects bool
	do      func(w *cacheWorld, u *store.User, sess *store.Session) error
}

// cacheWriteUsers adjust, for the write they name, the user before it is created.
var cacheWriteUsers = map[string]func(*store.User){
	"deanonymize": func(u *store.User) { u.IsAnonymous, u.Email, u.PasswordHash = true, nil, nil },
	"totp-step": func(u *store.User) {
		secret, mfa := "sealed", store.MFATypeTOTP
		u.TOTPSecret, u.ActiveMFAType = &secret, &mfa
	},
}

// cacheWrites is every store write that touches sessions, users or their roles. A new store
// method that writes them gets a row here (and, if it can end a session or change a user, a
// `defer s.invalidate(...)` of the keys it touched); one that does not goes in
// cacheIrrelevantMethods. TestSessionCacheWriteCoverage fails until a new method is in one of
// the two.
var cacheWrites = []cacheWrite{
	{"sign-out", []string{"RevokeSession"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.RevokeSession(w.ctx, s.ID, "signout")
	}},
	{"revoke-all", []string{"RevokeUserSessions"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		_, err := w.a.RevokeUserSessions(w.ctx, u.ID, uuid.Nil, "signout-all")
		return err
	}},
	{"admin-revoke-session", []string{"RevokeUserSession"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		_, err := w.a.RevokeUserSession(w.ctx, u.ID, s.ID, "admin")
		return err
	}},
	{"disable", []string{"SetUserDisabled"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.SetUserDisabled(w.ctx, u.ID, true)
	}},
	{"delete-user", []string{"DeleteUser"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.DeleteUser(w.ctx, u.ID)
	}},
	{"roles", []string{"SetUserRoles"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.SetUserRoles(w.ctx, u.ID, "user", []string{"user"})
	}},
	{"password-change", []string{"SetPasswordHash", "Tx"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		// As a password change does it: a new hash and every other session ended, in one transaction.
		return w.a.Tx(w.ctx, func(tx *store.Store) error {
			if err := tx.SetPasswordHash(w.ctx, u.ID, "new-hash"); err != nil {
				return err
			}
			_, err := tx.RevokeUserSessions(w.ctx, u.ID, uuid.Nil, "password-changed")
			return err
		})
	}},
	{"new-password-required", []string{"SetNewPasswordRequired"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.SetNewPasswordRequired(w.ctx, u.ID, true)
	}},
	{"username", []string{"SetUsername"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.SetUsername(w.ctx, u.ID, fmt.Sprintf("renamed%d", w.seq))
	}},
	{"admin-update", []string{"UpdateUser"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.UpdateUser(w.ctx, u.ID, store.UserUpdate{DisplayName: ptrTo("Renamed"), Metadata: store.JSONMap{"k": "v"}})
	}},
	{"email-verified", []string{"MarkEmailVerified"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.MarkEmailVerified(w.ctx, u.ID, *u.Email)
	}},
	{"email-change", []string{"ChangeEmail"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.ChangeEmail(w.ctx, u.ID, fmt.Sprintf("changed%d@example.com", w.seq))
	}},
	{"unverified-email", []string{"SetUnverifiedEmail"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.SetUnverifiedEmail(w.ctx, u.ID, fmt.Sprintf("unverified%d@example.com", w.seq))
	}},
	{"deanonymize", []string{"Deanonymize"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		u.Email, u.PasswordHash, u.DisplayName = ptrTo(fmt.Sprintf("real%d@example.com", w.seq)), ptrTo("h"), "Real"
		return w.a.Deanonymize(w.ctx, u, []string{"user"})
	}},
	{"pat-revoked", []string{"RevokeUserPAT", "RevokeUserAPIToken", "RevokeUserAPITokens", "DeleteAPIToken", "CreateAPIToken"}, true,
		func(w *cacheWorld, u *store.User, s *store.Session) error {
			// s was opened without a token; a second session opened with one ends with it.
			tok := &store.APIToken{ID: uuid.New(), Kind: store.APITokenPAT, UserID: &u.ID, Name: "t", TokenHash: []byte(uuid.NewString()),
				Metadata: store.JSONMap{}, CreatedAt: w.a.Now(), ExpiresAt: w.a.Now().Add(time.Hour)}
			if err := w.a.CreateAPIToken(w.ctx, tok); err != nil {
				return err
			}
			ps := w.session(u.ID, &tok.ID)
			w.warm(w.a, ps.ID)
			if _, _, err := w.a.RevokeUserPAT(w.ctx, u.ID, tok.ID); err != nil {
				return err
			}
			if _, err := w.a.LiveSessionUser(w.ctx, ps.ID); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("session of a revoked PAT: %v, want ErrNotFound", err)
			}
			// The other three ways a token's sessions end, each after a fresh token and session.
			for _, end := range []func(id uuid.UUID) error{
				func(id uuid.UUID) error { _, _, err := w.a.RevokeUserAPIToken(w.ctx, u.ID, id); return err },
				func(id uuid.UUID) error { _, err := w.a.RevokeUserAPITokens(w.ctx, u.ID); return err },
				func(id uuid.UUID) error { return w.a.DeleteAPIToken(w.ctx, id) },
			} {
				tok.ID, tok.TokenHash, tok.RevokedAt = uuid.New(), []byte(uuid.NewString()), nil
				if err := w.a.CreateAPIToken(w.ctx, tok); err != nil {
					return err
				}
				ps := w.session(u.ID, &tok.ID)
				w.warm(w.a, ps.ID)
				if err := end(tok.ID); err != nil {
					return err
				}
				if _, err := w.a.LiveSessionUser(w.ctx, ps.ID); !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("session of an ended API token: %v, want ErrNotFound", err)
				}
			}
			return w.a.RevokeSession(w.ctx, s.ID, "done")
		}},

	{"totp", []string{"SetPendingTOTP", "ActivateTOTP", "DisableTOTP"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		// Each step changes what a session's user carries (totp_secret, activeMfaType): the
		// instance that wrote answers each at once.
		steps := []struct {
			name string
			do   func() error
		}{
			{"pending", func() error { return w.a.SetPendingTOTP(w.ctx, u.ID, "sealed-1") }},
			{"activate", func() error { return expectTrue(w.a.ActivateTOTP(w.ctx, u.ID)) }},
			{"disable", func() error { return expectTrue(w.a.DisableTOTP(w.ctx, u.ID)) }},
		}
		for i, st := range steps {
			if i > 0 {
				w.warm(w.a, s.ID)
			}
			if err := st.do(); err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
			w.sameAsTruth("totp "+st.name, w.a, s.ID)
		}
		return nil
	}},
	{"totp-reseal", []string{"ResealValue"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		// A key rotation re-seals totp_secret, which a session's user carries. The pending secret
		// is set through another instance, so a's cache still holds the user as it was before.
		if err := w.b.SetPendingTOTP(w.ctx, u.ID, "sealed-old"); err != nil {
			return err
		}
		w.waitLease(w.a, time.Now())
		w.warm(w.a, s.ID)
		w.warm(w.b, s.ID)
		return expectTrue(w.a.ResealValue(w.ctx, store.SealedColumns[0], u.ID, "sealed-old", "sealed-new"))
	}},
	{"phone", []string{"SetUserPhone", "MarkPhoneVerified"}, true, func(w *cacheWorld, u *store.User, s *store.Session) error {
		phone := fmt.Sprintf("+1555%07d", w.seq)
		if err := w.a.SetUserPhone(w.ctx, u.ID, &phone, false); err != nil {
			return err
		}
		w.sameAsTruth("phone set", w.a, s.ID)
		w.warm(w.a, s.ID)
		return w.a.MarkPhoneVerified(w.ctx, u.ID, phone)
	}},

	// The hot writes: none may notify.
	{"rotation", []string{"RotateRefreshToken", "CreateRefreshToken"}, false, func(w *cacheWorld, u *store.User, s *store.Session) error {
		now := w.a.Now()
		old := &store.RefreshToken{ID: uuid.New(), SessionID: s.ID, TokenHash: []byte(uuid.NewString()), Rotates: true, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := w.a.CreateRefreshToken(w.ctx, old); err != nil {
			return err
		}
		w.clock.Advance(2 * time.Minute) // past the slide interval: the rotation moves the session's expiry
		next := &store.RefreshToken{ID: uuid.New(), TokenHash: []byte(uuid.NewString()), ExpiresAt: w.a.Now().Add(time.Hour)}
		_, _, _, err := w.a.RotateRefreshToken(w.ctx, store.Rotation{Hash: old.TokenHash, Sealed: []byte("sealed"), Next: next,
			SessionExpiresAt: w.a.Now().Add(2 * time.Hour)})
		return err
	}},
	// A TOTP sign-in writes users.totp_last_step only, which User does not carry (migration 00016
	// keeps it out of the users triggers).
	{"totp-step", []string{"AcceptTOTPStep"}, false, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return expectTrue(w.a.AcceptTOTPStep(w.ctx, u.ID, w.a.Now().Unix()/30))
	}},
	{"last-seen", []string{"TouchUserLastSeen"}, false, func(w *cacheWorld, u *store.User, s *store.Session) error {
		return w.a.TouchUserLastSeen(w.ctx, u.ID)
	}},
	{"extend", []string{"ExtendSession", "SlideSession"}, false, func(w *cacheWorld, u *store.User, s *store.Session) error {
		if err := w.a.ExtendSession(w.ctx, s.ID, w.a.Now().Add(2*time.Hour)); err != nil {
			return err
		}
		w.clock.Advance(time.Minute)
		return w.a.SlideSession(w.ctx, s.ID, w.a.Now().Add(3*time.Hour), time.Second)
	}},
	{"sign-in", []string{"OpenSession", "CreateSession", "CreateSessionToken", "UseSessionToken", "RecordAudit"}, false,
		func(w *cacheWorld, u *store.User, s *store.Session) error {
			now := w.a.Now()
			s2 := &store.Session{ID: uuid.New(), UserID: u.ID, Method: "password", CreatedAt: now, LastActiveAt: now, ExpiresAt: now.Add(time.Hour)}
			rt := &store.RefreshToken{ID: uuid.New(), TokenHash: []byte(uuid.NewString()), Rotates: true, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			ev := &store.AuditEvent{ID: uuid.New(), Action: "signin", Outcome: "success", TargetUserID: &u.ID, SessionID: &s2.ID}
			if err := w.a.OpenSession(w.ctx, s2, rt, ev); err != nil {
				return err
			}
			st := &store.SessionToken{ID: uuid.New(), SessionID: s.ID, Kind: "zesty", TokenHash: []byte(uuid.NewString()), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := w.a.CreateSessionToken(w.ctx, st); err != nil {
				return err
			}
			_, _, err := w.a.UseSessionToken(w.ctx, "zesty", st.TokenHash, 30*time.Minute)
			return err
		}},
}

// TestSessionCacheWrites runs every write of cacheWrites on instance a, with the session cached
// on a and on b: a write that affects the session is answered at once on a and, once b holds a
// lease taken after the write, on b; a write that does not leaves both caches serving, and b
// was told nothing (a notification would have arrived before the lease).
func TestSessionCacheWrites(t *testing.T) {
	for _, c := range cacheWrites {
		t.Run(testdb.String()+"/write="+c.name, func(t *testing.T) {
			w := newCacheWorld(t)
			var mods []func(*store.User)
			if m := cacheWriteUsers[c.name]; m != nil {
				mods = append(mods, m)
			}
			u, s := w.user(mods...)
			// Both instances past the user's creation: on SQLite it moves the change count, and a
			// poll that notices it after the warm-up would empty that cache mid-test.
			now := time.Now()
			w.waitLease(w.a, now)
			w.waitLease(w.b, now)
			w.warm(w.a, s.ID)
			w.warm(w.b, s.ID)
			before := w.b.SessionCacheStats()
			t0 := time.Now()
			if err := c.do(w, u, s); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if c.affects {
				w.sameAsTruth("on the instance that wrote, at once", w.a, s.ID)
			}
			w.waitLease(w.b, time.Now())
			after := w.b.SessionCacheStats()
			if c.affects {
				if changes(after) == changes(before) {
					t.Errorf("%s: the other instance was told nothing (%+v)", c.name, after)
				}
				w.sameAsTruth("on the other instance, once its lease is newer than the write", w.b, s.ID)
				if elapsed := time.Since(t0); elapsed > 5*testBound {
					t.Logf("%s: took %s (a slow machine?)", c.name, elapsed)
				}
				return
			}
			if changes(after) != changes(before) {
				t.Errorf("%s: the other instance applied %d invalidations, want none: a hot write must not notify",
					c.name, changes(after)-changes(before))
			}
			for _, st := range []*store.Store{w.a, w.b} {
				w.stillCached(st, s.ID)
			}
		})
	}
}

// cacheIrrelevantMethods are the store's exported methods that neither end a session nor change
// what LiveSessionUser returns: reads, and writes of other tables (or of new rows no cached
// session depends on).
var cacheIrrelevantMethods = []string{
	// reads and plumbing
	"ActiveMemberRole", "AuditEvents", "Close", "CountOtherActiveOwners", "CountUsers", "Dialect", "InstanceByID",
	"InstanceByZUID", "InstanceMembers", "InstanceRoleByID", "InstanceRoleByZUID", "InstanceRoles", "InstancesOfUser",
	"InstancesOwnedOnlyBy", "ListAudit", "ListUsers", "LiveSessionUser", "LockInstanceByZUID", "LockInstancesOwnedBy",
	"LockoutsOf", "MemberRole", "Migrate", "NextMailDue", "Now", "PauseSessionCache", "PendingCodeTickets", "Ping",
	"RefreshTokenByHash", "ReusableRefreshToken", "RowCounts", "SchemaTables", "SchemaVersion", "SessionByID",
	"SessionCacheStats", "SigningKeys", "SystemInstanceRole", "UndeliveredMail", "UsableAPIToken", "UsableTicket",
	"UsableZestyToken", "UserAPITokens", "UserByEmail", "UserByID", "UserByLogin", "UserByZUID", "UserLiveSession",
	"UserLiveSessions", "UserPATs", "UserRoles", "UserSessions", "UserWithRoles", "WatchWrites", "Writes",
	"ZestyTokenByZUID", "ZestyTokensOfInstances",
	// writes of other tables, or of new rows
	"ClaimDueMail", "ClearLockouts", "ClearSubjectLockouts", "CreateInstance", "CreateInstanceRole", "CreateSigningKey",
	"CreateTicket", "CreateUser", "EnqueueMail", "FailSignIn", "Hit", "LockUntil", "MarkMailFailed", "MarkMailSent",
	"PurgeRateLimits", "ReleaseMail", "RemoveInstanceMember", "RenameInstance", "SetInstanceMember", "SpendTicket",
	"SpendTicketByID", "TakeGuess", "TakeTicketAttempt", "UpdateInstanceRole",
	// deletes only sessions that already ended or expired
	"Purge",
	// test-only exports (export_test.go)
	"CloseIdleConns", "Exec", "KeepMinConns", "KickMinConns", "MigrateDownTo", "MigrationVersions", "SetFillHook",
	// the new features' reads
	"CountWebAuthnCredentials", "IdentityBySubject", "SMSOutbox", "SealedValues", "TOTPState", "UsableMFATicket",
	"UserByPhone", "UserIdentities", "WebAuthnCeremonyByChallenge", "WebAuthnCredentials",
	// their writes of other tables: MFA tickets, recovery codes, the SMS outbox, OAuth round trips,
	// accepted ID tokens, PKCE codes, provider links (GET /user does not show them; linking never
	// changes the users row), WebAuthn ceremonies and keys (a key's sign count and last use are
	// read from its own row, never through a session; elevation counts keys in the database)
	"ClaimDueSMS", "CreateAuthCode", "CreateIdentity", "CreateMFATicket", "CreateOAuthState", "CreateWebAuthnCeremony",
	"CreateWebAuthnCredential", "DeleteUserIdentities", "DeleteWebAuthnCredential", "EnqueueSMS", "MarkSMSFailed",
	"ForgetUnprovenWaysIn", "KeepIdentityTokens", "DropIdentityTokens", "UserIdentity",
	"MarkSMSSent", "PurgeSMS", "PurgeWebAuthnCeremonies", "ReleaseSMS", "ReplaceRecoveryCodes", "SpendAuthCode",
	"SpendMFATicket", "SpendOAuthState", "SpendRecoveryCode", "SpendWebAuthnCeremony", "TakeMFATicketAttempt",
	"UseIDToken", "UseWebAuthnCredential",
	// end API tokens' sessions through their cascade, which invalidates everything: in the table
	// through the PAT row ("DeleteAPIToken" there), these two delete tokens the same way
	"DeleteInstance", "DeleteInstanceRole",
}

// TestSessionCacheWriteCoverage: every exported method of *store.Store is either exercised by
// a row of cacheWrites or listed as irrelevant to the cache, so a new write cannot be added
// without someone deciding which it is.
func TestSessionCacheWriteCoverage(t *testing.T) {
	known := slices.Clone(cacheIrrelevantMethods)
	for _, c := range cacheWrites {
		known = append(known, c.methods...)
	}
	typ := reflect.TypeFor[*store.Store]()
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if !slices.Contains(known, name) {
			t.Errorf("store method %s is neither in cacheWrites nor in cacheIrrelevantMethods (store/sessioncache_test.go): "+
				"if it can end a session or change a user, give it `defer s.invalidate(...)` and a row in cacheWrites", name)
		}
	}
}

// expectTrue turns a guarded write's false into an error.
func expectTrue(ok bool, err error) error {
	if err == nil && !ok {
		return errors.New("the guarded write changed nothing")
	}
	return err
}

// refusedOn polls st until the session is refused. It returns the staleness: how long after
// since the last call that still accepted it began (0: none did), which is what the bound
// limits (the lease is checked as a call begins); it fails the test when st still accepts the
// session after limit.
func (w *cacheWorld) refusedOn(st *store.Store, sid uuid.UUID, since time.Time, limit time.Duration) time.Duration {
	w.t.Helper()
	var stale time.Duration
	for {
		began := time.Now()
		_, err := st.LiveSessionUser(w.ctx, sid)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return stale
		case err != nil:
			w.t.Fatal(err)
		}
		stale = max(stale, began.Sub(since))
		if time.Since(since) > limit {
			w.t.Fatalf("session still accepted %s after its revocation", time.Since(since))
		}
	}
}

// TestSessionCacheFillRace: a revocation that commits, and is applied, between a fill's read and
// its insert leaves no entry behind: on the instance that revoked (its own invalidation) and on
// another one (the notification, or the SQLite poll).
func TestSessionCacheFillRace(t *testing.T) {
	for _, where := range []string{"same-instance", "other-instance"} {
		t.Run(testdb.String()+"/revoked-on="+where, func(t *testing.T) {
			w := newCacheWorld(t)
			_, s := w.user()
			reader := w.b
			if where == "same-instance" {
				reader = w.a
			}
			fired := false
			reader.SetFillHook(func() {
				if fired {
					return
				}
				fired = true
				if err := w.a.RevokeSession(w.ctx, s.ID, "race"); err != nil {
					t.Error(err)
				}
				w.waitLease(reader, time.Now()) // the revocation is applied before the insert
			})
			if _, err := reader.LiveSessionUser(w.ctx, s.ID); err != nil {
				t.Fatalf("the read that began before the revocation: %v", err)
			}
			if !fired {
				t.Fatal("no fill happened")
			}
			if _, err := reader.LiveSessionUser(w.ctx, s.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after the revocation: %v, want ErrNotFound (an entry filled before it was inserted after it)", err)
			}
		})
	}
}

// TestSessionCacheFaults: with b's listener killed, stalled, or pointed where no notification
// arrives, b stops answering from its cache within the bound, and refuses the revoked session.
func TestSessionCacheFaults(t *testing.T) {
	t.Run(testdb.String()+"/fault=stalled", func(t *testing.T) {
		w := newCacheWorld(t)
		_, s := w.user()
		w.waitLease(w.b, time.Now())
		w.warm(w.b, s.ID)
		resume := w.b.PauseSessionCache()
		defer resume()
		before := w.b.SessionCacheStats()
		t0 := time.Now()
		if err := w.a.RevokeSession(w.ctx, s.ID, "stall"); err != nil {
			t.Fatal(err)
		}
		lag := w.refusedOn(w.b, s.ID, t0, 10*testBound)
		after := w.b.SessionCacheStats()
		t.Logf("stalled listener: last accepted %s after the revocation (bound %s)", lag, testBound)
		if lag > testBound {
			t.Errorf("accepted %s after the revocation, beyond the bound %s", lag, testBound)
		}
		if after.Fallbacks == before.Fallbacks || changes(after) != changes(before) {
			t.Errorf("a stalled listener's cache answered by falling back, not by applying: before %+v, after %+v", before, after)
		}
		resume()
		w.waitLease(w.b, time.Now())
		_, s2 := w.user()
		w.waitLease(w.b, time.Now())
		w.warm(w.b, s2.ID) // serving again
	})
	if testdb.Backend() != store.Postgres {
		return
	}
	t.Run(testdb.String()+"/fault=terminated", func(t *testing.T) {
		w := newCacheWorld(t)
		_, s := w.user()
		w.waitLease(w.b, time.Now())
		w.warm(w.b, s.ID)
		pid := w.b.SessionCacheStats().ListenerPID
		if pid == 0 {
			t.Fatal("no listener PID")
		}
		if err := w.a.Exec(w.ctx, "SELECT pg_terminate_backend(?)", pid); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := w.a.RevokeSession(w.ctx, s.ID, "kill"); err != nil {
			t.Fatal(err)
		}
		lag := w.refusedOn(w.b, s.ID, t0, 10*testBound)
		t.Logf("terminated listener: last accepted %s after the revocation (bound %s)", lag, testBound)
		if lag > testBound {
			t.Errorf("accepted %s after the revocation, beyond the bound %s", lag, testBound)
		}
		deadline := time.Now().Add(5 * time.Second)
		for st := w.b.SessionCacheStats(); st.ListenerPID == pid || st.ListenerPID == 0 || st.Listener != "listening"; st = w.b.SessionCacheStats() {
			if time.Now().After(deadline) {
				t.Fatalf("the listener did not come back: %+v", st)
			}
			time.Sleep(time.Millisecond) // polling a condition, with a deadline
		}
		_, s2 := w.user()
		w.waitLease(w.b, time.Now())
		w.warm(w.b, s2.ID) // serving again
	})
	t.Run(testdb.String()+"/fault=no-notifications", func(t *testing.T) {
		// The listener connects to another database of the server, as one behind a
		// transaction-mode pooler or on a replica would hear nothing: no heartbeat comes back.
		sink := testdb.PostgresURL()
		u, err := url.Parse(sink)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/postgres"
		clock := testdb.NewClock()
		sts := testdb.OpenMany(t, 2, testdb.Options{Now: clock.Now, RevocationBound: testBound, ListenURL: u.String()})
		w := &cacheWorld{t: t, ctx: t.Context(), a: sts[0], b: sts[1], clock: clock}
		_, s := w.user()
		deadline := time.Now().Add(5 * time.Second)
		for w.b.SessionCacheStats().Listener != "listening" {
			if time.Now().After(deadline) {
				t.Fatalf("listener not listening: %+v", w.b.SessionCacheStats())
			}
			time.Sleep(time.Millisecond) // polling a condition, with a deadline
		}
		for range 5 {
			if _, err := w.b.LiveSessionUser(w.ctx, s.ID); err != nil {
				t.Fatal(err)
			}
		}
		if st := w.b.SessionCacheStats(); st.Hits != 0 || st.Fallbacks < 5 || st.HasLease {
			t.Fatalf("a listener that hears nothing must never serve: %+v", st)
		}
		if err := w.a.RevokeSession(w.ctx, s.ID, "sink"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.b.LiveSessionUser(w.ctx, s.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after the revocation: %v, want ErrNotFound at once", err)
		}
	})
}

// TestSessionCacheSQLiteSecondProcess: another process that writes the SQLite file (here this
// test binary again, revoking a session) is noticed within the bound.
func TestSessionCacheSQLiteSecondProcess(t *testing.T) {
	if dir := os.Getenv("LATCHKEY_TEST_SQLITE_WRITER_DIR"); dir != "" {
		// The second process: revoke the session named in the environment, and exit.
		st, err := store.Open(t.Context(), store.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.RevokeSession(t.Context(), uuid.MustParse(os.Getenv("LATCHKEY_TEST_SQLITE_WRITER_SESSION")), "other-process"); err != nil {
			t.Fatal(err)
		}
		return
	}
	if testdb.Backend() != store.SQLite {
		t.Skip("SQLite only")
	}
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Options{DataDir: dir, RevocationBound: testBound})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	w := &cacheWorld{t: t, ctx: t.Context(), a: st, b: st, clock: testdb.NewClock()}
	_, s := w.user()
	w.waitLease(st, time.Now())
	w.warm(st, s.ID)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSessionCacheSQLiteSecondProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LATCHKEY_TEST_SQLITE_WRITER_DIR="+dir, "LATCHKEY_TEST_SQLITE_WRITER_SESSION="+s.ID.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	done := time.Now()
	if _, err := w.truth(s.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the second process did not revoke: %v", err)
	}
	lag := w.refusedOn(st, s.ID, done, 10*testBound)
	t.Logf("revoked by another process: last accepted %s after it exited (bound %s)", lag, testBound)
	if lag > testBound {
		t.Errorf("accepted %s after the revocation, beyond the bound %s", lag, testBound)
	}
}
