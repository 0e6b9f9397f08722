package storetest

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The contract of the personal access tokens a user sees and ends, and of the revocation that
// comes with an account recovery. Registered in contracts() under "contract=api-tokens".

func apiTokensUserPATs(t *testing.T, e *env) {
	u := e.user()
	mine := func(mod func(*store.APIToken)) *store.APIToken {
		return e.apiToken(func(a *store.APIToken) {
			a.UserID = &u.ID
			if mod != nil {
				mod(a)
			}
		})
	}
	older := mine(nil)
	e.clock.Advance(time.Second)
	newer := mine(func(a *store.APIToken) { a.Name, a.Metadata = "named", store.JSONMap{"name": "named", "x": 1.0} })
	mine(func(a *store.APIToken) { a.RevokedAt = ptr(e.now()) })
	mine(func(a *store.APIToken) { a.ExpiresAt = e.now() }) // expires now: no longer live
	e.apiToken()                                            // another user's
	inst, roles := e.instance("a")
	e.member(inst, u, roles[store.SystemRoleOwner])
	e.zestyToken(roles[store.SystemRoleAdmin], u) // created by u, but not a PAT

	got := mustValue(e.st.UserPATs(e.ctx, u.ID))(t, "UserPATs")
	if len(got) != 2 {
		t.Fatalf("UserPATs = %+v, want the two live PATs", got)
	}
	wantNewer, wantOlder := *newer, *older
	wantNewer.CreatedAt, wantOlder.CreatedAt = e.now(), e.t0
	wantEqual(t, "UserPATs[0]", &got[0], &wantNewer)
	wantEqual(t, "UserPATs[1]", &got[1], &wantOlder)
	if none := mustValue(e.st.UserPATs(e.ctx, uuid.New()))(t, "UserPATs(stranger)"); len(none) != 0 {
		t.Fatalf("UserPATs of a stranger = %+v", none)
	}
}

func apiTokensRevokeUserPAT(t *testing.T, e *env) {
	u := e.user()
	mine := e.apiToken(func(a *store.APIToken) { a.UserID = &u.ID; a.Name = "mine" })
	theirs := e.apiToken()
	expired := e.apiToken(func(a *store.APIToken) { a.UserID = &u.ID; a.ExpiresAt = e.now() })
	inst, roles := e.instance("a")
	e.member(inst, u, roles[store.SystemRoleOwner])
	zesty := e.zestyToken(roles[store.SystemRoleAdmin], u)

	before := e.rowCounts()
	for name, id := range map[string]uuid.UUID{
		"another user's": theirs.ID, "expired": expired.ID, "a Zesty token": zesty.ID, "unknown": uuid.New(),
	} {
		got, _, err := e.st.RevokeUserPAT(e.ctx, u.ID, id)
		wantErr(t, "RevokeUserPAT("+name+")", err, store.ErrNotFound)
		if got != nil {
			t.Errorf("RevokeUserPAT(%s) = %+v", name, got)
		}
	}
	if after := e.rowCounts(); !maps.Equal(after, before) {
		t.Errorf("row counts after refusals %v, before %v", after, before)
	}
	e.clock.Advance(time.Minute)
	got, _, err := e.st.RevokeUserPAT(e.ctx, u.ID, mine.ID)
	must(t, "RevokeUserPAT", err)
	want := *mine
	want.CreatedAt, want.RevokedAt = e.t0, ptr(e.now())
	wantEqual(t, "RevokeUserPAT", got, &want)
	_, err = e.st.UsableAPIToken(e.ctx, store.APITokenPAT, mine.TokenHash)
	wantErr(t, "UsableAPIToken(revoked)", err, store.ErrNotFound)
	_, _, err = e.st.RevokeUserPAT(e.ctx, u.ID, mine.ID)
	wantErr(t, "RevokeUserPAT(again)", err, store.ErrNotFound)
	listed := mustValue(e.st.UserAPITokens(e.ctx, u.ID))(t, "UserAPITokens")
	for _, l := range listed {
		if l.ID == mine.ID && (l.RevokedAt == nil || !l.RevokedAt.Equal(e.now())) {
			t.Errorf("revoked at %v, want %v", l.RevokedAt, e.now())
		}
	}
	if _, err := e.st.UsableAPIToken(e.ctx, store.APITokenPAT, theirs.TokenHash); err != nil {
		t.Errorf("another user's PAT after the refusal: %v", err)
	}
}

func apiTokensRevokeForRecovery(t *testing.T, e *env) {
	u, other := e.user(), e.user()
	inst, roles := e.instance("a")
	e.member(inst, u, roles[store.SystemRoleOwner])
	e.member(inst, other, roles[store.SystemRoleAdmin])
	pats := []*store.APIToken{
		e.apiToken(func(a *store.APIToken) { a.UserID = &u.ID }),
		e.apiToken(func(a *store.APIToken) { a.UserID = &u.ID }),
	}
	already := e.apiToken(func(a *store.APIToken) { a.UserID = &u.ID; a.RevokedAt = ptr(e.at(-time.Hour)) })
	minted := e.zestyToken(roles[store.SystemRoleAdmin], u)
	theirPAT := e.apiToken(func(a *store.APIToken) { a.UserID = &other.ID })
	theirToken := e.zestyToken(roles[store.SystemRoleSEO], other)

	e.clock.Advance(time.Minute)
	n, err := e.st.RevokeUserAPITokens(e.ctx, u.ID)
	must(t, "RevokeUserAPITokens", err)
	if n != (store.RevokedTokens{PATs: 2, AccessTokens: 1}) {
		t.Fatalf("RevokeUserAPITokens = %+v; want 2 PATs, 1 access token, no session", n)
	}
	for i, tok := range append(pats, minted) {
		kind := tok.Kind
		_, err := e.st.UsableAPIToken(e.ctx, kind, tok.TokenHash)
		wantErr(t, fmt.Sprintf("UsableAPIToken(revoked %d)", i), err, store.ErrNotFound)
	}
	for _, l := range mustValue(e.st.UserAPITokens(e.ctx, u.ID))(t, "UserAPITokens") {
		want := e.now()
		if l.ID == already.ID {
			want = e.at(-time.Hour - time.Minute) // kept its first revocation
		}
		if l.RevokedAt == nil || !l.RevokedAt.Equal(want) {
			t.Errorf("token %s revoked at %v, want %v", l.ID, l.RevokedAt, want)
		}
	}
	// Revoked access tokens are gone for the Zesty dialect, as deleted ones are.
	_, err = e.st.ZestyTokenByZUID(e.ctx, *minted.ZUID)
	wantErr(t, "ZestyTokenByZUID(revoked)", err, store.ErrNotFound)
	if list := mustValue(e.st.ZestyTokensOfInstances(e.ctx, []int64{inst.ID}))(t, "ZestyTokensOfInstances"); len(list) != 1 || list[0].ID != theirToken.ID {
		t.Errorf("tokens of the instance after the revocation = %+v, want only the other user's", list)
	}
	for _, tok := range []*store.APIToken{theirPAT, theirToken} {
		if _, err := e.st.UsableAPIToken(e.ctx, tok.Kind, tok.TokenHash); err != nil {
			t.Errorf("another user's %s token after the revocation: %v", tok.Kind, err)
		}
	}
	n, err = e.st.RevokeUserAPITokens(e.ctx, u.ID)
	if err != nil || n != (store.RevokedTokens{}) {
		t.Errorf("RevokeUserAPITokens again = %+v, %v; want nothing", n, err)
	}
}

// apiTokensRevocationEndsSessions: every way of revoking a personal access token ends the live
// sessions opened with it, as RevokeSession ends one, and no other session.
func apiTokensRevocationEndsSessions(t *testing.T, e *env) {
	u, other := e.user(), e.user()
	pat := func(owner *store.User) *store.APIToken {
		return e.apiToken(func(a *store.APIToken) { a.UserID = &owner.ID })
	}
	opened := func(owner *store.User, tok *store.APIToken) *store.Session {
		now := e.now()
		s := &store.Session{ID: uuid.New(), UserID: owner.ID, Method: "pat", CreatedAt: now, LastActiveAt: now,
			ExpiresAt: now.Add(time.Hour)}
		if tok != nil {
			s.APITokenID = &tok.ID
		}
		must(t, "CreateSession", e.st.CreateSession(e.ctx, s))
		return s
	}
	wantEnded := func(what string, s *store.Session, ended bool) {
		t.Helper()
		got := e.sessionByID(s.ID)
		switch {
		case ended && (got.RevokedAt == nil || !got.RevokedAt.Equal(e.now()) || got.RevokeReason != "api-token-revoked"):
			t.Errorf("%s: revoked at %v (%q), want now, api-token-revoked", what, got.RevokedAt, got.RevokeReason)
		case !ended && got.RevokedAt != nil:
			t.Errorf("%s ended (%q)", what, got.RevokeReason)
		}
		_, err := e.st.LiveSessionUser(e.ctx, s.ID)
		if ended {
			wantErr(t, what+": LiveSessionUser", err, store.ErrNotFound)
		} else {
			must(t, what+": LiveSessionUser", err)
		}
	}
	a, b, c := pat(u), pat(u), pat(u)
	sA, sA2, sB, sC := opened(u, a), opened(u, a), opened(u, b), opened(u, c)
	own := opened(u, nil)
	theirs := pat(other)
	sTheirs := opened(other, theirs)

	e.clock.Advance(time.Minute)
	_, ended, err := e.st.RevokeUserPAT(e.ctx, u.ID, a.ID)
	must(t, "RevokeUserPAT", err)
	if ended != 2 {
		t.Errorf("RevokeUserPAT ended %d sessions, want 2", ended)
	}
	wantEnded("first session of the deleted PAT", sA, true)
	wantEnded("second session of the deleted PAT", sA2, true)
	wantEnded("session of another PAT", sB, false)

	e.clock.Advance(time.Minute)
	revoked, ended, err := e.st.RevokeUserAPIToken(e.ctx, u.ID, b.ID)
	if err != nil || !revoked || ended != 1 {
		t.Errorf("RevokeUserAPIToken = %v, %d, %v; want revoked, 1 session ended", revoked, ended, err)
	}
	wantEnded("session of the PAT an administrator revoked", sB, true)
	wantEnded("session of the last PAT", sC, false)

	e.clock.Advance(time.Minute)
	n, err := e.st.RevokeUserAPITokens(e.ctx, u.ID)
	if err != nil || n != (store.RevokedTokens{PATs: 1, Sessions: 1}) {
		t.Errorf("RevokeUserAPITokens = %+v, %v; want 1 PAT, 1 session", n, err)
	}
	wantEnded("session of a PAT revoked by a recovery", sC, true)
	wantEnded("session opened without a token", own, false)
	wantEnded("another user's PAT session", sTheirs, false)
}
