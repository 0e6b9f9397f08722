package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// wmeClient puts on the wire what wme-sdk-go's pkg/auth sends (that module cannot be fetched
// here): a POST of a JSON body to base + path with "Content-type: application/json", and any
// status outside 200–226 taken as an error.
type wmeClient struct {
	t    *testing.T
	base string // includes /v1
	http *http.Client
}

func newWMEClient(t *testing.T, h *servertest.Harness) *wmeClient {
	return &wmeClient{t: t, base: h.URL + "/v1", http: h.HTTP}
}

// post sends body to path and decodes the answer into out; it returns the status and, for an
// error, the WME error body.
func (c *wmeClient) post(path string, body any, out any) (int, map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if res.StatusCode < 200 || res.StatusCode > 226 {
		var e map[string]any
		if err := json.Unmarshal(data, &e); err != nil || e["message"] == "" || int(e["status"].(float64)) != res.StatusCode {
			c.t.Fatalf("POST %s: %d with a body that is not WME's {message, status}: %s", path, res.StatusCode, data)
		}
		return res.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("POST %s: %v in %s", path, err, data)
		}
	}
	return res.StatusCode, nil
}

type wmeTokens struct {
	ChallengeName string `json:"challenge_name"`
	Session       string `json:"session"`
	IDToken       string `json:"id_token"`
	AccessToken   string `json:"access_token"`
	RefreshToken  string `json:"refresh_token"`
	ExpiresIn     int    `json:"expires_in"`
}

func (c *wmeClient) login(username, password string) (wmeTokens, int, map[string]any) {
	c.t.Helper()
	var out wmeTokens
	status, e := c.post("/login", map[string]string{"username": username, "password": password}, &out)
	return out, status, e
}

func (c *wmeClient) refresh(username, refreshToken string) (wmeTokens, int) {
	c.t.Helper()
	var out wmeTokens
	status, _ := c.post("/token-refresh", map[string]string{"username": username, "refresh_token": refreshToken}, &out)
	return out, status
}

// wmeUser creates a user with a username directly in the store (WME accounts are made by
// administrators) and a password set through the API's own hashing, via Nhost sign-up.
func wmeUser(t *testing.T, h *servertest.Harness, username, email, password string) uuid.UUID {
	t.Helper()
	s := signUp(t, h, email, password)
	id := uuid.MustParse(s.User.Id)
	if err := h.Store.SetUsername(context.Background(), id, username); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestWMESessionLifeCycle: log in (username in any case, or the address), refresh several times
// with the same refresh token, use the access token, revoke, and fail to refresh.
func TestWMESessionLifeCycle(t *testing.T) {
	h := servertest.Start(t)
	c := newWMEClient(t, h)
	wmeUser(t, h, "admin", "admin@example.com", "j8BDWYrQwDF5u4Yu")

	tok, status, e := c.login("ADMIN", "j8BDWYrQwDF5u4Yu")
	if status != http.StatusOK || tok.AccessToken == "" || tok.IDToken == "" || tok.RefreshToken == "" || tok.ChallengeName != "" {
		t.Fatalf("login: %d %v %+v", status, e, tok)
	}
	if tok.ExpiresIn != 86400 {
		t.Errorf("expires_in = %d, want 86400 (24 h)", tok.ExpiresIn)
	}
	// The id token names the user but grants nothing.
	if u := getUser(t, h, tok.IDToken); u.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("the id token worked as an access token: %d", u.StatusCode())
	}
	if byMail, status, _ := c.login("Admin@Example.com", "j8BDWYrQwDF5u4Yu"); status != http.StatusOK || byMail.RefreshToken == tok.RefreshToken {
		t.Fatalf("login by address: %d", status)
	}
	if _, status, e := c.login("admin", "wrong-password-1"); status != http.StatusUnauthorized || !strings.Contains(e["message"].(string), "Incorrect") {
		t.Fatalf("wrong password: %d %v", status, e)
	}

	// The refresh token does not rotate: the same one works again and again, for a day and more.
	for i := range 3 {
		h.Clock.Advance(25 * time.Hour)
		r, status := c.refresh("admin", tok.RefreshToken)
		if status != http.StatusOK || r.AccessToken == "" || r.IDToken == "" || r.RefreshToken != "" {
			t.Fatalf("refresh %d: %d %+v", i, status, r)
		}
		if u := getUser(t, h, r.AccessToken); u.JSON200 == nil || string(*u.JSON200.Email) != "admin@example.com" {
			t.Fatalf("the refreshed access token does not work: %s", u.Body)
		}
		tok.AccessToken = r.AccessToken
	}
	if _, status := c.refresh("someone-else", tok.RefreshToken); status != http.StatusUnauthorized {
		t.Fatalf("refresh naming another user: %d, want 401", status)
	}

	if status, _ := c.post("/token-revoke", map[string]string{"refresh_token": tok.RefreshToken}, nil); status != http.StatusOK {
		t.Fatalf("revoke: %d", status)
	}
	if _, status := c.refresh("admin", tok.RefreshToken); status != http.StatusUnauthorized {
		t.Fatalf("refresh after revoke: %d, want 401", status)
	}
	if u := getUser(t, h, tok.AccessToken); u.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("the revoked session's access token still works: %d", u.StatusCode())
	}
	// Revoking again, or an unknown token, gets the same answer (RFC 7009).
	if status, _ := c.post("/token-revoke", map[string]string{"refresh_token": "not-a-token"}, nil); status != http.StatusOK {
		t.Fatalf("revoke unknown: %d", status)
	}
	// The refresh token expires after 90 days.
	fresh, _, _ := c.login("admin", "j8BDWYrQwDF5u4Yu")
	h.Clock.Advance(91 * 24 * time.Hour)
	if _, status := c.refresh("admin", fresh.RefreshToken); status != http.StatusUnauthorized {
		t.Fatalf("refresh after 91 days: %d, want 401", status)
	}
}

// TestWMEPasswords: change with the access token and the previous password; forgot-password
// mails a code that sets a new one once.
func TestWMEPasswords(t *testing.T) {
	h := servertest.Start(t)
	c := newWMEClient(t, h)
	wmeUser(t, h, "editor", "editor@example.com", "first-password-1")
	tok, _, _ := c.login("editor", "first-password-1")
	other, _, _ := c.login("editor", "first-password-1")

	change := func(previous, proposed string) (int, map[string]any) {
		return c.post("/change-password", map[string]string{"access_token": tok.AccessToken, "previous_password": previous, "proposed_password": proposed}, nil)
	}
	if status, _ := change("wrong-password-1", "second-password-2"); status != http.StatusUnauthorized {
		t.Fatalf("change with a wrong previous password: %d", status)
	}
	if status, e := change("first-password-1", "short"); status != http.StatusBadRequest {
		t.Fatalf("change to a short password: %d %v", status, e)
	}
	if status, e := change("first-password-1", "second-password-2"); status != http.StatusOK {
		t.Fatalf("change: %d %v", status, e)
	}
	if _, status := c.refresh("editor", other.RefreshToken); status != http.StatusUnauthorized {
		t.Fatalf("another session survived the password change: %d", status)
	}
	if _, status := c.refresh("editor", tok.RefreshToken); status != http.StatusOK {
		t.Fatalf("the caller's session ended with the password change: %d", status)
	}

	// Forgot password: the same answer for an unknown user, and no mail.
	if status, _ := c.post("/forgot-password", map[string]string{"username": "nobody"}, nil); status != http.StatusOK {
		t.Fatalf("forgot-password unknown: %d", status)
	}
	if status, _ := c.post("/forgot-password", map[string]string{"username": "EDITOR"}, nil); status != http.StatusOK {
		t.Fatalf("forgot-password: %d", status)
	}
	code := h.Mail.Next(t, "editor@example.com").Code(t, 8)
	confirm := func(code, password string) int {
		status, _ := c.post("/forgot-password-confirm", map[string]string{"username": "editor", "password": password, "confirmation_code": code}, nil)
		return status
	}
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	if status := confirm(wrong, "third-password-3"); status != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", status)
	}
	if status := confirm(code, "third-password-3"); status != http.StatusOK {
		t.Fatalf("confirm: %d", status)
	}
	if status := confirm(code, "fourth-password-4"); status != http.StatusUnauthorized {
		t.Fatalf("the code worked twice: %d", status)
	}
	if _, status, _ := c.login("editor", "third-password-3"); status != http.StatusOK {
		t.Fatalf("login with the new password: %d", status)
	}
	if _, status := c.refresh("editor", tok.RefreshToken); status != http.StatusUnauthorized {
		t.Fatalf("a session survived the reset: %d", status)
	}
}

// TestWMENewPasswordRequired: a flagged user gets the challenge, not tokens, and answers it with
// a new password once.
func TestWMENewPasswordRequired(t *testing.T) {
	h := servertest.Start(t)
	c := newWMEClient(t, h)
	id := wmeUser(t, h, "newbie", "newbie@example.com", "temporary-pass-1")
	if err := h.Store.SetNewPasswordRequired(context.Background(), id, true); err != nil {
		t.Fatal(err)
	}
	ch, status, _ := c.login("newbie", "temporary-pass-1")
	if status != http.StatusOK || ch.ChallengeName != "NEW_PASSWORD_REQUIRED" || ch.Session == "" || ch.AccessToken != "" || ch.RefreshToken != "" {
		t.Fatalf("login of a flagged user: %d %+v", status, ch)
	}
	answer := func(session, username, password string) (wmeTokens, int) {
		var out wmeTokens
		status, _ := c.post("/new-password-required", map[string]string{"session": session, "username": username, "new_password": password}, &out)
		return out, status
	}
	if _, status := answer(ch.Session, "someone-else", "chosen-password-1"); status != http.StatusUnauthorized {
		t.Fatalf("answer naming another user: %d", status)
	}
	tok, status := answer(ch.Session, "newbie", "chosen-password-1")
	if status != http.StatusOK || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("answer: %d %+v", status, tok)
	}
	if _, status := answer(ch.Session, "newbie", "chosen-password-2"); status != http.StatusUnauthorized {
		t.Fatalf("the challenge worked twice: %d", status)
	}
	if again, status, _ := c.login("newbie", "chosen-password-1"); status != http.StatusOK || again.ChallengeName != "" {
		t.Fatalf("login after the challenge: %d %+v", status, again)
	}
	// A challenge expires.
	if err := h.Store.SetNewPasswordRequired(context.Background(), id, true); err != nil {
		t.Fatal(err)
	}
	late, _, _ := c.login("newbie", "chosen-password-1")
	h.Clock.Advance(server.DefaultConfig().NewPasswordChallengeTTL + time.Second)
	if _, status := answer(late.Session, "newbie", "chosen-password-3"); status != http.StatusUnauthorized {
		t.Fatalf("an expired challenge: %d", status)
	}
}
