package server_test

import (
	"context"
	"crypto/sha1" // the range API is keyed by SHA-1
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// Passwords the fake range API reports as breached, and ones it does not.
const (
	pwnedPw    = "pwned-password-123"   // breached 42 times
	pwnedAZPw  = "Pwned-Password*12345" // breached 3 times; long enough for Authentication Zero
	cleanPw    = "clean-password-456"
	cleanAZPw  = "Clean-Password*67890"
	pwnedCount = 42
)

// fakeHIBP is a local stand-in for the Have I Been Pwned range API. It answers every prefix
// with padding lines (count 0) and the suffixes of the breached passwords under that prefix.
type fakeHIBP struct {
	*httptest.Server
	mu       sync.Mutex
	breached map[string]int // SHA-1 (upper hex) → count
	paths    []string       // request paths seen
	padding  []string       // Add-Padding values seen
	slow     bool           // block until the client gives up
	release  chan struct{}
}

func sha1Hex(p string) string {
	sum := sha1.Sum([]byte(p))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func newFakeHIBP(t *testing.T) *fakeHIBP {
	f := &fakeHIBP{breached: map[string]int{sha1Hex(pwnedPw): pwnedCount, sha1Hex(pwnedAZPw): 3}, release: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.release); f.Close() })
	return f
}

func (f *fakeHIBP) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.Path)
	f.padding = append(f.padding, r.Header.Get("Add-Padding"))
	slow := f.slow
	f.mu.Unlock()
	if slow {
		select { // the client's timeout closes the connection, which ends r's context
		case <-r.Context().Done():
		case <-f.release:
		}
		return
	}
	prefix, ok := strings.CutPrefix(r.URL.Path, "/range/")
	if !ok || len(prefix) != 5 {
		http.Error(w, "bad prefix", http.StatusBadRequest)
		return
	}
	var b strings.Builder
	for i := range 20 { // padding, as the real API sends with Add-Padding
		fmt.Fprintf(&b, "%035X:0\r\n", i+1)
	}
	for h, n := range f.breached {
		if h[:5] == prefix {
			// Lower case on purpose: the comparison must not depend on the case.
			fmt.Fprintf(&b, "%s:%d\r\n", strings.ToLower(h[5:]), n)
		}
	}
	_, _ = w.Write([]byte(b.String()))
}

func (f *fakeHIBP) setSlow() { f.mu.Lock(); f.slow = true; f.mu.Unlock() }

// checkPrivacy fails unless every request sent only a 5-hex-digit prefix, asked for padding, and
// carried nothing else of the hashes of the passwords used.
func (f *fakeHIBP) checkPrivacy(t *testing.T, passwords ...string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.paths) == 0 {
		t.Fatal("the fake range API saw no request")
	}
	re := regexp.MustCompile(`^/range/[0-9A-F]{5}$`)
	for i, p := range f.paths {
		if !re.MatchString(p) {
			t.Errorf("request path %q is not /range/ and five upper-case hex digits", p)
		}
		if f.padding[i] != "true" {
			t.Errorf("request %d: Add-Padding = %q, want true", i, f.padding[i])
		}
		for _, pw := range passwords {
			if strings.Contains(p, sha1Hex(pw)[5:11]) || strings.Contains(p, pw) {
				t.Errorf("request path %q carries more than the prefix", p)
			}
		}
	}
}

func hibpOn(f *fakeHIBP, failClosed bool) func(*server.Config) {
	return func(c *server.Config) {
		c.HIBPEnabled = true
		c.HIBPBaseURL = f.URL
		c.HIBPFailClosed = failClosed
		c.HIBPTimeout = 300 * time.Millisecond
		c.AnonymousUsers = true
		c.AdminSecret = testAdminSecret
	}
}

func nhostSignUp(t *testing.T, h *servertest.Harness, email, password string) (int, []byte) {
	t.Helper()
	res, err := h.Client.SignUpEmailPasswordWithResponse(context.Background(), gen.SignUpEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode(), res.Body
}

func wantHIBPNhost(t *testing.T, what string, status int, body []byte, wantStatus int, code gen.ErrorResponseError) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: %d, want %d: %s", what, status, wantStatus, body)
	}
	if e := servertest.NhostError(t, body); e.Error != code {
		t.Fatalf("%s: error %q, want %q: %s", what, e.Error, code, body)
	}
}

// TestBreachedPasswordNhost: sign-up, change, reset and deanonymize refuse a breached password
// with 400 password-in-hibp-database and write nothing; clean passwords pass; the range API saw
// only prefixes.
func TestBreachedPasswordNhost(t *testing.T) {
	f := newFakeHIBP(t)
	h := servertest.Start(t, hibpOn(f, false))
	ctx := context.Background()

	h.NoWrites(t, func() {
		status, body := nhostSignUp(t, h, "pwned@example.com", pwnedPw)
		wantHIBPNhost(t, "sign-up", status, body, http.StatusBadRequest, gen.ErrorResponseErrorPasswordInHibpDatabase)
	})
	s := signUp(t, h, "clean@example.com", cleanPw)

	// Change with a session.
	h.NoWrites(t, func() {
		cp, err := h.Client.ChangeUserPasswordWithResponse(ctx, gen.ChangeUserPasswordJSONRequestBody{NewPassword: pwnedPw}, servertest.Bearer(s.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		wantHIBPNhost(t, "change", cp.StatusCode(), cp.Body, http.StatusBadRequest, gen.ErrorResponseErrorPasswordInHibpDatabase)
	})
	signIn(t, h, "clean@example.com", cleanPw) // unchanged

	// Reset with a ticket: refused, and the ticket is not spent.
	requestReset(t, h, "clean@example.com")
	ticket := linkOf(t, h.Mail.Next(t, "clean@example.com")).ticket
	h.NoWrites(t, func() {
		status, body := resetWithTicket(t, h, ticket, pwnedPw)
		wantHIBPNhost(t, "reset", status, body, http.StatusBadRequest, gen.ErrorResponseErrorPasswordInHibpDatabase)
	})
	if status, body := resetWithTicket(t, h, ticket, "another-clean-pw-789"); status != http.StatusOK {
		t.Fatalf("reset with a clean password: %d %s", status, body)
	}
	signIn(t, h, "clean@example.com", "another-clean-pw-789")

	// Deanonymize.
	res, err := h.Client.SignInAnonymousWithResponse(ctx, gen.SignInAnonymousJSONRequestBody{})
	if err != nil || res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("anonymous sign-in: %v %s", err, res.Body)
	}
	pw := pwnedPw
	h.NoWrites(t, func() {
		dr, err := h.Client.DeanonymizeUserWithResponse(ctx, gen.DeanonymizeUserJSONRequestBody{
			SignInMethod: gen.UserDeanonymizeRequestSignInMethodEmailPassword,
			Email:        openapi_types.Email("anon@example.com"), Password: &pw,
		}, servertest.Bearer(res.JSON200.Session.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		wantHIBPNhost(t, "deanonymize", dr.StatusCode(), dr.Body, http.StatusBadRequest, gen.ErrorResponseErrorPasswordInHibpDatabase)
	})

	f.checkPrivacy(t, pwnedPw, cleanPw)
	for _, secret := range []string{pwnedPw, cleanPw, sha1Hex(pwnedPw), sha1Hex(cleanPw)} {
		if strings.Contains(h.Logs.String(), secret) {
			t.Errorf("the server log carries a password or its hash")
		}
	}
}

// TestBreachedPasswordOtherDialects: WME change and reset, Zesty reset, Authentication Zero
// sign-up, change and reset, admin create and set password refuse a breached password in their
// shapes; clean ones pass.
func TestBreachedPasswordOtherDialects(t *testing.T) {
	f := newFakeHIBP(t)
	h := servertest.Start(t, hibpOn(f, false))

	t.Run("wme", func(t *testing.T) {
		c := newWMEClient(t, h)
		wmeUser(t, h, "editor", "editor@example.com", cleanPw)
		tok, _, _ := c.login("editor", cleanPw)
		h.NoWrites(t, func() {
			status, e := c.post("/change-password", map[string]string{"access_token": tok.AccessToken, "previous_password": cleanPw, "proposed_password": pwnedPw}, nil)
			if status != http.StatusBadRequest || !strings.Contains(e["message"].(string), "breach") {
				t.Fatalf("change to a breached password: %d %v", status, e)
			}
		})
		if _, status, _ := c.login("editor", cleanPw); status != http.StatusOK {
			t.Fatalf("the password changed: %d", status)
		}
		c.post("/forgot-password", map[string]string{"username": "editor"}, nil)
		code := h.Mail.Next(t, "editor@example.com").Code(t, 8)
		status, e := c.post("/forgot-password-confirm", map[string]string{"username": "editor", "password": pwnedPw, "confirmation_code": code}, nil)
		if status != http.StatusBadRequest || !strings.Contains(e["message"].(string), "breach") {
			t.Fatalf("reset to a breached password: %d %v", status, e)
		}
		if status, e := c.post("/forgot-password-confirm", map[string]string{"username": "editor", "password": "wme-clean-pw-1", "confirmation_code": code}, nil); status != http.StatusOK {
			t.Fatalf("reset to a clean password: %d %v", status, e)
		}
	})

	t.Run("zesty", func(t *testing.T) {
		signUp(t, h, "zesty@example.com", cleanPw)
		post := func(body string) (int, map[string]any) {
			status, resp := h.Do(t, http.MethodPost, "/password/reset", map[string]string{"Content-Type": "application/json"}, body)
			var m map[string]any
			_ = json.Unmarshal(resp, &m)
			return status, m
		}
		h.Do(t, http.MethodPost, "/password/request", map[string]string{"Content-Type": "application/json"}, `{"email":"zesty@example.com"}`)
		ticket := linkOf(t, h.Mail.Next(t, "zesty@example.com")).ticket
		h.NoWrites(t, func() {
			if status, m := post(`{"token":"` + ticket + `","password":"` + pwnedPw + `"}`); status != http.StatusBadRequest || m["code"] != float64(400) || !strings.Contains(m["message"].(string), "breach") {
				t.Fatalf("reset to a breached password: %d %v", status, m)
			}
		})
		if status, m := post(`{"token":"` + ticket + `","password":"zesty-clean-pw-1"}`); status != http.StatusOK {
			t.Fatalf("reset to a clean password: %d %v", status, m)
		}
	})

	t.Run("az", func(t *testing.T) {
		h.NoWrites(t, func() {
			azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "azpwned@example.com", "password", pwnedAZPw).
				want(t, "sign up breached", http.StatusUnprocessableEntity, "password", "has previously appeared in a data breach and should never be used. Please choose something harder to guess.")
		})
		azSignUp(t, h, "az@example.com")
		_, tok := azSignIn(t, h, "az@example.com", azPw)
		h.NoWrites(t, func() {
			azDo(t, h, http.MethodPut, "/password", bearer(tok), azJSONBody, "current_password", azPw, "password", pwnedAZPw).
				want(t, "change breached", http.StatusUnprocessableEntity, "password", "has previously appeared in a data breach and should never be used. Please choose something harder to guess.")
		})
		azDo(t, h, http.MethodPost, "/identity/password_reset", "", azJSONBody, "email", "az@example.com").want(t, "request", http.StatusNoContent)
		path := azMailedPath(t, h, "az@example.com", "/identity/password_reset/edit")
		u, err := url.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		sid := u.Query().Get("sid")
		h.NoWrites(t, func() {
			azDo(t, h, http.MethodPut, "/identity/password_reset", "", azFormBody, "sid", sid, "password", pwnedAZPw).
				want(t, "reset breached", http.StatusUnprocessableEntity, "password", "has previously appeared in a data breach and should never be used. Please choose something harder to guess.")
		})
		azDo(t, h, http.MethodPut, "/identity/password_reset", "", azFormBody, "sid", sid, "password", cleanAZPw).want(t, "reset clean", http.StatusOK)
	})

	t.Run("admin", func(t *testing.T) {
		hdr := map[string]string{"Content-Type": "application/json", "X-Admin-Secret": testAdminSecret}
		h.NoWrites(t, func() {
			status, body := h.Do(t, http.MethodPost, "/v1/admin/users", hdr, `{"email":"adminpwned@example.com","password":"`+pwnedPw+`"}`)
			if status != http.StatusBadRequest || !strings.Contains(string(body), "breach") {
				t.Fatalf("admin create with a breached password: %d %s", status, body)
			}
		})
		status, body := h.Do(t, http.MethodPost, "/v1/admin/users", hdr, `{"email":"adminclean@example.com","password":"`+cleanPw+`"}`)
		if status != http.StatusCreated {
			t.Fatalf("admin create with a clean password: %d %s", status, body)
		}
		var created struct {
			User struct{ ID string }
		}
		if err := json.Unmarshal(body, &created); err != nil || created.User.ID == "" {
			t.Fatalf("admin create answer: %v %s", err, body)
		}
		status, body = h.Do(t, http.MethodPost, "/v1/admin/users/"+created.User.ID+"/password", hdr, `{"password":"`+pwnedPw+`"}`)
		if status != http.StatusBadRequest || !strings.Contains(string(body), "breach") {
			t.Fatalf("admin set a breached password: %d %s", status, body)
		}
	})
	f.checkPrivacy(t, pwnedPw, pwnedAZPw, cleanPw, cleanAZPw)
}

// TestBreachCheckFailOpenAndClosed: when the range API is down or too slow, fail-open lets the
// password through with a warning that carries no secret; fail-closed answers 503 in the
// dialect's shape and writes nothing.
func TestBreachCheckFailOpenAndClosed(t *testing.T) {
	down := func(t *testing.T) *fakeHIBP { f := newFakeHIBP(t); f.Close(); return f }
	slow := func(t *testing.T) *fakeHIBP { f := newFakeHIBP(t); f.setSlow(); return f }
	for name, fake := range map[string]func(*testing.T) *fakeHIBP{"down": down, "slow": slow} {
		t.Run(name+"/open", func(t *testing.T) {
			f := fake(t)
			h := servertest.Start(t, hibpOn(f, false))
			signUp(t, h, "open@example.com", pwnedPw) // unchecked, so accepted
			logs := h.Logs.String()
			if !strings.Contains(logs, "fail-open") {
				t.Fatalf("no warning logged: %s", logs)
			}
			if strings.Contains(logs, pwnedPw) || strings.Contains(logs, sha1Hex(pwnedPw)) || strings.Contains(logs, sha1Hex(pwnedPw)[5:]) {
				t.Fatalf("the warning carries the password or its hash: %s", logs)
			}
		})
		t.Run(name+"/closed", func(t *testing.T) {
			f := fake(t)
			h := servertest.Start(t, hibpOn(f, true))
			h.NoWrites(t, func() {
				status, body := nhostSignUp(t, h, "closed@example.com", cleanPw)
				wantHIBPNhost(t, "nhost sign-up", status, body, http.StatusServiceUnavailable, gen.ErrorResponseErrorInternalServerError)
				azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "closed@example.com", "password", cleanAZPw).
					want(t, "az sign-up", http.StatusServiceUnavailable, "The breached-password check is unavailable; try again later")
			})
			if strings.Contains(h.Logs.String(), cleanPw) {
				t.Fatal("the log carries the password")
			}
		})
	}
}

// TestPasswordLengthPolicy: the policy's bounds in characters and in bytes, with multi-byte,
// combining and astral characters, in the Nhost and Authentication Zero shapes.
func TestPasswordLengthPolicy(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) {
		c.PasswordMinLength = 9
		c.PasswordMinBytes = 12
		c.PasswordMaxLength = 16
		c.PasswordMaxBytes = 40
	})
	for _, tc := range []struct {
		name, pw string
		status   int
		code     gen.ErrorResponseError
	}{
		{"9 ascii runes, 9 bytes: under the byte minimum", "abcdefghi", http.StatusBadRequest, gen.ErrorResponseErrorPasswordTooShort},
		{"9 two-byte runes, 18 bytes", "ééééééééé", http.StatusOK, ""},
		{"8 runes of 4 bytes: too few characters", "🔑🔑🔑🔑🔑🔑🔑🔑", http.StatusBadRequest, gen.ErrorResponseErrorPasswordTooShort},
		{"e and a combining accent count as two characters", "e\u0301e\u0301e\u0301e\u0301e\u0301", http.StatusOK, ""},
		{"16 runes, 16 bytes", strings.Repeat("a", 16), http.StatusOK, ""},
		{"17 runes", strings.Repeat("a", 17), http.StatusBadRequest, gen.ErrorResponseErrorInvalidRequest},
		{"11 astral runes, 44 bytes: over the byte maximum", strings.Repeat("😀", 11), http.StatusBadRequest, gen.ErrorResponseErrorInvalidRequest},
		{"family emoji: 9 runes with joiners, 27 bytes", "👨\u200d👩\u200d👧\u200d👦ab", http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email := fmt.Sprintf("len%d@example.com", len(tc.pw)*100+len([]rune(tc.pw)))
			if tc.status == http.StatusOK {
				if status, body := nhostSignUp(t, h, email, tc.pw); status != http.StatusOK {
					t.Fatalf("%d %s", status, body)
				}
				signIn(t, h, email, tc.pw)
				return
			}
			h.NoWrites(t, func() {
				status, body := nhostSignUp(t, h, email, tc.pw)
				wantHIBPNhost(t, "sign-up", status, body, tc.status, tc.code)
			})
		})
	}
	// Authentication Zero: 12 characters is its floor on top; the maximum is told in Rails' words.
	azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "azlong@example.com", "password", strings.Repeat("ä", 17)).
		want(t, "az too long", http.StatusUnprocessableEntity, "password", "is too long (maximum is 16 characters or 40 bytes)")
	azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "azshort@example.com", "password", strings.Repeat("ä", 11)).
		want(t, "az too short", http.StatusUnprocessableEntity, "password", "is too short (minimum is 12 characters)")
}
