package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// TestUserCreateCommand runs `latchkey user create` in-process against a temporary SQLite data
// directory: with a password file and roles, with a generated temporary password, and refusals.
func TestUserCreateCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	create := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(ctx, append([]string{"latchkey", "user", "create", "--data-dir", dir, "--log-level", "error"}, args...), &out, &bytes.Buffer{})
		return out.String(), err
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("a-long-cli-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := create("--email", "Ops@Example.com", "--role", "admin", "--role", "user", "--default-role", "admin", "--password-file", pwFile, "--email-verified")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	opsID, err := uuid.Parse(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("first line is not an id: %q", out)
	}
	out, err = create("--email", "temp@example.com", "--temporary-password")
	if err != nil {
		t.Fatalf("create with a temporary password: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "temporary password (shown once): ") {
		t.Fatalf("output: %q", out)
	}
	temp := strings.TrimPrefix(lines[1], "temporary password (shown once): ")

	for name, args := range map[string][]string{
		"email-taken":        {"--email", "ops@example.com"},
		"email-malformed":    {"--email", "not-an-address"},
		"email-look-alike":   {"--email", "ceo@İbm.com"}, // the one address rule (store.CheckEmail)
		"default-role-alone": {"--email", "x@example.com", "--role", "user", "--default-role", "admin"},
		"password-too-short": {"--email", "y@example.com", "--password-file", writeFile(t, dir, "short", "short")},
		"no-email":           {"--role", "user"},
	} {
		if out, err := create(args...); err == nil {
			t.Errorf("%s: succeeded: %q", name, out)
		}
	}

	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ops, err := st.UserByEmail(ctx, "ops@example.com")
	if err != nil || ops.ID != opsID || ops.DefaultRole != "admin" || !slices.Equal(ops.Roles, []string{"admin", "user"}) || ops.NewPasswordRequired || !ops.EmailVerified {
		t.Fatalf("ops user: %v %+v", err, ops)
	}
	if ok, err := argon2id.ComparePasswordAndHash("a-long-cli-password", *ops.PasswordHash); err != nil || !ok {
		t.Errorf("the password file's password does not match: %v", err)
	}
	tu, err := st.UserByEmail(ctx, "temp@example.com")
	if err != nil || !tu.NewPasswordRequired || tu.DefaultRole != "user" || !slices.Equal(tu.Roles, []string{"me", "user"}) || tu.EmailVerified {
		t.Fatalf("temporary user: %v %+v", err, tu)
	}
	if ok, err := argon2id.ComparePasswordAndHash(temp, *tu.PasswordHash); err != nil || !ok {
		t.Errorf("the printed temporary password does not match: %v", err)
	}
	if n, err := st.CountUsers(ctx); err != nil || n != 2 {
		t.Errorf("%d users (%v), want 2 (refusals write nothing)", n, err)
	}
	events, err := st.AuditEvents(ctx, "admin.user_create", 10)
	if err != nil || len(events) != 2 || events[0].ActorTokenName != "latchkey-cli" {
		t.Errorf("audit: %v %+v", err, events)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUserCreateHelp: `latchkey user create --help` documents the command.
func TestUserCreateHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"latchkey", "user", "create", "--help"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--email", "--role", "--default-role", "--temporary-password", "--password-file", "--email-verified", "printed once"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
