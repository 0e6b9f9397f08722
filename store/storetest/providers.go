package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The contract of federated sign-in's queries: a round trip's state used once, only for its
// provider and only in time; a provider account linked to one user at most; an ID token accepted
// once; a PKCE sign-in code used once and in time; links listed and removed per user; and the
// purge of what can no longer be used. Registered in contracts() as "contract=providers".

func providerCases() []testCase {
	return []testCase{
		{"state-once-for-its-provider-in-time", providerState},
		{"identity-one-user", providerIdentity},
		{"id-token-once", providerIDTokenOnce},
		{"auth-code-once-in-time", providerAuthCode},
		{"purge", providerPurge},
	}
}

// writeFederationRows writes one row in each federation table, through st.
func writeFederationRows(e *env, st *store.Store, user uuid.UUID) error {
	if err := st.CreateIdentity(e.ctx, &store.ProviderIdentity{ID: uuid.New(), UserID: user, Provider: "github",
		Subject: uuid.NewString(), Email: "x@example.com", CreatedAt: e.now()}); err != nil {
		return err
	}
	if err := st.CreateOAuthState(e.ctx, &store.OAuthState{ID: uuid.New(), StateHash: randomBytes(32), Provider: "github",
		CodeVerifier: "v", RedirectTo: "https://app.example", Options: store.JSONMap{"locale": "en"}, CreatedAt: e.now(), ExpiresAt: e.at(time.Minute)}); err != nil {
		return err
	}
	if err := st.UseIDToken(e.ctx, randomBytes(32), "google", e.at(time.Hour)); err != nil {
		return err
	}
	return st.CreateAuthCode(e.ctx, &store.AuthCode{ID: uuid.New(), CodeHash: randomBytes(32), CodeChallenge: "c", UserID: user,
		Method: "provider:github", CreatedAt: e.now(), ExpiresAt: e.at(time.Minute)})
}

func providerState(t *testing.T, e *env) {
	sid := uuid.New()
	st := &store.OAuthState{ID: uuid.New(), StateHash: randomBytes(32), Provider: "github", CodeVerifier: "verifier", Nonce: "n",
		RedirectTo: "https://app.example/x", Options: store.JSONMap{"displayName": "D"}, ConnectSessionID: &sid, CodeChallenge: "cc",
		CreatedAt: e.now(), ExpiresAt: e.at(10 * time.Minute)}
	must(t, "CreateOAuthState", e.st.CreateOAuthState(e.ctx, st))
	if _, err := e.st.SpendOAuthState(e.ctx, st.StateHash, "gitlab"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("state of another provider: %v, want ErrNotFound", err)
	}
	got, err := e.st.SpendOAuthState(e.ctx, st.StateHash, "github")
	must(t, "SpendOAuthState", err)
	if got.CodeVerifier != "verifier" || got.Nonce != "n" || got.RedirectTo != st.RedirectTo || got.Options["displayName"] != "D" ||
		got.ConnectSessionID == nil || *got.ConnectSessionID != sid || got.CodeChallenge != "cc" {
		t.Errorf("spent state = %+v", got)
	}
	if _, err := e.st.SpendOAuthState(e.ctx, st.StateHash, "github"); !errors.Is(err, store.ErrAlreadyUsed) {
		t.Errorf("second spend: %v, want ErrAlreadyUsed", err)
	}
	late := &store.OAuthState{ID: uuid.New(), StateHash: randomBytes(32), Provider: "github", CodeVerifier: "v", RedirectTo: "r",
		CreatedAt: e.now(), ExpiresAt: e.at(time.Minute)}
	must(t, "CreateOAuthState", e.st.CreateOAuthState(e.ctx, late))
	e.clock.Advance(2 * time.Minute)
	if _, err := e.st.SpendOAuthState(e.ctx, late.StateHash, "github"); !errors.Is(err, store.ErrExpired) {
		t.Errorf("late spend: %v, want ErrExpired", err)
	}
	if _, err := e.st.SpendOAuthState(e.ctx, randomBytes(32), "github"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown state: %v, want ErrNotFound", err)
	}
}

func providerIdentity(t *testing.T, e *env) {
	u, other := e.user(), e.user()
	id := &store.ProviderIdentity{ID: uuid.New(), UserID: u.ID, Provider: "github", Subject: "42", Email: "a@example.com", CreatedAt: e.now()}
	must(t, "CreateIdentity", e.st.CreateIdentity(e.ctx, id))
	var ce *store.ConflictError
	err := e.st.CreateIdentity(e.ctx, &store.ProviderIdentity{ID: uuid.New(), UserID: other.ID, Provider: "github", Subject: "42", CreatedAt: e.now()})
	if !errors.As(err, &ce) || ce.Field != "identity" {
		t.Errorf("same provider account for another user: %v, want a conflict on identity", err)
	}
	must(t, "CreateIdentity", e.st.CreateIdentity(e.ctx, &store.ProviderIdentity{ID: uuid.New(), UserID: other.ID, Provider: "gitlab", Subject: "42", CreatedAt: e.now()}))
	got, err := e.st.IdentityBySubject(e.ctx, "github", "42")
	if err != nil || got.UserID != u.ID || got.Email != "a@example.com" {
		t.Errorf("IdentityBySubject = %+v, %v", got, err)
	}
	list, err := e.st.UserIdentities(e.ctx, u.ID)
	if err != nil || len(list) != 1 || list[0].Provider != "github" {
		t.Errorf("UserIdentities = %+v, %v", list, err)
	}
	if _, err := e.st.DeleteUserIdentities(e.ctx, other.ID, "github"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete a link the user does not have: %v, want ErrNotFound", err)
	}
	gone, err := e.st.DeleteUserIdentities(e.ctx, u.ID, "github")
	if err != nil || len(gone) != 1 || gone[0].Subject != "42" {
		t.Errorf("DeleteUserIdentities = %+v, %v", gone, err)
	}
	if _, err := e.st.IdentityBySubject(e.ctx, "github", "42"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
}

func providerIDTokenOnce(t *testing.T, e *env) {
	h := randomBytes(32)
	must(t, "UseIDToken", e.st.UseIDToken(e.ctx, h, "google", e.at(time.Hour)))
	if err := e.st.UseIDToken(e.ctx, h, "google", e.at(time.Hour)); !errors.Is(err, store.ErrAlreadyUsed) {
		t.Errorf("second use: %v, want ErrAlreadyUsed", err)
	}
}

func providerAuthCode(t *testing.T, e *env) {
	u := e.user()
	c := &store.AuthCode{ID: uuid.New(), CodeHash: randomBytes(32), CodeChallenge: "ch", UserID: u.ID, Method: "magic-link",
		CreatedAt: e.now(), ExpiresAt: e.at(5 * time.Minute)}
	must(t, "CreateAuthCode", e.st.CreateAuthCode(e.ctx, c))
	got, err := e.st.SpendAuthCode(e.ctx, c.CodeHash)
	if err != nil || got.UserID != u.ID || got.CodeChallenge != "ch" || got.Method != "magic-link" {
		t.Errorf("SpendAuthCode = %+v, %v", got, err)
	}
	if _, err := e.st.SpendAuthCode(e.ctx, c.CodeHash); !errors.Is(err, store.ErrAlreadyUsed) {
		t.Errorf("second spend: %v, want ErrAlreadyUsed", err)
	}
	late := &store.AuthCode{ID: uuid.New(), CodeHash: randomBytes(32), CodeChallenge: "ch", UserID: u.ID, Method: "m",
		CreatedAt: e.now(), ExpiresAt: e.at(time.Minute)}
	must(t, "CreateAuthCode", e.st.CreateAuthCode(e.ctx, late))
	e.clock.Advance(2 * time.Minute)
	if _, err := e.st.SpendAuthCode(e.ctx, late.CodeHash); !errors.Is(err, store.ErrExpired) {
		t.Errorf("late spend: %v, want ErrExpired", err)
	}
	if _, err := e.st.SpendAuthCode(e.ctx, randomBytes(32)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown code: %v, want ErrNotFound", err)
	}
}

func providerPurge(t *testing.T, e *env) {
	u := e.user()
	must(t, "federation rows", writeFederationRows(e, e.st, u.ID))
	e.clock.Advance(2 * time.Hour)
	if _, err := e.st.Purge(e.ctx, e.now(), e.now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	counts := e.rowCounts()
	for _, table := range []string{"oauth_states", "id_token_uses", "auth_codes"} {
		if counts[table] != 0 {
			t.Errorf("after the purge %s has %d rows, want 0", table, counts[table])
		}
	}
	if counts["provider_identities"] != 1 {
		t.Errorf("the purge removed a provider link")
	}
}
