package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/server/servertest"
)

// TestNhostJSMFA drives the TOTP second factor with the published @nhost/nhost-js SDK
// (e2e/nhostjs/mfa.mjs): changeUserMfa, verifyChangeUserMfa, the MFA challenge of a password
// sign-in and verifySignInMfaTotp, with codes from the otpauth package. The server runs on the
// test clock, so the script reads the time (and moves to the next 30-second step) through a
// small endpoint of this test.
func TestNhostJSMFA(t *testing.T) {
	h := servertest.Start(t, mfaOn)
	clock := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/now":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]int64{"ms": h.Clock.Now().UnixMilli()})
		case "/next-step":
			nextStep(h)
		default:
			http.NotFound(w, r)
		}
	}))
	defer clock.Close()
	node, abs := nodePackage(t, filepath.Join("..", "e2e", "nhostjs"), "otpauth")
	runNode(t, node, abs, "@nhost/nhost-js MFA", []string{"LATCHKEY_URL=" + h.URL, "CLOCK_URL=" + clock.URL}, "mfa.mjs")
}
