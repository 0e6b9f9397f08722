package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/servertest"
)

// The first factors that came after TOTP (a texted code, a provider's redirect, an ID token, a
// PKCE code exchange) all hand over to the same second-factor gate as a password; these tests
// prove each of them answers the MFA challenge and opens no session, and that the elevation
// check guards the TOTP operations of a user with a security key.

// sessionTables are the tables a session lives in: a first factor that answers the MFA
// challenge writes none of them.
var sessionTables = []string{"sessions", "refresh_tokens", "session_tokens"}

// noSessionOpened runs fn and fails if it wrote any row of a session.
func noSessionOpened(t *testing.T, h *servertest.Harness, fn func()) {
	t.Helper()
	before := h.Rows(t)
	fn()
	after := h.Rows(t)
	for _, table := range sessionTables {
		if n := after[table] - before[table]; n != 0 {
			t.Errorf("a first factor that owes the second wrote %d rows of %s", n, table)
		}
	}
}

// wantChallenge checks a Nhost session payload is the MFA challenge: a ticket and no session.
func wantChallenge(t *testing.T, what string, status int, body []byte, session *gen.Session, mfa *gen.MFAChallengePayload) string {
	t.Helper()
	if status != http.StatusOK || session != nil || mfa == nil || !strings.HasPrefix(mfa.Ticket, "mfaTotp:") {
		t.Fatalf("%s of a TOTP user: %d %s, want 200 with an mfaTotp ticket and no session", what, status, body)
	}
	return mfa.Ticket
}

// payloadParts splits a Nhost session payload (nil when the answer was not 200).
func payloadParts(p *gen.SessionPayload) (*gen.Session, *gen.MFAChallengePayload) {
	if p == nil {
		return nil, nil
	}
	return p.Session, p.Mfa
}

// smsParts is payloadParts for the answer of a texted code.
func smsParts(p *gen.SignInPasswordlessSmsOtpResponse) (*gen.Session, *gen.MFAChallengePayload) {
	if p == nil {
		return nil, nil
	}
	return p.Session, p.Mfa
}

// finishMFA opens the session of ticket with the current code of secret, and moves the clock
// to a fresh step.
func finishMFA(t *testing.T, h *servertest.Harness, what, ticket, secret string) gen.Session {
	t.Helper()
	r := signInMFA(t, h, ticket, totpCode(t, h, secret, 0))
	if r.JSON200 == nil || r.JSON200.Session == nil || r.JSON200.Mfa != nil {
		t.Fatalf("MFA after %s: %d %s", what, r.StatusCode(), r.Body)
	}
	nextStep(h)
	return *r.JSON200.Session
}

// wantSpentTicket checks that a ticket that opened its session opens no other, and that the
// refusal writes nothing.
func wantSpentTicket(t *testing.T, h *servertest.Harness, ticket, secret string) {
	t.Helper()
	var r *gen.VerifySignInMfaTotpResult
	h.NoWrites(t, func() { r = signInMFA(t, h, ticket, totpCode(t, h, secret, 0)) })
	wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidTicket))
}

// smsCode asks for a code for number and returns the text's code (the n-th text to it).
func smsCode(t *testing.T, h *servertest.Harness, f *fakeTwilio, number string, n int) string {
	t.Helper()
	if r := askSMS(t, h, number, nil); r.StatusCode() != http.StatusOK {
		t.Fatalf("ask for a code: %d %s", r.StatusCode(), r.Body)
	}
	return f.nth(t, number, n).code(t)
}

// TestSMSSignInTOTP: a right texted code of a user with TOTP active answers the MFA challenge
// (smsSignInComplete → secondFactorGate) and opens no session; the ticket opens it at
// /v1/signin/mfa/totp, once.
func TestSMSSignInTOTP(t *testing.T) {
	f := startFakeTwilio(t)
	h := servertest.Start(t, smsOn(f), mfaOn)

	v := verifySMS(t, h, phone, smsCode(t, h, f, phone, 1))
	if v.JSON200 == nil || v.JSON200.Session == nil {
		t.Fatalf("first SMS sign-in (creates the account): %d %s", v.StatusCode(), v.Body)
	}
	userID := v.JSON200.Session.User.Id
	secret := activateTOTP(t, h, v.JSON200.Session.AccessToken)

	code := smsCode(t, h, f, phone, 2)
	noSessionOpened(t, h, func() { v = verifySMS(t, h, phone, code) })
	sess, mfa := smsParts(v.JSON200)
	ticket := wantChallenge(t, "SMS sign-in", v.StatusCode(), v.Body, sess, mfa)
	// The texted code is spent by the challenge: it gives no second ticket.
	h.NoWrites(t, func() {
		r := verifySMS(t, h, phone, code)
		wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
	}, "audit_events", "lockouts")
	// A wrong TOTP code opens nothing and keeps the ticket.
	var bad *gen.VerifySignInMfaTotpResult
	noSessionOpened(t, h, func() { bad = signInMFA(t, h, ticket, wrongCode(totpCode(t, h, secret, 0), 6)) })
	wantNhostError(t, bad.StatusCode(), bad.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidTotp))

	s := finishMFA(t, h, "the SMS code", ticket, secret)
	if s.User.Id != userID || s.RefreshToken == "" {
		t.Fatalf("session after SMS + TOTP: user %s, want %s", s.User.Id, userID)
	}
	if u := getUser(t, h, s.AccessToken); u.JSON200 == nil || u.JSON200.PhoneNumber == nil || *u.JSON200.PhoneNumber != phone {
		t.Fatalf("user of the session: %d %s", u.StatusCode(), u.Body)
	}
	wantSpentTicket(t, h, ticket, secret)
}

// TestProviderSignInTOTP: the redirect flow of a TOTP user ends with an mfaTicket and no
// refresh token; with a PKCE challenge the code exchange answers the challenge, not a session;
// an ID token sign-in answers it too. Every ticket opens its session once.
func TestProviderSignInTOTP(t *testing.T) {
	h, fp := startWithProviders(t, mfaOn)
	ctx := context.Background()
	const email = "fed-totp@example.com"
	acct := githubAccount("4242", email, true)

	first := sessionFrom(t, h, providerSignIn(t, h, fp, "github", acct, nil))
	secret := activateTOTP(t, h, first.AccessToken)

	t.Run("redirect", func(t *testing.T) {
		fp.SetNext(acct)
		cb := authorize(t, beginProvider(t, h, "github", nil))
		var to *url.URL
		noSessionOpened(t, h, func() { to = callback(t, h, cb, nil) })
		q := to.Query()
		if q.Has("refreshToken") || q.Has("code") || q.Has("error") || !strings.HasPrefix(q.Get("mfaTicket"), "mfaTotp:") {
			t.Fatalf("provider redirect of a TOTP user: %s, want an mfaTicket and no refresh token", to.Redacted())
		}
		if !strings.HasPrefix(to.String(), servertest.ClientURL) {
			t.Errorf("redirect to %s, want the client URL", to.Redacted())
		}
		s := finishMFA(t, h, "the provider redirect", q.Get("mfaTicket"), secret)
		if s.User.Id != first.User.Id {
			t.Errorf("session user %s, want %s", s.User.Id, first.User.Id)
		}
		wantSpentTicket(t, h, q.Get("mfaTicket"), secret)
		// The provider's answer works once: replayed, it earns no second ticket.
		h.NoWrites(t, func() {
			wantProviderError(t, callback(t, h, cb, nil), servertest.ClientURL, gen.ErrorResponseErrorInvalidState)
		})
	})

	t.Run("pkce-code", func(t *testing.T) {
		verifier, challenge := pkcePair("fed-totp-verifier-0123456789-0123456789-0123456789")
		var to *url.URL
		noSessionOpened(t, h, func() {
			to = providerSignIn(t, h, fp, "github", acct, url.Values{"codeChallenge": {challenge}})
		})
		code := to.Query().Get("code")
		if code == "" || to.Query().Has("refreshToken") || to.Query().Has("mfaTicket") {
			t.Fatalf("PKCE redirect %s: want a code and nothing else", to.Redacted())
		}
		var ex *gen.TokenExchangeResult
		noSessionOpened(t, h, func() {
			var err error
			ex, err = h.Client.TokenExchangeWithResponse(ctx, gen.TokenExchangeJSONRequestBody{Code: code, CodeVerifier: verifier})
			if err != nil {
				t.Fatal(err)
			}
		})
		sess, mfa := payloadParts(ex.JSON200)
		ticket := wantChallenge(t, "PKCE code exchange after a provider", ex.StatusCode(), ex.Body, sess, mfa)
		// The code is spent: a second exchange gets neither a session nor another ticket.
		h.NoWrites(t, func() {
			again, err := h.Client.TokenExchangeWithResponse(ctx, gen.TokenExchangeJSONRequestBody{Code: code, CodeVerifier: verifier})
			if err != nil {
				t.Fatal(err)
			}
			wantNhostError(t, again.StatusCode(), again.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
		})
		finishMFA(t, h, "the provider's PKCE code", ticket, secret)
		wantSpentTicket(t, h, ticket, secret)
	})

	t.Run("id-token", func(t *testing.T) {
		// A Google account of its own, whose user then turns TOTP on.
		g := servertest.FakeAccount{Subject: "g-totp", Email: "idtoken-totp@example.com", EmailVerified: true, Name: "Id Token"}
		res := signInIDToken(t, h, gen.IdTokenProviderGoogle, fp.IDToken(t, g, "google-web", "", nil), nil)
		if res.JSON200 == nil || res.JSON200.Session == nil {
			t.Fatalf("first ID token sign-in: %d %s", res.StatusCode(), res.Body)
		}
		gUser := res.JSON200.Session.User.Id
		gSecret := activateTOTP(t, h, res.JSON200.Session.AccessToken)
		tok := fp.IDToken(t, g, "google-web", "", nil)
		noSessionOpened(t, h, func() { res = signInIDToken(t, h, gen.IdTokenProviderGoogle, tok, nil) })
		sess, mfa := payloadParts(res.JSON200)
		ticket := wantChallenge(t, "ID token sign-in", res.StatusCode(), res.Body, sess, mfa)
		// The token that earned the challenge is spent: replayed, it earns no second ticket.
		h.NoWrites(t, func() {
			again := signInIDToken(t, h, gen.IdTokenProviderGoogle, tok, nil)
			wantNhostError(t, again.StatusCode(), again.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
		})
		// A ticket is its user's: the GitHub user's code does not open the Google user's session.
		var bad *gen.VerifySignInMfaTotpResult
		noSessionOpened(t, h, func() { bad = signInMFA(t, h, ticket, totpCode(t, h, secret, 0)) })
		if bad.StatusCode() != http.StatusUnauthorized {
			t.Fatalf("another user's TOTP code on the ticket: %d %s, want 401", bad.StatusCode(), bad.Body)
		}
		s := finishMFA(t, h, "the ID token", ticket, gSecret)
		if s.User.Id != gUser || string(*s.User.Email) != g.Email {
			t.Errorf("session after ID token + TOTP: user %s, want %s", s.User.Id, gUser)
		}
		wantSpentTicket(t, h, ticket, gSecret)
	})
}

// TestMailLinkPKCETOTP: a mailed link requested with a PKCE challenge, for a TOTP user, still
// redirects with a code (the mailbox is proven); the exchange answers the MFA challenge and
// never a session (exchangeAuthCode).
func TestMailLinkPKCETOTP(t *testing.T) {
	h := servertest.Start(t, mfaOn)
	ctx := context.Background()
	const email = "pkce-totp@example.com"
	_, secret := totpUser(t, h, email, "correct-horse")
	verifier, challenge := pkcePair("mail-totp-verifier-0123456789-0123456789-0123456789")

	for _, flow := range []struct {
		name string
		ask  func() int
	}{
		{"passwordless-email", func() int {
			r, err := h.Client.SignInPasswordlessEmailWithResponse(ctx, gen.SignInPasswordlessEmailJSONRequestBody{
				Email: openapi_types.Email(email), CodeChallenge: &challenge})
			if err != nil {
				t.Fatal(err)
			}
			return r.StatusCode()
		}},
		{"password-reset", func() int {
			r, err := h.Client.SendPasswordResetEmailWithResponse(ctx, gen.SendPasswordResetEmailJSONRequestBody{
				Email: openapi_types.Email(email), CodeChallenge: &challenge})
			if err != nil {
				t.Fatal(err)
			}
			return r.StatusCode()
		}},
	} {
		t.Run(flow.name, func(t *testing.T) {
			if status := flow.ask(); status != http.StatusOK {
				t.Fatalf("ask for the link: %d", status)
			}
			var to *url.URL
			noSessionOpened(t, h, func() { to = follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw) })
			code := to.Query().Get("code")
			if code == "" || to.Query().Has("refreshToken") || to.Query().Has("mfaTicket") {
				t.Fatalf("redirect %s: want a code and no session", to.Redacted())
			}
			var ex *gen.TokenExchangeResult
			noSessionOpened(t, h, func() {
				var err error
				ex, err = h.Client.TokenExchangeWithResponse(ctx, gen.TokenExchangeJSONRequestBody{Code: code, CodeVerifier: verifier})
				if err != nil {
					t.Fatal(err)
				}
			})
			sess, mfa := payloadParts(ex.JSON200)
			ticket := wantChallenge(t, "PKCE exchange of a mailed link", ex.StatusCode(), ex.Body, sess, mfa)
			h.NoWrites(t, func() {
				again, err := h.Client.TokenExchangeWithResponse(ctx, gen.TokenExchangeJSONRequestBody{Code: code, CodeVerifier: verifier})
				if err != nil {
					t.Fatal(err)
				}
				wantNhostError(t, again.StatusCode(), again.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
			})
			s := finishMFA(t, h, "the mailed link's code", ticket, secret)
			if string(*s.User.Email) != email {
				t.Errorf("session of %s, want %s", *s.User.Email, email)
			}
			wantSpentTicket(t, h, ticket, secret)
		})
	}
}

// TestElevationGuardsTOTP: where elevation is required (or recommended) and the user has a
// security key, activating or deactivating TOTP and minting recovery codes with a plain access
// token answer 401 elevated-claim-required and write nothing (the TOTP code offered is not
// spent); an access token elevated with the key does each.
func TestElevationGuardsTOTP(t *testing.T) {
	for _, mode := range []string{"required", "recommended"} {
		t.Run("mode="+mode, func(t *testing.T) {
			h := servertest.Start(t, mfaOn, webAuthnOn, elevation(mode))
			ctx := context.Background()
			s := signUp(t, h, "elev-"+mode+"@example.com", "correct horse battery")
			auth := newAuthenticator()
			waAddKey(t, h, auth, s.AccessToken, "key")
			gr, err := h.Client.ChangeUserMfaWithResponse(ctx, servertest.Bearer(s.AccessToken))
			if err != nil || gr.JSON200 == nil {
				t.Fatalf("generate: %v %s", err, bodyOf(gr))
			}
			secret := gr.JSON200.TotpSecret
			nextStep(h)
			totpType, off := gen.UserMfaRequestActiveMfaTypeTotp, gen.UserMfaRequestActiveMfaType("")
			changeMFA := func(access string, typ *gen.UserMfaRequestActiveMfaType) *gen.VerifyChangeUserMfaResult {
				t.Helper()
				r, err := h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{
					Code: totpCode(t, h, secret, 0), ActiveMfaType: typ}, servertest.Bearer(access))
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			recoveryCodes := func(access string) *gen.CreateMfaRecoveryCodesResult {
				t.Helper()
				r, err := h.Client.CreateMfaRecoveryCodesWithResponse(ctx, gen.CreateMfaRecoveryCodesJSONRequestBody{
					Code: totpCode(t, h, secret, 0)}, servertest.Bearer(access))
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			refusedElevation := func(what string, status int, body []byte) {
				t.Helper()
				wantNhostError(t, status, body, http.StatusUnauthorized, string(gen.ErrorResponseErrorElevatedClaimRequired))
				if !strings.Contains(servertest.NhostError(t, body).Message, "elevate") {
					t.Errorf("%s: message %q does not say to elevate", what, servertest.NhostError(t, body).Message)
				}
			}
			wantTOTP := func(active bool) {
				t.Helper()
				u := getUser(t, h, s.AccessToken)
				if u.JSON200 == nil || (u.JSON200.ActiveMfaType != nil && *u.JSON200.ActiveMfaType == "totp") != active {
					t.Fatalf("user: %d %s, want TOTP active = %v", u.StatusCode(), u.Body, active)
				}
			}

			// Activate: refused with the plain token, nothing written, the code not spent.
			h.NoWrites(t, func() {
				r := changeMFA(s.AccessToken, &totpType)
				refusedElevation("activate", r.StatusCode(), r.Body)
			})
			wantTOTP(false)
			elevated := waElevate(t, h, auth, s.AccessToken)
			if r := changeMFA(elevated.AccessToken, &totpType); r.JSON200 == nil {
				t.Fatalf("activate with an elevated token (same code): %d %s", r.StatusCode(), r.Body)
			}
			wantTOTP(true)
			nextStep(h)

			// Recovery codes: refused with the plain token, none stored; minted when elevated.
			h.NoWrites(t, func() {
				r := recoveryCodes(s.AccessToken)
				refusedElevation("recovery codes", r.StatusCode(), r.Body)
			})
			rc := recoveryCodes(elevated.AccessToken)
			if rc.JSON200 == nil || len(rc.JSON200.RecoveryCodes) != 10 {
				t.Fatalf("recovery codes with an elevated token: %d %s", rc.StatusCode(), rc.Body)
			}
			nextStep(h)

			// Deactivate: refused with the plain token, TOTP stays on; done when elevated.
			h.NoWrites(t, func() {
				r := changeMFA(s.AccessToken, &off)
				refusedElevation("deactivate", r.StatusCode(), r.Body)
			})
			wantTOTP(true)
			if r := changeMFA(elevated.AccessToken, &off); r.JSON200 == nil {
				t.Fatalf("deactivate with an elevated token: %d %s", r.StatusCode(), r.Body)
			}
			wantTOTP(false)

			// A user without a security key: "recommended" asks nothing of them (they have no
			// key to elevate with); "required" asks elevation of every caller.
			plain := signUp(t, h, "nokey-"+mode+"@example.com", "correct horse battery")
			pg, err := h.Client.ChangeUserMfaWithResponse(ctx, servertest.Bearer(plain.AccessToken))
			if err != nil || pg.JSON200 == nil {
				t.Fatalf("generate (no key): %v %s", err, bodyOf(pg))
			}
			nextStep(h)
			body := gen.VerifyChangeUserMfaJSONRequestBody{Code: totpCode(t, h, pg.JSON200.TotpSecret, 0), ActiveMfaType: &totpType}
			if mode == "required" {
				h.NoWrites(t, func() {
					r, err := h.Client.VerifyChangeUserMfaWithResponse(ctx, body, servertest.Bearer(plain.AccessToken))
					if err != nil {
						t.Fatal(err)
					}
					refusedElevation("activate without a key", r.StatusCode(), r.Body)
				})
				return
			}
			if r, err := h.Client.VerifyChangeUserMfaWithResponse(ctx, body, servertest.Bearer(plain.AccessToken)); err != nil || r.JSON200 == nil {
				t.Fatalf("activate without a key, recommended: %v %s", err, bodyOf(r))
			}
		})
	}
}

// TestTOTPUserMFADisabledServerWide: with MFA turned off server-wide, a user whose TOTP is still
// active signs in by SMS and through a provider without a challenge (docs/mfa.md: the setting
// gates all of MFA), and /v1/signin/mfa/totp is off.
func TestTOTPUserMFADisabledServerWide(t *testing.T) {
	f := startFakeTwilio(t)
	on, fp := startWithProviders(t, smsOn(f), mfaOn)
	acct := githubAccount("5151", "mfa-off@example.com", true)

	// Both users turn TOTP on while MFA is enabled.
	v := verifySMS(t, on, phone, smsCode(t, on, f, phone, 1))
	if v.JSON200 == nil || v.JSON200.Session == nil {
		t.Fatalf("SMS sign-up: %d %s", v.StatusCode(), v.Body)
	}
	smsSecret := activateTOTP(t, on, v.JSON200.Session.AccessToken)
	fed := sessionFrom(t, on, providerSignIn(t, on, fp, "github", acct, nil))
	activateTOTP(t, on, fed.AccessToken)
	// Proof that the gate is there while MFA is on.
	if to := providerSignIn(t, on, fp, "github", acct, nil); !to.Query().Has("mfaTicket") || to.Query().Has("refreshToken") {
		t.Fatalf("provider redirect with MFA on: %s, want an mfaTicket", to.Redacted())
	}
	onTicket := func() string {
		v := verifySMS(t, on, phone, smsCode(t, on, f, phone, 2))
		sess, mfa := smsParts(v.JSON200)
		return wantChallenge(t, "SMS sign-in with MFA on", v.StatusCode(), v.Body, sess, mfa)
	}()

	off := on.Another(t, withFakeProviders(fp), adminSecretOn, smsOn(f))
	v = verifySMS(t, off, phone, smsCode(t, off, f, phone, 3))
	if v.JSON200 == nil || v.JSON200.Session == nil || v.JSON200.Mfa != nil {
		t.Fatalf("SMS sign-in of a TOTP user with MFA off: %d %s, want a session", v.StatusCode(), v.Body)
	}
	s := sessionFrom(t, off, providerSignIn(t, off, fp, "github", acct, nil))
	if s.User.Id != fed.User.Id {
		t.Errorf("provider sign-in with MFA off: user %s, want %s", s.User.Id, fed.User.Id)
	}
	// The ticket given while MFA was on is no way in where MFA is off.
	var r *gen.VerifySignInMfaTotpResult
	off.NoWrites(t, func() { r = signInMFA(t, off, onTicket, totpCode(t, off, smsSecret, 0)) })
	wantNhostError(t, r.StatusCode(), r.Body, http.StatusConflict, "disabled-endpoint")
}
