package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/servertest"
)

func signInIDToken(t *testing.T, h *servertest.Harness, provider gen.IdTokenProvider, token string, nonce *string) *gen.SignInIdTokenResult {
	t.Helper()
	res, err := h.Client.SignInIdTokenWithResponse(context.Background(), gen.SignInIdTokenJSONRequestBody{Provider: provider, IdToken: token, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestIDTokenSignIn(t *testing.T) {
	h, fp := startWithProviders(t)
	a := servertest.FakeAccount{Subject: "g-77", Email: "native@example.com", EmailVerified: true, Name: "Native App"}

	// A token for the iOS client id (the second audience) signs up and in.
	tok := fp.IDToken(t, a, "google-ios", "", nil)
	res := signInIDToken(t, h, gen.IdTokenProviderGoogle, tok, nil)
	if res.JSON200 == nil || res.JSON200.Session == nil || string(*res.JSON200.Session.User.Email) != a.Email ||
		!res.JSON200.Session.User.EmailVerified || res.JSON200.Session.User.DisplayName != a.Name {
		t.Fatalf("sign in: %d %s", res.StatusCode(), res.Body)
	}
	userID := res.JSON200.Session.User.Id
	// The redirect flow knows the same provider account.
	s := sessionFrom(t, h, providerSignIn(t, h, fp, "google", a, nil))
	if s.User.Id != userID {
		t.Errorf("redirect sign-in user %s, want %s", s.User.Id, userID)
	}

	// Apple's token carries the SHA-256 of the nonce; the app sends the nonce itself.
	raw := "apple-nonce-0123"
	sum := sha256.Sum256([]byte(raw))
	apple := servertest.FakeAccount{Subject: "a-77", Email: "apple-native@example.com", Claims: map[string]any{"email_verified": "true"}}
	res = signInIDToken(t, h, gen.IdTokenProviderApple, fp.IDToken(t, apple, "apple-web", hex.EncodeToString(sum[:]), nil), &raw)
	if res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("apple sign in: %d %s", res.StatusCode(), res.Body)
	}
	// The generic provider takes the nonce as it is.
	res = signInIDToken(t, h, gen.IdTokenProviderOidc, fp.IDToken(t, servertest.FakeAccount{Subject: "o-77", Email: "kc@example.com"}, "oidc-web", "n-1", nil), ptr("n-1"))
	if res.JSON200 == nil || res.JSON200.Session == nil || res.JSON200.Session.User.EmailVerified {
		t.Fatalf("oidc sign in: %d %s", res.StatusCode(), res.Body)
	}
}

func TestIDTokenNegative(t *testing.T) {
	h, fp := startWithProviders(t)
	a := servertest.FakeAccount{Subject: "g-88", Email: "neg-native@example.com", EmailVerified: true}
	used := fp.IDToken(t, a, "google-web", "", nil)
	if res := signInIDToken(t, h, gen.IdTokenProviderGoogle, used, nil); res.StatusCode() != http.StatusOK {
		t.Fatalf("first use: %d %s", res.StatusCode(), res.Body)
	}
	raw := "apple-nonce-9"
	for _, c := range []struct {
		name     string
		provider gen.IdTokenProvider
		token    func() string
		nonce    *string
	}{
		{"replayed", gen.IdTokenProviderGoogle, func() string { return used }, nil},
		{"wrong-audience", gen.IdTokenProviderGoogle, func() string { return fp.IDToken(t, a, "someone-else", "", nil) }, nil},
		{"audience-of-another-provider", gen.IdTokenProviderGoogle, func() string { return fp.IDToken(t, a, "apple-web", "", nil) }, nil},
		{"wrong-issuer", gen.IdTokenProviderGoogle, func() string {
			return fp.IDToken(t, a, "google-web", "", func(c jwt.MapClaims) { c["iss"] = "https://accounts.evil.example" })
		}, nil},
		{"expired", gen.IdTokenProviderGoogle, func() string {
			return fp.IDToken(t, a, "google-web", "", func(c jwt.MapClaims) { c["exp"] = h.Clock.Now().Add(-time.Minute).Unix() })
		}, nil},
		{"bad-signature", gen.IdTokenProviderGoogle, func() string { return fp.IDTokenWithKey(t, a, "google-web") }, nil},
		{"not-a-jwt", gen.IdTokenProviderGoogle, func() string { return "not.a.jwt" }, nil},
		{"nonce-mismatch", gen.IdTokenProviderGoogle, func() string { return fp.IDToken(t, a, "google-web", "n-sent", nil) }, ptr("n-other")},
		{"nonce-missing-from-token", gen.IdTokenProviderGoogle, func() string { return fp.IDToken(t, a, "google-web", "", nil) }, ptr("n-1")},
		{"apple-nonce-not-hashed", gen.IdTokenProviderApple, func() string { return fp.IDToken(t, a, "apple-web", raw, nil) }, &raw},
		{"no-email", gen.IdTokenProviderGoogle, func() string { return fp.IDToken(t, servertest.FakeAccount{Subject: "g-89"}, "google-web", "", nil) }, nil},
	} {
		t.Run("case="+c.name, func(t *testing.T) {
			tok := c.token()
			h.NoWrites(t, func() {
				res := signInIDToken(t, h, c.provider, tok, c.nonce)
				wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
			})
		})
	}
	t.Run("case=provider-without-id-tokens", func(t *testing.T) {
		h.NoWritesAtAll(t, func() {
			status, body := h.Do(t, http.MethodPost, "/v1/signin/idtoken", map[string]string{"Content-Type": "application/json"}, `{"provider":"github","idToken":"x"}`)
			wantNhostError(t, status, body, http.StatusBadRequest, string(gen.ErrorResponseErrorInvalidRequest))
		})
	})
}

func TestIDTokenLink(t *testing.T) {
	h, fp := startWithProviders(t)
	ctx := context.Background()
	owner := signUp(t, h, "linker@example.com", pwOwner)
	a := servertest.FakeAccount{Subject: "g-99", Email: "different@example.com", EmailVerified: true}
	res, err := h.Client.LinkIdTokenWithResponse(ctx, gen.LinkIdTokenJSONRequestBody{Provider: gen.IdTokenProviderGoogle, IdToken: fp.IDToken(t, a, "google-web", "", nil)},
		servertest.Bearer(owner.AccessToken))
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("link: %v %d %s", err, res.StatusCode(), res.Body)
	}
	in := signInIDToken(t, h, gen.IdTokenProviderGoogle, fp.IDToken(t, a, "google-web", "", nil), nil)
	if in.JSON200 == nil || in.JSON200.Session.User.Id != owner.User.Id {
		t.Fatalf("sign in with the linked account: %d %s", in.StatusCode(), in.Body)
	}
	list, err := h.Client.AdminListUserProvidersWithResponse(ctx, uuid.MustParse(owner.User.Id), asAdmin)
	if err != nil || list.JSON200 == nil || len(list.JSON200.Providers) != 1 || list.JSON200.Providers[0].Email != a.Email {
		t.Fatalf("providers: %v %s", err, list.Body)
	}
	// The same provider account cannot be linked to another user; without a token, nothing links.
	other := signUp(t, h, "other-linker@example.com", pwOther)
	tok := fp.IDToken(t, a, "google-web", "", nil)
	h.NoWrites(t, func() {
		res, err := h.Client.LinkIdTokenWithResponse(ctx, gen.LinkIdTokenJSONRequestBody{Provider: gen.IdTokenProviderGoogle, IdToken: tok}, servertest.Bearer(other.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		wantNhostError(t, res.StatusCode(), res.Body, http.StatusConflict, string(gen.ErrorResponseErrorInvalidRequest))
		res, err = h.Client.LinkIdTokenWithResponse(ctx, gen.LinkIdTokenJSONRequestBody{Provider: gen.IdTokenProviderGoogle, IdToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
	})
}
