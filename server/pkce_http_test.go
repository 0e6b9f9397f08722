package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/servertest"
)

func pkcePair(verifier string) (string, string) {
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestMailLinkPKCECode: a mailed link requested with a code challenge redirects with a one-time
// code instead of a refresh token; the code and the verifier are the session.
func TestMailLinkPKCECode(t *testing.T) {
	h := servertest.Start(t)
	ctx := context.Background()
	verifier, challenge := pkcePair("mail-verifier-0123456789-0123456789-0123456789")
	email := "pkce-mail@example.com"
	res, err := h.Client.SignInPasswordlessEmailWithResponse(ctx, gen.SignInPasswordlessEmailJSONRequestBody{
		Email: openapi_types.Email(email), CodeChallenge: &challenge})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("passwordless: %v %s", err, res.Body)
	}
	to := follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw)
	code := to.Query().Get("code")
	if code == "" || to.Query().Has("refreshToken") || to.Query().Get("type") != "signinPasswordless" {
		t.Fatalf("redirect %s: want a code, its type and no session", to.Redacted())
	}
	h.NoWrites(t, func() {
		bad, err := h.Client.TokenExchangeWithResponse(ctx, gen.TokenExchangeJSONRequestBody{Code: code, CodeVerifier: verifier + "x"})
		if err != nil {
			t.Fatal(err)
		}
		wantNhostError(t, bad.StatusCode(), bad.Body, http.StatusUnauthorized, string(gen.ErrorResponseErrorInvalidRequest))
	})
	ex, err := h.Client.TokenExchangeWithResponse(ctx, gen.TokenExchangeJSONRequestBody{Code: code, CodeVerifier: verifier})
	if err != nil || ex.JSON200 == nil || ex.JSON200.Session == nil || string(*ex.JSON200.Session.User.Email) != email ||
		!ex.JSON200.Session.User.EmailVerified {
		t.Fatalf("exchange: %v %s", err, ex.Body)
	}

	// Without a challenge, the same flow still redirects with the refresh token.
	if res, err := h.Client.SignInPasswordlessEmailWithResponse(ctx, gen.SignInPasswordlessEmailJSONRequestBody{Email: openapi_types.Email(email)}); err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("passwordless: %v", err)
	}
	if to := follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw); to.Query().Get("refreshToken") == "" || to.Query().Has("code") {
		t.Errorf("redirect without a challenge %s: want a refresh token", to.Redacted())
	}

	// A password reset link with a challenge: the exchanged session may set the new password.
	if res, err := h.Client.SendPasswordResetEmailWithResponse(ctx, gen.SendPasswordResetEmailJSONRequestBody{
		Email: openapi_types.Email(email), CodeChallenge: &challenge}); err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("reset: %v", err)
	}
	to = follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw)
	ex, err = h.Client.TokenExchangeWithResponse(ctx, gen.TokenExchangeJSONRequestBody{Code: to.Query().Get("code"), CodeVerifier: verifier})
	if err != nil || ex.JSON200 == nil || ex.JSON200.Session == nil {
		t.Fatalf("exchange after reset link: %v %s", err, ex.Body)
	}
	pw, err := h.Client.ChangeUserPasswordWithResponse(ctx, gen.ChangeUserPasswordJSONRequestBody{NewPassword: pwNew},
		servertest.Bearer(ex.JSON200.Session.AccessToken))
	if err != nil || pw.StatusCode() != http.StatusOK {
		t.Fatalf("set password in the exchanged session: %v %d %s", err, pw.StatusCode(), pw.Body)
	}
}
