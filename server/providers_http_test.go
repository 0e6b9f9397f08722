package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// oidcProviders are the providers of the table that are OpenID Connect issuers.
var oidcProviders = map[string]bool{"apple": true, "google": true, "linkedin": true, "azuread": true, "entraid": true, "oidc": true}

// withFakeProviders configures every provider of the table against fp: OIDC ones with fp as
// issuer, the others with fp's authorize, token and API endpoints. Each has a web and an iOS
// client id; Apple signs its client secrets with a key of its own.
func withFakeProviders(fp *servertest.FakeProvider) func(*server.Config) {
	return func(c *server.Config) {
		c.Providers = map[string]server.ProviderConfig{}
		for _, name := range server.ProviderNames() {
			pc := server.ProviderConfig{ClientIDs: []string{name + "-web", name + "-ios"}, ClientSecret: name + "-secret"}
			if oidcProviders[name] {
				pc.Issuer = fp.URL
			} else {
				pc.AuthURL, pc.TokenURL, pc.APIURL = fp.URL+"/authorize", fp.URL+"/token", fp.URL+"/api"
			}
			c.Providers[name] = pc
		}
		apple := c.Providers["apple"]
		apple.ClientSecret, apple.AppleTeamID, apple.AppleKeyID, apple.ApplePrivateKey = "", "TEAM123456", "KEY1234567", applePrivateKey
		c.Providers["apple"] = apple
	}
}

var applePrivateKey = func() string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}()

// startWithProviders starts a fake provider and a server that uses it; the provider's clock is the
// server's.
func startWithProviders(t *testing.T, opts ...func(*server.Config)) (*servertest.Harness, *servertest.FakeProvider) {
	t.Helper()
	fp := servertest.StartFakeProvider(t)
	h := servertest.Start(t, append([]func(*server.Config){withFakeProviders(fp), adminSecretOn}, opts...)...)
	fp.Now = h.Clock.Now
	return h, fp
}

// browser follows nothing: each hop of the round trip is checked.
var browser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// beginProvider starts a sign-in at h and returns the provider's authorization URL.
func beginProvider(t *testing.T, h *servertest.Harness, provider string, q url.Values) *url.URL {
	t.Helper()
	hdr, status, body := h.Send(t, http.MethodGet, "/v1/signin/provider/"+provider+"?"+q.Encode(), nil, "")
	if status != http.StatusFound {
		t.Fatalf("start %s: status %d, body %s; want 302", provider, status, body)
	}
	to, err := url.Parse(hdr.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// authorize lets the provider's next account consent and returns the callback URL the provider
// sends the browser to.
func authorize(t *testing.T, authURL *url.URL) *url.URL {
	t.Helper()
	res, err := browser.Get(authURL.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", res.StatusCode)
	}
	to, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// callback delivers the provider's answer to h (by GET, or as Apple's form post) and returns
// where h sends the browser.
func callback(t *testing.T, h *servertest.Harness, cb *url.URL, post url.Values) *url.URL {
	t.Helper()
	if post == nil {
		return redirected(t, h, http.MethodGet, cb.RequestURI(), nil, "")
	}
	form := cb.Query()
	for k, v := range post {
		form[k] = v
	}
	return redirected(t, h, http.MethodPost, cb.Path, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
}

// providerSignIn runs the whole round trip for account at provider and returns the final redirect.
func providerSignIn(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider, provider string, a servertest.FakeAccount, q url.Values) *url.URL {
	t.Helper()
	fp.SetNext(a)
	var post url.Values
	if provider == "apple" {
		post = url.Values{"user": {`{"name":{"firstName":"Ada","lastName":"Apple"}}`}}
	}
	return callback(t, h, authorize(t, beginProvider(t, h, provider, q)), post)
}

// sessionFrom takes the refresh token of a final redirect and returns the session it opens.
func sessionFrom(t *testing.T, h *servertest.Harness, to *url.URL) gen.Session {
	t.Helper()
	if e := to.Query().Get("error"); e != "" {
		t.Fatalf("redirect carries error %s: %s", e, to.Query().Get("errorDescription"))
	}
	rt := to.Query().Get("refreshToken")
	if rt == "" {
		t.Fatalf("redirect %s carries no refresh token", to.Redacted())
	}
	res, err := refresh(t, h, rt)
	if err != nil || res.JSON200 == nil || res.JSON200.User == nil {
		t.Fatalf("refresh: %v %d %s", err, res.StatusCode(), res.Body)
	}
	return *res.JSON200
}

// wantRedirectError checks a final redirect carries error code and no session.
func wantProviderError(t *testing.T, to *url.URL, target string, code gen.ErrorResponseError) {
	t.Helper()
	q := to.Query()
	if got := q.Get("error"); got != string(code) || q.Get("errorDescription") == "" {
		t.Errorf("redirect error = %q (%q), want %q", got, q.Get("errorDescription"), code)
	}
	if q.Has("refreshToken") || q.Has("code") {
		t.Errorf("a refused sign-in redirects with a session: %s", to.Redacted())
	}
	if !strings.HasPrefix(to.String(), target) {
		t.Errorf("redirect to %s, want %s", to.Redacted(), target)
	}
}

func githubAccount(id, email string, verified bool) servertest.FakeAccount {
	return servertest.FakeAccount{Subject: id, API: map[string]any{
		"/user":        map[string]any{"id": id, "login": "octo" + id, "name": "Octo " + id, "avatar_url": "https://avatars.example/" + id + ".png"},
		"/user/emails": []any{map[string]any{"email": "x-" + email, "primary": false, "verified": true}, map[string]any{"email": email, "primary": true, "verified": verified}},
	}}
}

func TestProviderGitHubSignInLinkAndReplay(t *testing.T) {
	h, fp := startWithProviders(t, func(c *server.Config) { c.AllowedLocales = []string{"en", "fr"} })
	ctx := context.Background()

	// A first sign-in creates the account with the sign-up options given at the start.
	target := servertest.ClientURL + "/after"
	q := url.Values{"redirectTo": {target}, "locale": {"fr"}, "metadata": {`{"plan":"pro"}`}, "displayName": {"Chosen Name"}}
	to := providerSignIn(t, h, fp, "github", githubAccount("1001", "octo@example.com", true), q)
	if !strings.HasPrefix(to.String(), target+"?") {
		t.Errorf("redirect to %s, want %s", to.Redacted(), target)
	}
	s := sessionFrom(t, h, to)
	u := s.User
	if string(*u.Email) != "octo@example.com" || !u.EmailVerified || u.DisplayName != "Chosen Name" || u.Locale != "fr" ||
		u.AvatarUrl != "https://avatars.example/1001.png" || u.Metadata["plan"] != "pro" {
		t.Errorf("new user = %+v", u)
	}

	// The same provider account signs in to the same user.
	again := sessionFrom(t, h, providerSignIn(t, h, fp, "github", githubAccount("1001", "octo@example.com", true), nil))
	if again.User.Id != u.Id {
		t.Errorf("second sign-in user %s, want %s", again.User.Id, u.Id)
	}

	// The admin API lists the link and can remove it; then the same account is a stranger whose
	// vouched address links it to the user again.
	list, err := h.Client.AdminListUserProvidersWithResponse(ctx, uuid.MustParse(u.Id), asAdmin)
	if err != nil || list.JSON200 == nil || len(list.JSON200.Providers) != 1 || list.JSON200.Providers[0].ProviderUserId != "1001" ||
		list.JSON200.Providers[0].Provider != "github" {
		t.Fatalf("list providers: %v %s", err, list.Body)
	}
	del, err := h.Client.AdminUnlinkUserProviderWithResponse(ctx, uuid.MustParse(u.Id), "github", asAdmin)
	if err != nil || del.StatusCode() != http.StatusNoContent {
		t.Fatalf("unlink: %v %d %s", err, del.StatusCode(), del.Body)
	}
	h.NoWrites(t, func() {
		del, err = h.Client.AdminUnlinkUserProviderWithResponse(ctx, uuid.MustParse(u.Id), "github", asAdmin)
		if err != nil || del.StatusCode() != http.StatusNotFound {
			t.Errorf("unlink twice: %v %d %s", err, del.StatusCode(), del.Body)
		}
	})
	uid := uuid.MustParse(u.Id)
	audit, err := h.Client.AdminListAuditEventsWithResponse(ctx, &gen.AdminListAuditEventsParams{TargetUserId: &uid}, asAdmin)
	if err != nil || audit.JSON200 == nil || !strings.Contains(string(audit.Body), `"provider.unlink"`) {
		t.Errorf("audit log has no provider.unlink: %v %s", err, audit.Body)
	}
	relinked := sessionFrom(t, h, providerSignIn(t, h, fp, "github", githubAccount("1001", "octo@example.com", true), nil))
	if relinked.User.Id != u.Id {
		t.Errorf("sign-in after unlink: user %s, want %s (linked by its vouched address)", relinked.User.Id, u.Id)
	}

	// A callback's state works once: the same answer again is refused and writes nothing.
	fp.SetNext(githubAccount("1001", "octo@example.com", true))
	cb := authorize(t, beginProvider(t, h, "github", nil))
	sessionFrom(t, h, callback(t, h, cb, nil))
	h.NoWrites(t, func() {
		wantProviderError(t, callback(t, h, cb, nil), servertest.ClientURL, gen.ErrorResponseErrorInvalidState)
	})
}

func TestProviderOIDCSignIn(t *testing.T) {
	h, fp := startWithProviders(t)
	a := servertest.FakeAccount{Subject: "g-1", Email: "gina@example.com", EmailVerified: true, Name: "Gina G", Picture: "https://pics.example/g.png"}
	s := sessionFrom(t, h, providerSignIn(t, h, fp, "google", a, nil))
	if string(*s.User.Email) != a.Email || !s.User.EmailVerified || s.User.DisplayName != a.Name || s.User.AvatarUrl != a.Picture {
		t.Errorf("user = %+v", s.User)
	}
	// The authorization request carries PKCE, a nonce and the registered callback.
	au := beginProvider(t, h, "google", nil).Query()
	if au.Get("code_challenge_method") != "S256" || au.Get("nonce") == "" || au.Get("state") == "" ||
		au.Get("redirect_uri") != h.URL+"/v1/signin/provider/google/callback" || au.Get("client_id") != "google-web" {
		t.Errorf("authorization request = %v", au)
	}
	// Apple posts its answer; its first consent names the user, and its email_verified is a string.
	apple := servertest.FakeAccount{Subject: "a-1", Email: "ada@privaterelay.example", Claims: map[string]any{"email_verified": "true"}}
	as := sessionFrom(t, h, providerSignIn(t, h, fp, "apple", apple, nil))
	if as.User.DisplayName != "Ada Apple" || !as.User.EmailVerified {
		t.Errorf("apple user = %+v", as.User)
	}
	if au := beginProvider(t, h, "apple", nil).Query(); au.Get("response_mode") != "form_post" {
		t.Errorf("apple authorization request = %v", au)
	}
}

// TestProviderDiscoveryIsLazy: a provider that is down when the server starts stops nothing;
// its sign-in fails while it is down and works once it answers. A key rotation is picked up on
// the first token with the new kid.
func TestProviderDiscoveryIsLazy(t *testing.T) {
	fp := servertest.StartFakeProvider(t)
	fp.SetDown(true)
	h := servertest.Start(t, withFakeProviders(fp))
	fp.Now = h.Clock.Now
	h.NoWrites(t, func() {
		_, status, body := h.Send(t, http.MethodGet, "/v1/signin/provider/google", nil, "")
		if status != http.StatusBadRequest || servertest.NhostError(t, body).Error != gen.ErrorResponseErrorOauthProviderError {
			t.Errorf("start while the provider is down: %d %s", status, body)
		}
	})
	fp.SetDown(false)
	a := servertest.FakeAccount{Subject: "g-2", Email: "lazy@example.com", EmailVerified: true}
	sessionFrom(t, h, providerSignIn(t, h, fp, "google", a, nil))
	fetches := fp.KeyFetches
	fp.RotateKey(t)
	sessionFrom(t, h, providerSignIn(t, h, fp, "google", a, nil))
	if fp.KeyFetches != fetches+1 {
		t.Errorf("key fetches after a rotation: %d, want %d", fp.KeyFetches, fetches+1)
	}
}

// TestProviderTwoInstances: a sign-in begun on one instance completes on another.
func TestProviderTwoInstances(t *testing.T) {
	a, fp := startWithProviders(t)
	// One deployment: one public URL (the one registered with the provider) in front of both.
	b := a.Another(t, withFakeProviders(fp), adminSecretOn, func(c *server.Config) { c.PublicURL = a.URL })
	fp.SetNext(githubAccount("2002", "two@example.com", true))
	cb := authorize(t, beginProvider(t, a, "github", nil))
	s := sessionFrom(t, b, callback(t, b, cb, nil))
	if string(*s.User.Email) != "two@example.com" {
		t.Errorf("user = %+v", s.User)
	}
}

// TestProviderConnect: connect links the provider account to the signed-in user; the account of
// another user is refused.
func TestProviderConnect(t *testing.T) {
	h, fp := startWithProviders(t)
	owner := signUp(t, h, "owner@example.com", pwOwner)
	to := providerSignIn(t, h, fp, "gitlab", gitlabAccount("77", "someone-else@example.com"), url.Values{"connect": {owner.AccessToken}})
	if to.Query().Has("error") || to.Query().Has("refreshToken") {
		t.Fatalf("connect redirect = %s", to.Redacted())
	}
	s := sessionFrom(t, h, providerSignIn(t, h, fp, "gitlab", gitlabAccount("77", "someone-else@example.com"), nil))
	if s.User.Id != owner.User.Id {
		t.Errorf("gitlab account signs in as %s, want the connected %s", s.User.Id, owner.User.Id)
	}
	other := signUp(t, h, "other@example.com", pwOther)
	fp.SetNext(gitlabAccount("77", "someone-else@example.com"))
	cb := authorize(t, beginProvider(t, h, "gitlab", url.Values{"connect": {other.AccessToken}}))
	h.NoWrites(t, func() {
		wantProviderError(t, callback(t, h, cb, nil), servertest.ClientURL, gen.ErrorResponseErrorInvalidRequest)
	}, "oauth_states")
}

func gitlabAccount(id, email string) servertest.FakeAccount {
	return servertest.FakeAccount{Subject: id, API: map[string]any{"/user": map[string]any{
		"id": id, "username": "gl" + id, "name": "Git Lab", "email": email, "avatar_url": "https://gl.example/a.png", "confirmed_at": "2024-01-01T00:00:00Z"}}}
}

// TestProviderNegative: every refusal has its exact error and writes nothing (but the spent
// state of a round trip that reached the callback).
func TestProviderNegative(t *testing.T) {
	type row struct {
		name  string
		opts  []func(*server.Config)
		setup func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider)
		// run performs the failing step; ok false means nothing was written at all, true that
		// only the round trip's state was spent.
		run func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (to *url.URL, spent bool)
		// wantStatus/wantCode: a JSON refusal at the start; wantRedirect: a redirect error.
		wantStatus   int
		wantCode     gen.ErrorResponseError
		wantRedirect gen.ErrorResponseError
		wantTarget   string
	}
	gh := githubAccount("3003", "neg@example.com", true)
	started := func(provider string, a servertest.FakeAccount, q url.Values) func(*testing.T, *servertest.Harness, *servertest.FakeProvider) (*url.URL, bool) {
		return func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			fp.SetNext(a)
			cb := authorize(t, beginProvider(t, h, provider, q))
			return cb, true
		}
	}
	rows := []row{
		{name: "forged-state", run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			fp.SetNext(gh)
			cb := authorize(t, beginProvider(t, h, "github", nil))
			q := cb.Query()
			q.Set("state", "forged-"+q.Get("state"))
			cb.RawQuery = q.Encode()
			return cb, false
		}, wantRedirect: gen.ErrorResponseErrorInvalidState, wantTarget: servertest.ClientURL},
		{name: "state-of-another-provider", run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			fp.SetNext(gh)
			cb := authorize(t, beginProvider(t, h, "github", nil))
			cb.Path = strings.Replace(cb.Path, "/github/", "/gitlab/", 1)
			return cb, false
		}, wantRedirect: gen.ErrorResponseErrorInvalidState, wantTarget: servertest.ClientURL},
		{name: "expired-state", run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			fp.SetNext(gh)
			cb := authorize(t, beginProvider(t, h, "github", nil))
			h.Clock.Advance(11 * 60e9)
			return cb, false
		}, wantRedirect: gen.ErrorResponseErrorInvalidState, wantTarget: servertest.ClientURL},
		{name: "code-refused", setup: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) { fp.RefuseCodes(true) },
			run: started("github", gh, url.Values{"redirectTo": {servertest.ClientURL + "/x"}}), wantRedirect: gen.ErrorResponseErrorOauthTokenEchangeFailed, wantTarget: servertest.ClientURL + "/x"},
		{name: "provider-error", run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			fp.SetNext(gh)
			cb := authorize(t, beginProvider(t, h, "github", nil))
			q := cb.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			cb.RawQuery = q.Encode()
			return cb, true
		}, wantRedirect: gen.ErrorResponseErrorOauthProviderError, wantTarget: servertest.ClientURL},
		{name: "profile-without-email", run: started("github", servertest.FakeAccount{Subject: "3004", API: map[string]any{
			"/user": map[string]any{"id": 3004, "login": "noemail"}, "/user/emails": []any{}}}, nil),
			wantRedirect: gen.ErrorResponseErrorOauthProfileFetchFailed, wantTarget: servertest.ClientURL},
		{name: "profile-api-refuses", run: started("github", servertest.FakeAccount{Subject: "3005"}, nil),
			wantRedirect: gen.ErrorResponseErrorOauthProfileFetchFailed, wantTarget: servertest.ClientURL},
		{name: "oidc-nonce-mismatch", run: started("oidc", servertest.FakeAccount{Subject: "o-1", Email: "n@example.com", EmailVerified: true,
			Claims: map[string]any{"nonce": "not-the-one-sent"}}, nil),
			wantRedirect: gen.ErrorResponseErrorOauthProfileFetchFailed, wantTarget: servertest.ClientURL},
		{name: "unvouched-email-of-existing-user", setup: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) {
			signUp(t, h, "taken@example.com", pwOwner)
		}, run: started("bitbucket", bitbucketAccount("{bb-9}", "taken@example.com"), nil),
			wantRedirect: gen.ErrorResponseErrorEmailAlreadyInUse, wantTarget: servertest.ClientURL},
		{name: "vouched-email-but-linking-off", opts: []func(*server.Config){func(c *server.Config) { c.ProviderLinkByEmail = false }},
			setup: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) {
				verifiedUser(t, h, "vouched@example.com")
			}, run: started("github", githubAccount("3006", "vouched@example.com", true), nil),
			wantRedirect: gen.ErrorResponseErrorEmailAlreadyInUse, wantTarget: servertest.ClientURL},
		{name: "signup-disabled", opts: []func(*server.Config){func(c *server.Config) { c.DisableSignup = true }},
			run: started("github", gh, nil), wantRedirect: gen.ErrorResponseErrorSignupDisabled, wantTarget: servertest.ClientURL},
		{name: "connect-of-revoked-session", setup: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) {},
			run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
				s := signUp(t, h, "revoked@example.com", pwOwner)
				res, err := h.Client.SignOutWithResponse(context.Background(), gen.SignOutJSONRequestBody{RefreshToken: &s.RefreshToken})
				if err != nil || res.StatusCode() != http.StatusOK {
					t.Fatalf("sign out: %v %s", err, res.Body)
				}
				return &url.URL{Path: "/v1/signin/provider/github", RawQuery: url.Values{"connect": {s.AccessToken}}.Encode()}, false
			}, wantStatus: http.StatusUnauthorized, wantCode: gen.ErrorResponseErrorInvalidRequest},
		{name: "connect-session-ended-before-callback", run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			s := signUp(t, h, "ended@example.com", pwOwner)
			fp.SetNext(gh)
			cb := authorize(t, beginProvider(t, h, "github", url.Values{"connect": {s.AccessToken}}))
			res, err := h.Client.SignOutWithResponse(context.Background(), gen.SignOutJSONRequestBody{RefreshToken: &s.RefreshToken})
			if err != nil || res.StatusCode() != http.StatusOK {
				t.Fatalf("sign out: %v %s", err, res.Body)
			}
			return cb, true
		}, wantRedirect: gen.ErrorResponseErrorInvalidRequest, wantTarget: servertest.ClientURL},
		{name: "redirect-not-allowed", run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			return &url.URL{Path: "/v1/signin/provider/github", RawQuery: url.Values{"redirectTo": {"https://evil.example/"}}.Encode()}, false
		}, wantStatus: http.StatusBadRequest, wantCode: gen.ErrorResponseErrorRedirectToNotAllowed},
		{name: "role-not-allowed", run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			return &url.URL{Path: "/v1/signin/provider/github", RawQuery: "allowedRoles=admin"}, false
		}, wantStatus: http.StatusBadRequest, wantCode: gen.ErrorResponseErrorRoleNotAllowed},
		{name: "bad-metadata", run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			return &url.URL{Path: "/v1/signin/provider/github", RawQuery: "metadata=%5B1%5D"}, false
		}, wantStatus: http.StatusBadRequest, wantCode: gen.ErrorResponseErrorInvalidRequest},
		{name: "provider-not-configured", opts: []func(*server.Config){func(c *server.Config) { delete(c.Providers, "github") }},
			run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
				return &url.URL{Path: "/v1/signin/provider/github"}, false
			}, wantStatus: http.StatusConflict, wantCode: gen.ErrorResponseErrorDisabledEndpoint},
		{name: "unknown-provider", run: func(t *testing.T, h *servertest.Harness, fp *servertest.FakeProvider) (*url.URL, bool) {
			return &url.URL{Path: "/v1/signin/provider/myspace"}, false
		}, wantStatus: http.StatusBadRequest, wantCode: gen.ErrorResponseErrorInvalidRequest},
	}
	for _, r := range rows {
		t.Run("case="+r.name, func(t *testing.T) {
			h, fp := startWithProviders(t, r.opts...)
			if r.setup != nil {
				r.setup(t, h, fp)
			}
			u, spent := r.run(t, h, fp)
			var except []string
			if spent {
				except = []string{"oauth_states"}
			}
			h.NoWrites(t, func() {
				if r.wantStatus != 0 {
					_, status, body := h.Send(t, http.MethodGet, u.RequestURI(), nil, "")
					if status != r.wantStatus || servertest.NhostError(t, body).Error != r.wantCode {
						t.Errorf("status %d body %s, want %d %s", status, body, r.wantStatus, r.wantCode)
					}
					return
				}
				wantProviderError(t, callback(t, h, u, nil), r.wantTarget, r.wantRedirect)
			}, except...)
			if spent { // the state was spent by the failed callback: it cannot be tried again
				wantProviderError(t, callback(t, h, u, nil), servertest.ClientURL, gen.ErrorResponseErrorInvalidState)
			}
		})
	}
}

// TestProviderNewUsersDisabled: an account a provider sign-in creates while new users start
// disabled is kept, and the redirect says disabled-user.
func TestProviderNewUsersDisabled(t *testing.T) {
	h, fp := startWithProviders(t, func(c *server.Config) { c.DisableNewUsers = true })
	before := h.Counts(t)["users"]
	wantProviderError(t, providerSignIn(t, h, fp, "github", githubAccount("4004", "dis@example.com", true), nil),
		servertest.ClientURL, gen.ErrorResponseErrorDisabledUser)
	if n := h.Counts(t)["users"]; n != before+1 {
		t.Errorf("users: %d, want %d", n, before+1)
	}
}

// verifiedUser signs a user up and marks the address verified.
func verifiedUser(t *testing.T, h *servertest.Harness, email string) gen.Session {
	t.Helper()
	s := signUp(t, h, email, pwOwner)
	if err := h.Store.MarkEmailVerified(context.Background(), uuid.MustParse(s.User.Id), email); err != nil {
		t.Fatal(err)
	}
	return s
}

func bitbucketAccount(id, email string) servertest.FakeAccount {
	return servertest.FakeAccount{Subject: id, API: map[string]any{
		"/user":        map[string]any{"uuid": id, "display_name": "Bit Bucket", "links": map[string]any{"avatar": map[string]any{"href": "https://bb.example/a.png"}}},
		"/user/emails": map[string]any{"values": []any{map[string]any{"email": email, "is_primary": true, "is_confirmed": false}}},
	}}
}

// TestProviderPKCECode: a sign-in started with a code challenge ends with a one-time code, which
// with the right verifier, once, is the session.
func TestProviderPKCECode(t *testing.T) {
	h, fp := startWithProviders(t)
	ctx := context.Background()
	verifier := "verifier-0123456789-0123456789-0123456789-abcdef"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	to := providerSignIn(t, h, fp, "github", githubAccount("8008", "pkce@example.com", true), url.Values{"codeChallenge": {challenge}})
	code := to.Query().Get("code")
	if code == "" || to.Query().Has("refreshToken") || to.Query().Has("error") {
		t.Fatalf("redirect %s: want a code and no session", to.Redacted())
	}
	exchange := func(code, verifier string) *gen.TokenExchangeResult {
		t.Helper()
		res, err := h.Client.TokenExchangeWithResponse(ctx, gen.TokenExchangeJSONRequestBody{Code: code, CodeVerifier: verifier})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	h.NoWrites(t, func() {
		res := exchange(code, strings.Replace(verifier, "0", "1", 1))
		wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
		res = exchange("not-a-code", verifier)
		wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
	})
	res := exchange(code, verifier)
	if res.JSON200 == nil || res.JSON200.Session == nil || string(*res.JSON200.Session.User.Email) != "pkce@example.com" {
		t.Fatalf("exchange: %d %s", res.StatusCode(), res.Body)
	}
	h.NoWrites(t, func() {
		res := exchange(code, verifier)
		wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
	})
	// A code waits five minutes at most.
	late := providerSignIn(t, h, fp, "github", githubAccount("8008", "pkce@example.com", true), url.Values{"codeChallenge": {challenge}}).Query().Get("code")
	h.Clock.Advance(6 * time.Minute)
	h.NoWrites(t, func() {
		res := exchange(late, verifier)
		wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
	})
}
