// Package storetest holds the store contract suite that every database backend must pass (Run),
// and, re-exported from testdb, the helpers that open throwaway stores for it.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// Run runs the store contract suite: every exported method of store.Store, every column of every
// model written and read back, and the race subtests (Kratos's persistence suite, one copy for
// every database). open must return a fresh, migrated, empty store whose clock is now; every case
// opens its own, so cases run in parallel and never see each other's rows.
func Run(t *testing.T, open func(t *testing.T, now func() time.Time) *store.Store) {
	t.Helper()
	for _, g := range contracts() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run("case="+c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newEnv(t, open))
				})
			}
		})
	}
	for _, inTx := range []bool{true, false} {
		t.Run("race=spend-refresh-token/"+modeName(inTx), func(t *testing.T) {
			t.Parallel()
			raceSpendRefreshToken(t, newEnv(t, open), inTx)
		})
		t.Run("race=rotate-distinct-tokens-one-session/"+modeName(inTx), func(t *testing.T) {
			t.Parallel()
			raceRotateDistinctTokens(t, newEnv(t, open), inTx)
		})
		t.Run("race=create-user-same-email/"+modeName(inTx), func(t *testing.T) {
			t.Parallel()
			raceCreateUserSameEmail(t, newEnv(t, open), inTx)
		})
		t.Run("race=spend-ticket/"+modeName(inTx), func(t *testing.T) {
			t.Parallel()
			raceSpendTicket(t, newEnv(t, open), inTx)
		})
		t.Run("race=take-guess/"+modeName(inTx), func(t *testing.T) {
			t.Parallel()
			raceTakeGuess(t, newEnv(t, open), inTx)
		})
		t.Run("race=take-ticket-attempt/"+modeName(inTx), func(t *testing.T) {
			t.Parallel()
			raceTakeTicketAttempt(t, newEnv(t, open), inTx)
		})
		t.Run("race=claim-due-mail/"+modeName(inTx), func(t *testing.T) {
			t.Parallel()
			raceClaimDueMail(t, newEnv(t, open), inTx)
		})
		t.Run("race=accept-totp-step/"+modeName(inTx), func(t *testing.T) {
			t.Parallel()
			raceAcceptTOTPStep(t, newEnv(t, open), inTx)
		})
		t.Run("race=spend-recovery-code/"+modeName(inTx), func(t *testing.T) {
			t.Parallel()
			raceSpendRecoveryCode(t, newEnv(t, open), inTx)
		})
	}
}

// Race parameters: Kratos runs 16 concurrent spenders; a few rounds catch what one round misses.
const (
	racers         = 16
	raceIterations = 20
)

type contract struct {
	name  string
	cases []testCase
}

type testCase struct {
	name string
	run  func(t *testing.T, e *env)
}

func contracts() []contract {
	return []contract{
		{"contract=mfa", mfaCases()},
		{"contract=lifecycle", []testCase{
			{"dialect-and-ping", lifecycleDialectAndPing},
			{"now-is-clock-in-utc-microseconds", lifecycleNow},
			{"migrate-again-applies-nothing", lifecycleMigrateIdempotent},
			{"schema-version-is-latest", lifecycleSchemaVersion},
			{"tables-are-the-schema", lifecycleTablesAreTheSchema},
			{"row-counts-empty", lifecycleRowCountsEmpty},
			{"row-counts-after-writes", lifecycleRowCounts},
			{"watch-writes-counts-every-write", lifecycleWatchWrites},
			{"close-then-ping-fails", lifecycleClose},
		}},
		{"contract=round-trip", []testCase{
			{"user-every-column", roundTripUser},
			{"user-zero-values", roundTripUserZero},
			{"session-every-column", roundTripSession},
			{"refresh-token-every-column", roundTripRefreshToken},
			{"api-token-every-column", roundTripAPIToken},
			{"api-token-without-user", roundTripAPITokenNoUser},
			{"signing-key-every-column", roundTripSigningKey},
			{"audit-event-every-column", roundTripAuditEvent},
			{"audit-event-zero-values", roundTripAuditEventZero},
			{"times-in-other-zones-come-back-utc", roundTripOtherZones},
			{"expiry-in-other-zones-compares-by-instant", expiryOtherZones},
			{"ticket-every-column", roundTripTicket},
			{"outbox-mail-every-column", roundTripOutboxMail},
		}},
		{"contract=users", []testCase{
			{"normalize-email", usersNormalizeEmail},
			{"create-with-roles-sorted", usersCreateWithRoles},
			{"create-without-roles", usersCreateWithoutRoles},
			{"create-stamps-times-from-clock", usersCreateStampsClock},
			{"duplicate-email-conflict", usersDuplicateEmail},
			{"duplicate-username-conflict", usersDuplicateUsername},
			{"duplicate-zuid-conflict", usersDuplicateZUID},
			{"nil-emails-coexist", usersNilEmailsCoexist},
			{"user-by-email-case-insensitive", usersByEmail},
			{"user-by-id-unknown", usersByIDUnknown},
			{"user-roles-unknown-user-empty", usersRolesUnknown},
			{"set-user-roles-replaces", usersSetRoles},
			{"set-password-hash", usersSetPasswordHash},
			{"set-password-hash-unknown", usersSetPasswordHashUnknown},
			{"deanonymize", usersDeanonymize},
			{"deanonymize-without-address", usersDeanonymizeWithoutAddress},
			{"deanonymize-not-anonymous", usersDeanonymizeNotAnonymous},
			{"deanonymize-unknown", usersDeanonymizeUnknown},
			{"deanonymize-taken-email-conflict", usersDeanonymizeTakenEmail},
			{"touch-last-seen", usersTouchLastSeen},
			{"set-user-disabled", usersSetDisabled},
			{"count-users", usersCount},
		}},
		{"contract=sessions", []testCase{
			{"open-session-every-column", bothModes(sessionsOpenEveryColumn)},
			{"open-session-all-or-nothing", bothModes(sessionsOpenAllOrNothing)},
			{"session-by-id-unknown", sessionsByIDUnknown},
			{"live-session-user", sessionsLiveUser},
			{"live-session-user-expiry-boundary", sessionsLiveExpiry},
			{"extend-session", sessionsExtend},
			{"extend-dead-session", sessionsExtendDead},
			{"revoke-session-idempotent", sessionsRevokeIdempotent},
			{"revoke-user-sessions", sessionsRevokeUser},
		}},
		{"contract=refresh-tokens", []testCase{
			{"by-hash", refreshByHash},
			{"duplicate-hash-conflict", refreshDuplicateHash},
			{"rotate", bothModes(refreshRotate)},
			{"rotate-twice-already-used", bothModes(refreshRotateTwice)},
			{"rotate-slides-no-further-than-the-api-token", bothModes(refreshRotateCappedByToken)},
			{"rotate-refused-changes-nothing", bothModes(refreshRotateRefused)},
			{"rotate-successor-hash-taken-conflict", bothModes(refreshRotateSuccessorConflict)},
			{"rotate-rolled-back-stays-unspent", refreshRotateRolledBack},
		}},
		{"contract=api-tokens", []testCase{
			{"usable-records-use", apiTokensUsable},
			{"unusable", apiTokensUnusable},
			{"duplicate-hash-conflict", apiTokensDuplicateHash},
			{"user-pats-live-newest-first", apiTokensUserPATs},
			{"revoke-user-pat-guarded", apiTokensRevokeUserPAT},
			{"revoke-user-api-tokens-for-recovery", apiTokensRevokeForRecovery},
			{"revocation-ends-the-sessions-a-token-opened", apiTokensRevocationEndsSessions},
		}},
		{"contract=tickets", []testCase{
			{"create-retires-older-of-same-user-and-kind", ticketsCreateRetires},
			{"create-taken-hash-conflict-retires-nothing", bothModes(ticketsCreateConflict)},
			{"code-only-and-link-only-tickets", ticketsWithoutLinkOrCode},
			{"create-for-unknown-user-refused", ticketsUnknownUser},
			{"spend", ticketsSpend},
			{"spend-expired", ticketsSpendExpired},
			{"spend-unknown", ticketsSpendUnknown},
			{"spend-wrong-kind-leaves-it-usable", ticketsSpendWrongKind},
			{"pending-code-tickets-filter", ticketsPendingCodes},
			{"take-attempt-up-to-max", ticketsTakeAttempt},
			{"spend-by-id", ticketsSpendByID},
			{"mark-email-verified", ticketsMarkEmailVerified},
			{"change-email", ticketsChangeEmail},
			{"expiry-in-other-zones-compares-by-instant", ticketsExpiryOtherZones},
		}},
		{"contract=outbox", []testCase{
			{"claim-due-in-order-with-limit", outboxClaimDue},
			{"claim-lease", outboxClaimLease},
			{"mark-sent", outboxMarkSent},
			{"mark-failed-retry-or-give-up", outboxMarkFailed},
			{"undelivered-newest-first-without-bodies", outboxUndelivered},
			{"next-due", outboxNextDue},
			{"times-in-other-zones", outboxOtherZones},
		}},
		{"contract=purge", []testCase{
			{"deletes-dead-keeps-rest", purge},
			{"empty-store", purgeEmpty},
			{"tickets-and-settled-mail", purgeTicketsAndMail},
		}},
		{"contract=ratelimit", []testCase{{"windows-count-and-reset", rateLimitWindows}, {"lockout-cycle", lockoutCycle}, {"guess-cap", guessCap},
			{"windows-count-and-reset-after-2038", after2038(rateLimitWindows)}, {"lockout-cycle-after-2038", after2038(lockoutCycle)},
			{"guess-cap-after-2038", after2038(guessCap)}}},
		{"contract=signing-keys", []testCase{
			{"newest-first-with-limit", signingKeysNewestFirst},
			{"same-time-orders-by-kid", signingKeysTie},
			{"empty", signingKeysEmpty},
			{"duplicate-kid-conflict", signingKeysDuplicate},
		}},
		{"contract=audit", []testCase{
			{"record-stamps-clock", auditStampsClock},
			{"newest-first-filter-limit", auditList},
		}},
		{"contract=tx", []testCase{
			{"commit-on-nil", txCommit},
			{"rollback-on-error", txRollback},
			{"rollback-on-panic", txRollbackPanic},
			{"reads-see-own-writes", txReadsOwnWrites},
			{"nested-error-rolls-back-inner-only", txNested},
		}},
		{"contract=webauthn", webAuthnCases},
		{"contract=cascade", []testCase{
			{"purged-session-takes-its-refresh-tokens", cascadeSessionTokens},
		}},
		{"contract=wme", []testCase{
			{"user-by-login", wmeUserByLogin},
			{"user-by-login-username-wins-over-address", wmeUserByLoginUsernameWins},
			{"user-by-login-without-roles", wmeUserByLoginNoRoles},
			{"reusable-refresh-token", wmeReusableRefreshToken},
			{"reusable-refresh-token-refused", wmeReusableRefreshTokenRefused},
			{"reusable-refresh-token-expiry-boundary", wmeReusableRefreshTokenExpiryBoundary},
			{"reusable-refresh-token-disabled-user", wmeReusableRefreshTokenDisabledUser},
			{"set-username", wmeSetUsername},
			{"set-username-taken-conflict", wmeSetUsernameTaken},
			{"set-username-unknown", wmeSetUsernameUnknown},
			{"set-new-password-required", wmeSetNewPasswordRequired},
			{"set-new-password-required-unknown", wmeSetNewPasswordRequiredUnknown},
		}},
		{"contract=session-tokens", []testCase{
			{"round-trip-through-use", sessionTokensRoundTrip},
			{"expiry-in-other-zones-compares-by-instant", sessionTokensOtherZones},
			{"expiry-kept-to-the-microsecond", sessionTokensSubMicrosecond},
			{"use-slides-expiry", sessionTokensSlide},
			{"kind-mismatch-not-found-not-slid", sessionTokensKindMismatch},
			{"revoked-or-expired-session-not-found", sessionTokensDeadSession},
			{"disabled-user", sessionTokensDisabledUser},
			{"unknown-hash-not-found", sessionTokensUnknown},
			{"duplicate-hash-conflict", sessionTokensDuplicateHash},
			{"purged-session-takes-its-tokens", sessionTokensCascade},
			{"open-session-without-refresh-token", bothModes(sessionTokensOpenSessionNoRefresh)},
			{"open-session-without-refresh-token-all-or-nothing", bothModes(sessionTokensOpenSessionNoRefreshAllOrNothing)},
			{"race-use-same-token", bothModes(sessionTokensRace)},
		}},
		{"contract=admin", adminCases()},
		{"contract=az", azCases()},
		{"contract=instances", instanceCases()},
		{"contract=sms", smsCases()},
		{"contract=providers", providerCases()},
	}
}

// env is one case's world: a fresh store and the clock it reads.
type env struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	clock *Clock
	t0    time.Time // the store clock when the case began
	open  func(t *testing.T, now func() time.Time) *store.Store
	seq   *int // shared with the copies subtests make, so names stay unique
}

func newEnv(t *testing.T, open func(t *testing.T, now func() time.Time) *store.Store) *env {
	t.Helper()
	clock := NewClock()
	e := &env{t: t, ctx: t.Context(), st: open(t, clock.Now), clock: clock, open: open, seq: new(int)}
	e.t0 = e.now()
	return e
}

// now is the store's idea of the current time (UTC, microseconds).
func (e *env) now() time.Time { return e.st.Now() }

func (e *env) next() int { *e.seq++; return *e.seq }

// with is e for a subtest: same store and clock, failures reported on t.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// newUser returns an unsaved user with unique email, username and ZUID.
func (e *env) newUser(mods ...func(*store.User)) *store.User {
	n := e.next()
	u := &store.User{
		ID:          uuid.New(),
		ZUID:        fmt.Sprintf("5-%06d-test", n),
		Email:       ptr(fmt.Sprintf("User%d@Example.com", n)),
		Username:    ptr(fmt.Sprintf("user%d", n)),
		Locale:      "en",
		DefaultRole: "user",
		Metadata:    store.JSONMap{},
	}
	for _, m := range mods {
		m(u)
	}
	return u
}

// user creates a user with the role "user".
func (e *env) user(mods ...func(*store.User)) *store.User {
	e.t.Helper()
	u := e.newUser(mods...)
	must(e.t, "create user", e.st.CreateUser(e.ctx, u, []string{"user"}))
	return u
}

// session creates a live session of userID that expires ttl from now.
func (e *env) session(userID uuid.UUID, ttl time.Duration) *store.Session {
	e.t.Helper()
	now := e.now()
	s := &store.Session{
		ID: uuid.New(), UserID: userID, Method: "password",
		CreatedAt: now, LastActiveAt: now, ExpiresAt: now.Add(ttl),
	}
	must(e.t, "create session", e.st.CreateSession(e.ctx, s))
	return s
}

// refreshToken creates an unspent refresh token of sessionID that expires ttl from now.
func (e *env) refreshToken(sessionID uuid.UUID, rotates bool, ttl time.Duration) *store.RefreshToken {
	e.t.Helper()
	rt := &store.RefreshToken{
		ID: uuid.New(), SessionID: sessionID, TokenHash: randomBytes(32),
		Rotates: rotates, ExpiresAt: e.now().Add(ttl),
	}
	must(e.t, "create refresh token", e.st.CreateRefreshToken(e.ctx, rt))
	return rt
}

func (e *env) userByID(id uuid.UUID) *store.User {
	e.t.Helper()
	u, err := e.st.UserByID(e.ctx, id)
	must(e.t, "UserByID", err)
	return u
}

func (e *env) roles(id uuid.UUID) []string {
	e.t.Helper()
	r, err := e.st.UserRoles(e.ctx, id)
	must(e.t, "UserRoles", err)
	return r
}

func (e *env) sessionByID(id uuid.UUID) *store.Session {
	e.t.Helper()
	s, err := e.st.SessionByID(e.ctx, id)
	must(e.t, "SessionByID", err)
	return s
}

func (e *env) refreshByHash(hash []byte) *store.RefreshToken {
	e.t.Helper()
	rt, err := e.st.RefreshTokenByHash(e.ctx, hash)
	must(e.t, "RefreshTokenByHash", err)
	return rt
}

func (e *env) rowCounts() map[string]int64 {
	e.t.Helper()
	c, err := e.st.RowCounts(e.ctx)
	must(e.t, "RowCounts", err)
	return c
}

// ---- contract=lifecycle ----

func lifecycleDialectAndPing(t *testing.T, e *env) {
	if d := e.st.Dialect(); d != store.SQLite && d != store.Postgres {
		t.Errorf("Dialect() = %q, want %q or %q", d, store.SQLite, store.Postgres)
	}
	must(t, "Ping", e.st.Ping(e.ctx))
}

func lifecycleNow(t *testing.T, e *env) {
	// A clock in another zone, with nanoseconds, on a store of its own.
	clock := time.Date(2031, 5, 6, 9, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
	st := e.open(t, func() time.Time { return clock })
	got := st.Now()
	want := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Now() = %s, want %s (clock in UTC, truncated to microseconds)", got.Format(timeFormat), want.Format(timeFormat))
	}
}

func lifecycleMigrateIdempotent(t *testing.T, e *env) {
	applied, err := e.st.Migrate(e.ctx)
	must(t, "second Migrate", err)
	if len(applied) != 0 {
		t.Errorf("second Migrate applied %v, want nothing", applied)
	}
}

func lifecycleSchemaVersion(t *testing.T, e *env) {
	current, latest, err := e.st.SchemaVersion(e.ctx)
	must(t, "SchemaVersion", err)
	if latest < 1 || current != latest {
		t.Errorf("SchemaVersion() = (current %d, latest %d), want current == latest >= 1 after Migrate", current, latest)
	}
}

// lifecycleTablesAreTheSchema: store.Tables, which row counts and write watching go over, names
// every table of a migrated database, so a negative test cannot miss a write for want of a table.
func lifecycleTablesAreTheSchema(t *testing.T, e *env) {
	got, err := e.st.SchemaTables(e.ctx)
	must(t, "SchemaTables", err)
	want := slices.Sorted(slices.Values(store.Tables))
	if !slices.Equal(got, want) {
		t.Errorf("the migrated database has tables %v; store.Tables = %v", got, store.Tables)
	}
}

func lifecycleRowCountsEmpty(t *testing.T, e *env) {
	got := e.rowCounts()
	want := map[string]int64{}
	for _, table := range store.Tables {
		want[table] = 0
	}
	want["session_cache_changes"] = 1 // the session cache's change counter, created with its one row
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RowCounts() on a fresh store = %v, want %v", got, want)
	}
}

func lifecycleRowCounts(t *testing.T, e *env) {
	u := e.user() // one role
	s := e.session(u.ID, time.Hour)
	e.refreshToken(s.ID, true, time.Hour)
	e.refreshToken(s.ID, false, time.Hour)
	must(t, "CreateAPIToken", e.st.CreateAPIToken(e.ctx, &store.APIToken{
		ID: uuid.New(), Kind: store.APITokenPAT, UserID: &u.ID, TokenHash: randomBytes(32), ExpiresAt: e.now().Add(time.Hour),
	}))
	must(t, "CreateSigningKey", e.st.CreateSigningKey(e.ctx, &store.SigningKey{KID: "k1", Alg: "EdDSA", PrivateKey: randomBytes(48)}))
	for range 3 {
		must(t, "RecordAudit", e.st.RecordAudit(e.ctx, &store.AuditEvent{ID: uuid.New(), Action: "x", Outcome: store.OutcomeSuccess}))
	}
	must(t, "CreateTicket", e.st.CreateTicket(e.ctx, &store.Ticket{ID: uuid.New(), Kind: store.TicketPasswordReset, UserID: u.ID,
		Email: *u.Email, TokenHash: randomBytes(32), ExpiresAt: e.now().Add(time.Hour)}))
	must(t, "EnqueueMail", e.st.EnqueueMail(e.ctx, &store.OutboxMail{ID: uuid.New(), Kind: "password-reset", Recipient: *u.Email,
		Subject: "s", ExpiresAt: e.now().Add(time.Hour)}))
	must(t, "EnqueueSMS", e.st.EnqueueSMS(e.ctx, &store.OutboxSMS{ID: uuid.New(), Kind: "signin-code", Recipient: "+4915123456789",
		ExpiresAt: e.now().Add(time.Hour)}))
	must(t, "CreateSessionToken", e.st.CreateSessionToken(e.ctx, &store.SessionToken{ID: uuid.New(), SessionID: s.ID,
		Kind: store.SessionTokenZesty, TokenHash: randomBytes(32), ExpiresAt: e.now().Add(time.Hour)}))
	inst := &store.Instance{ZUID: "8-" + hex.EncodeToString(randomBytes(5)), Name: "acme"}
	must(t, "CreateInstance", e.st.CreateInstance(e.ctx, inst))
	role := &store.InstanceRole{ID: uuid.New(), ZUID: "30-" + hex.EncodeToString(randomBytes(5)), InstanceID: inst.ID, Name: "Owner", SystemRole: store.SystemRoleOwner}
	must(t, "CreateInstanceRole", e.st.CreateInstanceRole(e.ctx, role))
	must(t, "SetInstanceMember", e.st.SetInstanceMember(e.ctx, &store.InstanceMember{InstanceID: inst.ID, UserID: u.ID, RoleID: role.ID}))
	for _, key := range []string{"ip:a", "ip:b"} {
		_, _, err := e.st.Hit(e.ctx, key, time.Minute, e.now())
		must(t, "Hit", err)
	}
	_, err := e.st.FailSignIn(e.ctx, "acct:"+u.ID.String(), "subject-"+u.ID.String(), e.now(), time.Hour)
	must(t, "FailSignIn", err)
	must(t, "CreateMFATicket", e.st.CreateMFATicket(e.ctx, &store.MFATicket{ID: uuid.New(), UserID: u.ID, TokenHash: randomBytes(32),
		Method: "password", ExpiresAt: e.now().Add(time.Hour)}))
	must(t, "ReplaceRecoveryCodes", e.st.ReplaceRecoveryCodes(e.ctx, u.ID, []store.RecoveryCode{{ID: uuid.New(), UserID: u.ID, CodeHash: randomBytes(32)}}))
	must(t, "CreateWebAuthnCredential", e.st.CreateWebAuthnCredential(e.ctx, e.webAuthnKey(u.ID)))
	must(t, "CreateWebAuthnCeremony", e.st.CreateWebAuthnCeremony(e.ctx, e.webAuthnCeremony(&u.ID, "signin", time.Minute)))
	must(t, "federation rows", writeFederationRows(e, e.st, u.ID))
	want := map[string]int64{
		"users": 1, "user_roles": 1, "sessions": 1, "refresh_tokens": 2,
		"api_tokens": 1, "signing_keys": 1, "audit_events": 3, "tickets": 1, "mail_outbox": 1, "session_tokens": 1,
		"sms_outbox": 1, "instances": 1, "instance_roles": 1, "instance_members": 1, "rate_limits": 2, "lockouts": 1,
		"mfa_tickets": 1, "recovery_codes": 1, "webauthn_credentials": 1, "webauthn_ceremonies": 1,
		"provider_identities": 1, "oauth_states": 1, "id_token_uses": 1, "auth_codes": 1,
		"session_cache_changes": 1,
	}
	if got := e.rowCounts(); !reflect.DeepEqual(got, want) {
		t.Errorf("RowCounts() = %v, want %v", got, want)
	}
}

func lifecycleWatchWrites(t *testing.T, e *env) {
	writes := func() map[string]int64 {
		t.Helper()
		w, err := e.st.Writes(e.ctx)
		must(t, "Writes", err)
		return w
	}
	changed := func(before, after map[string]int64) map[string]int64 {
		out := map[string]int64{}
		for _, table := range store.Tables {
			if n := after[table] - before[table]; n != 0 {
				out[table] = n
			}
		}
		return out
	}
	u := e.user() // before watching: not counted
	must(t, "WatchWrites", e.st.WatchWrites(e.ctx))
	w0 := writes()
	if got := changed(map[string]int64{}, w0); len(got) != 0 {
		t.Errorf("Writes() right after WatchWrites = %v, want none", got)
	}
	// An update that keeps every count.
	must(t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, u.ID, true))
	w1 := writes()
	if got := changed(w0, w1); !reflect.DeepEqual(got, map[string]int64{"users": 1}) {
		t.Errorf("after one user update, writes = %v, want users: 1", got)
	}
	// Watching again keeps the counts; inserts and deletes count too.
	must(t, "WatchWrites", e.st.WatchWrites(e.ctx))
	e.session(u.ID, time.Hour)
	inst := &store.Instance{ZUID: "8-" + hex.EncodeToString(randomBytes(5)), Name: "acme"}
	must(t, "CreateInstance", e.st.CreateInstance(e.ctx, inst))
	must(t, "DeleteInstance", e.st.DeleteInstance(e.ctx, inst.ID))
	w2 := writes()
	if got := changed(w1, w2); !reflect.DeepEqual(got, map[string]int64{"sessions": 1, "instances": 2}) {
		t.Errorf("after a session opened and an instance created and deleted, writes = %v, want sessions: 1, instances: 2", got)
	}
	// The deliverer's bookkeeping on the outbox is not counted; a new message is.
	m := &store.OutboxMail{ID: uuid.New(), Kind: "password-reset", Recipient: *u.Email, Subject: "s", ExpiresAt: e.now().Add(time.Hour)}
	must(t, "EnqueueMail", e.st.EnqueueMail(e.ctx, m))
	must(t, "MarkMailSent", e.st.MarkMailSent(e.ctx, m.ID))
	w3 := writes()
	if got := changed(w2, w3); !reflect.DeepEqual(got, map[string]int64{"mail_outbox": 1}) {
		t.Errorf("after a message enqueued and sent, writes = %v, want mail_outbox: 1", got)
	}
	// Rate-limit counters and lockouts count too: a lock that is set or extended is a write.
	_, _, err := e.st.Hit(e.ctx, "ip:a", time.Minute, e.now())
	must(t, "Hit", err)
	key := "acct:" + u.ID.String()
	_, err = e.st.FailSignIn(e.ctx, key, "subject-"+u.ID.String(), e.now(), time.Hour)
	must(t, "FailSignIn", err)
	must(t, "LockUntil", e.st.LockUntil(e.ctx, key, e.now().Add(time.Hour)))
	if got := changed(w3, writes()); !reflect.DeepEqual(got, map[string]int64{"rate_limits": 1, "lockouts": 2}) {
		t.Errorf("after a hit, a failure and a lock, writes = %v, want rate_limits: 1, lockouts: 2", got)
	}
}

func lifecycleClose(t *testing.T, e *env) {
	must(t, "Close", e.st.Close())
	if err := e.st.Ping(e.ctx); err == nil {
		t.Errorf("Ping after Close: error = nil, want an error")
	}
}

// ---- contract=round-trip ----

// metadata has every JSON type, nested, in the form encoding/json decodes to.
func metadata() store.JSONMap {
	return store.JSONMap{
		"plan":    "pro",
		"seats":   float64(12),
		"ratio":   0.25,
		"beta":    true,
		"nothing": nil,
		"tags":    []any{"a", float64(2), false, nil, map[string]any{"k": "v"}},
		"nested":  map[string]any{"deep": map[string]any{"list": []any{}, "empty": map[string]any{}, "s": "ü \"quoted\" \\ 🔑"}},
	}
}

// at is the store clock moved by d plus an odd number of microseconds, so every time written has a
// microsecond part that a lossy column would drop.
func (e *env) at(d time.Duration) time.Time {
	return e.now().Add(d).Add(654321 * time.Microsecond).Truncate(time.Microsecond)
}

func roundTripUser(t *testing.T, e *env) {
	lastSeen := e.at(-2 * time.Hour)
	want := &store.User{
		ID:                  uuid.New(),
		ZUID:                "5-6a1b2c3d4e-8f9a0b",
		CreatedAt:           e.at(-72 * time.Hour),
		UpdatedAt:           e.at(-36 * time.Hour),
		LastSeenAt:          &lastSeen,
		Email:               ptr("Zoë.Round-Trip+tag@Example.COM"),
		Username:            ptr("zoë_round"),
		PhoneNumber:         ptr("+4915112345678"),
		PhoneNumberVerified: true,
		DisplayName:         "Zoë O'Brien \"🔑\"",
		AvatarURL:           "https://example.com/a.png?s=64&d=identicon",
		Locale:              "de",
		Metadata:            metadata(),
		DefaultRole:         "editor",
		EmailVerified:       true,
		Disabled:            true,
		IsAnonymous:         true,
		NewPasswordRequired: true,
		PasswordHash:        ptr("$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2g"),
		TOTPSecret:          ptr("JBSWY3DPEHPK3PXP"),
		ActiveMFAType:       ptr("totp"),
	}
	in := *want
	must(t, "CreateUser", e.st.CreateUser(e.ctx, &in, []string{"editor", "user"}))
	want.EmailLower = ptr("zoë.round-trip+tag@example.com")

	got := e.userByID(want.ID)
	wantEqual(t, "UserByID", got, want)
	got = mustValue(e.st.UserByEmail(e.ctx, *want.Email))(t, "UserByEmail")
	withRoles := *want
	withRoles.Roles = []string{"editor", "user"} // UserByEmail brings the roles, sorted
	wantEqual(t, "UserByEmail", got, &withRoles)
	if r := e.roles(want.ID); !slices.Equal(r, []string{"editor", "user"}) {
		t.Errorf("UserRoles = %q, want %q", r, []string{"editor", "user"})
	}
}

func roundTripUserZero(t *testing.T, e *env) {
	// Every pointer nil, every flag false, every string empty, metadata nil (stored as {}).
	want := &store.User{ID: uuid.New(), ZUID: "5-zero", DefaultRole: "user"}
	in := *want
	must(t, "CreateUser", e.st.CreateUser(e.ctx, &in, nil))
	want.CreatedAt, want.UpdatedAt = e.now(), e.now() // stamped from the store's clock
	want.Metadata = store.JSONMap{}
	wantEqual(t, "UserByID", e.userByID(want.ID), want)
}

func roundTripSession(t *testing.T, e *env) {
	u := e.user()
	revoked := e.at(-time.Minute)
	want := &store.Session{
		ID:           uuid.New(),
		UserID:       u.ID,
		Method:       "password",
		CreatedAt:    e.at(-3 * time.Hour),
		LastActiveAt: e.at(-2 * time.Hour),
		ExpiresAt:    e.at(30 * 24 * time.Hour),
		RevokedAt:    &revoked,
		RevokeReason: "signed out everywhere",
		UserAgent:    "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" ü",
		IP:           "2001:db8::1",
	}
	in := *want
	must(t, "CreateSession", e.st.CreateSession(e.ctx, &in))
	wantEqual(t, "SessionByID", e.sessionByID(want.ID), want)
}

func roundTripRefreshToken(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	used := e.at(-time.Second)
	hash := make([]byte, 32)
	for i := range hash {
		hash[i] = byte(i * 8) // 0x00 first, 0xf8 last: bytes no text encoding survives
	}
	want := &store.RefreshToken{
		ID:        uuid.New(),
		SessionID: s.ID,
		TokenHash: hash,
		Successor: []byte{0x00, 0xff, 0x7f, 0x80, 0x00, '\'', '"', '\\', 0x0a},
		Rotates:   true,
		CreatedAt: e.at(-time.Hour),
		ExpiresAt: e.at(time.Hour),
		UsedAt:    &used,
	}
	in := *want
	must(t, "CreateRefreshToken", e.st.CreateRefreshToken(e.ctx, &in))
	wantEqual(t, "RefreshTokenByHash", e.refreshByHash(hash), want)

	// The spent row RotateRefreshToken hands back with ErrAlreadyUsed must match too.
	_, _, spent, err := e.st.RotateRefreshToken(e.ctx, e.rotation(hash))
	wantErr(t, "RotateRefreshToken(spent)", err, store.ErrAlreadyUsed)
	wantEqual(t, "row returned with ErrAlreadyUsed", spent, want)

	// Zero values: no successor (NULL), not rotating, never used.
	zero := &store.RefreshToken{ID: uuid.New(), SessionID: s.ID, TokenHash: randomBytes(32), ExpiresAt: e.at(time.Hour)}
	in = *zero
	must(t, "CreateRefreshToken", e.st.CreateRefreshToken(e.ctx, &in))
	zero.CreatedAt = e.now()
	wantEqual(t, "RefreshTokenByHash (zero values)", e.refreshByHash(zero.TokenHash), zero)
}

func roundTripAPIToken(t *testing.T, e *env) {
	u := e.user()
	lastUsed := e.at(-time.Hour)
	want := &store.APIToken{
		ID:         uuid.New(),
		Kind:       store.APITokenPAT,
		UserID:     &u.ID,
		Name:       "ci deploy ü",
		TokenHash:  bytes.Repeat([]byte{0x00, 0xff, 0x10}, 11),
		Metadata:   metadata(),
		CreatedAt:  e.at(-24 * time.Hour),
		ExpiresAt:  e.at(90 * 24 * time.Hour),
		LastUsedAt: &lastUsed,
	}
	in := *want
	must(t, "CreateAPIToken", e.st.CreateAPIToken(e.ctx, &in))
	// The only reader is UsableAPIToken, which records the use; RevokedAt is exercised by the
	// api-tokens contract (a revoked token is not usable).
	got := mustValue(e.st.UsableAPIToken(e.ctx, store.APITokenPAT, want.TokenHash))(t, "UsableAPIToken")
	want.LastUsedAt = ptr(e.now())
	wantEqual(t, "UsableAPIToken", got, want)
}

func roundTripAPITokenNoUser(t *testing.T, e *env) {
	want := &store.APIToken{
		ID: uuid.New(), Kind: store.APITokenPAT, TokenHash: randomBytes(32), ExpiresAt: e.at(time.Hour),
	}
	in := *want
	must(t, "CreateAPIToken", e.st.CreateAPIToken(e.ctx, &in))
	got := mustValue(e.st.UsableAPIToken(e.ctx, store.APITokenPAT, want.TokenHash))(t, "UsableAPIToken")
	want.CreatedAt = e.now()
	want.LastUsedAt = ptr(e.now())
	want.Metadata = store.JSONMap{}
	wantEqual(t, "UsableAPIToken", got, want)
}

func roundTripSigningKey(t *testing.T, e *env) {
	key := make([]byte, 256)
	for i := range key {
		key[i] = byte(i)
	}
	want := &store.SigningKey{KID: "2031-05-06T07:08:09Z-ü", Alg: "EdDSA", PrivateKey: key, CreatedAt: e.at(-time.Hour)}
	in := *want
	must(t, "CreateSigningKey", e.st.CreateSigningKey(e.ctx, &in))
	keys := mustValue(e.st.SigningKeys(e.ctx, 10))(t, "SigningKeys")
	if len(keys) != 1 {
		t.Fatalf("SigningKeys returned %d keys, want 1", len(keys))
	}
	wantEqual(t, "SigningKeys", &keys[0], want)
}

func roundTripAuditEvent(t *testing.T, e *env) {
	actor, target, sess := uuid.New(), uuid.New(), uuid.New() // no foreign keys: ids outlive users
	want := &store.AuditEvent{
		ID:             uuid.New(),
		At:             e.at(-time.Minute),
		Action:         "user.password.change",
		Outcome:        store.OutcomeFailure,
		ActorUserID:    &actor,
		ActorTokenName: "admin secret",
		TargetUserID:   &target,
		SessionID:      &sess,
		IP:             "203.0.113.7",
		UserAgent:      "curl/8.5.0",
		RequestID:      "req-7f3a",
		Detail:         metadata(),
	}
	in := *want
	must(t, "RecordAudit", e.st.RecordAudit(e.ctx, &in))
	events := mustValue(e.st.AuditEvents(e.ctx, "", 10))(t, "AuditEvents")
	if len(events) != 1 {
		t.Fatalf("AuditEvents returned %d events, want 1", len(events))
	}
	wantEqual(t, "AuditEvents", &events[0], want)
}

func roundTripAuditEventZero(t *testing.T, e *env) {
	want := &store.AuditEvent{ID: uuid.New(), Action: "x", Outcome: store.OutcomeSuccess}
	in := *want
	must(t, "RecordAudit", e.st.RecordAudit(e.ctx, &in))
	events := mustValue(e.st.AuditEvents(e.ctx, "", 10))(t, "AuditEvents")
	if len(events) != 1 {
		t.Fatalf("AuditEvents returned %d events, want 1", len(events))
	}
	want.At = e.now()
	want.Detail = store.JSONMap{}
	wantEqual(t, "AuditEvents", &events[0], want)
}

// roundTripOtherZones writes times in zones other than UTC: they must come back as the same
// instant, in UTC, like every other time the store hands out.
func roundTripOtherZones(t *testing.T, e *env) {
	east, west := time.FixedZone("IST", 5*3600+1800), time.FixedZone("EST", -5*3600)
	u := e.user()
	revoked := e.at(-time.Minute).In(west)
	in := &store.Session{
		ID: uuid.New(), UserID: u.ID, Method: "password",
		CreatedAt: e.at(-time.Hour).In(east), LastActiveAt: e.at(-time.Hour).In(west),
		ExpiresAt: e.at(time.Hour).In(east), RevokedAt: &revoked,
	}
	want := *in
	want.CreatedAt, want.LastActiveAt, want.ExpiresAt = in.CreatedAt.UTC(), in.LastActiveAt.UTC(), in.ExpiresAt.UTC()
	want.RevokedAt = ptr(revoked.UTC())
	must(t, "CreateSession", e.st.CreateSession(e.ctx, in))
	wantEqual(t, "SessionByID", e.sessionByID(in.ID), &want)
}

// expiryOtherZones checks that expiry compares instants, not the text of a time in some zone
// (SQLite compares times as text).
func expiryOtherZones(t *testing.T, e *env) {
	u := e.user()
	for _, tc := range []struct {
		name     string
		ttl      time.Duration
		zone     *time.Location
		wantLive bool
	}{
		{"live-written-west-of-utc", time.Hour, time.FixedZone("EST", -5*3600), true},
		{"live-written-east-of-utc", time.Hour, time.FixedZone("IST", 5*3600+1800), true},
		{"expired-written-east-of-utc", -time.Hour, time.FixedZone("IST", 5*3600+1800), false},
		{"expired-written-west-of-utc", -time.Hour, time.FixedZone("EST", -5*3600), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			now := e.now()
			s := &store.Session{
				ID: uuid.New(), UserID: u.ID, Method: "password",
				CreatedAt: now.In(tc.zone), LastActiveAt: now.In(tc.zone), ExpiresAt: now.Add(tc.ttl).In(tc.zone),
			}
			must(t, "CreateSession", e.st.CreateSession(e.ctx, s))
			_, err := e.st.LiveSessionUser(e.ctx, s.ID)
			if tc.wantLive {
				wantErr(t, fmt.Sprintf("LiveSessionUser (expires %s, now %s)", s.ExpiresAt.Format(timeFormat), now.Format(timeFormat)), err, nil)
			} else {
				wantErr(t, fmt.Sprintf("LiveSessionUser (expires %s, now %s)", s.ExpiresAt.Format(timeFormat), now.Format(timeFormat)), err, store.ErrNotFound)
			}
			extendTo := now.Add(2 * time.Hour).In(tc.zone)
			err = e.st.ExtendSession(e.ctx, s.ID, extendTo)
			if tc.wantLive {
				wantErr(t, "ExtendSession", err, nil)
				if got := e.sessionByID(s.ID).ExpiresAt; !got.Equal(extendTo) || got.Location() != time.UTC {
					t.Errorf("ExpiresAt after ExtendSession = %s, want %s in UTC", got.Format(timeFormat), extendTo.UTC().Format(timeFormat))
				}
			} else {
				wantErr(t, "ExtendSession", err, store.ErrNotFound)
			}
		})
	}
}

// ---- contract=users ----

func usersNormalizeEmail(t *testing.T, _ *env) {
	for _, tc := range []struct{ in, want string }{
		{"alice@example.com", "alice@example.com"},
		{"Alice@Example.COM", "alice@example.com"},
		{"  ALICE@EXAMPLE.COM\t\n", "alice@example.com"},
		{"Zoë@Exämple.com", "zoë@exämple.com"},
		// Only ASCII letters are folded: these are other mailboxes than their ASCII look-alikes.
		{"ceo@İbm.com", "ceo@İbm.com"},
		{"CEO@\u212Abm.com", "ceo@\u212Abm.com"},
		{"ZOË@Example.com", "zoË@example.com"},
		{"", ""},
	} {
		if got := store.NormalizeEmail(tc.in); got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func usersCreateWithRoles(t *testing.T, e *env) {
	u := e.newUser()
	must(t, "CreateUser", e.st.CreateUser(e.ctx, u, []string{"user", "me", "admin"}))
	if want := store.NormalizeEmail(*u.Email); u.EmailLower == nil || *u.EmailLower != want {
		t.Errorf("CreateUser set EmailLower = %s, want %q", show(u.EmailLower), want)
	}
	if got, want := e.roles(u.ID), []string{"admin", "me", "user"}; !slices.Equal(got, want) {
		t.Errorf("UserRoles = %q, want %q (sorted)", got, want)
	}
}

func usersCreateWithoutRoles(t *testing.T, e *env) {
	u := e.newUser()
	must(t, "CreateUser", e.st.CreateUser(e.ctx, u, nil))
	if got := e.roles(u.ID); len(got) != 0 {
		t.Errorf("UserRoles = %q, want none", got)
	}
}

func usersCreateStampsClock(t *testing.T, e *env) {
	e.clock.Advance(90*time.Minute + 7*time.Microsecond)
	u := e.newUser()
	must(t, "CreateUser", e.st.CreateUser(e.ctx, u, nil))
	got := e.userByID(u.ID)
	for name, ts := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
		if !ts.Equal(e.now()) {
			t.Errorf("%s = %s, want the store clock %s", name, ts.Format(timeFormat), e.now().Format(timeFormat))
		}
	}
}

func usersDuplicateEmail(t *testing.T, e *env) {
	first := e.user(func(u *store.User) { u.Email = ptr("Dup@Example.com") })
	for _, email := range []string{"Dup@Example.com", "dup@example.com", "DUP@EXAMPLE.COM", "  dup@example.com "} {
		t.Run("email="+strings.TrimSpace(email), func(t *testing.T) {
			e := e.with(t)
			dup := e.newUser(func(u *store.User) { u.Email = ptr(email) })
			wantConflict(t, fmt.Sprintf("CreateUser(%q) after %q", email, *first.Email), e.st.CreateUser(e.ctx, dup, []string{"user"}), "email")
			wantErr(t, "UserByID of the rejected user", errOnly(e.st.UserByID(e.ctx, dup.ID)), store.ErrNotFound)
		})
	}
	if got := e.userByID(first.ID); *got.Email != "Dup@Example.com" {
		t.Errorf("first user's email = %q, want it unchanged", *got.Email)
	}
	wantCount(t, e, 1)
}

func usersDuplicateUsername(t *testing.T, e *env) {
	e.user(func(u *store.User) { u.Username = ptr("taken") })
	dup := e.newUser(func(u *store.User) { u.Username = ptr("taken") })
	wantConflict(t, "CreateUser with a taken username", e.st.CreateUser(e.ctx, dup, nil), "username")
	wantCount(t, e, 1)
	// Nil usernames, like nil emails, may coexist.
	e.user(func(u *store.User) { u.Username = nil })
	e.user(func(u *store.User) { u.Username = nil })
	wantCount(t, e, 3)
}

func usersDuplicateZUID(t *testing.T, e *env) {
	e.user(func(u *store.User) { u.ZUID = "5-same" })
	dup := e.newUser(func(u *store.User) { u.ZUID = "5-same" })
	wantConflict(t, "CreateUser with a taken ZUID", e.st.CreateUser(e.ctx, dup, nil), "zuid")
	wantCount(t, e, 1)
}

func usersNilEmailsCoexist(t *testing.T, e *env) {
	for range 3 {
		u := e.user(func(u *store.User) { u.Email = nil; u.IsAnonymous = true })
		if got := e.userByID(u.ID); got.Email != nil || got.EmailLower != nil {
			t.Errorf("user without email read back Email=%s EmailLower=%s, want nil and nil", show(got.Email), show(got.EmailLower))
		}
	}
	wantCount(t, e, 3)
}

func usersByEmail(t *testing.T, e *env) {
	alice := e.user(func(u *store.User) { u.Email = ptr("Alice@Example.com") })
	e.user(func(u *store.User) { u.Email = ptr("bob@example.com") })
	for _, tc := range []struct {
		lookup string
		want   error
	}{
		{"Alice@Example.com", nil},
		{"alice@example.com", nil},
		{"ALICE@EXAMPLE.COM", nil},
		{"  alice@example.com\n", nil},
		{"alice@example.co", store.ErrNotFound},
		{"alice", store.ErrNotFound},
		{"", store.ErrNotFound},
	} {
		got, err := e.st.UserByEmail(e.ctx, tc.lookup)
		wantErr(t, fmt.Sprintf("UserByEmail(%q)", tc.lookup), err, tc.want)
		if tc.want == nil && err == nil && got.ID != alice.ID {
			t.Errorf("UserByEmail(%q) = user %s, want %s", tc.lookup, got.ID, alice.ID)
		}
	}
}

func usersByIDUnknown(t *testing.T, e *env) {
	e.user()
	u, err := e.st.UserByID(e.ctx, uuid.New())
	wantErr(t, "UserByID(unknown)", err, store.ErrNotFound)
	if u != nil {
		t.Errorf("UserByID(unknown) = %+v, want nil", u)
	}
}

func usersRolesUnknown(t *testing.T, e *env) {
	roles, err := e.st.UserRoles(e.ctx, uuid.New())
	must(t, "UserRoles(unknown)", err)
	if len(roles) != 0 {
		t.Errorf("UserRoles(unknown) = %q, want none", roles)
	}
}

func usersSetRoles(t *testing.T, e *env) {
	u := e.newUser()
	must(t, "CreateUser", e.st.CreateUser(e.ctx, u, []string{"user", "me"}))
	other := e.user()
	for _, tc := range []struct {
		name        string
		defaultRole string
		roles       []string
		want        []string
	}{
		{"replace", "editor", []string{"viewer", "editor", "user"}, []string{"editor", "user", "viewer"}},
		{"shrink", "user", []string{"user"}, []string{"user"}},
		{"clear", "user", nil, []string{}},
		{"restore", "admin", []string{"admin"}, []string{"admin"}},
	} {
		e.clock.Advance(time.Minute)
		must(t, "SetUserRoles "+tc.name, e.st.SetUserRoles(e.ctx, u.ID, tc.defaultRole, tc.roles))
		if got := e.roles(u.ID); !slices.Equal(got, tc.want) {
			t.Errorf("%s: UserRoles = %q, want %q", tc.name, got, tc.want)
		}
		got := e.userByID(u.ID)
		if got.DefaultRole != tc.defaultRole {
			t.Errorf("%s: DefaultRole = %q, want %q", tc.name, got.DefaultRole, tc.defaultRole)
		}
		if !got.UpdatedAt.Equal(e.now()) {
			t.Errorf("%s: UpdatedAt = %s, want %s", tc.name, got.UpdatedAt.Format(timeFormat), e.now().Format(timeFormat))
		}
	}
	if got := e.roles(other.ID); !slices.Equal(got, []string{"user"}) {
		t.Errorf("another user's roles = %q, want them untouched: [\"user\"]", got)
	}
}

func usersSetPasswordHash(t *testing.T, e *env) {
	u := e.user(func(u *store.User) { u.PasswordHash = ptr("old"); u.NewPasswordRequired = true })
	other := e.user(func(u *store.User) { u.PasswordHash = ptr("other"); u.NewPasswordRequired = true })
	e.clock.Advance(time.Hour)
	must(t, "SetPasswordHash", e.st.SetPasswordHash(e.ctx, u.ID, "new"))
	want := *u
	want.PasswordHash = ptr("new")
	want.NewPasswordRequired = false
	want.UpdatedAt = e.now()
	wantEqual(t, "user after SetPasswordHash", e.userByID(u.ID), &want)
	wantEqual(t, "another user after SetPasswordHash", e.userByID(other.ID), other)
}

func usersSetPasswordHashUnknown(t *testing.T, e *env) {
	e.user()
	wantErr(t, "SetPasswordHash(unknown)", e.st.SetPasswordHash(e.ctx, uuid.New(), "x"), store.ErrNotFound)
}

func anonymous(u *store.User) {
	u.Email, u.Username, u.PasswordHash = nil, nil, nil
	u.IsAnonymous = true
	u.DefaultRole = "anonymous"
	u.Metadata = store.JSONMap{"anon": true}
}

func usersDeanonymize(t *testing.T, e *env) {
	anon := e.newUser(anonymous)
	must(t, "CreateUser", e.st.CreateUser(e.ctx, anon, []string{"anonymous"}))
	e.clock.Advance(time.Hour)
	upd := &store.User{
		ID: anon.ID, Email: ptr("Now.Known@Example.com"), PasswordHash: ptr("hash"), EmailVerified: true,
		DefaultRole: "user", DisplayName: "Known", Locale: "fr", Metadata: store.JSONMap{"plan": "free", "n": float64(1)},
	}
	must(t, "Deanonymize", e.st.Deanonymize(e.ctx, upd, []string{"user", "me"}))
	want := *anon
	want.Email, want.EmailLower, want.PasswordHash = upd.Email, ptr("now.known@example.com"), upd.PasswordHash
	want.IsAnonymous, want.EmailVerified = false, true
	want.DefaultRole, want.DisplayName, want.Locale, want.Metadata = "user", "Known", "fr", upd.Metadata
	want.UpdatedAt = e.now()
	wantEqual(t, "user after Deanonymize", e.userByID(anon.ID), &want)
	if got := e.roles(anon.ID); !slices.Equal(got, []string{"me", "user"}) {
		t.Errorf("UserRoles after Deanonymize = %q, want [\"me\" \"user\"]", got)
	}
	if got := mustValue(e.st.UserByEmail(e.ctx, "now.known@EXAMPLE.com"))(t, "UserByEmail"); got.ID != anon.ID {
		t.Errorf("UserByEmail after Deanonymize = %s, want %s", got.ID, anon.ID)
	}
	// Once known, the user is no longer anonymous: a second Deanonymize changes nothing.
	again := *upd
	again.Email = ptr("other@example.com")
	wantErr(t, "second Deanonymize", e.st.Deanonymize(e.ctx, &again, []string{"admin"}), store.ErrNotFound)
	wantEqual(t, "user after second Deanonymize", e.userByID(anon.ID), &want)
}

// usersDeanonymizeWithoutAddress: a user may become a regular one before it has an address (in
// conceal mode the address comes later, with the link mailed to it).
func usersDeanonymizeWithoutAddress(t *testing.T, e *env) {
	anon := e.newUser(anonymous)
	must(t, "CreateUser", e.st.CreateUser(e.ctx, anon, []string{"anonymous"}))
	e.clock.Advance(time.Hour)
	upd := &store.User{ID: anon.ID, PasswordHash: ptr("hash"), DefaultRole: "user", DisplayName: "Known", Locale: "fr",
		Metadata: store.JSONMap{"plan": "free"}}
	must(t, "Deanonymize", e.st.Deanonymize(e.ctx, upd, []string{"user"}))
	want := *anon
	want.PasswordHash, want.IsAnonymous = upd.PasswordHash, false
	want.DefaultRole, want.DisplayName, want.Locale, want.Metadata = "user", "Known", "fr", upd.Metadata
	want.UpdatedAt = e.now()
	wantEqual(t, "user after Deanonymize", e.userByID(anon.ID), &want)
	if got := e.roles(anon.ID); !slices.Equal(got, []string{"user"}) {
		t.Errorf("UserRoles after Deanonymize = %q, want [\"user\"]", got)
	}
}

func usersDeanonymizeNotAnonymous(t *testing.T, e *env) {
	u := e.user(func(u *store.User) { u.PasswordHash = ptr("keep") })
	e.clock.Advance(time.Hour)
	upd := &store.User{ID: u.ID, Email: ptr("hijack@example.com"), PasswordHash: ptr("evil"), DefaultRole: "admin"}
	wantErr(t, "Deanonymize(regular user)", e.st.Deanonymize(e.ctx, upd, []string{"admin"}), store.ErrNotFound)
	wantEqual(t, "user after refused Deanonymize", e.userByID(u.ID), u)
	if got := e.roles(u.ID); !slices.Equal(got, []string{"user"}) {
		t.Errorf("UserRoles after refused Deanonymize = %q, want [\"user\"]", got)
	}
}

func usersDeanonymizeUnknown(t *testing.T, e *env) {
	upd := &store.User{ID: uuid.New(), Email: ptr("ghost@example.com"), DefaultRole: "user"}
	wantErr(t, "Deanonymize(unknown)", e.st.Deanonymize(e.ctx, upd, []string{"user"}), store.ErrNotFound)
	wantCount(t, e, 0)
	if c := e.rowCounts()["user_roles"]; c != 0 {
		t.Errorf("user_roles rows = %d, want 0", c)
	}
}

func usersDeanonymizeTakenEmail(t *testing.T, e *env) {
	e.user(func(u *store.User) { u.Email = ptr("taken@example.com") })
	anon := e.newUser(anonymous)
	must(t, "CreateUser", e.st.CreateUser(e.ctx, anon, []string{"anonymous"}))
	e.clock.Advance(time.Hour)
	upd := &store.User{ID: anon.ID, Email: ptr("TAKEN@example.com"), PasswordHash: ptr("h"), DefaultRole: "user"}
	wantConflict(t, "Deanonymize with a taken email", e.st.Deanonymize(e.ctx, upd, []string{"user"}), "email")
	wantEqual(t, "anonymous user after refused Deanonymize", e.userByID(anon.ID), anon)
	if got := e.roles(anon.ID); !slices.Equal(got, []string{"anonymous"}) {
		t.Errorf("UserRoles after refused Deanonymize = %q, want [\"anonymous\"]", got)
	}
}

func usersTouchLastSeen(t *testing.T, e *env) {
	u := e.user()
	other := e.user()
	if got := e.userByID(u.ID).LastSeenAt; got != nil {
		t.Fatalf("LastSeenAt of a new user = %s, want nil", got.Format(timeFormat))
	}
	for range 2 {
		e.clock.Advance(17*time.Minute + 3*time.Microsecond)
		must(t, "TouchUserLastSeen", e.st.TouchUserLastSeen(e.ctx, u.ID))
		if got := e.userByID(u.ID).LastSeenAt; got == nil || !got.Equal(e.now()) {
			t.Errorf("LastSeenAt = %s, want %s", show(got), e.now().Format(timeFormat))
		}
	}
	if got := e.userByID(other.ID).LastSeenAt; got != nil {
		t.Errorf("another user's LastSeenAt = %s, want nil", got.Format(timeFormat))
	}
	must(t, "TouchUserLastSeen(unknown)", e.st.TouchUserLastSeen(e.ctx, uuid.New()))
}

func usersSetDisabled(t *testing.T, e *env) {
	u := e.user()
	other := e.user()
	for _, disabled := range []bool{true, true, false, false, true} {
		e.clock.Advance(time.Minute)
		must(t, fmt.Sprintf("SetUserDisabled(%t)", disabled), e.st.SetUserDisabled(e.ctx, u.ID, disabled))
		got := e.userByID(u.ID)
		if got.Disabled != disabled || !got.UpdatedAt.Equal(e.now()) {
			t.Errorf("after SetUserDisabled(%t): Disabled = %t, UpdatedAt = %s; want %t, %s",
				disabled, got.Disabled, got.UpdatedAt.Format(timeFormat), disabled, e.now().Format(timeFormat))
		}
	}
	if e.userByID(other.ID).Disabled {
		t.Errorf("another user is disabled, want untouched")
	}
	wantErr(t, "SetUserDisabled(unknown)", e.st.SetUserDisabled(e.ctx, uuid.New(), true), store.ErrNotFound)
}

func usersCount(t *testing.T, e *env) {
	wantCount(t, e, 0)
	e.user()
	e.user(func(u *store.User) { u.Email = nil })
	e.user(anonymous)
	wantCount(t, e, 3)
}

// ---- contract=sessions ----

func sessionsByIDUnknown(t *testing.T, e *env) {
	e.session(e.user().ID, time.Hour)
	s, err := e.st.SessionByID(e.ctx, uuid.New())
	wantErr(t, "SessionByID(unknown)", err, store.ErrNotFound)
	if s != nil {
		t.Errorf("SessionByID(unknown) = %+v, want nil", s)
	}
}

func sessionsLiveUser(t *testing.T, e *env) {
	u := e.newUser(func(u *store.User) { u.DisplayName = "Owner"; u.Metadata = metadata() })
	must(t, "CreateUser", e.st.CreateUser(e.ctx, u, []string{"user", "admin"}))
	other := e.user()
	e.session(other.ID, time.Hour)
	live := e.session(u.ID, time.Hour)
	revoked := e.session(u.ID, time.Hour)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, revoked.ID, "test"))
	expired := e.session(u.ID, time.Minute)
	e.clock.Advance(time.Minute + time.Microsecond)

	for _, tc := range []struct {
		name string
		id   uuid.UUID
		want error
	}{
		{"live", live.ID, nil},
		{"revoked", revoked.ID, store.ErrNotFound},
		{"expired", expired.ID, store.ErrNotFound},
		{"unknown", uuid.New(), store.ErrNotFound},
		{"user-id-is-not-a-session-id", u.ID, store.ErrNotFound},
	} {
		got, err := e.st.LiveSessionUser(e.ctx, tc.id)
		wantErr(t, "LiveSessionUser "+tc.name, err, tc.want)
		if tc.want == nil && err == nil {
			// The whole user with its roles, not a mix of user and session columns from the join.
			want := *u
			want.Roles = []string{"admin", "user"}
			wantEqual(t, "LiveSessionUser "+tc.name, got, &want)
		}
	}
}

func sessionsLiveExpiry(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	for _, step := range []struct {
		advance  time.Duration
		wantLive bool
	}{
		{0, true},
		{time.Hour - time.Microsecond, true}, // one microsecond left
		{time.Microsecond, false},            // exactly at ExpiresAt: dead
		{time.Hour, false},
	} {
		e.clock.Advance(step.advance)
		_, err := e.st.LiveSessionUser(e.ctx, s.ID)
		op := fmt.Sprintf("LiveSessionUser at %s (expires %s)", e.now().Format(timeFormat), s.ExpiresAt.Format(timeFormat))
		if step.wantLive {
			wantErr(t, op, err, nil)
		} else {
			wantErr(t, op, err, store.ErrNotFound)
		}
	}
}

func sessionsExtend(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	other := e.session(u.ID, time.Hour)
	e.clock.Advance(50 * time.Minute)
	newExpiry := e.at(2 * time.Hour)
	must(t, "ExtendSession", e.st.ExtendSession(e.ctx, s.ID, newExpiry))
	want := *s
	want.LastActiveAt, want.ExpiresAt = e.now(), newExpiry
	wantEqual(t, "session after ExtendSession", e.sessionByID(s.ID), &want)
	wantEqual(t, "another session after ExtendSession", e.sessionByID(other.ID), other)
	// Past the old expiry, the extended session is still live.
	e.clock.Advance(30 * time.Minute)
	wantErr(t, "LiveSessionUser past the old expiry", errOnly(e.st.LiveSessionUser(e.ctx, s.ID)), nil)
	wantErr(t, "LiveSessionUser of the session not extended", errOnly(e.st.LiveSessionUser(e.ctx, other.ID)), store.ErrNotFound)
}

func sessionsExtendDead(t *testing.T, e *env) {
	u := e.user()
	revoked := e.session(u.ID, time.Hour)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, revoked.ID, "bye"))
	revokedRow := e.sessionByID(revoked.ID)
	expired := e.session(u.ID, time.Minute)
	e.clock.Advance(time.Minute)
	for _, tc := range []struct {
		name string
		id   uuid.UUID
		want *store.Session
	}{
		{"revoked", revoked.ID, revokedRow},
		{"expired", expired.ID, expired},
		{"unknown", uuid.New(), nil},
	} {
		err := e.st.ExtendSession(e.ctx, tc.id, e.at(24*time.Hour))
		wantErr(t, "ExtendSession "+tc.name, err, store.ErrNotFound)
		if tc.want != nil {
			wantEqual(t, "session after refused ExtendSession "+tc.name, e.sessionByID(tc.id), tc.want)
		}
	}
}

func sessionsRevokeIdempotent(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	other := e.session(u.ID, time.Hour)
	e.clock.Advance(time.Minute)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, s.ID, "signed out"))
	want := *s
	want.RevokedAt, want.RevokeReason = ptr(e.now()), "signed out"
	wantEqual(t, "session after RevokeSession", e.sessionByID(s.ID), &want)
	wantErr(t, "LiveSessionUser after RevokeSession", errOnly(e.st.LiveSessionUser(e.ctx, s.ID)), store.ErrNotFound)

	e.clock.Advance(time.Minute)
	must(t, "second RevokeSession", e.st.RevokeSession(e.ctx, s.ID, "again"))
	wantEqual(t, "session after second RevokeSession (first revocation stands)", e.sessionByID(s.ID), &want)
	must(t, "RevokeSession(unknown)", e.st.RevokeSession(e.ctx, uuid.New(), "none"))
	wantEqual(t, "another session", e.sessionByID(other.ID), other)
}

func sessionsRevokeUser(t *testing.T, e *env) {
	u := e.user()
	other := e.user()
	keep := e.session(u.ID, time.Hour)
	a := e.session(u.ID, time.Hour)
	b := e.session(u.ID, time.Hour)
	old := e.session(u.ID, time.Hour)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, old.ID, "earlier"))
	oldRow := e.sessionByID(old.ID)
	others := e.session(other.ID, time.Hour)
	e.clock.Advance(time.Minute)

	n, err := e.st.RevokeUserSessions(e.ctx, u.ID, keep.ID, "password changed")
	must(t, "RevokeUserSessions", err)
	if n != 2 {
		t.Errorf("RevokeUserSessions keeping one = %d, want 2", n)
	}
	wantEqual(t, "kept session", e.sessionByID(keep.ID), keep)
	for _, s := range []*store.Session{a, b} {
		want := *s
		want.RevokedAt, want.RevokeReason = ptr(e.now()), "password changed"
		wantEqual(t, "revoked session", e.sessionByID(s.ID), &want)
	}
	wantEqual(t, "session revoked before (untouched)", e.sessionByID(old.ID), oldRow)
	wantEqual(t, "another user's session (untouched)", e.sessionByID(others.ID), others)

	e.clock.Advance(time.Minute)
	n, err = e.st.RevokeUserSessions(e.ctx, u.ID, uuid.Nil, "sign out everywhere")
	must(t, "RevokeUserSessions(keep none)", err)
	if n != 1 {
		t.Errorf("RevokeUserSessions keeping none = %d, want 1 (only the kept one was live)", n)
	}
	if got := e.sessionByID(keep.ID); got.RevokedAt == nil || got.RevokeReason != "sign out everywhere" {
		t.Errorf("formerly kept session: RevokedAt = %s, RevokeReason = %q; want revoked with \"sign out everywhere\"", show(got.RevokedAt), got.RevokeReason)
	}
	n, err = e.st.RevokeUserSessions(e.ctx, u.ID, uuid.Nil, "again")
	must(t, "RevokeUserSessions(nothing live)", err)
	if n != 0 {
		t.Errorf("RevokeUserSessions with nothing live = %d, want 0", n)
	}
	n, err = e.st.RevokeUserSessions(e.ctx, uuid.New(), uuid.Nil, "nobody")
	must(t, "RevokeUserSessions(unknown user)", err)
	if n != 0 {
		t.Errorf("RevokeUserSessions(unknown user) = %d, want 0", n)
	}
	wantEqual(t, "another user's session (still untouched)", e.sessionByID(others.ID), others)
}

// ---- contract=refresh-tokens ----

func refreshByHash(t *testing.T, e *env) {
	s := e.session(e.user().ID, time.Hour)
	rt := e.refreshToken(s.ID, true, time.Hour)
	e.refreshToken(s.ID, true, time.Hour)
	got := e.refreshByHash(rt.TokenHash)
	want := *rt
	want.CreatedAt = e.now()
	wantEqual(t, "RefreshTokenByHash", got, &want)
	r, err := e.st.RefreshTokenByHash(e.ctx, randomBytes(32))
	wantErr(t, "RefreshTokenByHash(unknown)", err, store.ErrNotFound)
	if r != nil {
		t.Errorf("RefreshTokenByHash(unknown) = %+v, want nil", r)
	}
}

func refreshDuplicateHash(t *testing.T, e *env) {
	s := e.session(e.user().ID, time.Hour)
	rt := e.refreshToken(s.ID, true, time.Hour)
	dup := &store.RefreshToken{
		ID: uuid.New(), SessionID: s.ID, TokenHash: rt.TokenHash, ExpiresAt: e.at(time.Hour),
	}
	wantConflict(t, "CreateRefreshToken with a taken hash", e.st.CreateRefreshToken(e.ctx, dup), "token")
	if c := e.rowCounts()["refresh_tokens"]; c != 1 {
		t.Errorf("refresh_tokens rows = %d, want 1", c)
	}
}

// rotation rotates the token with hash to a fresh successor that lives an hour, and would slide
// its session to two hours from now.
func (e *env) rotation(hash []byte) store.Rotation {
	return store.Rotation{
		Hash:             hash,
		Sealed:           randomBytes(60),
		Next:             &store.RefreshToken{ID: uuid.New(), TokenHash: randomBytes(32), ExpiresAt: e.now().Add(time.Hour)},
		SessionExpiresAt: e.now().Add(2 * time.Hour),
	}
}

// refreshRotateCappedByToken: a session opened with an API token slides no further than the
// token's expiry; one opened otherwise slides to where it is asked to.
func refreshRotateCappedByToken(t *testing.T, e *env, inTx bool) {
	u := e.user()
	tok := e.apiToken(func(a *store.APIToken) { a.UserID = &u.ID; a.ExpiresAt = e.now().Add(90 * time.Minute) })
	now := e.now()
	capped := &store.Session{ID: uuid.New(), UserID: u.ID, Method: "pat", CreatedAt: now, LastActiveAt: now,
		ExpiresAt: now.Add(time.Hour), APITokenID: &tok.ID}
	must(t, "CreateSession", e.st.CreateSession(e.ctx, capped))
	free := e.session(u.ID, time.Hour)
	rtCapped, rtFree := e.refreshToken(capped.ID, true, time.Hour), e.refreshToken(free.ID, true, time.Hour)
	e.clock.Advance(2 * time.Minute) // both slide
	for _, c := range []struct {
		name string
		rt   *store.RefreshToken
		sid  uuid.UUID
		want func(r store.Rotation) time.Time
	}{
		{"opened with a token", rtCapped, capped.ID, func(store.Rotation) time.Time { return tok.ExpiresAt }},
		{"opened otherwise", rtFree, free.ID, func(r store.Rotation) time.Time { return r.SessionExpiresAt }},
	} {
		r := e.rotation(c.rt.TokenHash) // asks for two hours from now, past the token's expiry
		must(t, "RotateRefreshToken", errOnly4(e.rotate(inTx, r)))
		got := e.sessionByID(c.sid)
		if want := c.want(r).UTC().Truncate(time.Microsecond); !got.ExpiresAt.Equal(want) {
			t.Errorf("session %s: expires %v after the rotation, want %v", c.name, got.ExpiresAt, want)
		}
	}
}

// rotate calls RotateRefreshToken on the store itself (on PostgreSQL the single-statement hot
// path) or, with inTx, inside a transaction that then commits (the GORM path, on both databases).
func (e *env) rotate(inTx bool, r store.Rotation) (u *store.User, sid uuid.UUID, spent *store.RefreshToken, err error) {
	if !inTx {
		return e.st.RotateRefreshToken(e.ctx, r)
	}
	txErr := e.st.Tx(e.ctx, func(tx *store.Store) error {
		u, sid, spent, err = tx.RotateRefreshToken(e.ctx, r)
		return nil // commit either way: a refused rotation changed nothing
	})
	if txErr != nil {
		return nil, uuid.Nil, nil, fmt.Errorf("commit: %w", txErr)
	}
	return u, sid, spent, err
}

// bothModes runs a rotation case on the store itself and inside a transaction, each on a store
// of its own.
// after2038 runs fn with the clock past 2038-01-19, when Unix seconds no longer fit in 32 bits:
// the counters keep them as BIGINT, and no statement may pass one through a 32-bit integer.
func after2038(fn func(t *testing.T, e *env)) func(t *testing.T, e *env) {
	return func(t *testing.T, e *env) {
		e.clock.Advance(time.Date(2040, 2, 29, 12, 0, 0, 0, time.UTC).Sub(e.now()))
		fn(t, e)
	}
}

func bothModes(fn func(t *testing.T, e *env, inTx bool)) func(t *testing.T, e *env) {
	return func(t *testing.T, e *env) {
		t.Run(modeName(false), func(t *testing.T) { fn(t, e.with(t), false) })
		t.Run(modeName(true), func(t *testing.T) { fn(t, newEnv(t, e.open), true) })
	}
}

func modeName(inTx bool) string {
	if inTx {
		return "mode=tx"
	}
	return "mode=plain"
}

func refreshRotate(t *testing.T, e *env, inTx bool) {
	u := e.newUser()
	must(t, "CreateUser", e.st.CreateUser(e.ctx, u, []string{"user", "me"}))
	s := e.session(u.ID, time.Hour)
	rt := e.refreshToken(s.ID, true, time.Hour)
	other := e.refreshToken(s.ID, true, time.Hour)
	otherRow := e.refreshByHash(other.TokenHash)
	e.clock.Advance(2 * time.Minute) // the session was last active more than a minute ago: it slides

	r := e.rotation(rt.TokenHash)
	gotUser, sid, spent, err := e.rotate(inTx, r)
	must(t, "RotateRefreshToken", err)
	if sid != s.ID || spent != nil {
		t.Errorf("RotateRefreshToken = (session %s, spent %+v), want (session %s, nil)", sid, spent, s.ID)
	}
	wantUser := *u
	wantUser.Roles = []string{"me", "user"}
	wantEqual(t, "user RotateRefreshToken returns", gotUser, &wantUser)

	spentRow := *rt
	spentRow.CreatedAt, spentRow.UsedAt, spentRow.Successor = e.t0, ptr(e.now()), r.Sealed
	wantEqual(t, "presented token after rotation", e.refreshByHash(rt.TokenHash), &spentRow)
	wantNext := &store.RefreshToken{
		ID: r.Next.ID, SessionID: s.ID, TokenHash: r.Next.TokenHash, Rotates: true,
		CreatedAt: e.now(), ExpiresAt: r.Next.ExpiresAt,
	}
	wantEqual(t, "successor as stored", e.refreshByHash(r.Next.TokenHash), wantNext)
	wantEqual(t, "Rotation.Next as filled in", r.Next, wantNext)
	slid := *s
	slid.LastActiveAt, slid.ExpiresAt = e.now(), r.SessionExpiresAt
	wantEqual(t, "session after rotation", e.sessionByID(s.ID), &slid)
	wantEqual(t, "another token of the session", e.refreshByHash(other.TokenHash), otherRow)

	// Within a minute of the last slide the chain goes on without writing the session.
	e.clock.Advance(30 * time.Second)
	r2 := e.rotation(r.Next.TokenHash)
	_, sid, _, err = e.rotate(inTx, r2)
	must(t, "RotateRefreshToken(successor)", err)
	if sid != s.ID {
		t.Errorf("RotateRefreshToken(successor) session = %s, want %s", sid, s.ID)
	}
	wantEqual(t, "session after a rotation within a minute (not slid)", e.sessionByID(s.ID), &slid)

	e.clock.Advance(31 * time.Second)
	r3 := e.rotation(r2.Next.TokenHash)
	must(t, "RotateRefreshToken(second successor)", errOnly4(e.rotate(inTx, r3)))
	slid.LastActiveAt, slid.ExpiresAt = e.now(), r3.SessionExpiresAt
	wantEqual(t, "session after a rotation a minute later (slid)", e.sessionByID(s.ID), &slid)
	if c := e.rowCounts()["refresh_tokens"]; c != 5 {
		t.Errorf("refresh_tokens rows = %d, want 5 (two created, three successors)", c)
	}
}

func refreshRotateTwice(t *testing.T, e *env, inTx bool) {
	s := e.session(e.user().ID, time.Hour)
	rt := e.refreshToken(s.ID, true, time.Hour)
	r1 := e.rotation(rt.TokenHash)
	must(t, "first RotateRefreshToken", errOnly4(e.rotate(inTx, r1)))
	spentRow := e.refreshByHash(rt.TokenHash)
	sessRow := e.sessionByID(s.ID)
	before := e.rowCounts()
	e.clock.Advance(time.Second)

	r2 := e.rotation(rt.TokenHash)
	u, sid, spent, err := e.rotate(inTx, r2)
	wantErr(t, "second RotateRefreshToken", err, store.ErrAlreadyUsed)
	if u != nil || sid != uuid.Nil {
		t.Errorf("second RotateRefreshToken = (user %v, session %s), want (nil, %s)", u != nil, sid, uuid.Nil)
	}
	if spent == nil {
		t.Fatalf("second RotateRefreshToken returned no row with ErrAlreadyUsed, want the spent row (its sealed successor serves the reuse leeway)")
	}
	wantEqual(t, "row returned with ErrAlreadyUsed", spent, spentRow)
	wantEqual(t, "token after second rotation (first spend stands)", e.refreshByHash(rt.TokenHash), spentRow)
	wantEqual(t, "session after refused rotation", e.sessionByID(s.ID), sessRow)
	wantErr(t, "RefreshTokenByHash(refused successor)", errOnly(e.st.RefreshTokenByHash(e.ctx, r2.Next.TokenHash)), store.ErrNotFound)
	if after := e.rowCounts(); !reflect.DeepEqual(after, before) {
		t.Errorf("rows after refused rotation = %v, want %v", after, before)
	}
}

func refreshRotateRefused(t *testing.T, e *env, inTx bool) {
	for _, tc := range []struct {
		name       string
		nonRotate  bool
		sessionTTL time.Duration
		setup      func(e *env, u *store.User, s *store.Session)
		advance    time.Duration
		unknown    bool
		want       error
	}{
		{name: "token-at-expiry", advance: time.Hour, want: store.ErrExpired},
		{name: "token-past-expiry", advance: time.Hour + time.Microsecond, want: store.ErrExpired},
		{name: "unknown-token", unknown: true, want: store.ErrNotFound},
		{name: "non-rotating-token", nonRotate: true, want: store.ErrNotFound},
		{name: "session-revoked", want: store.ErrNotFound, setup: func(e *env, _ *store.User, s *store.Session) {
			must(e.t, "RevokeSession", e.st.RevokeSession(e.ctx, s.ID, "signed out"))
		}},
		{name: "session-expired", sessionTTL: time.Minute, advance: time.Minute, want: store.ErrNotFound},
		{name: "user-disabled", want: store.ErrUserDisabled, setup: func(e *env, u *store.User, _ *store.Session) {
			must(e.t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, u.ID, true))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			u := e.user()
			ttl := tc.sessionTTL
			if ttl == 0 {
				ttl = 2 * time.Hour
			}
			s := e.session(u.ID, ttl)
			rt := e.refreshToken(s.ID, !tc.nonRotate, time.Hour)
			if tc.setup != nil {
				tc.setup(e, u, s)
			}
			e.clock.Advance(tc.advance)
			tokenRow, sessRow, before := e.refreshByHash(rt.TokenHash), e.sessionByID(s.ID), e.rowCounts()
			hash := rt.TokenHash
			if tc.unknown {
				hash = randomBytes(32)
			}
			r := e.rotation(hash)
			gotUser, sid, _, err := e.rotate(inTx, r)
			wantErr(t, "RotateRefreshToken", err, tc.want)
			if gotUser != nil || sid != uuid.Nil {
				t.Errorf("refused RotateRefreshToken = (user %v, session %s), want (nil, %s)", gotUser != nil, sid, uuid.Nil)
			}
			wantEqual(t, "token after refused rotation", e.refreshByHash(rt.TokenHash), tokenRow)
			wantEqual(t, "session after refused rotation", e.sessionByID(s.ID), sessRow)
			wantErr(t, "RefreshTokenByHash(refused successor)", errOnly(e.st.RefreshTokenByHash(e.ctx, r.Next.TokenHash)), store.ErrNotFound)
			if after := e.rowCounts(); !reflect.DeepEqual(after, before) {
				t.Errorf("rows after refused rotation = %v, want %v", after, before)
			}
		})
	}
}

// refreshRotateSuccessorConflict makes the successor's insert fail: the spend must go with it,
// and the failure must be the same typed conflict on both databases.
func refreshRotateSuccessorConflict(t *testing.T, e *env, inTx bool) {
	s := e.session(e.user().ID, time.Hour)
	rt := e.refreshToken(s.ID, true, time.Hour)
	taken := e.refreshToken(s.ID, true, time.Hour)
	e.clock.Advance(2 * time.Minute)
	tokenRow, sessRow, before := e.refreshByHash(rt.TokenHash), e.sessionByID(s.ID), e.rowCounts()
	r := e.rotation(rt.TokenHash)
	r.Next.TokenHash = taken.TokenHash
	_, _, _, err := e.rotate(inTx, r)
	wantConflict(t, "RotateRefreshToken with a taken successor hash", err, "token")
	wantEqual(t, "presented token after failed rotation (still unspent)", e.refreshByHash(rt.TokenHash), tokenRow)
	wantEqual(t, "session after failed rotation", e.sessionByID(s.ID), sessRow)
	if after := e.rowCounts(); !reflect.DeepEqual(after, before) {
		t.Errorf("rows after failed rotation = %v, want %v", after, before)
	}
}

func refreshRotateRolledBack(t *testing.T, e *env) {
	s := e.session(e.user().ID, time.Hour)
	rt := e.refreshToken(s.ID, true, time.Hour)
	e.clock.Advance(2 * time.Minute)
	tokenRow, sessRow, before := e.refreshByHash(rt.TokenHash), e.sessionByID(s.ID), e.rowCounts()
	errAbort := errors.New("abort")
	r := e.rotation(rt.TokenHash)
	err := e.st.Tx(e.ctx, func(tx *store.Store) error {
		if _, _, _, err := tx.RotateRefreshToken(e.ctx, r); err != nil {
			return err
		}
		return errAbort
	})
	wantErr(t, "Tx", err, errAbort)
	wantEqual(t, "token after rolled-back rotation", e.refreshByHash(rt.TokenHash), tokenRow)
	wantEqual(t, "session after rolled-back rotation", e.sessionByID(s.ID), sessRow)
	if after := e.rowCounts(); !reflect.DeepEqual(after, before) {
		t.Errorf("rows after rolled-back rotation = %v, want %v", after, before)
	}
	must(t, "RotateRefreshToken after rollback", errOnly4(e.st.RotateRefreshToken(e.ctx, e.rotation(rt.TokenHash))))
}

// ---- contract=api-tokens ----

func (e *env) apiToken(mods ...func(*store.APIToken)) *store.APIToken {
	e.t.Helper()
	u := e.user()
	tok := &store.APIToken{
		ID: uuid.New(), Kind: store.APITokenPAT, UserID: &u.ID, Name: "t", TokenHash: randomBytes(32),
		Metadata: store.JSONMap{}, ExpiresAt: e.now().Add(time.Hour),
	}
	for _, m := range mods {
		m(tok)
	}
	must(e.t, "CreateAPIToken", e.st.CreateAPIToken(e.ctx, tok))
	return tok
}

func apiTokensUsable(t *testing.T, e *env) {
	tok := e.apiToken()
	e.apiToken()
	for range 2 {
		e.clock.Advance(7 * time.Minute)
		got := mustValue(e.st.UsableAPIToken(e.ctx, store.APITokenPAT, tok.TokenHash))(t, "UsableAPIToken")
		want := *tok
		want.CreatedAt = e.t0
		want.LastUsedAt = ptr(e.now())
		wantEqual(t, "UsableAPIToken", got, &want)
	}
}

func apiTokensUnusable(t *testing.T, e *env) {
	revokedAt := e.at(-time.Minute)
	for _, tc := range []struct {
		name    string
		mod     func(*store.APIToken)
		kind    string
		hash    func(*store.APIToken) []byte
		advance time.Duration
	}{
		{name: "revoked", mod: func(k *store.APIToken) { k.RevokedAt = &revokedAt }},
		{name: "expired", advance: time.Hour + time.Microsecond},
		{name: "at-expiry", advance: time.Hour},
		{name: "wrong-kind", kind: "service"},
		{name: "unknown-hash", hash: func(*store.APIToken) []byte { return randomBytes(32) }},
		{name: "empty-hash", hash: func(*store.APIToken) []byte { return []byte{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			var mods []func(*store.APIToken)
			if tc.mod != nil {
				mods = append(mods, tc.mod)
			}
			tok := e.apiToken(mods...)
			e.clock.Advance(tc.advance)
			kind, hash := store.APITokenPAT, tok.TokenHash
			if tc.kind != "" {
				kind = tc.kind
			}
			if tc.hash != nil {
				hash = tc.hash(tok)
			}
			got, err := e.st.UsableAPIToken(e.ctx, kind, hash)
			wantErr(t, "UsableAPIToken("+tc.name+")", err, store.ErrNotFound)
			if got != nil {
				t.Errorf("UsableAPIToken(%s) = %+v, want nil", tc.name, got)
			}
		})
	}
}

func apiTokensDuplicateHash(t *testing.T, e *env) {
	tok := e.apiToken()
	dup := &store.APIToken{ID: uuid.New(), Kind: store.APITokenPAT, TokenHash: tok.TokenHash, ExpiresAt: e.at(time.Hour)}
	wantConflict(t, "CreateAPIToken with a taken hash", e.st.CreateAPIToken(e.ctx, dup), "token")
	if c := e.rowCounts()["api_tokens"]; c != 1 {
		t.Errorf("api_tokens rows = %d, want 1", c)
	}
}

// ---- contract=purge ----

func purge(t *testing.T, e *env) {
	const day = 24 * time.Hour
	t0 := e.now()
	u := e.user()
	sLive := e.session(u.ID, 30*day)
	sExpiredOld := e.session(u.ID, time.Hour)   // ended T0+1h, before endedBefore: goes
	sExpiredRecent := e.session(u.ID, 5*day)    // ended T0+5d, after endedBefore: stays
	sRevokedOld := e.session(u.ID, 30*day)      // revoked T0+2d, before endedBefore: goes
	sRevokedRecent := e.session(u.ID, 30*day)   // revoked T0+4d, after endedBefore: stays
	sRevokedBoundary := e.session(u.ID, 30*day) // revoked exactly at endedBefore: stays (strict <)
	rtLive := e.refreshToken(sLive.ID, true, 30*day)
	rtExpired := e.refreshToken(sLive.ID, true, day)            // expired T0+1d: goes
	rtAtExpiry := e.refreshToken(sLive.ID, true, 10*day)        // expires exactly at purge time: goes (<=)
	rtSpentOld := e.refreshToken(sLive.ID, true, 30*day)        // spent T0+8d, before spentBefore: goes
	rtSpentRecent := e.refreshToken(sLive.ID, true, 30*day)     // spent T0+9d+1h, after spentBefore: stays
	rtNonRotating := e.refreshToken(sLive.ID, false, 30*day)    // never spent: stays
	rtOnDeleted := e.refreshToken(sRevokedOld.ID, true, 30*day) // live, but its session goes: cascade
	rtOnKept := e.refreshToken(sRevokedRecent.ID, true, 30*day)

	e.clock.Advance(2 * day)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, sRevokedOld.ID, "old"))
	e.clock.Advance(day)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, sRevokedBoundary.ID, "boundary"))
	e.clock.Advance(day)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, sRevokedRecent.ID, "recent"))
	e.clock.Advance(4 * day) // T0+8d
	rOld := e.rotation(rtSpentOld.TokenHash)
	rOld.SessionExpiresAt = sLive.ExpiresAt // the session keeps its expiry
	// Its successor expires an hour later, well before the purge: it goes too (counted).
	must(t, "RotateRefreshToken", errOnly4(e.st.RotateRefreshToken(e.ctx, rOld)))
	e.clock.Advance(day + time.Hour) // T0+9d+1h
	rRecent := e.rotation(rtSpentRecent.TokenHash)
	rRecent.SessionExpiresAt = sLive.ExpiresAt
	rRecent.Next.ExpiresAt = sLive.ExpiresAt // its successor stays
	must(t, "RotateRefreshToken", errOnly4(e.st.RotateRefreshToken(e.ctx, rRecent)))
	e.clock.Advance(23 * time.Hour) // T0+10d
	spentBefore, endedBefore := t0.Add(9*day), t0.Add(3*day)

	n, err := e.st.Purge(e.ctx, spentBefore, endedBefore)
	must(t, "Purge", err)
	// Counted: the four refresh tokens and two sessions it deletes itself. The token that goes
	// with its session is a cascade, which neither database counts.
	if n != 6 {
		t.Errorf("Purge = %d rows, want 6", n)
	}
	for _, s := range []struct {
		name string
		id   uuid.UUID
		kept bool
	}{
		{"live", sLive.ID, true},
		{"expired-before-endedBefore", sExpiredOld.ID, false},
		{"expired-after-endedBefore", sExpiredRecent.ID, true},
		{"revoked-before-endedBefore", sRevokedOld.ID, false},
		{"revoked-after-endedBefore", sRevokedRecent.ID, true},
		{"revoked-at-endedBefore", sRevokedBoundary.ID, true},
	} {
		_, err := e.st.SessionByID(e.ctx, s.id)
		wantKept(t, "session "+s.name, err, s.kept)
	}
	for _, r := range []struct {
		name string
		hash []byte
		kept bool
	}{
		{"live", rtLive.TokenHash, true},
		{"expired", rtExpired.TokenHash, false},
		{"at-expiry", rtAtExpiry.TokenHash, false},
		{"spent-before-spentBefore", rtSpentOld.TokenHash, false},
		{"spent-after-spentBefore", rtSpentRecent.TokenHash, true},
		{"non-rotating", rtNonRotating.TokenHash, true},
		{"of-purged-session", rtOnDeleted.TokenHash, false},
		{"of-kept-revoked-session", rtOnKept.TokenHash, true},
		{"successor-expired", rOld.Next.TokenHash, false},
		{"successor-live", rRecent.Next.TokenHash, true},
	} {
		_, err := e.st.RefreshTokenByHash(e.ctx, r.hash)
		wantKept(t, "refresh token "+r.name, err, r.kept)
	}
	counts := e.rowCounts()
	if counts["sessions"] != 4 || counts["refresh_tokens"] != 5 || counts["users"] != 1 {
		t.Errorf("rows after Purge: sessions %d, refresh_tokens %d, users %d; want 4, 5, 1",
			counts["sessions"], counts["refresh_tokens"], counts["users"])
	}
	n, err = e.st.Purge(e.ctx, spentBefore, endedBefore)
	must(t, "second Purge", err)
	if n != 0 {
		t.Errorf("second Purge = %d rows, want 0", n)
	}
}

func purgeEmpty(t *testing.T, e *env) {
	n, err := e.st.Purge(e.ctx, e.now(), e.now())
	must(t, "Purge", err)
	if n != 0 {
		t.Errorf("Purge on an empty store = %d rows, want 0", n)
	}
}

func wantKept(t *testing.T, what string, err error, kept bool) {
	t.Helper()
	switch {
	case kept && err != nil:
		t.Errorf("%s: after Purge error = %v, want it kept", what, err)
	case !kept && !errors.Is(err, store.ErrNotFound):
		t.Errorf("%s: after Purge error = %v, want it deleted (ErrNotFound)", what, err)
	}
}

// ---- contract=signing-keys ----

func signingKeysNewestFirst(t *testing.T, e *env) {
	var created []string
	for _, kid := range []string{"c", "a", "b"} { // created in this order; kid order must not matter
		must(t, "CreateSigningKey", e.st.CreateSigningKey(e.ctx, &store.SigningKey{KID: kid, Alg: "EdDSA", PrivateKey: randomBytes(48)}))
		created = append(created, kid)
		e.clock.Advance(time.Hour)
	}
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{10, []string{"b", "a", "c"}},
		{3, []string{"b", "a", "c"}},
		{2, []string{"b", "a"}},
		{1, []string{"b"}},
	} {
		keys := mustValue(e.st.SigningKeys(e.ctx, tc.limit))(t, "SigningKeys")
		if got := kids(keys); !slices.Equal(got, tc.want) {
			t.Errorf("SigningKeys(%d) = %q, want %q (created %q, an hour apart)", tc.limit, got, tc.want, created)
		}
	}
	keys := mustValue(e.st.SigningKeys(e.ctx, 1))(t, "SigningKeys")
	if want := e.t0.Add(2 * time.Hour); !keys[0].CreatedAt.Equal(want) {
		t.Errorf("newest key CreatedAt = %s, want %s (the store clock)", keys[0].CreatedAt.Format(timeFormat), want.Format(timeFormat))
	}
}

func signingKeysTie(t *testing.T, e *env) {
	for _, kid := range []string{"k2", "k3", "k1"} {
		must(t, "CreateSigningKey", e.st.CreateSigningKey(e.ctx, &store.SigningKey{KID: kid, Alg: "EdDSA", PrivateKey: randomBytes(48)}))
	}
	keys := mustValue(e.st.SigningKeys(e.ctx, 10))(t, "SigningKeys")
	if got, want := kids(keys), []string{"k3", "k2", "k1"}; !slices.Equal(got, want) {
		t.Errorf("SigningKeys with equal CreatedAt = %q, want %q (kid descending)", got, want)
	}
}

func signingKeysEmpty(t *testing.T, e *env) {
	keys := mustValue(e.st.SigningKeys(e.ctx, 5))(t, "SigningKeys")
	if len(keys) != 0 {
		t.Errorf("SigningKeys on an empty store = %q, want none", kids(keys))
	}
}

func signingKeysDuplicate(t *testing.T, e *env) {
	orig := &store.SigningKey{KID: "dup", Alg: "EdDSA", PrivateKey: randomBytes(48)}
	must(t, "CreateSigningKey", e.st.CreateSigningKey(e.ctx, orig))
	e.clock.Advance(time.Hour)
	dup := &store.SigningKey{KID: "dup", Alg: "RS256", PrivateKey: randomBytes(48)}
	wantConflict(t, "CreateSigningKey with a taken kid", e.st.CreateSigningKey(e.ctx, dup), "kid")
	keys := mustValue(e.st.SigningKeys(e.ctx, 5))(t, "SigningKeys")
	if len(keys) != 1 {
		t.Fatalf("SigningKeys = %q, want only the original", kids(keys))
	}
	wantEqual(t, "original key", &keys[0], orig)
}

func kids(keys []store.SigningKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.KID
	}
	return out
}

// ---- contract=audit ----

func auditStampsClock(t *testing.T, e *env) {
	e.clock.Advance(3*time.Hour + 5*time.Microsecond)
	ev := &store.AuditEvent{ID: uuid.New(), Action: "signin", Outcome: store.OutcomeSuccess}
	must(t, "RecordAudit", e.st.RecordAudit(e.ctx, ev))
	if !ev.At.Equal(e.now()) {
		t.Errorf("RecordAudit set At = %s, want the store clock %s", ev.At.Format(timeFormat), e.now().Format(timeFormat))
	}
	// An explicit At is kept.
	at := e.at(-time.Hour)
	must(t, "RecordAudit", e.st.RecordAudit(e.ctx, &store.AuditEvent{ID: uuid.New(), At: at, Action: "old", Outcome: store.OutcomeSuccess}))
	events := mustValue(e.st.AuditEvents(e.ctx, "old", 10))(t, "AuditEvents")
	if len(events) != 1 || !events[0].At.Equal(at) {
		t.Errorf("AuditEvents(\"old\") = %d events, want 1 at %s", len(events), at.Format(timeFormat))
	}
}

func auditList(t *testing.T, e *env) {
	actions := []string{"signin", "signout", "signin", "refresh", "signin"}
	ids := make([]uuid.UUID, len(actions))
	for i, a := range actions {
		ids[i] = uuid.New()
		must(t, "RecordAudit", e.st.RecordAudit(e.ctx, &store.AuditEvent{ID: ids[i], Action: a, Outcome: store.OutcomeSuccess}))
		e.clock.Advance(time.Second)
	}
	for _, tc := range []struct {
		action string
		limit  int
		want   []uuid.UUID
	}{
		{"", 10, []uuid.UUID{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"", 2, []uuid.UUID{ids[4], ids[3]}},
		{"signin", 10, []uuid.UUID{ids[4], ids[2], ids[0]}},
		{"signin", 2, []uuid.UUID{ids[4], ids[2]}},
		{"signout", 10, []uuid.UUID{ids[1]}},
		{"nothing", 10, nil},
	} {
		events := mustValue(e.st.AuditEvents(e.ctx, tc.action, tc.limit))(t, "AuditEvents")
		got := make([]uuid.UUID, len(events))
		for i, ev := range events {
			got[i] = ev.ID
		}
		if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("AuditEvents(%q, %d) = %v, want %v", tc.action, tc.limit, got, tc.want)
		}
	}
}

// ---- contract=tx ----

func txCommit(t *testing.T, e *env) {
	var u *store.User
	var s *store.Session
	err := e.st.Tx(e.ctx, func(tx *store.Store) error {
		u = e.newUser()
		if err := tx.CreateUser(e.ctx, u, []string{"user"}); err != nil {
			return err
		}
		s = &store.Session{ID: uuid.New(), UserID: u.ID, Method: "password", ExpiresAt: e.at(time.Hour), LastActiveAt: e.now()}
		return tx.CreateSession(e.ctx, s)
	})
	must(t, "Tx", err)
	wantEqual(t, "user written in a committed Tx", e.userByID(u.ID), u)
	wantErr(t, "LiveSessionUser of the session written in a committed Tx", errOnly(e.st.LiveSessionUser(e.ctx, s.ID)), nil)
}

func txRollback(t *testing.T, e *env) {
	before := e.rowCounts()
	errAbort := errors.New("abort")
	var u *store.User
	err := e.st.Tx(e.ctx, func(tx *store.Store) error {
		u = e.newUser()
		if err := tx.CreateUser(e.ctx, u, []string{"user", "admin"}); err != nil {
			return err
		}
		s := &store.Session{ID: uuid.New(), UserID: u.ID, Method: "password", ExpiresAt: e.at(time.Hour), LastActiveAt: e.now()}
		if err := tx.CreateSession(e.ctx, s); err != nil {
			return err
		}
		rt := &store.RefreshToken{ID: uuid.New(), SessionID: s.ID, TokenHash: randomBytes(32), ExpiresAt: e.at(time.Hour)}
		if err := tx.CreateRefreshToken(e.ctx, rt); err != nil {
			return err
		}
		if err := tx.CreateAPIToken(e.ctx, &store.APIToken{ID: uuid.New(), Kind: store.APITokenPAT, UserID: &u.ID, TokenHash: randomBytes(32), ExpiresAt: e.at(time.Hour)}); err != nil {
			return err
		}
		if err := tx.CreateSigningKey(e.ctx, &store.SigningKey{KID: "k", Alg: "EdDSA", PrivateKey: randomBytes(48)}); err != nil {
			return err
		}
		if err := tx.RecordAudit(e.ctx, &store.AuditEvent{ID: uuid.New(), Action: "signup", Outcome: store.OutcomeSuccess}); err != nil {
			return err
		}
		if err := tx.CreateTicket(e.ctx, &store.Ticket{ID: uuid.New(), Kind: store.TicketEmailVerify, UserID: u.ID,
			Email: *u.Email, TokenHash: randomBytes(32), ExpiresAt: e.at(time.Hour)}); err != nil {
			return err
		}
		if err := tx.EnqueueMail(e.ctx, &store.OutboxMail{ID: uuid.New(), Kind: "email-verify", Recipient: *u.Email,
			Subject: "s", ExpiresAt: e.at(time.Hour)}); err != nil {
			return err
		}
		if err := tx.EnqueueSMS(e.ctx, &store.OutboxSMS{ID: uuid.New(), Kind: "signin-code", Recipient: "+4915123456789",
			ExpiresAt: e.at(time.Hour)}); err != nil {
			return err
		}
		if err := tx.CreateSessionToken(e.ctx, &store.SessionToken{ID: uuid.New(), SessionID: s.ID,
			Kind: store.SessionTokenZesty, TokenHash: randomBytes(32), ExpiresAt: e.at(time.Hour)}); err != nil {
			return err
		}
		inst := &store.Instance{ZUID: "8-" + hex.EncodeToString(randomBytes(5)), Name: "acme"}
		if err := tx.CreateInstance(e.ctx, inst); err != nil {
			return err
		}
		role := &store.InstanceRole{ID: uuid.New(), ZUID: "30-" + hex.EncodeToString(randomBytes(5)), InstanceID: inst.ID, Name: "Owner", SystemRole: store.SystemRoleOwner}
		if err := tx.CreateInstanceRole(e.ctx, role); err != nil {
			return err
		}
		if err := tx.SetInstanceMember(e.ctx, &store.InstanceMember{InstanceID: inst.ID, UserID: u.ID, RoleID: role.ID}); err != nil {
			return err
		}
		if _, _, err := tx.Hit(e.ctx, "ip:a", time.Minute, e.now()); err != nil {
			return err
		}
		if _, err := tx.FailSignIn(e.ctx, "acct:"+u.ID.String(), "subject-"+u.ID.String(), e.now(), time.Hour); err != nil {
			return err
		}
		if err := tx.CreateMFATicket(e.ctx, &store.MFATicket{ID: uuid.New(), UserID: u.ID, TokenHash: randomBytes(32),
			Method: "password", ExpiresAt: e.at(time.Hour)}); err != nil {
			return err
		}
		if err := tx.ReplaceRecoveryCodes(e.ctx, u.ID, []store.RecoveryCode{{ID: uuid.New(), UserID: u.ID, CodeHash: randomBytes(32)}}); err != nil {
			return err
		}
		if err := tx.CreateWebAuthnCredential(e.ctx, e.webAuthnKey(u.ID)); err != nil {
			return err
		}
		if err := tx.CreateWebAuthnCeremony(e.ctx, e.webAuthnCeremony(&u.ID, "signin", time.Minute)); err != nil {
			return err
		}
		if err := writeFederationRows(e, tx, u.ID); err != nil {
			return err
		}
		inside, err := tx.RowCounts(e.ctx)
		if err != nil {
			return err
		}
		for _, table := range store.Tables {
			if inside[table] == 0 {
				t.Errorf("inside the Tx, %s has no rows; the test wrote one", table)
			}
		}
		return fmt.Errorf("sign up: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Tx error = %v, want the error fn returned (%v)", err, errAbort)
	}
	if after := e.rowCounts(); !reflect.DeepEqual(after, before) {
		t.Errorf("rows after a failed Tx = %v, want %v (everything rolled back)", after, before)
	}
	wantErr(t, "UserByID after rollback", errOnly(e.st.UserByID(e.ctx, u.ID)), store.ErrNotFound)
}

func txRollbackPanic(t *testing.T, e *env) {
	var u *store.User
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v from Tx, want the panic of fn (\"boom\")", r)
			}
		}()
		err := e.st.Tx(e.ctx, func(tx *store.Store) error {
			u = e.newUser()
			if err := tx.CreateUser(e.ctx, u, nil); err != nil {
				return err
			}
			panic("boom")
		})
		t.Errorf("Tx returned (%v) instead of passing fn's panic on", err)
	}()
	wantErr(t, "UserByID after a panicking Tx", errOnly(e.st.UserByID(e.ctx, u.ID)), store.ErrNotFound)
	// The store still works: the connection went back to the pool.
	e.user()
	wantCount(t, e, 1)
}

func txReadsOwnWrites(t *testing.T, e *env) {
	err := e.st.Tx(e.ctx, func(tx *store.Store) error {
		u := e.newUser()
		if err := tx.CreateUser(e.ctx, u, []string{"user"}); err != nil {
			return err
		}
		got, err := tx.UserByEmail(e.ctx, *u.Email)
		if err != nil {
			return fmt.Errorf("UserByEmail inside Tx: %w", err)
		}
		if got.ID != u.ID {
			t.Errorf("UserByEmail inside Tx = %s, want %s", got.ID, u.ID)
		}
		if n, err := tx.CountUsers(e.ctx); err != nil || n != 1 {
			t.Errorf("CountUsers inside Tx = %d, %v; want 1, nil", n, err)
		}
		if roles, err := tx.UserRoles(e.ctx, u.ID); err != nil || !slices.Equal(roles, []string{"user"}) {
			t.Errorf("UserRoles inside Tx = %q, %v; want [\"user\"], nil", roles, err)
		}
		return nil
	})
	must(t, "Tx", err)
}

func txNested(t *testing.T, e *env) {
	errInner := errors.New("inner")
	var outer, inner *store.User
	err := e.st.Tx(e.ctx, func(tx *store.Store) error {
		outer = e.newUser()
		if err := tx.CreateUser(e.ctx, outer, nil); err != nil {
			return err
		}
		err := tx.Tx(e.ctx, func(tx *store.Store) error {
			inner = e.newUser()
			if err := tx.CreateUser(e.ctx, inner, nil); err != nil {
				return err
			}
			return errInner
		})
		if !errors.Is(err, errInner) {
			return fmt.Errorf("nested Tx error = %v, want %v", err, errInner)
		}
		return nil // the outer transaction carries on without the inner one's writes
	})
	must(t, "Tx", err)
	wantErr(t, "UserByID(outer)", errOnly(e.st.UserByID(e.ctx, outer.ID)), nil)
	wantErr(t, "UserByID(inner, rolled back to its savepoint)", errOnly(e.st.UserByID(e.ctx, inner.ID)), store.ErrNotFound)
}

// ---- contract=cascade ----

// cascadeSessionTokens checks ON DELETE CASCADE from sessions to refresh tokens (on SQLite it needs
// foreign_keys(ON) on the writer). The store exposes no way to delete a user, so the cascade from
// users to roles, sessions and API tokens is not reachable through it and is not tested here.
func cascadeSessionTokens(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	tokens := []*store.RefreshToken{e.refreshToken(s.ID, true, 48*time.Hour), e.refreshToken(s.ID, false, 48*time.Hour)}
	keep := e.session(u.ID, 48*time.Hour)
	kept := e.refreshToken(keep.ID, true, 48*time.Hour)
	e.clock.Advance(2 * time.Hour)
	n, err := e.st.Purge(e.ctx, e.now().Add(-24*time.Hour), e.now())
	must(t, "Purge", err)
	if n != 1 {
		t.Errorf("Purge = %d, want 1 (the expired session; its tokens go by cascade, uncounted)", n)
	}
	for i, rt := range tokens {
		wantErr(t, fmt.Sprintf("RefreshTokenByHash(token %d of the purged session)", i), errOnly(e.st.RefreshTokenByHash(e.ctx, rt.TokenHash)), store.ErrNotFound)
	}
	wantErr(t, "RefreshTokenByHash(token of the kept session)", errOnly(e.st.RefreshTokenByHash(e.ctx, kept.TokenHash)), nil)
}

// ---- race= ----

// raceSpendRefreshToken has 16 goroutines rotate one refresh token at the same moment, each with
// a successor of its own. Exactly one may win; every other one must see ErrAlreadyUsed with the
// spent row (the signal for reuse detection), never a driver error such as SQLITE_BUSY or a
// PostgreSQL serialization failure, and only the winner's successor may exist afterwards.
func raceSpendRefreshToken(t *testing.T, e *env, inTx bool) {
	s := e.session(e.user().ID, 24*time.Hour)
	for i := range raceIterations {
		rt := e.refreshToken(s.ID, true, time.Hour)
		type result struct {
			r     store.Rotation
			spent *store.RefreshToken
			err   error
		}
		results := make([]result, racers)
		for g := range results {
			results[g].r = e.rotation(rt.TokenHash)
		}
		before := e.rowCounts()["refresh_tokens"]
		// With inTx, each spender in its own transaction, which fails (and rolls back) with the
		// spend, as handlers that group writes do.
		for g, err := range e.atOnce(racers, inTx, func(g int, st *store.Store) error {
			var err error
			_, _, results[g].spent, err = st.RotateRefreshToken(e.ctx, results[g].r)
			return err
		}) {
			results[g].err = err
		}

		var winners, used int
		var winner *result
		var others []string
		for g := range results {
			switch r := &results[g]; {
			case r.err == nil:
				winners++
				winner = r
			case errors.Is(r.err, store.ErrAlreadyUsed):
				used++
			default:
				others = append(others, fmt.Sprintf("goroutine %d: %v", g, r.err))
			}
		}
		if winners != 1 || used != racers-1 {
			t.Fatalf("iteration %d: %d winners, %d ErrAlreadyUsed, other errors %q; want 1 winner and %d ErrAlreadyUsed",
				i, winners, used, others, racers-1)
		}
		stored := e.refreshByHash(rt.TokenHash)
		if stored.UsedAt == nil || !stored.UsedAt.Equal(e.now()) || !bytes.Equal(stored.Successor, winner.r.Sealed) {
			t.Fatalf("iteration %d: token after the race has UsedAt %s, Successor %s; want %s and the winner's %s",
				i, show(stored.UsedAt), show(stored.Successor), e.now().Format(timeFormat), show(winner.r.Sealed))
		}
		for g, r := range results {
			if r.err == nil {
				continue
			}
			if r.spent == nil {
				t.Errorf("iteration %d: goroutine %d got ErrAlreadyUsed without the spent row", i, g)
			} else {
				wantEqual(t, fmt.Sprintf("iteration %d: goroutine %d: row with ErrAlreadyUsed", i, g), r.spent, stored)
			}
			wantErr(t, fmt.Sprintf("iteration %d: goroutine %d: its successor", i, g),
				errOnly(e.st.RefreshTokenByHash(e.ctx, r.r.Next.TokenHash)), store.ErrNotFound)
		}
		wantErr(t, fmt.Sprintf("iteration %d: the winner's successor", i), errOnly(e.st.RefreshTokenByHash(e.ctx, winner.r.Next.TokenHash)), nil)
		if after := e.rowCounts()["refresh_tokens"]; after != before+1 {
			t.Errorf("iteration %d: refresh_tokens rows %d -> %d, want exactly one successor", i, before, after)
		}
		e.clock.Advance(time.Millisecond)
	}
}

// raceRotateDistinctTokens has 16 goroutines (the tabs of one browser, or the clients of one
// service account) rotate 16 different tokens of one session at the same moment. They do not
// compete: every one must succeed, whether PostgreSQL's batching puts them in one batch or
// several, and none may fail with a lock error (such as a deadlock on the shared session row).
func raceRotateDistinctTokens(t *testing.T, e *env, inTx bool) {
	u := e.user()
	for i := range raceIterations / 2 {
		s := e.session(u.ID, 24*time.Hour)
		rs := make([]store.Rotation, racers)
		for g := range rs {
			rs[g] = e.rotation(e.refreshToken(s.ID, true, time.Hour).TokenHash)
		}
		e.clock.Advance(2 * time.Minute) // every rotation wants to slide the session
		errs := make([]error, racers)
		sids := make([]uuid.UUID, racers)
		startLine := make(chan struct{})
		var wg sync.WaitGroup
		for g := range racers {
			wg.Go(func() {
				<-startLine
				var err error
				_, sids[g], _, err = e.rotate(inTx, rs[g])
				errs[g] = err
			})
		}
		close(startLine)
		wg.Wait()
		for g, err := range errs {
			if err != nil {
				t.Errorf("iteration %d: goroutine %d: RotateRefreshToken: %v, want success (no other caller spends its token)", i, g, err)
				continue
			}
			if sids[g] != s.ID {
				t.Errorf("iteration %d: goroutine %d: session %s, want %s", i, g, sids[g], s.ID)
			}
			wantErr(t, fmt.Sprintf("iteration %d: goroutine %d: its successor", i, g),
				errOnly(e.st.RefreshTokenByHash(e.ctx, rs[g].Next.TokenHash)), nil)
		}
		if got := e.sessionByID(s.ID); !got.LastActiveAt.Equal(e.now()) {
			t.Errorf("iteration %d: session LastActiveAt = %s, want %s (slid)", i, got.LastActiveAt.Format(timeFormat), e.now().Format(timeFormat))
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

// raceCreateUserSameEmail has 16 goroutines sign up with one address (in different cases) at
// the same moment. Exactly one may win; the others must see ConflictError{Field: "email"}.
func raceCreateUserSameEmail(t *testing.T, e *env, inTx bool) {
	for i := range raceIterations / 2 {
		email := fmt.Sprintf("Race%d@Example.com", i)
		variants := []string{email, strings.ToLower(email), strings.ToUpper(email), " " + email + " "}
		users := make([]*store.User, racers)
		for g := range racers {
			users[g] = e.newUser(func(u *store.User) { u.Email = ptr(variants[g%len(variants)]) })
		}
		errs := e.atOnce(racers, inTx, func(g int, st *store.Store) error {
			return st.CreateUser(e.ctx, users[g], []string{"user", "me"})
		})

		var winners, conflicts int
		var winner *store.User
		var others []string
		for g, err := range errs {
			var ce *store.ConflictError
			switch {
			case err == nil:
				winners++
				winner = users[g]
			case errors.As(err, &ce) && ce.Field == "email":
				conflicts++
			default:
				others = append(others, fmt.Sprintf("goroutine %d: %v", g, err))
			}
		}
		if winners != 1 || conflicts != racers-1 {
			t.Fatalf("iteration %d: %d winners, %d email conflicts, other errors %q; want 1 winner and %d conflicts",
				i, winners, conflicts, others, racers-1)
		}
		got := mustValue(e.st.UserByEmail(e.ctx, email))(t, "UserByEmail")
		if got.ID != winner.ID {
			t.Errorf("iteration %d: UserByEmail = %s, want the winner %s", i, got.ID, winner.ID)
		}
		if roles := e.roles(winner.ID); !slices.Equal(roles, []string{"me", "user"}) {
			t.Errorf("iteration %d: winner's roles = %q, want [\"me\" \"user\"]", i, roles)
		}
		wantCount(t, e, int64(i+1))
	}
	if c := e.rowCounts()["user_roles"]; c != 2*raceIterations/2 {
		t.Errorf("user_roles rows = %d, want %d (losers' roles must not be written)", c, 2*raceIterations/2)
	}
}

// ---- assertions ----

// atOnce runs op in n goroutines released together, each on the store itself or, with inTx,
// inside a transaction of its own that op's error rolls back, and returns each one's error.
func (e *env) atOnce(n int, inTx bool, op func(g int, st *store.Store) error) []error {
	errs := make([]error, n)
	startLine := make(chan struct{})
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			<-startLine
			if inTx {
				errs[g] = e.st.Tx(e.ctx, func(tx *store.Store) error { return op(g, tx) })
			} else {
				errs[g] = op(g, e.st)
			}
		})
	}
	close(startLine)
	wg.Wait()
	return errs
}

const timeFormat = "2006-01-02T15:04:05.000000Z07:00 (MST)"

func must(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", op, err)
	}
}

// mustValue unwraps a (value, error) pair, failing the test on error:
// mustValue(st.UserByID(ctx, id))(t, "UserByID").
func mustValue[T any](v T, err error) func(t *testing.T, op string) T {
	return func(t *testing.T, op string) T {
		t.Helper()
		must(t, op, err)
		return v
	}
}

func errOnly[T any](_ T, err error) error { return err }

func errOnly4[A, B, C any](_ A, _ B, _ C, err error) error { return err }

// wantErr reports unless err matches want (errors.Is; a nil want means no error).
func wantErr(t *testing.T, op string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: error = %v, want nil", op, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: error = %v, want %v", op, err, want)
	}
}

// wantConflict reports unless err is a *store.ConflictError naming field.
func wantConflict(t *testing.T, op string, err error, field string) {
	t.Helper()
	var ce *store.ConflictError
	switch {
	case !errors.As(err, &ce):
		t.Errorf("%s: error = %v (%T), want *store.ConflictError{Field: %q}", op, err, err, field)
	case ce.Field != field:
		t.Errorf("%s: ConflictError.Field = %q, want %q (error: %v)", op, ce.Field, field, err)
	}
}

func wantCount(t *testing.T, e *env, want int64) {
	t.Helper()
	n, err := e.st.CountUsers(e.ctx)
	must(t, "CountUsers", err)
	if n != want {
		t.Errorf("CountUsers = %d, want %d", n, want)
	}
}

// wantEqual compares two values of one model type field by field and reports every difference.
// Times compare as instants (Equal) and must come back in UTC; everything else must be
// reflect.DeepEqual.
func wantEqual[T any](t *testing.T, what string, got, want *T) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Errorf("%s: got %+v, want %+v", what, got, want)
		}
		return
	}
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range gv.NumField() {
		if d := diffValue(gv.Field(i).Interface(), wv.Field(i).Interface()); d != "" {
			t.Errorf("%s: %s: %s", what, gv.Type().Field(i).Name, d)
		}
	}
}

func diffValue(got, want any) string {
	switch g := got.(type) {
	case time.Time:
		return diffTime(g, want.(time.Time))
	case *time.Time:
		w := want.(*time.Time)
		switch {
		case g == nil && w == nil:
			return ""
		case g == nil || w == nil:
			return fmt.Sprintf("got %s, want %s", show(g), show(w))
		}
		return diffTime(*g, *w)
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("got %s, want %s", show(got), show(want))
	}
	return ""
}

func diffTime(got, want time.Time) string {
	switch {
	case !got.Equal(want):
		return fmt.Sprintf("got %s, want %s (off by %s)", got.Format(timeFormat), want.Format(timeFormat), got.Sub(want))
	case got.Location() != time.UTC:
		return fmt.Sprintf("got %s in location %q, want it in UTC", got.Format(timeFormat), got.Location())
	}
	return ""
}

// show prints a field value readably: pointers dereferenced, bytes in hex, times with zone.
func show(v any) string {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return "nil"
	}
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "nil"
		}
		return "&" + show(rv.Elem().Interface())
	}
	switch x := v.(type) {
	case time.Time:
		return x.Format(timeFormat)
	case []byte:
		if x == nil {
			return "[]byte(nil)"
		}
		return "0x" + hex.EncodeToString(x)
	case string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprintf("%#v", v)
}

func ptr[T any](v T) *T { return &v }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// openSessionRows are a session, its first refresh token and its audit event, every field set.
func (e *env) openSessionRows(userID uuid.UUID) (*store.Session, *store.RefreshToken, *store.AuditEvent) {
	now := e.now()
	sess := &store.Session{ID: uuid.New(), UserID: userID, Method: "password", CreatedAt: now, LastActiveAt: now,
		ExpiresAt: now.Add(time.Hour), UserAgent: "agent/1.0 ünïcode", IP: "2001:db8::1"}
	rt := &store.RefreshToken{ID: uuid.New(), TokenHash: randomBytes(32), Rotates: true, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	sid, uid := sess.ID, userID
	ev := &store.AuditEvent{ID: uuid.New(), At: now, Action: "session.sign_in", Outcome: store.OutcomeSuccess,
		ActorUserID: &uid, ActorTokenName: "tok", TargetUserID: &uid, SessionID: &sid, IP: "2001:db8::1",
		UserAgent: "agent/1.0", RequestID: "req-1", Detail: store.JSONMap{"method": "password", "n": float64(2)}}
	return sess, rt, ev
}

// openSession calls OpenSession on the store, or inside a transaction.
func (e *env) openSession(inTx bool, sess *store.Session, rt *store.RefreshToken, ev *store.AuditEvent) error {
	if !inTx {
		return e.st.OpenSession(e.ctx, sess, rt, ev)
	}
	return e.st.Tx(e.ctx, func(tx *store.Store) error { return tx.OpenSession(e.ctx, sess, rt, ev) })
}

// sessionsOpenEveryColumn: OpenSession (a pipeline on PostgreSQL, GORM otherwise) writes every
// column of its three rows as the models' own inserts would.
func sessionsOpenEveryColumn(t *testing.T, e *env, inTx bool) {
	u := e.user()
	sess, rt, ev := e.openSessionRows(u.ID)
	tok := e.apiToken(func(a *store.APIToken) { a.UserID = &u.ID })
	sess.APITokenID = &tok.ID
	must(t, "OpenSession", e.openSession(inTx, sess, rt, ev))
	if rt.SessionID != sess.ID {
		t.Fatalf("refresh token's session = %s, want %s", rt.SessionID, sess.ID)
	}
	wantEqual(t, "session", e.sessionByID(sess.ID), sess)
	wantEqual(t, "refresh token", e.refreshByHash(rt.TokenHash), rt)
	events := mustValue(e.st.AuditEvents(e.ctx, ev.Action, 10))(t, "AuditEvents")
	if len(events) != 1 {
		t.Fatalf("audit events = %d, want 1", len(events))
	}
	wantEqual(t, "audit event", &events[0], ev)
}

// sessionsOpenAllOrNothing: when one of the three inserts fails (here a taken token hash), none
// of them stays.
func sessionsOpenAllOrNothing(t *testing.T, e *env, inTx bool) {
	u := e.user()
	sess, rt, ev := e.openSessionRows(u.ID)
	must(t, "OpenSession", e.openSession(inTx, sess, rt, ev))
	before := e.rowCounts()
	sess2, rt2, ev2 := e.openSessionRows(u.ID)
	rt2.TokenHash = rt.TokenHash
	var ce *store.ConflictError
	if err := e.openSession(inTx, sess2, rt2, ev2); !errors.As(err, &ce) || ce.Field != "token" {
		t.Fatalf("OpenSession with a taken token hash: %v, want a conflict on token", err)
	}
	if after := e.rowCounts(); !maps.Equal(before, after) {
		t.Fatalf("rows changed by a failed OpenSession: %v → %v", before, after)
	}
}
