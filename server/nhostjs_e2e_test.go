package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server/servertest"
)

// TestNhostJSClient drives a real server with the published @nhost/nhost-js SDK (e2e/nhostjs):
// sign up, sign in, forced refresh, verify, read the user, change the password, sign out and
// back in. It needs Node and the package's node_modules (make e2e-deps); without them it skips,
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
	cmd.Env = append(os.Environ(), "LATCHKEY_URL="+h.URL)
	out, err := cmd.CombinedOutput()
	t.Logf("nhost-js:\n%s", out)
	if err != nil {
		t.Fatalf("nhost-js run failed: %v", err)
	}
}
