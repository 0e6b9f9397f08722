package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
)

func keepTokens(c *server.Config) { c.ProviderKeepTokens = true }

// withRefresh is account with the provider's token response carrying refreshToken.
func withRefresh(a servertest.FakeAccount, refreshToken string) servertest.FakeAccount {
	a.TokenExtra = map[string]any{"refresh_token": refreshToken}
	return a
}

// rawTokens are the stored values of both provider-token columns, by link id.
func rawTokens(t *testing.T, h *servertest.Harness) map[string]map[uuid.UUID]string {
	t.Helper()
	out := map[string]map[uuid.UUID]string{}
	for _, col := range []store.SealedColumn{store.ProviderAccessTokenColumn, store.ProviderRefreshTokenColumn} {
		vals, err := h.Store.SealedValues(context.Background(), col)
		if err != nil {
			t.Fatal(err)
		}
		out[col.Column] = map[uuid.UUID]string{}
		for _, v := range vals {
			out[col.Column][v.ID] = v.Sealed
		}
	}
	return out
}

// callProvider calls the fake provider's API with an access token and returns the status.
func callProvider(t *testing.T, fp *servertest.FakeProvider, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fp.URL+"/api/user", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func providersOf(t *testing.T, h *servertest.Harness, userID uuid.UUID) string {
	t.Helper()
	list, err := h.Client.AdminListUserProvidersWithResponse(context.Background(), userID, asAdmin)
	if err != nil || list.JSON200 == nil {
		t.Fatalf("list providers: %v %s", err, list.Body)
	}
	return string(list.Body)
}

// TestProviderKeepTokens: with the setting on, each sign-in through a provider keeps its access
// and refresh tokens sealed (the columns hold no token), readable through ProviderTokens, never
// in the admin API or the logs; a sign-in without a new refresh token keeps the old one; unlink
// and user deletion remove them.
func TestProviderKeepTokens(t *testing.T) {
	h, fp := startWithProviders(t, keepTokens)
	ctx := context.Background()
	acct := githubAccount("2001", "keeper@example.com", true)

	s := sessionFrom(t, h, providerSignIn(t, h, fp, "github", withRefresh(acct, "gh-refresh-one"), nil))
	uid := uuid.MustParse(s.User.Id)
	first, err := h.Server.ProviderTokens(ctx, uid, "github")
	if err != nil {
		t.Fatalf("ProviderTokens: %v", err)
	}
	if first.RefreshToken != "gh-refresh-one" || first.AccessToken == "" || first.Expiry.IsZero() || first.UpdatedAt.IsZero() {
		t.Fatalf("kept tokens = refresh %q, access set %t, expiry %v, updated %v", first.RefreshToken, first.AccessToken != "", first.Expiry, first.UpdatedAt)
	}
	if st := callProvider(t, fp, first.AccessToken); st != http.StatusOK {
		t.Errorf("the kept access token is refused by the provider: %d", st)
	}
	raw := rawTokens(t, h)
	if len(raw["access_token"]) != 1 || len(raw["refresh_token"]) != 1 {
		t.Fatalf("stored tokens = %v, want one access and one refresh token", raw)
	}
	for col, vals := range raw {
		for _, v := range vals {
			if strings.Contains(v, first.AccessToken) || strings.Contains(v, "gh-refresh-one") {
				t.Errorf("%s holds a token in the clear", col)
			}
		}
	}
	if body := providersOf(t, h, uid); !strings.Contains(body, `"tokensKept":true`) ||
		strings.Contains(body, first.AccessToken) || strings.Contains(body, "gh-refresh-one") {
		t.Errorf("admin provider list = %s; want tokensKept true and no token", body)
	}

	// Google is asked for offline access, so that it hands a refresh token at all.
	if q := beginProvider(t, h, "google", nil).Query(); q.Get("access_type") != "offline" {
		t.Errorf("google authorization URL without access_type=offline: %v", q)
	}

	// A sealed value opens only on its own row and column: swapped, it does not.
	var linkID uuid.UUID
	for id := range raw["access_token"] {
		linkID = id
	}
	if _, err := servertest.Secrets.Open(raw["access_token"][linkID], store.ProviderRefreshTokenColumn.Purpose+":"+linkID.String()); err == nil {
		t.Error("a sealed access token opens as the refresh token")
	}
	if _, err := servertest.Secrets.Open(raw["access_token"][linkID], store.ProviderAccessTokenColumn.Purpose+":"+uuid.NewString()); err == nil {
		t.Error("a sealed access token opens for another row")
	}

	// The next sign-in replaces the access token; without a new refresh token the old one stays.
	sessionFrom(t, h, providerSignIn(t, h, fp, "github", acct, nil))
	second, err := h.Server.ProviderTokens(ctx, uid, "github")
	if err != nil || second.AccessToken == first.AccessToken || second.RefreshToken != "gh-refresh-one" {
		t.Fatalf("after a sign-in without a refresh token: %v, new access %t, refresh %q", err, second != nil && second.AccessToken != first.AccessToken, second.RefreshToken)
	}
	sessionFrom(t, h, providerSignIn(t, h, fp, "github", withRefresh(acct, "gh-refresh-two"), nil))
	if third, err := h.Server.ProviderTokens(ctx, uid, "github"); err != nil || third.RefreshToken != "gh-refresh-two" {
		t.Fatalf("after a sign-in with a new refresh token: %v %+v", err, third)
	}
	for _, secretText := range []string{first.AccessToken, second.AccessToken, "gh-refresh-one", "gh-refresh-two"} {
		if strings.Contains(h.Logs.String(), secretText) {
			t.Errorf("a provider token is in the logs")
		}
	}

	// Connect keeps the tokens on the newly linked account too.
	owner := signUp(t, h, "owner@example.com", pwOwner)
	to := providerSignIn(t, h, fp, "gitlab", withRefresh(gitlabAccount("88", "gl@example.com"), "gl-refresh"), url.Values{"connect": {owner.AccessToken}})
	if to.Query().Has("error") {
		t.Fatalf("connect redirect = %s", to.Redacted())
	}
	ownerID := uuid.MustParse(owner.User.Id)
	if got, err := h.Server.ProviderTokens(ctx, ownerID, "gitlab"); err != nil || got.RefreshToken != "gl-refresh" {
		t.Fatalf("tokens kept by connect: %v %+v", err, got)
	}

	// Unlinking removes the link's tokens, and only its own.
	del, err := h.Client.AdminUnlinkUserProviderWithResponse(ctx, uid, "github", asAdmin)
	if err != nil || del.StatusCode() != http.StatusNoContent {
		t.Fatalf("unlink: %v %d %s", err, del.StatusCode(), del.Body)
	}
	if raw := rawTokens(t, h); len(raw["access_token"]) != 1 || len(raw["refresh_token"]) != 1 {
		t.Errorf("after unlinking github: %v, want only the gitlab link's tokens", raw)
	}
	if _, err := h.Server.ProviderTokens(ctx, uid, "github"); !errors.Is(err, server.ErrNoProviderTokens) {
		t.Errorf("ProviderTokens after unlink: %v, want ErrNoProviderTokens", err)
	}

	// Deleting the user removes theirs.
	if r, err := h.Client.AdminDeleteUserWithResponse(ctx, ownerID, asAdmin); err != nil || r.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete user: %v %d %s", err, r.StatusCode(), r.Body)
	}
	if raw := rawTokens(t, h); len(raw["access_token"]) != 0 || len(raw["refresh_token"]) != 0 {
		t.Errorf("after deleting the user: %v, want no tokens", raw)
	}
}

// TestProviderKeepTokensOff: by default no provider token is stored; an instance with the
// setting off drops the tokens an instance with it on kept, at the next sign-in through it.
func TestProviderKeepTokensOff(t *testing.T) {
	h, fp := startWithProviders(t)
	ctx := context.Background()
	acct := withRefresh(githubAccount("3001", "plain@example.com", true), "gh-refresh-off")
	s := sessionFrom(t, h, providerSignIn(t, h, fp, "github", acct, nil))
	uid := uuid.MustParse(s.User.Id)
	if raw := rawTokens(t, h); len(raw["access_token"]) != 0 || len(raw["refresh_token"]) != 0 {
		t.Errorf("setting off: stored %v", raw)
	}
	if _, err := h.Server.ProviderTokens(ctx, uid, "github"); !errors.Is(err, server.ErrNoProviderTokens) {
		t.Errorf("ProviderTokens with the setting off: %v, want ErrNoProviderTokens", err)
	}
	if q := beginProvider(t, h, "google", nil).Query(); q.Has("access_type") {
		t.Errorf("google asked for offline access with the setting off: %v", q)
	}
	if body := providersOf(t, h, uid); !strings.Contains(body, `"tokensKept":false`) {
		t.Errorf("admin provider list = %s; want tokensKept false", body)
	}

	on := h.Another(t, keepTokens, withFakeProviders(fp), adminSecretOn)
	sessionFrom(t, on, providerSignIn(t, on, fp, "github", acct, nil))
	if raw := rawTokens(t, h); len(raw["access_token"]) != 1 || len(raw["refresh_token"]) != 1 {
		t.Fatalf("instance with the setting on: stored %v", raw)
	}
	sessionFrom(t, h, providerSignIn(t, h, fp, "github", githubAccount("3001", "plain@example.com", true), nil))
	if raw := rawTokens(t, h); len(raw["access_token"]) != 0 || len(raw["refresh_token"]) != 0 {
		t.Errorf("a sign-in with the setting off left %v", raw)
	}
}

// TestProviderKeepTokensNeedsKey: a server keeping provider tokens refuses to start without a
// secrets key.
func TestProviderKeepTokensNeedsKey(t *testing.T) {
	h := servertest.Start(t)
	cfg := server.DefaultConfig()
	cfg.ProviderKeepTokens = true
	_, err := server.New(context.Background(), server.Deps{Store: h.Store, Logger: nil, Now: h.Clock.Now, Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "LATCHKEY_SECRETS_KEY") {
		t.Errorf("New without a key: %v, want a refusal naming LATCHKEY_SECRETS_KEY", err)
	}
}
