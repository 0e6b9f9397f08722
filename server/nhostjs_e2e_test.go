package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server/servertest"
)

// TestNhostJSClient drives a real server with the published @nhost/nhost-js SDK (e2e/nhostjs):
// sign up, sign in, forced refresh, verify, read the user, change the password, sign out and
// back in; then the mail flows (password reset by link and by ticket, address verification,
// one-time code), reading each mail from the test's SMTP server through a small mailbox
// endpoint. It needs Node and the package's node_modules (make e2e-deps); without them it skips,
// unless LATCHKEY_TEST_REQUIRE_NODE=1 (set by make test when Node is installed), when it fails.
func TestNhostJSClient(t *testing.T) {
	dir, err := filepath.Abs("../e2e/nhostjs")
	if err != nil {
		t.Fatal(err)
	}
	node, lookErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "@nhost", "nhost-js"))
	if lookErr != nil || modErr != nil {
		if os.Getenv("LATCHKEY_TEST_REQUIRE_NODE") == "1" {
			t.Fatalf("Node client required but unavailable (node: %v, node_modules: %v); run make e2e-deps", lookErr, modErr)
		}
		t.Skip("SKIPPED: Node.js or e2e/nhostjs/node_modules missing (make e2e-deps)")
	}
	h := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.mjs")
	cmd.Dir = dir
	mailbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		m, err := h.Mail.Wait(r.Context(), to)
		if err != nil {
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"subject": m.Subject, "text": m.Text, "link": firstMatch(verifyLinkRE, m.Text), "code": firstMatch(codeRE, m.Text),
		})
	}))
	defer mailbox.Close()
	cmd.Env = append(os.Environ(), "LATCHKEY_URL="+h.URL, "MAILBOX_URL="+mailbox.URL, "CLIENT_URL="+servertest.ClientURL)
	out, err := cmd.CombinedOutput()
	t.Logf("nhost-js:\n%s", out)
	if err != nil {
		t.Fatalf("nhost-js run failed: %v", err)
	}
}

var (
	verifyLinkRE = regexp.MustCompile(`https?://\S+/v1/verify\?\S+`)
	codeRE       = regexp.MustCompile(`\b(\d{8}|\d{6})\b`)
)

func firstMatch(re *regexp.Regexp, s string) string { return re.FindString(s) }
