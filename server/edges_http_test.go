package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

const edgePw = "edges-Password-1"

// edgeSignIn signs email up in the Nhost dialect and in with Authentication Zero, both with the
// extra headers, and returns the user's id.
func edgeSignIn(t *testing.T, h *servertest.Harness, email string, hdr map[string]string) uuid.UUID {
	t.Helper()
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Content-Type": "application/json"}
		for k, v := range hdr {
			m[k] = v
		}
		return m
	}
	_, status, body := h.Send(t, http.MethodPost, "/v1/signup/email-password", with(),
		fmt.Sprintf(`{"email":%q,"password":%q}`, email, edgePw))
	if status != http.StatusOK {
		t.Fatalf("sign up: %d %s", status, body)
	}
	var out struct {
		Session struct {
			User struct{ ID uuid.UUID } `json:"user"`
		} `json:"session"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Session.User.ID == uuid.Nil {
		t.Fatalf("sign up: %v %s", err, body)
	}
	if _, status, body := h.Send(t, http.MethodPost, "/sign_in", with(),
		fmt.Sprintf(`{"email":%q,"password":%q}`, email, edgePw)); status != http.StatusCreated {
		t.Fatalf("Authentication Zero sign in: %d %s", status, body)
	}
	return out.Session.User.ID
}

// wantRecordedIP checks the IP on every session of the user and every audit event.
func wantRecordedIP(t *testing.T, h *servertest.Harness, uid uuid.UUID, want string) {
	t.Helper()
	ctx := context.Background()
	sessions, err := h.Store.UserSessions(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 2 {
		t.Fatalf("%d sessions, want 2 (Nhost and Authentication Zero)", len(sessions))
	}
	for _, s := range sessions {
		if s.IP != want {
			t.Errorf("session %s: IP %q, want %q", s.ID, s.IP, want)
		}
	}
	events, err := h.Store.AuditEvents(ctx, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 2 {
		t.Fatalf("%d audit events, want at least 2", len(events))
	}
	for _, e := range events {
		if e.IP != want {
			t.Errorf("audit %s: IP %q, want %q", e.Action, e.IP, want)
		}
	}
}

// TestForwardedForOnlyFromTrustedProxies: the harness dials from 127.0.0.1. Trusted, the
// X-Forwarded-For address is the one sessions and audit events record; not trusted (the default,
// or another proxy configured), the peer is.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	xff := map[string]string{"X-Forwarded-For": "198.51.100.20, 203.0.113.7"}
	t.Run("trusted", func(t *testing.T) {
		h := servertest.Start(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
		wantRecordedIP(t, h, edgeSignIn(t, h, "trusted@example.com", xff), "203.0.113.7")
	})
	t.Run("trusted-malformed", func(t *testing.T) {
		h := servertest.Start(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
		wantRecordedIP(t, h, edgeSignIn(t, h, "malformed@example.com", map[string]string{"X-Forwarded-For": "203.0.113.7, <script>"}), "127.0.0.1")
	})
	t.Run("default", func(t *testing.T) {
		h := servertest.Start(t)
		wantRecordedIP(t, h, edgeSignIn(t, h, "default@example.com", xff), "127.0.0.1")
	})
	t.Run("other-proxy", func(t *testing.T) {
		h := servertest.Start(t, func(c *server.Config) { c.TrustedProxies = []string{"10.0.0.0/8"} })
		wantRecordedIP(t, h, edgeSignIn(t, h, "other@example.com", map[string]string{"X-Real-IP": "203.0.113.7"}), "127.0.0.1")
	})
}

const (
	goodOrigin = "https://app.example.com"
	badOrigin  = "https://evil.example.net"
)

// TestCORS: preflights and actual requests of every dialect, from an allowed and a refused origin.
func TestCORS(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.CORSOrigins = []string{goodOrigin, "http://localhost:3000"} })
	for _, c := range []struct {
		dialect, path, body string
		wantStatus          int
	}{
		{"nhost", "/v1/signin/email-password", `{"email":"nobody@example.com","password":"wrong-password-1"}`, http.StatusUnauthorized},
		{"wme", "/v1/login", `{"username":"nobody","password":"wrong-password-1"}`, http.StatusUnauthorized},
		{"zesty", "/login", `{"email":"nobody@example.com","password":"wrong-password-1"}`, http.StatusUnauthorized},
		{"az", "/sign_in", `{"email":"nobody@example.com","password":"wrong-password-1"}`, http.StatusUnauthorized},
		{"admin", "/v1/admin/users", ``, http.StatusUnauthorized},
	} {
		t.Run(c.dialect, func(t *testing.T) {
			method := http.MethodPost
			if c.body == "" {
				method = http.MethodGet
			}
			pre := func(origin string) map[string]string {
				return map[string]string{"Origin": origin, "Access-Control-Request-Method": method,
					"Access-Control-Request-Headers": "authorization,content-type"}
			}
			hdr, status, body := h.Send(t, http.MethodOptions, c.path, pre(goodOrigin), "")
			if status != http.StatusNoContent || len(body) != 0 {
				t.Fatalf("preflight from allowed origin: %d %s", status, body)
			}
			for k, want := range map[string]string{
				"Access-Control-Allow-Origin": goodOrigin, "Access-Control-Max-Age": "600",
			} {
				if got := hdr.Get(k); got != want {
					t.Errorf("preflight %s = %q, want %q", k, got, want)
				}
			}
			if m := hdr.Get("Access-Control-Allow-Methods"); !strings.Contains(m, method) {
				t.Errorf("preflight allows methods %q, not %s", m, method)
			}
			if a := strings.ToLower(hdr.Get("Access-Control-Allow-Headers")); !strings.Contains(a, "authorization") || !strings.Contains(a, "content-type") {
				t.Errorf("preflight allows headers %q", a)
			}
			if hdr.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed without being configured")
			}
			if !strings.Contains(strings.Join(hdr.Values("Vary"), ","), "Origin") {
				t.Errorf("preflight Vary = %q", hdr.Values("Vary"))
			}

			hdr, status, _ = h.Send(t, http.MethodOptions, c.path, pre(badOrigin), "")
			// Echo answers OPTIONS itself (204 with Allow); without CORS headers the browser refuses.
			if status >= 500 || hdr.Get("Access-Control-Allow-Origin") != "" || hdr.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("preflight from refused origin: %d, CORS headers %v", status, hdr)
			}

			actual := func(origin string) http.Header {
				hd := map[string]string{"Origin": origin}
				if c.body != "" {
					hd["Content-Type"] = "application/json"
				}
				hdr, status, body := h.Send(t, method, c.path, hd, c.body)
				if status != c.wantStatus {
					t.Fatalf("%s %s from %s: %d %s", method, c.path, origin, status, body)
				}
				return hdr
			}
			hdr = actual(goodOrigin)
			if hdr.Get("Access-Control-Allow-Origin") != goodOrigin || !strings.Contains(hdr.Get("Access-Control-Expose-Headers"), "X-Session-Token") {
				t.Errorf("actual request from allowed origin: CORS headers %v", hdr)
			}
			hdr = actual(badOrigin)
			if hdr.Get("Access-Control-Allow-Origin") != "" || hdr.Get("Access-Control-Expose-Headers") != "" {
				t.Errorf("actual request from refused origin: CORS headers %v", hdr)
			}
		})
	}
	t.Run("az-session-token-exposed", func(t *testing.T) {
		edgeSignIn(t, h, "cors@example.com", map[string]string{"Origin": goodOrigin})
		hdr, status, body := h.Send(t, http.MethodPost, "/sign_in", map[string]string{"Origin": goodOrigin, "Content-Type": "application/json"},
			fmt.Sprintf(`{"email":"cors@example.com","password":%q}`, edgePw))
		if status != http.StatusCreated || hdr.Get("X-Session-Token") == "" {
			t.Fatalf("sign in: %d %s", status, body)
		}
		if !strings.Contains(hdr.Get("Access-Control-Expose-Headers"), "X-Session-Token") {
			t.Errorf("X-Session-Token not exposed: %v", hdr)
		}
	})
}

// TestCORSOffByDefault: no origins configured, no CORS headers, on preflights (which Echo's
// router answers with Allow) or anything else.
func TestCORSOffByDefault(t *testing.T) {
	h := servertest.Start(t)
	hdr, status, _ := h.Send(t, http.MethodOptions, "/v1/signin/email-password",
		map[string]string{"Origin": goodOrigin, "Access-Control-Request-Method": "POST"}, "")
	if status >= 500 || hdr.Get("Access-Control-Allow-Origin") != "" || hdr.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("preflight without CORS: %d %v", status, hdr)
	}
	hdr, _, _ = h.Send(t, http.MethodGet, "/healthz", map[string]string{"Origin": goodOrigin}, "")
	if hdr.Get("Access-Control-Allow-Origin") != "" || hdr.Get("Vary") != "" {
		t.Errorf("CORS headers without CORS: %v", hdr)
	}
}

// TestCORSAnyOrigin: "*" answers every origin with "*" and never allows credentials.
func TestCORSAnyOrigin(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.CORSOrigins = []string{"*"} })
	hdr, status, _ := h.Send(t, http.MethodOptions, "/sign_in",
		map[string]string{"Origin": badOrigin, "Access-Control-Request-Method": "POST"}, "")
	if status != http.StatusNoContent || hdr.Get("Access-Control-Allow-Origin") != "*" || hdr.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight with *: %d %v", status, hdr)
	}
	hc := servertest.Start(t, func(c *server.Config) { c.CORSOrigins = []string{goodOrigin}; c.CORSCredentials = true })
	hdr, _, _ = hc.Send(t, http.MethodGet, "/healthz", map[string]string{"Origin": goodOrigin}, "")
	if hdr.Get("Access-Control-Allow-Origin") != goodOrigin || hdr.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("credentials configured: %v", hdr)
	}
}

// TestSecurityHeaders: every answer carries them: a 2xx, a 4xx, a 404, a 405, and the
// documentation, whose policy lets its own scripts run.
func TestSecurityHeaders(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1"} })
	common := map[string]string{
		"X-Content-Type-Options":     "nosniff",
		"X-Frame-Options":            "DENY",
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
	for _, c := range []struct {
		name, method, path, body string
		wantStatus               int
		wantCSP                  string
	}{
		{"2xx", http.MethodGet, "/healthz", "", http.StatusOK, "default-src 'none'"},
		{"4xx", http.MethodPost, "/v1/signin/email-password", `{"email":1}`, http.StatusBadRequest, "default-src 'none'"},
		{"401", http.MethodGet, "/v1/user", "", http.StatusUnauthorized, "default-src 'none'"},
		{"404", http.MethodGet, "/no/such/page", "", http.StatusNotFound, "default-src 'none'"},
		{"405", http.MethodDelete, "/healthz", "", http.StatusMethodNotAllowed, "default-src 'none'"},
		{"docs", http.MethodGet, "/docs", "", http.StatusOK, "default-src 'self'"},
		{"docs-asset", http.MethodGet, "/docs/swagger-ui-bundle.js", "", http.StatusOK, "default-src 'none'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hd := map[string]string{}
			if c.body != "" {
				hd["Content-Type"] = "application/json"
			}
			hdr, status, body := h.Send(t, c.method, c.path, hd, c.body)
			if status != c.wantStatus {
				t.Fatalf("%s %s: %d %.200s", c.method, c.path, status, body)
			}
			for k, want := range common {
				if got := hdr.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			csp := hdr.Get("Content-Security-Policy")
			if !strings.HasPrefix(csp, c.wantCSP) || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy = %q, want it to start %q and forbid framing", csp, c.wantCSP)
			}
			if hdr.Get("Strict-Transport-Security") != "" {
				t.Errorf("HSTS over plain HTTP: %q", hdr.Get("Strict-Transport-Security"))
			}
			if c.name == "docs" {
				docsLoad(t, string(body), csp)
			}
		})
	}
	t.Run("hsts-behind-tls-proxy", func(t *testing.T) {
		hdr, _, _ := h.Send(t, http.MethodGet, "/healthz", map[string]string{"X-Forwarded-Proto": "https"}, "")
		if got := hdr.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("HSTS = %q", got)
		}
		other := servertest.Start(t) // the same header from a peer that is not a trusted proxy
		hdr, _, _ = other.Send(t, http.MethodGet, "/healthz", map[string]string{"X-Forwarded-Proto": "https"}, "")
		if got := hdr.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("HSTS from an untrusted proxy's word: %q", got)
		}
	})
}

var (
	docsInline = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	docsSrc    = regexp.MustCompile(`(?:src|href)="([^"]*)"`)
)

// docsLoad checks that the documentation page can load under its policy: every inline script is
// allowed by its hash, every script, style and icon it references is same-origin.
func docsLoad(t *testing.T, page, csp string) {
	t.Helper()
	inline := docsInline.FindAllStringSubmatch(page, -1)
	if len(inline) == 0 {
		t.Fatal("docs page has no inline script: the check below would prove nothing")
	}
	for _, m := range inline {
		sum := sha256.Sum256([]byte(m[1]))
		if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, h) {
			t.Errorf("inline script %.60q is not allowed by the policy (%s missing)", m[1], h)
		}
	}
	for _, m := range docsSrc.FindAllStringSubmatch(page, -1) {
		if strings.Contains(m[1], "//") {
			t.Errorf("docs page loads %q from another origin", m[1])
		}
	}
	for _, d := range []string{"script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:"} {
		if !strings.Contains(csp, d) {
			t.Errorf("docs policy %q lacks %q", csp, d)
		}
	}
}

// TestLeakDetection: the end-of-run check finds a secret that a log holds, and the harvest sees
// the secrets of real exchanges.
func TestLeakDetection(t *testing.T) {
	secret := "s3cr3t-" + uuid.NewString()
	var buf servertest.LogBuffer
	fmt.Fprintf(&buf, `{"msg":"request","token":%q}`+"\n", secret)
	found := servertest.FindLeaks(map[string]fmt.Stringer{"deliberate": &buf}, map[string]string{secret: "self-test", "not-in-the-log-" + uuid.NewString(): "self-test"})
	if len(found) != 1 || !strings.Contains(found[0], secret) {
		t.Errorf("FindLeaks = %q, want exactly the deliberate secret", found)
	}
	if got := servertest.FindLeaks(map[string]fmt.Stringer{"clean": &servertest.LogBuffer{}}, map[string]string{secret: "self-test"}); len(got) != 0 {
		t.Errorf("FindLeaks on an empty log = %q", got)
	}
	// Mailed codes: found as words, not as the digits of a number, a duration or a timestamp.
	var codes servertest.LogBuffer
	codes.Write([]byte(`{"time":"2026-01-02T03:04:05.482913Z","elapsed":482913,"n":"9482913","msg":"otp 731904 sent"}` + "\n"))
	found = servertest.FindLeaks(map[string]fmt.Stringer{"codes": &codes}, map[string]string{"731904": "self-test", "482913": "self-test"})
	if len(found) != 1 || !strings.Contains(found[0], "731904") {
		t.Errorf("FindLeaks of codes = %q, want exactly 731904", found)
	}
	// Eight-digit codes likewise: a latency in nanoseconds is not a code.
	var long servertest.LogBuffer
	long.Write([]byte(`{"latency_ns":38830877,"msg":"code 57120394 sent"}` + "\n"))
	found = servertest.FindLeaks(map[string]fmt.Stringer{"long": &long}, map[string]string{"38830877": "self-test", "57120394": "self-test"})
	if len(found) != 1 || !strings.Contains(found[0], "57120394") {
		t.Errorf("FindLeaks of 8-digit codes = %q, want exactly 57120394", found)
	}

	h := servertest.Start(t)
	s := signUp(t, h, "harvest@example.com", edgePw)
	for what, v := range map[string]string{"password": edgePw, "refresh token": s.RefreshToken, "access token": s.AccessToken} {
		if !servertest.Harvested(v) {
			t.Errorf("the %s of a sign-up was not harvested", what)
		}
	}
	_, tok := azSignIn(t, h, "harvest@example.com", edgePw)
	if !servertest.Harvested(tok) {
		t.Error("the X-Session-Token of a sign-in was not harvested")
	}
}

// TestConfirmPagePolicy: the link-confirmation page may use its inline styles and post its form
// (whose answer redirects to the application, so form-action stays open), and nothing else.
func TestConfirmPagePolicy(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.ConfirmLinks = true })
	email := "policy@example.com"
	signUp(t, h, email, mailPassword)
	requestReset(t, h, email)
	u := must(url.Parse(linkOf(t, h.Mail.Next(t, email)).raw))(t)
	hdr, status, body := h.Send(t, http.MethodGet, u.RequestURI(), nil, "")
	if status != http.StatusOK || !strings.Contains(string(body), `style="`) || strings.Contains(string(body), "<script") {
		t.Fatalf("confirm page: %d %s", status, body)
	}
	csp := hdr.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "default-src 'none'; style-src 'unsafe-inline'") || strings.Contains(csp, "form-action") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || hdr.Get("X-Frame-Options") != "DENY" {
		t.Errorf("confirm page policy %q, headers %v", csp, hdr)
	}
}
