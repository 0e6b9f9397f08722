package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// parseServe runs the serve command's flag parsing with args and env, without serving.
func parseServe(t *testing.T, env map[string]string, args ...string) (server.Config, *config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg := &config{}
	var scfg server.Config
	var verr error
	cmd := &cli.Command{Name: "serve", Flags: cfg.serveFlags(), Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{},
		Action: func(context.Context, *cli.Command) error {
			scfg, verr = cfg.serverConfig()
			return nil
		}}
	if err := cmd.Run(context.Background(), append([]string{"serve"}, args...)); err != nil {
		return scfg, cfg, err
	}
	return scfg, cfg, verr
}

func TestConfigDefaults(t *testing.T) {
	got, cfg, err := parseServe(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := server.DefaultConfig()
	if cfg.Addr != "127.0.0.1:4000" || cfg.DataDir != "./data" || cfg.DatabaseURL != "" {
		t.Errorf("fixed names: addr %q, data dir %q, db %q", cfg.Addr, cfg.DataDir, cfg.DatabaseURL)
	}
	if got.AccessTokenTTL != want.AccessTokenTTL || got.RefreshTokenTTL != want.RefreshTokenTTL ||
		got.RefreshReuseLeeway != 10*time.Second || got.PasswordMinLength != 9 || got.AnonymousUsers ||
		got.JWT.Algorithm != server.AlgES256 || got.MaxBodyBytes != 64<<10 || got.PasswordHashBudget != 128<<20 ||
		got.Version == "" {
		t.Errorf("defaults differ from server.DefaultConfig: %+v", got)
	}
}

func TestConfigFromEnvAndFlags(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "jwt")
	if err := os.WriteFile(secretFile, []byte(`{"type":"HS256","key":"`+strings.Repeat("s", 32)+`"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, cfg, err := parseServe(t, map[string]string{
		"LATCHKEY_ADDR":                  "127.0.0.1:5555",
		"LATCHKEY_REFRESH_REUSE_LEEWAY":  "0s",
		"LATCHKEY_ANONYMOUS_USERS":       "true",
		"LATCHKEY_DEFAULT_ALLOWED_ROLES": "user,me,editor",
		"LATCHKEY_JWT_SECRET_FILE":       secretFile,
		"DATABASE_URL":                   "postgres://u@db/x",
	}, "--addr", "127.0.0.1:6666", "--password-min-length", "12")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:6666" {
		t.Errorf("flag must win over env: addr %q", cfg.Addr)
	}
	if got.RefreshReuseLeeway != 0 || !got.AnonymousUsers || got.PasswordMinLength != 12 ||
		len(got.DefaultAllowedRoles) != 3 || got.JWT.Secret == nil || got.JWT.Secret.Type != "HS256" ||
		cfg.DatabaseURL != "postgres://u@db/x" {
		t.Errorf("settings not applied: %+v / %+v", got, cfg)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"short access tokens", map[string]string{"LATCHKEY_ACCESS_TOKEN_TTL": "30s"}, "access-token-ttl"},
		{"bad algorithm", map[string]string{"LATCHKEY_JWT_ALGORITHM": "none"}, "jwt-algorithm"},
		{"bad database URL", map[string]string{"DATABASE_URL": "mysql://x"}, "postgres://"},
		{"default role not allowed", map[string]string{"LATCHKEY_DEFAULT_ROLE": "admin"}, "default-role"},
		{"tiny hash budget", map[string]string{"LATCHKEY_PASSWORD_HASH_MEMORY": "1MiB"}, "password-hash-memory"},
		{"bad size", map[string]string{"LATCHKEY_MAX_BODY": "lots"}, "max-body"},
		{"unreadable secret file", map[string]string{"LATCHKEY_JWT_SECRET_FILE": "/nonexistent/secret"}, "LATCHKEY_JWT_SECRET_FILE"},
		{"leeway too long", map[string]string{"LATCHKEY_REFRESH_REUSE_LEEWAY": "5m"}, "refresh-reuse-leeway"},
		{"bad log format", map[string]string{"LATCHKEY_LOG_FORMAT": "xml"}, "log-format"},
		{"SMTP without sender", map[string]string{"LATCHKEY_SMTP_HOST": "smtp.example.com"}, "smtp-from"},
		{"bad SMTP TLS", map[string]string{"LATCHKEY_SMTP_HOST": "smtp.example.com", "LATCHKEY_SMTP_FROM": "a@example.com", "LATCHKEY_SMTP_TLS": "ssl"}, "smtp-tls"},
		{"bad sender", map[string]string{"LATCHKEY_SMTP_HOST": "smtp.example.com", "LATCHKEY_SMTP_FROM": "not an address"}, "smtp-from"},
		{"bad client URL", map[string]string{"LATCHKEY_CLIENT_URL": "app.example.com"}, "client-url"},
		{"bad redirect rule", map[string]string{"LATCHKEY_ALLOWED_REDIRECT_URLS": "https://ok.example.com,https://x.example.com/?q=1"}, "allowed-redirect-urls"},
		{"short OTP life", map[string]string{"LATCHKEY_OTP_TTL": "10s"}, "otp-ttl"},
		{"no code tries", map[string]string{"LATCHKEY_CODE_MAX_ATTEMPTS": "0"}, "code-max-attempts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := parseServe(t, c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want one naming %q", err, c.want)
			}
		})
	}
	// A malformed secret is reported without being repeated.
	_, _, err := parseServe(t, map[string]string{"LATCHKEY_JWT_SECRET": "not-json-s3cr3t"})
	if err == nil || !strings.Contains(err.Error(), "jwt-secret") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("bad JWT secret: %v, want an error naming jwt-secret without its value", err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"64KiB": 64 << 10, "128MiB": 128 << 20, "1GiB": 1 << 30, "500KB": 500000, "1024": 1024, "2B": 2} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "12 apples"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
}

// TestCommands runs the real subcommands against a SQLite data directory: migrate, keys rotate
// and version.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	run := func(args ...string) {
		t.Helper()
		out.Reset()
		if err := run(context.Background(), append([]string{"latchkey"}, args...), &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("latchkey %v: %v", args, err)
		}
	}
	run("migrate", "--data-dir", dir)
	if m := regexp.MustCompile(`schema version (\d+) \(latest (\d+)\)`).FindStringSubmatch(out.String()); m == nil || m[1] != m[2] || m[1] == "0" {
		t.Errorf("migrate: %q", out.String())
	}
	run("keys", "rotate", "--data-dir", dir, "--jwt-algorithm", "EdDSA")
	if !strings.Contains(out.String(), "new EdDSA signing key") {
		t.Errorf("keys rotate: %q", out.String())
	}
	run("version")
	if strings.TrimSpace(out.String()) == "" {
		t.Error("version printed nothing")
	}
	run("mail", "outbox", "--data-dir", dir)
	if !strings.HasPrefix(out.String(), "ID") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("mail outbox of an empty outbox: %q", out.String())
	}
}

// TestMailTestCommand sends `latchkey mail test` through a real SMTP server in the test.
func TestMailTestCommand(t *testing.T) {
	sink := servertest.StartMailSink(t)
	args := []string{"latchkey", "mail", "test", "--to", "ops@example.com", "--smtp-host", sink.Host,
		"--smtp-port", fmt.Sprint(sink.Port), "--smtp-tls", "none", "--smtp-from", "Latchkey <no-reply@example.com>"}
	var out bytes.Buffer
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatalf("mail test: %v", err)
	}
	m := sink.Next(t, "ops@example.com")
	if m.Subject == "" || m.Text == "" || !strings.Contains(out.String(), "sent to ops@example.com") {
		t.Fatalf("test message %q / %q; output %q", m.Subject, m.Text, out.String())
	}
	sink.Stop()
	if err := run(context.Background(), args, &out, io.Discard); err == nil {
		t.Fatal("mail test succeeded with the SMTP server down")
	}
	if err := run(context.Background(), []string{"latchkey", "mail", "test", "--to", "ops@example.com"}, &out, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "LATCHKEY_SMTP_HOST") {
		t.Fatalf("mail test without SMTP: %v", err)
	}
}

// TestServeZeroConfig starts `latchkey serve` with nothing configured but free ports (the API's,
// and the metrics listener's, whose default another process on the host may hold): it creates
// ./data/latchkey.db, becomes ready, and stops cleanly when its context ends (SIGTERM).
func TestServeZeroConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	addrs := freeAddrs(t, 2)
	addr, metricsAddr := addrs[0], addrs[1]

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"latchkey", "serve", "--addr", addr, "--metrics-addr", metricsAddr, "--log-level", "warn"}, io.Discard, io.Discard)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited before becoming ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not become ready")
		}
		time.Sleep(20 * time.Millisecond) // polling a real process for readiness, not timing a result
	}
	if _, err := os.Stat(filepath.Join("data", "latchkey.db")); err != nil {
		t.Fatalf("zero config must use ./data/latchkey.db: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("graceful shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
