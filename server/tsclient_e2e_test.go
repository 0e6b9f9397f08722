package server_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/server/servertest"
)

// TestTypeScriptClient type-checks the generated TypeScript client (clients/typescript) with
// tsc --noEmit, then compiles it and runs one scenario per dialect through it against a live
// server (test/scenarios.ts): Nhost sign-up, refresh and user; WME login and refresh; Zesty login
// and verify; Authentication Zero sign-in and sessions; the admin API creating and listing users.
// A contract change that breaks one of those callers fails the type check; a server that answers
// otherwise than the contract says fails the run.
func TestTypeScriptClient(t *testing.T) {
	node, dir := nodePackage(t, filepath.Join("..", "clients", "typescript"), "openapi-fetch")
	tsc := filepath.Join(dir, "node_modules", "typescript", "bin", "tsc")
	runNode(t, node, dir, "tsc --noEmit", nil, tsc, "--noEmit", "-p", ".")

	// Node 20 runs no TypeScript: emit JavaScript (already checked) to a directory of its own,
	// where the package's node_modules and module type are linked in.
	out := t.TempDir()
	runNode(t, node, dir, "tsc (emit)", nil, tsc, "-p", ".", "--noCheck", "--outDir", out)
	if err := os.Symlink(filepath.Join(dir, "node_modules"), filepath.Join(out, "node_modules")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "package.json"), []byte(`{"type":"module"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	h := servertest.Start(t, adminSecretOn)
	runNode(t, node, out, "TypeScript client scenarios",
		[]string{"LATCHKEY_URL=" + h.URL, "LATCHKEY_ADMIN_SECRET=" + testAdminSecret},
		filepath.Join("test", "scenarios.js"))
}
