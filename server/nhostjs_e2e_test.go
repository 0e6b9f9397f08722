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
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server/servertest"
)

// TestNhostJSClient drives a real server with the published @nhost/nhost-js SDK (e2e/nhostjs):
// sign up, sign in, forced refresh, verify, read the user, change the password, sign out and
// back in; then the mail flows (password reset by link and by ticket, address verification,
// one-time code), reading each mail from the test's SMTP server through a small mailbox
// endpoint; then the SDK's WebAuthn calls (passkey sign-up, adding a key, passkey sign-in,
// elevation) with a software authenticator.
func TestNhostJSClient(t *testing.T) {
	h := servertest.Start(t, webAuthnOn) // the WebAuthn block of run.mjs (WEBAUTHN=1)
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
	runNodeClient(t, "nhostjs", "@nhost/nhost-js",
		"LATCHKEY_URL="+h.URL, "MAILBOX_URL="+mailbox.URL, "CLIENT_URL="+servertest.ClientURL, "WEBAUTHN=1")
}

// TestZestySDKClient drives the Zesty Auth dialect with the published @zesty-io/sdk
// (e2e/zestysdk): multipart log-in reading meta.token, verify with a Bearer token, a wrong
// password and a garbage token; then the SDK's Accounts calls (create, list and read instances,
// the users of an instance with their roles), and the same reads with an access token this test
// creates over HTTP.
func TestZestySDKClient(t *testing.T) {
	h := servertest.Start(t)
	signUp(t, h, "zesty-sdk@example.com", "zesty-sdk-password")
	session := zestyLoginAs(t, h, "zesty-sdk@example.com", "zesty-sdk-password")
	inst := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", session, `{"name":"Token instance"}`))["ZUID"].(string)
	roles := zRoleZUIDs(t, h, session, inst)
	tok := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/tokens", session, zJSON("name", "sdk-e2e", "roleZUID", roles["admin"])))
	runNodeClient(t, "zestysdk", "@zesty-io/sdk",
		"LATCHKEY_URL="+h.URL, "ZESTY_EMAIL=zesty-sdk@example.com", "ZESTY_PASSWORD=zesty-sdk-password",
		"ZESTY_ACCESS_TOKEN="+tok["token"].(string), "ZESTY_TOKEN_INSTANCE="+inst)
}

// runNodeClient runs e2e/<dir>/run.mjs with env added, through the package pkg installed there.
func runNodeClient(t *testing.T, dir, pkg string, env ...string) {
	t.Helper()
	node, abs := nodePackage(t, filepath.Join("..", "e2e", dir), pkg)
	runNode(t, node, abs, pkg, env, "run.mjs")
}

// nodePackage finds node and the npm package dir (relative to server/), whose node_modules must
// hold pkg (make e2e-deps installs them all). Without them the test skips, unless
// LATCHKEY_TEST_REQUIRE_NODE=1 (make test sets it when Node is installed, .ci/run always), when
// it fails.
func nodePackage(t *testing.T, dir, pkg string) (node, abs string) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	node, lookErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(abs, "node_modules", filepath.FromSlash(pkg)))
	if lookErr != nil || modErr != nil {
		if os.Getenv("LATCHKEY_TEST_REQUIRE_NODE") == "1" {
			t.Fatalf("Node package %s required (LATCHKEY_TEST_REQUIRE_NODE=1) but unavailable (node: %v, node_modules: %v); run make e2e-deps", pkg, lookErr, modErr)
		}
		t.Skipf("SKIPPED: Node.js or %s/node_modules missing (make e2e-deps)", dir)
	}
	return node, abs
}

// runNode runs node with args in dir, env added, and fails the test when it exits non-zero;
// what it printed goes to the test log under the name what.
func runNode(t *testing.T, node, dir, what string, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a whole run takes 1-40 s; one full local run hung in a WebAuthn step for the then 5-minute limit (see dumpServerGoroutines)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s:\n%s", what, out)
	if ctx.Err() != nil {
		dumpServerGoroutines(t)
	}
	if err != nil {
		t.Fatalf("%s run failed: %v", what, err)
	}
}

// dumpServerGoroutines logs the stacks of the goroutines running Latchkey's own code, for a Node
// client that ran out of time: a request the server never answered shows where it waits.
func dumpServerGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 64<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var ours []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "latchkey/server.") || strings.Contains(g, "latchkey/store.") {
			ours = append(ours, g)
		}
	}
	t.Logf("the Node client ran out of time; %d goroutines in Latchkey's code:\n%s", len(ours), strings.Join(ours, "\n\n"))
}

var (
	verifyLinkRE = regexp.MustCompile(`https?://\S+/v1/verify\?\S+`)
	codeRE       = regexp.MustCompile(`\b(\d{8}|\d{6})\b`)
)

func firstMatch(re *regexp.Regexp, s string) string { return re.FindString(s) }
