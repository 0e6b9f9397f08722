package server_test

import (
	"testing"

	"github.com/latchkey/latchkey/server/servertest"
)

// TestNhostJSProviders drives federated sign-in with the published @nhost/nhost-js SDK
// (e2e/nhostjs/providers.mjs) against the fake provider: signInProviderURL through the whole
// redirect dance, then signInIdToken with a Google ID token and its nonce, and its replay.
func TestNhostJSProviders(t *testing.T) {
	node, dir := nodePackage(t, "../e2e/nhostjs", "@nhost/nhost-js")
	h, fp := startWithProviders(t)
	fp.SetNext(githubAccount("9090", "sdk-github@example.com", true))
	idAccount := servertest.FakeAccount{Subject: "g-sdk", Email: "sdk-google@example.com", EmailVerified: true}
	idToken := fp.IDToken(t, idAccount, "google-web", "sdk-nonce", nil)
	runNode(t, node, dir, "@nhost/nhost-js providers", []string{
		"LATCHKEY_URL=" + h.URL, "CLIENT_URL=" + servertest.ClientURL, "GITHUB_EMAIL=sdk-github@example.com",
		"ID_TOKEN=" + idToken, "ID_NONCE=sdk-nonce", "ID_EMAIL=" + idAccount.Email,
	}, "providers.mjs")
}
