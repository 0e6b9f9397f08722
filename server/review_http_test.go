package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/servertest"
)

// Findings of the review of the second factor, passkeys and providers, each held by a test that
// failed before its fix.

// A security key is a first factor like a password: a TOTP user's passkey sign-in answers the
// MFA challenge. Before, whoever held the user's access token for a moment could add a key of
// their own and sign in with it alone from then on.
func TestPasskeySignInAsksForTOTP(t *testing.T) {
	h := servertest.Start(t, mfaOn, webAuthnOn, elevation("recommended"))
	s, secret := totpUser(t, h, "passkey-totp@example.com", "correct horse battery")
	key := newAuthenticator()
	waAddKey(t, h, key, s.AccessToken, "planted")

	for _, email := range []string{"passkey-totp@example.com", ""} { // by address, and discoverable
		car, err := key.Get(waSignInOptions(t, h, email))
		if err != nil {
			t.Fatal(err)
		}
		res := waVerifySignIn(t, h, car)
		if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
			t.Fatalf("passkey sign-in (%q): %d %s", email, res.StatusCode(), res.Body)
		}
		if res.JSON200.Session != nil || res.JSON200.Mfa == nil || !strings.HasPrefix(res.JSON200.Mfa.Ticket, "mfaTotp:") {
			t.Fatalf("passkey sign-in (%q) of a TOTP user: want the MFA challenge and no session, got %s", email, res.Body)
		}
		// The ticket then opens the session with a current code, as after a password.
		h.Clock.Advance(30 * time.Second) // a fresh step: a code is accepted once per user
		done, err := h.Client.VerifySignInMfaTotpWithResponse(context.Background(), gen.VerifySignInMfaTotpJSONRequestBody{
			Ticket: res.JSON200.Mfa.Ticket, Otp: totpCode(t, h, secret, 0)})
		if err != nil || done.JSON200 == nil || done.JSON200.Session == nil {
			t.Fatalf("TOTP after the passkey (%q): %v %s", email, err, bodyOf(done))
		}
	}
}

// An ID token is accepted once, judged on what was signed: a signature re-encoded with other
// trailing bits verifies as well and must not pass for a new token.
func TestIDTokenSingleUseSurvivesReencoding(t *testing.T) {
	h, fp := startWithProviders(t)
	a := servertest.FakeAccount{Subject: "g-reenc", Email: "reencoded@example.com", EmailVerified: true}
	used := fp.IDToken(t, a, "google-web", "", nil)
	if res := signInIDToken(t, h, gen.IdTokenProviderGoogle, used, nil); res.StatusCode() != http.StatusOK {
		t.Fatalf("first use: %d %s", res.StatusCode(), res.Body)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, used[len(used)-1])
	tried := 0
	h.NoWrites(t, func() {
		for v := range len(alphabet) {
			if v == last {
				continue
			}
			tried++
			variant := used[:len(used)-1] + string(alphabet[v])
			if res := signInIDToken(t, h, gen.IdTokenProviderGoogle, variant, nil); res.StatusCode() == http.StatusOK {
				t.Errorf("variant %q of a spent ID token was accepted", alphabet[v])
			}
		}
	})
	if tried == 0 {
		t.Fatal("no variant tried")
	}
}

// A password reset that proves the address for the first time takes the account back: a
// provider link planted by someone who signed up under that address with an unvouched email no
// longer signs in to it.
func TestResetForgetsLinksAddedBeforeTheAddressWasProven(t *testing.T) {
	h, fp := startWithProviders(t)
	victim := "prehijack@example.com"
	planted := sessionFrom(t, h, providerSignIn(t, h, fp, "github", githubAccount("666", victim, false), nil))
	if planted.User.EmailVerified {
		t.Fatal("an address GitHub did not vouch for came out verified")
	}
	requestReset(t, h, victim)
	l := linkOf(t, h.Mail.Next(t, victim))
	if status, body := resetWithTicket(t, h, l.ticket, "victims-new-password-1"); status != http.StatusOK {
		t.Fatalf("reset: %d %s", status, body)
	}
	to := providerSignIn(t, h, fp, "github", githubAccount("666", victim, false), nil)
	if rt := to.Query().Get("refreshToken"); rt != "" {
		if s := sessionFrom(t, h, to); s.User.Id == planted.User.Id {
			t.Fatalf("the planted GitHub link still signs in to the account after its owner's reset")
		}
	}
}

// Linking a provider account is a way into the account: where elevation is asked for, linking
// asks for it too.
func TestLinkingAsksForElevation(t *testing.T) {
	h, fp := startWithProviders(t, webAuthnOn, elevation("recommended"))
	key := newAuthenticator()
	s := waSignUp(t, h, key, "linker@example.com")
	ctx := context.Background()
	tok := fp.IDToken(t, servertest.FakeAccount{Subject: "g-link-elev", Email: "other@example.com", EmailVerified: true}, "google-web", "", nil)
	h.NoWrites(t, func() {
		res, err := h.Client.LinkIdTokenWithResponse(ctx, gen.LinkIdTokenJSONRequestBody{Provider: gen.IdTokenProviderGoogle, IdToken: tok},
			servertest.Bearer(s.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode() != http.StatusUnauthorized || !strings.Contains(string(res.Body), "elevated-claim-required") {
			t.Fatalf("link without elevation: want 401 elevated-claim-required, got %d %s", res.StatusCode(), res.Body)
		}
	})
	elevated := waElevate(t, h, key, s.AccessToken)
	res, err := h.Client.LinkIdTokenWithResponse(ctx, gen.LinkIdTokenJSONRequestBody{Provider: gen.IdTokenProviderGoogle, IdToken: tok},
		servertest.Bearer(elevated.AccessToken))
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("link with an elevated token: %v %s", err, bodyOf(res))
	}
}
