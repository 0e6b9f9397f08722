package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// webAuthnCases are the store contract of security keys and WebAuthn ceremonies.
var webAuthnCases = []testCase{
	{"credential-every-column", webAuthnCredentialRoundTrip},
	{"credential-id-unique-conflict", webAuthnCredentialConflict},
	{"credential-use-guarded-by-counter", webAuthnCredentialUse},
	{"credential-delete-only-own", webAuthnCredentialDelete},
	{"ceremony-by-challenge-and-kind", webAuthnCeremonyLookup},
	{"ceremony-expires", webAuthnCeremonyExpiry},
	{"race=ceremony-spent-once", webAuthnCeremonyRace},
	{"user-delete-cascades", webAuthnCascade},
}

func (e *env) webAuthnKey(userID uuid.UUID) *store.WebAuthnCredential {
	nick := "yubikey"
	used := e.at(-time.Minute)
	return &store.WebAuthnCredential{ID: uuid.New(), UserID: userID, CredentialID: randomBytes(32), Nickname: &nick,
		Credential: `{"id":"AQID","publicKey":"BAUG"}`, SignCount: 7, CreatedAt: e.at(-time.Hour), LastUsedAt: &used}
}

func (e *env) webAuthnCeremony(userID *uuid.UUID, kind string, ttl time.Duration) *store.WebAuthnCeremony {
	return &store.WebAuthnCeremony{ID: uuid.New(), Kind: kind, UserID: userID, ChallengeHash: randomBytes(32),
		SessionData: `{"challenge":"abc"}`, Data: `{"email":"a@example.com"}`, CreatedAt: e.now(), ExpiresAt: e.at(ttl)}
}

func webAuthnCredentialRoundTrip(t *testing.T, e *env) {
	u := e.user()
	want := e.webAuthnKey(u.ID)
	must(t, "CreateWebAuthnCredential", e.st.CreateWebAuthnCredential(e.ctx, want))
	got, err := e.st.WebAuthnCredentials(e.ctx, u.ID)
	must(t, "WebAuthnCredentials", err)
	if len(got) != 1 {
		t.Fatalf("WebAuthnCredentials = %d keys, want 1", len(got))
	}
	g := got[0]
	if g.ID != want.ID || g.UserID != u.ID || !bytes.Equal(g.CredentialID, want.CredentialID) || g.Nickname == nil ||
		*g.Nickname != *want.Nickname || g.SignCount != 7 || !g.CreatedAt.Equal(want.CreatedAt) ||
		g.LastUsedAt == nil || !g.LastUsedAt.Equal(*want.LastUsedAt) || !jsonEqual(string(g.Credential), string(want.Credential)) {
		t.Errorf("round trip:\n got %+v\nwant %+v", g, want)
	}
	n, err := e.st.CountWebAuthnCredentials(e.ctx, u.ID)
	must(t, "CountWebAuthnCredentials", err)
	if n != 1 {
		t.Errorf("CountWebAuthnCredentials = %d, want 1", n)
	}
}

func webAuthnCredentialConflict(t *testing.T, e *env) {
	a, b := e.user(), e.user()
	k := e.webAuthnKey(a.ID)
	must(t, "CreateWebAuthnCredential", e.st.CreateWebAuthnCredential(e.ctx, k))
	dup := e.webAuthnKey(b.ID)
	dup.CredentialID = k.CredentialID
	var ce *store.ConflictError
	if err := e.st.CreateWebAuthnCredential(e.ctx, dup); !errors.As(err, &ce) || ce.Field != "credential" {
		t.Errorf("duplicate credential id: err = %v, want ConflictError{credential}", err)
	}
}

func webAuthnCredentialUse(t *testing.T, e *env) {
	u := e.user()
	k := e.webAuthnKey(u.ID)
	must(t, "CreateWebAuthnCredential", e.st.CreateWebAuthnCredential(e.ctx, k))
	must(t, "UseWebAuthnCredential", e.st.UseWebAuthnCredential(e.ctx, k.ID, 7, 8))
	wantErr(t, "UseWebAuthnCredential with a stale counter", e.st.UseWebAuthnCredential(e.ctx, k.ID, 7, 9), store.ErrAlreadyUsed)
	got, err := e.st.WebAuthnCredentials(e.ctx, u.ID)
	must(t, "WebAuthnCredentials", err)
	if got[0].SignCount != 8 || got[0].LastUsedAt == nil || !got[0].LastUsedAt.Equal(e.now()) {
		t.Errorf("after use: count %d, last used %v; want 8, %v", got[0].SignCount, got[0].LastUsedAt, e.now())
	}
}

func webAuthnCredentialDelete(t *testing.T, e *env) {
	a, b := e.user(), e.user()
	k := e.webAuthnKey(a.ID)
	must(t, "CreateWebAuthnCredential", e.st.CreateWebAuthnCredential(e.ctx, k))
	wantErr(t, "DeleteWebAuthnCredential of another user", e.st.DeleteWebAuthnCredential(e.ctx, b.ID, k.ID), store.ErrNotFound)
	must(t, "DeleteWebAuthnCredential", e.st.DeleteWebAuthnCredential(e.ctx, a.ID, k.ID))
	wantErr(t, "DeleteWebAuthnCredential again", e.st.DeleteWebAuthnCredential(e.ctx, a.ID, k.ID), store.ErrNotFound)
}

func webAuthnCeremonyLookup(t *testing.T, e *env) {
	u := e.user()
	c := e.webAuthnCeremony(&u.ID, "elevate", time.Minute)
	must(t, "CreateWebAuthnCeremony", e.st.CreateWebAuthnCeremony(e.ctx, c))
	got, err := e.st.WebAuthnCeremonyByChallenge(e.ctx, "elevate", c.ChallengeHash)
	must(t, "WebAuthnCeremonyByChallenge", err)
	if got.ID != c.ID || got.UserID == nil || *got.UserID != u.ID || !jsonEqual(string(got.SessionData), string(c.SessionData)) ||
		!jsonEqual(string(got.Data), string(c.Data)) || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Errorf("ceremony round trip:\n got %+v\nwant %+v", got, c)
	}
	wantErr(t, "ceremony of another kind", errOnly(e.st.WebAuthnCeremonyByChallenge(e.ctx, "signin", c.ChallengeHash)), store.ErrNotFound)
	must(t, "SpendWebAuthnCeremony", e.st.SpendWebAuthnCeremony(e.ctx, c.ID))
	wantErr(t, "SpendWebAuthnCeremony again", e.st.SpendWebAuthnCeremony(e.ctx, c.ID), store.ErrAlreadyUsed)
	wantErr(t, "spent ceremony", errOnly(e.st.WebAuthnCeremonyByChallenge(e.ctx, "elevate", c.ChallengeHash)), store.ErrNotFound)
}

func webAuthnCeremonyExpiry(t *testing.T, e *env) {
	c := e.webAuthnCeremony(nil, "signup", time.Minute)
	must(t, "CreateWebAuthnCeremony", e.st.CreateWebAuthnCeremony(e.ctx, c))
	e.clock.Advance(2 * time.Minute)
	wantErr(t, "expired ceremony", errOnly(e.st.WebAuthnCeremonyByChallenge(e.ctx, "signup", c.ChallengeHash)), store.ErrNotFound)
	wantErr(t, "spend expired ceremony", e.st.SpendWebAuthnCeremony(e.ctx, c.ID), store.ErrAlreadyUsed)
	n, err := e.st.PurgeWebAuthnCeremonies(e.ctx, e.now())
	must(t, "PurgeWebAuthnCeremonies", err)
	if n != 1 {
		t.Errorf("PurgeWebAuthnCeremonies = %d, want 1", n)
	}
}

func webAuthnCeremonyRace(t *testing.T, e *env) {
	c := e.webAuthnCeremony(nil, "signin", time.Minute)
	must(t, "CreateWebAuthnCeremony", e.st.CreateWebAuthnCeremony(e.ctx, c))
	errs := e.atOnce(16, true, func(_ int, st *store.Store) error { return st.SpendWebAuthnCeremony(e.ctx, c.ID) })
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrAlreadyUsed):
			t.Errorf("racer: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d racers spent the ceremony, want exactly 1", wins)
	}
}

func webAuthnCascade(t *testing.T, e *env) {
	u := e.user()
	must(t, "CreateWebAuthnCredential", e.st.CreateWebAuthnCredential(e.ctx, e.webAuthnKey(u.ID)))
	must(t, "CreateWebAuthnCeremony", e.st.CreateWebAuthnCeremony(e.ctx, e.webAuthnCeremony(&u.ID, "add", time.Minute)))
	must(t, "DeleteUser", e.st.DeleteUser(e.ctx, u.ID))
	counts := e.rowCounts()
	if counts["webauthn_credentials"] != 0 || counts["webauthn_ceremonies"] != 0 {
		t.Errorf("after deleting the user: %d keys, %d ceremonies left", counts["webauthn_credentials"], counts["webauthn_ceremonies"])
	}
}

// jsonEqual compares two JSON documents by value: PostgreSQL's jsonb does not keep the text.
func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
