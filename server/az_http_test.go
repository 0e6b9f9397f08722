package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// Scenarios of the Authentication Zero dialect (seed 004): both generations of its API, JSON and
// form bodies, both Authorization forms, Rails-shaped errors, and sessions shared with every other
// dialect.

const (
	azPw    = "Secret1*2*3*4*5*6"
	azNewPw = "NewPassword12$34$56$7"
)

// azAnswer is one answer: status, headers and the body decoded as JSON (nil when empty).
type azAnswer struct {
	status int
	header http.Header
	body   any
	raw    []byte
}

func (a azAnswer) obj() map[string]any { m, _ := a.body.(map[string]any); return m }

// azJSONBody and azFormBody encode the fields kv in one of the dialect's two body types.
func azJSONBody(kv ...string) (string, string) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return "application/json", string(b)
}

func azFormBody(kv ...string) (string, string) {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "application/x-www-form-urlencoded", v.Encode()
}

var azEncodings = map[string]func(kv ...string) (string, string){"json": azJSONBody, "form": azFormBody}

// azDo sends a request; auth is a whole Authorization header ("" for none); enc encodes kv as the
// body (nil: no body).
func azDo(t *testing.T, h *servertest.Harness, method, path, auth string, enc func(kv ...string) (string, string), kv ...string) azAnswer {
	t.Helper()
	hdr := map[string]string{}
	if auth != "" {
		hdr["Authorization"] = auth
	}
	body := ""
	if enc != nil {
		hdr["Content-Type"], body = enc(kv...)
	}
	rh, status, raw := h.Send(t, method, path, hdr, body)
	a := azAnswer{status: status, header: rh, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	if status >= 400 && status != http.StatusUnprocessableEntity {
		if m := a.obj(); m == nil || len(m) != 1 || m["error"] == "" {
			t.Fatalf("%s %s: %d is not {\"error\": …}: %s", method, path, status, raw)
		}
	}
	if status == http.StatusUnauthorized && rh.Get("WWW-Authenticate") != `Token realm="Application"` {
		t.Fatalf("%s %s: 401 without the challenge: %q", method, path, rh.Get("WWW-Authenticate"))
	}
	return a
}

// want fails unless the answer has the status and, for errors, the message or field errors.
func (a azAnswer) want(t *testing.T, what string, status int, detail ...string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, a.status, status, a.raw)
	}
	if len(detail) == 0 {
		return
	}
	if status == http.StatusUnprocessableEntity {
		// detail: field, message
		msgs, _ := a.obj()[detail[0]].([]any)
		if !slices.Contains(msgs, any(detail[1])) {
			t.Fatalf("%s: field errors %s, want %s: %q", what, a.raw, detail[0], detail[1])
		}
		return
	}
	if a.obj()["error"] != detail[0] {
		t.Fatalf("%s: error %s, want %q", what, a.raw, detail[0])
	}
}

func bearer(tok string) string { return "Bearer " + tok }

// azSignUp signs email up through the dialect and verifies the address with the mailed link.
func azSignUp(t *testing.T, h *servertest.Harness, email string) map[string]any {
	t.Helper()
	a := azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", email, "password", azPw, "password_confirmation", azPw)
	a.want(t, "sign up "+email, http.StatusCreated)
	u := a.obj()
	azDo(t, h, http.MethodGet, azMailedPath(t, h, email, "/identity/email_verification"), "", nil).want(t, "verify "+email, http.StatusNoContent)
	return u
}

// azSignIn signs in and returns the session and its token.
func azSignIn(t *testing.T, h *servertest.Harness, email, password string) (map[string]any, string) {
	t.Helper()
	a := azDo(t, h, http.MethodPost, "/sign_in", "", azJSONBody, "email", email, "password", password)
	a.want(t, "sign in "+email, http.StatusCreated)
	tok := a.header.Get("X-Session-Token")
	if tok == "" {
		t.Fatalf("sign in %s: no X-Session-Token", email)
	}
	return a.obj(), tok
}

// azMailedPath reads the next mail to email and returns its link to path (path and query).
func azMailedPath(t *testing.T, h *servertest.Harness, email, path string) string {
	t.Helper()
	u, err := url.Parse(h.Mail.Next(t, email).Link(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != path {
		t.Fatalf("mailed link %s, want path %s", u, path)
	}
	return u.RequestURI()
}

func TestAZSignUpAndSignIn(t *testing.T) {
	h := servertest.Start(t)
	for name, enc := range azEncodings {
		email := "zero-" + name + "@example.com"
		sessions := h.Counts(t)["sessions"]
		a := azDo(t, h, http.MethodPost, "/sign_up", "", enc, "email", email, "password", azPw, "password_confirmation", azPw)
		a.want(t, "sign up ("+name+")", http.StatusCreated)
		u := a.obj()
		if len(u) != 5 || u["email"] != email || u["verified"] != false || u["id"] == "" {
			t.Fatalf("sign up (%s): user %s", name, a.raw)
		}
		// Sign-up opens no session.
		if n := h.Counts(t)["sessions"]; n != sessions {
			t.Fatalf("sign up (%s) opened a session: %d sessions", name, n)
		}

		for _, c := range []struct {
			name       string
			kv         []string
			field, msg string
		}{
			{"taken", []string{"email", strings.ToUpper(email), "password", azPw}, "email", "has already been taken"},
			{"invalid-email", []string{"email", "not-an-address", "password", azPw}, "email", "is invalid"},
			{"missing-email", []string{"password", azPw}, "email", "can't be blank"},
			{"short-password", []string{"email", "short-" + email, "password", "Short1*2*3"}, "password", "is too short (minimum is 12 characters)"},
			{"blank-password", []string{"email", "blank-" + email, "password", ""}, "password", "can't be blank"},
			{"confirmation", []string{"email", "conf-" + email, "password", azPw, "password_confirmation", azPw + "x"}, "password_confirmation", "doesn't match Password"},
			{"unknown-field", []string{"email", "unknown-" + email, "password", azPw, "admin", "true"}, "admin", "is not a permitted parameter"},
		} {
			h.NoWrites(t, func() {
				azDo(t, h, http.MethodPost, "/sign_up", "", enc, c.kv...).want(t, "sign up "+c.name+" ("+name+")", http.StatusUnprocessableEntity, c.field, c.msg)
			})
		}

		// The mailed link verifies the address, once.
		path := azMailedPath(t, h, email, "/identity/email_verification")
		azDo(t, h, http.MethodGet, path, "", nil).want(t, "verify", http.StatusNoContent)
		azDo(t, h, http.MethodGet, path, "", nil).want(t, "verify again", http.StatusBadRequest, "That email verification link is invalid")

		// Sign in with both body types; the token works with both Authorization forms.
		a = azDo(t, h, http.MethodPost, "/sign_in", "", enc, "email", email, "password", azPw)
		a.want(t, "sign in ("+name+")", http.StatusCreated)
		tok := a.header.Get("X-Session-Token")
		s := a.obj()
		if tok == "" || len(s) != 6 || s["user_id"] != u["id"] || s["ip_address"] == "" || s["user_agent"] == "" {
			t.Fatalf("sign in (%s): %s, token %q", name, a.raw, tok)
		}
		for _, auth := range []string{"Bearer " + tok, `Token token="` + tok + `"`, "Token token=" + tok, `Token token="` + tok + `", nonce="x"`} {
			a := azDo(t, h, http.MethodGet, "/sessions", auth, nil)
			a.want(t, "sessions with "+strings.SplitN(auth, " ", 2)[0], http.StatusOK)
			if list, _ := a.body.([]any); len(list) != 1 {
				t.Fatalf("sessions: %s", a.raw)
			}
		}
		h.NoWrites(t, func() {
			for _, auth := range []string{"", "Bearer", "Bearer garbage", "Token token=\"garbage\"", "Basic " + tok, "Token token=\"\""} {
				azDo(t, h, http.MethodGet, "/sessions", auth, nil).want(t, "sessions with "+auth, http.StatusUnauthorized)
			}
		})
		azDo(t, h, http.MethodPost, "/sign_in", "", enc, "email", email, "password", "wrong-"+azPw).
			want(t, "wrong password", http.StatusUnauthorized, "That email or password is incorrect")
		azDo(t, h, http.MethodPost, "/sign_in", "", enc, "email", "nobody@example.com", "password", azPw).
			want(t, "unknown address", http.StatusUnauthorized, "That email or password is incorrect")
	}
}

func TestAZSignInAccountState(t *testing.T) {
	for _, conceal := range []bool{false, true} {
		h := servertest.Start(t, func(c *server.Config) { c.ConcealErrors = conceal })
		u := azSignUp(t, h, "state@example.com")
		_, tok := azSignIn(t, h, "state@example.com", azPw)
		if err := h.Store.SetUserDisabled(context.Background(), uuid.MustParse(u["id"].(string)), true); err != nil {
			t.Fatal(err)
		}
		if conceal {
			azDo(t, h, http.MethodPost, "/sign_in", "", azJSONBody, "email", "state@example.com", "password", azPw).
				want(t, "disabled (conceal)", http.StatusUnauthorized, "That email or password is incorrect")
			azDo(t, h, http.MethodGet, "/sessions", bearer(tok), nil).want(t, "disabled token (conceal)", http.StatusUnauthorized)
		} else {
			azDo(t, h, http.MethodPost, "/sign_in", "", azJSONBody, "email", "state@example.com", "password", azPw).
				want(t, "disabled", http.StatusForbidden, "Your account is disabled")
			azDo(t, h, http.MethodGet, "/sessions", bearer(tok), nil).want(t, "disabled token", http.StatusForbidden)
		}
	}
	h := servertest.Start(t, func(c *server.Config) { c.DisableSignup = true })
	h.NoWrites(t, func() {
		azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "closed@example.com", "password", azPw).
			want(t, "sign-up disabled", http.StatusForbidden, "Sign up is disabled")
	})
}

// TestAZSessionsAcrossDialects: the sessions of every dialect are listed newest first; one is
// shown and destroyed only by its owner; destroying the Nhost session kills its Nhost tokens.
func TestAZSessionsAcrossDialects(t *testing.T) {
	h := servertest.Start(t)
	azSignUp(t, h, "multi@example.com")
	nhost := signIn(t, h, "multi@example.com", azPw)
	h.Clock.Advance(time.Minute)
	first, tok := azSignIn(t, h, "multi@example.com", azPw)
	h.Clock.Advance(time.Minute)
	second, tok2 := azSignIn(t, h, "multi@example.com", azPw)

	a := azDo(t, h, http.MethodGet, "/sessions", bearer(tok), nil)
	a.want(t, "sessions", http.StatusOK)
	list, _ := a.body.([]any)
	var ids []any
	for _, s := range list {
		ids = append(ids, s.(map[string]any)["id"])
	}
	nhostID := ""
	if len(ids) == 3 {
		nhostID, _ = ids[2].(string)
	}
	if len(ids) != 3 || ids[0] != second["id"] || ids[1] != first["id"] || nhostID == "" {
		t.Fatalf("sessions newest first: %s; want %v, %v, then the Nhost one", a.raw, second["id"], first["id"])
	}

	// Another user sees none of them.
	azSignUp(t, h, "other@example.com")
	_, otherTok := azSignIn(t, h, "other@example.com", azPw)
	h.NoWrites(t, func() {
		for _, m := range []string{http.MethodGet, http.MethodDelete} {
			azDo(t, h, m, "/sessions/"+nhostID, bearer(otherTok), nil).want(t, m+" another user's session", http.StatusNotFound, "Not found")
			azDo(t, h, m, "/sessions/not-a-uuid", bearer(tok), nil).want(t, m+" a malformed id", http.StatusNotFound)
			azDo(t, h, m, "/sessions/"+nhostID, "", nil).want(t, m+" without a token", http.StatusUnauthorized)
		}
	})

	a = azDo(t, h, http.MethodGet, "/sessions/"+nhostID, `Token token="`+tok+`"`, nil)
	a.want(t, "show the Nhost session", http.StatusOK)
	if a.obj()["id"] != nhostID || a.obj()["user_agent"] == "" {
		t.Fatalf("show: %s", a.raw)
	}
	if status, body := h.Do(t, http.MethodGet, "/v1/user", negBearer(nhost.AccessToken), ""); status != http.StatusOK {
		t.Fatalf("Nhost access token before destroy: %d %s", status, body)
	}
	azDo(t, h, http.MethodDelete, "/sessions/"+nhostID, bearer(tok), nil).want(t, "destroy the Nhost session", http.StatusNoContent)
	if status, body := h.Do(t, http.MethodPost, "/v1/token", negHeaders("Content-Type", "application/json"),
		`{"refreshToken":"`+nhost.RefreshToken+`"}`); status != http.StatusUnauthorized {
		t.Fatalf("Nhost refresh after destroy: %d %s, want 401", status, body)
	}
	if status, body := h.Do(t, http.MethodGet, "/v1/user", negBearer(nhost.AccessToken), ""); status != http.StatusUnauthorized {
		t.Fatalf("Nhost access token after destroy: %d %s, want 401", status, body)
	}
	azDo(t, h, http.MethodDelete, "/sessions/"+nhostID, bearer(tok), nil).want(t, "destroy again", http.StatusNotFound)

	// Destroying an Authentication Zero session ends its token; updated_at follows activity.
	h.Clock.Advance(5 * time.Minute)
	a = azDo(t, h, http.MethodGet, "/sessions/"+second["id"].(string), bearer(tok2), nil)
	if a.status != http.StatusOK || a.obj()["updated_at"] == second["updated_at"] {
		t.Fatalf("updated_at after use: %s (was %v)", a.raw, second["updated_at"])
	}
	azDo(t, h, http.MethodDelete, "/sessions/"+second["id"].(string), bearer(tok), nil).want(t, "destroy", http.StatusNoContent)
	azDo(t, h, http.MethodGet, "/sessions", bearer(tok2), nil).want(t, "destroyed token", http.StatusUnauthorized)

	// Unused for the refresh-token lifetime, a token dies.
	h.Clock.Advance(server.DefaultConfig().RefreshTokenTTL + time.Minute)
	azDo(t, h, http.MethodGet, "/sessions", bearer(tok), nil).want(t, "idle token", http.StatusUnauthorized)
}

// TestAZPasswordChange: both generations, PUT and PATCH, JSON and form.
func TestAZPasswordChange(t *testing.T) {
	h := servertest.Start(t)
	type gen struct {
		method, field string
		wrongStatus   int
		wrong         []string
	}
	gens := []gen{
		{http.MethodPut, "current_password", http.StatusBadRequest, []string{"The password you entered is incorrect"}},
		{http.MethodPatch, "password_challenge", http.StatusUnprocessableEntity, []string{"password_challenge", "is invalid"}},
		{http.MethodPatch, "current_password", http.StatusBadRequest, []string{"The password you entered is incorrect"}},
		{http.MethodPut, "password_challenge", http.StatusUnprocessableEntity, []string{"password_challenge", "is invalid"}},
	}
	i := 0
	for _, g := range gens {
		for name, enc := range azEncodings {
			i++
			email := strings.ToLower(g.method) + "-" + g.field + "-" + name + "@example.com"
			azSignUp(t, h, email)
			nhost := signIn(t, h, email, azPw)
			_, other := azSignIn(t, h, email, azPw)
			_, tok := azSignIn(t, h, email, azPw)
			what := g.method + " " + g.field + " (" + name + ")"
			h.NoWrites(t, func() {
				azDo(t, h, g.method, "/password", bearer(tok), enc, g.field, "wrong-"+azPw, "password", azNewPw).want(t, what+" wrong", g.wrongStatus, g.wrong...)
				azDo(t, h, g.method, "/password", bearer(tok), enc, "password", azNewPw).want(t, what+" none", http.StatusUnprocessableEntity, "current_password", "can't be blank")
				azDo(t, h, g.method, "/password", bearer(tok), enc, g.field, azPw, "password", "Short1*2*3").want(t, what+" short", http.StatusUnprocessableEntity, "password", "is too short (minimum is 12 characters)")
				azDo(t, h, g.method, "/password", bearer(tok), enc, g.field, azPw, "password", azNewPw, "password_confirmation", "x").want(t, what+" confirmation", http.StatusUnprocessableEntity, "password_confirmation", "doesn't match Password")
				azDo(t, h, g.method, "/password", "", enc, g.field, azPw, "password", azNewPw).want(t, what+" no token", http.StatusUnauthorized)
			}, "lockouts") // the wrong current password counts toward the account's lock, as a failed sign-in does
			a := azDo(t, h, g.method, "/password", bearer(tok), enc, g.field, azPw, "password", azNewPw, "password_confirmation", azNewPw)
			a.want(t, what, http.StatusOK)
			if a.obj()["email"] != email || len(a.obj()) != 5 {
				t.Fatalf("%s: user %s", what, a.raw)
			}
			// Every other session ended, in every dialect; the caller's stays.
			azDo(t, h, http.MethodGet, "/sessions", bearer(other), nil).want(t, what+": other session", http.StatusUnauthorized)
			if status, _ := h.Do(t, http.MethodGet, "/v1/user", negBearer(nhost.AccessToken), ""); status != http.StatusUnauthorized {
				t.Fatalf("%s: Nhost session survived: %d", what, status)
			}
			azDo(t, h, http.MethodGet, "/sessions", bearer(tok), nil).want(t, what+": own session", http.StatusOK)
			azDo(t, h, http.MethodPost, "/sign_in", "", azJSONBody, "email", email, "password", azPw).want(t, what+": old password", http.StatusUnauthorized)
			azSignIn(t, h, email, azNewPw)
		}
	}
}

// TestAZEmailChange: the address changes at once, unverified; the new address gets a link (sid
// works as well as email+token), the old one a notice.
func TestAZEmailChange(t *testing.T) {
	h := servertest.Start(t)
	azSignUp(t, h, "taken@example.com")
	i := 0
	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		for name, enc := range azEncodings {
			for _, field := range []string{"current_password", "password_challenge"} {
				i++
				old := strings.ToLower(method) + "-" + name + "-" + field + "@example.com"
				azSignUp(t, h, old)
				_, tok := azSignIn(t, h, old, azPw)
				what := method + " " + field + " (" + name + ")"
				h.NoWrites(t, func() {
					azDo(t, h, method, "/identity/email", bearer(tok), enc, field, azPw, "email", "Taken@example.com").want(t, what+" taken", http.StatusUnprocessableEntity, "email", "has already been taken")
					azDo(t, h, method, "/identity/email", bearer(tok), enc, field, azPw, "email", "nope").want(t, what+" invalid", http.StatusUnprocessableEntity, "email", "is invalid")
					azDo(t, h, method, "/identity/email", bearer(tok), enc, "email", "x@example.com").want(t, what+" no password", http.StatusUnprocessableEntity, "current_password", "can't be blank")
					azDo(t, h, method, "/identity/email", "Token token=nope", enc, field, azPw, "email", "x@example.com").want(t, what+" bad token", http.StatusUnauthorized)
				})
				wrong := azDo(t, h, method, "/identity/email", bearer(tok), enc, field, "wrong", "email", "x@example.com")
				if field == "current_password" {
					wrong.want(t, what+" wrong", http.StatusBadRequest, "The password you entered is incorrect")
				} else {
					wrong.want(t, what+" wrong", http.StatusUnprocessableEntity, "password_challenge", "is invalid")
				}
				newEmail := "new-" + old
				a := azDo(t, h, method, "/identity/email", bearer(tok), enc, field, azPw, "email", newEmail)
				a.want(t, what, http.StatusOK)
				if a.obj()["email"] != newEmail || a.obj()["verified"] != false {
					t.Fatalf("%s: %s", what, a.raw)
				}
				if n := h.Mail.Next(t, old); !strings.Contains(n.Text, newEmail) {
					t.Fatalf("%s: the notice to the old address does not name the new one: %s", what, n.Text)
				}
				link := azMailedPath(t, h, newEmail, "/identity/email_verification")
				if i%2 == 0 { // the current generator's form: sid alone
					u := must(url.Parse(link))(t)
					link = "/identity/email_verification?sid=" + url.QueryEscape(u.Query().Get("token"))
				}
				azDo(t, h, http.MethodGet, "/identity/email_verification?email=other%40example.com&token=x", "", nil).
					want(t, what+" bad link", http.StatusBadRequest, "That email verification link is invalid")
				azDo(t, h, http.MethodGet, link, "", nil).want(t, what+" verify", http.StatusNoContent)
				azSignIn(t, h, newEmail, azPw)
			}
		}
	}
	// POST /identity/email_verification mails the caller a fresh link.
	_, tok := azSignIn(t, h, "taken@example.com", azPw)
	azDo(t, h, http.MethodPost, "/identity/email_verification", bearer(tok), nil).want(t, "resend", http.StatusNoContent)
	path := azMailedPath(t, h, "taken@example.com", "/identity/email_verification")
	azDo(t, h, http.MethodGet, path, "", nil).want(t, "resent link", http.StatusNoContent)
	h.NoWrites(t, func() {
		azDo(t, h, http.MethodPost, "/identity/email_verification", "", nil).want(t, "resend without a token", http.StatusUnauthorized)
		azDo(t, h, http.MethodGet, "/identity/email_verification", "", nil).want(t, "verify without a token", http.StatusBadRequest, "That email verification link is invalid")
	})
}

// TestAZPasswordReset: unknown and unverified addresses get one answer (or, concealed, the
// success one); the mailed token works with token or sid, with or without its prefix, once, and ends
// every session.
func TestAZPasswordReset(t *testing.T) {
	h := servertest.Start(t)
	azSignUp(t, h, "reset@example.com")
	_, tok := azSignIn(t, h, "reset@example.com", azPw)
	if a := azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "unverified@example.com", "password", azPw); a.status != http.StatusCreated {
		t.Fatalf("sign up: %s", a.raw)
	}
	h.Mail.Next(t, "unverified@example.com")
	for name, enc := range azEncodings {
		h.NoWrites(t, func() {
			azDo(t, h, http.MethodPost, "/identity/password_reset", "", enc, "email", "nobody@example.com").
				want(t, "unknown ("+name+")", http.StatusBadRequest, "You can't reset your password until you verify your email")
			azDo(t, h, http.MethodPost, "/identity/password_reset", "", enc, "email", "unverified@example.com").
				want(t, "unverified ("+name+")", http.StatusBadRequest, "You can't reset your password until you verify your email")
			azDo(t, h, http.MethodPost, "/identity/password_reset", "", enc, "email", "").
				want(t, "blank ("+name+")", http.StatusUnprocessableEntity, "email", "is invalid")
		})
	}

	reset := func(enc func(kv ...string) (string, string)) (full, bare string) {
		t.Helper()
		azDo(t, h, http.MethodPost, "/identity/password_reset", "", enc, "email", "reset@example.com").want(t, "request", http.StatusNoContent)
		path := azMailedPath(t, h, "reset@example.com", "/identity/password_reset/edit")
		azDo(t, h, http.MethodGet, path, "", nil).want(t, "edit", http.StatusNoContent)
		u := must(url.Parse(path))(t)
		full = u.Query().Get("sid")
		bare, ok := strings.CutPrefix(full, "passwordReset:")
		if !ok {
			t.Fatalf("reset sid %q has no prefix", full)
		}
		return full, bare
	}

	h.NoWrites(t, func() {
		azDo(t, h, http.MethodGet, "/identity/password_reset/edit?sid=garbage", "", nil).want(t, "edit garbage", http.StatusBadRequest, "That password reset link is invalid")
		azDo(t, h, http.MethodGet, "/identity/password_reset/edit", "", nil).want(t, "edit nothing", http.StatusBadRequest, "That password reset link is invalid")
	})
	pw := azPw
	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		for name, enc := range azEncodings {
			for _, field := range []string{"token", "sid"} {
				what := method + " " + field + " (" + name + ")"
				full, bare := reset(enc)
				h.NoWrites(t, func() {
					azDo(t, h, method, "/identity/password_reset", "", enc, field, "garbage", "password", azNewPw).want(t, what+" garbage", http.StatusBadRequest, "That password reset link is invalid")
					azDo(t, h, method, "/identity/password_reset", "", enc, field, bare, "password", "Short1*2*3").want(t, what+" short", http.StatusUnprocessableEntity, "password", "is too short (minimum is 12 characters)")
					azDo(t, h, method, "/identity/password_reset", "", enc, field, bare, "password", azNewPw, "password_confirmation", "x").want(t, what+" confirmation", http.StatusUnprocessableEntity, "password_confirmation", "doesn't match Password")
				})
				next := azNewPw + method + field + name
				a := azDo(t, h, method, "/identity/password_reset", "", enc, field, bare, "password", next, "password_confirmation", next)
				a.want(t, what, http.StatusOK)
				if a.obj()["email"] != "reset@example.com" || a.obj()["verified"] != true {
					t.Fatalf("%s: %s", what, a.raw)
				}
				azDo(t, h, method, "/identity/password_reset", "", enc, field, full, "password", next).want(t, what+" again", http.StatusBadRequest, "That password reset link is invalid")
				azDo(t, h, http.MethodGet, "/identity/password_reset/edit?sid="+url.QueryEscape(full), "", nil).want(t, what+" edit spent", http.StatusBadRequest)
				azDo(t, h, http.MethodGet, "/sessions", bearer(tok), nil).want(t, what+": session survived", http.StatusUnauthorized)
				azDo(t, h, http.MethodPost, "/sign_in", "", azJSONBody, "email", "reset@example.com", "password", pw).want(t, what+": old password", http.StatusUnauthorized)
				_, tok = azSignIn(t, h, "reset@example.com", next)
				pw = next
			}
		}
	}

	// Concealed: every address is answered alike, and only the verified one gets mail.
	hc := servertest.Start(t, func(c *server.Config) { c.ConcealErrors = true })
	azSignUp(t, hc, "verified@example.com")
	if a := azDo(t, hc, http.MethodPost, "/sign_up", "", azJSONBody, "email", "unverified@example.com", "password", azPw); a.status != http.StatusCreated {
		t.Fatalf("sign up: %s", a.raw)
	}
	hc.Mail.Next(t, "unverified@example.com")
	hc.NoWrites(t, func() {
		for _, email := range []string{"nobody@example.com", "unverified@example.com"} {
			azDo(t, hc, http.MethodPost, "/identity/password_reset", "", azJSONBody, "email", email).want(t, "conceal "+email, http.StatusNoContent)
		}
	})
	azDo(t, hc, http.MethodPost, "/identity/password_reset", "", azJSONBody, "email", "verified@example.com").want(t, "conceal verified", http.StatusNoContent)
	azMailedPath(t, hc, "verified@example.com", "/identity/password_reset/edit")
	if n := hc.Mail.Count("unverified@example.com"); n != 1 {
		t.Fatalf("concealed request mailed the unverified address: %d mails", n)
	}
}

// TestAZEmailNormalized (issue 16.5): as the generator's User model does, an address is stored
// stripped and lower-cased wherever this dialect writes one, answers show the stored form, and
// sign-in, reset and the verification link work with the address in any casing and padding.
func TestAZEmailNormalized(t *testing.T) {
	h := servertest.Start(t)
	for name, enc := range azEncodings {
		given, stored := " Ada."+name+"@Example.COM ", "ada."+name+"@example.com"
		a := azDo(t, h, http.MethodPost, "/sign_up", "", enc, "email", given, "password", azPw, "password_confirmation", azPw)
		a.want(t, "sign up "+given, http.StatusCreated)
		if a.obj()["email"] != stored {
			t.Fatalf("sign up %q (%s) answered %s, want the stored form %q", given, name, a.raw, stored)
		}
		h.NoWrites(t, func() {
			azDo(t, h, http.MethodPost, "/sign_up", "", enc, "email", strings.ToUpper(stored), "password", azPw).
				want(t, "sign up again, upper-cased", http.StatusUnprocessableEntity, "email", "has already been taken")
		})

		// The mailed link, with the address in another casing, verifies it.
		u, err := url.Parse(azMailedPath(t, h, stored, "/identity/email_verification"))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("email") != stored {
			t.Fatalf("the mailed link names %q, want the stored %q", q.Get("email"), stored)
		}
		q.Set("email", "  ADA."+strings.ToUpper(name)+"@EXAMPLE.com")
		azDo(t, h, http.MethodGet, u.Path+"?"+q.Encode(), "", nil).want(t, "verify with the address upper-cased", http.StatusNoContent)

		_, tok := azSignIn(t, h, "  ADA."+strings.ToUpper(name)+"@example.COM\t", azPw)

		// A reset asked for in any casing goes to the stored address; its link works.
		azDo(t, h, http.MethodPost, "/identity/password_reset", "", enc, "email", " Ada."+name+"@EXAMPLE.com").want(t, "reset request", http.StatusNoContent)
		path := azMailedPath(t, h, stored, "/identity/password_reset/edit")
		azDo(t, h, http.MethodGet, path, "", nil).want(t, "reset link", http.StatusNoContent)

		// A new address is stored and answered in its stored form too; its link verifies it in
		// any casing.
		newGiven, newStored := "\tNew."+name+"@Example.ORG ", "new."+name+"@example.org"
		a = azDo(t, h, http.MethodPut, "/identity/email", bearer(tok), enc, "current_password", azPw, "email", newGiven)
		a.want(t, "change to "+newGiven, http.StatusOK)
		if a.obj()["email"] != newStored || a.obj()["verified"] != false {
			t.Fatalf("change to %q (%s) answered %s, want %q, unverified", newGiven, name, a.raw, newStored)
		}
		h.Mail.Next(t, stored) // the notice to the old address
		u, err = url.Parse(azMailedPath(t, h, newStored, "/identity/email_verification"))
		if err != nil {
			t.Fatal(err)
		}
		q = u.Query()
		q.Set("email", strings.ToUpper(newStored))
		azDo(t, h, http.MethodGet, u.Path+"?"+q.Encode(), "", nil).want(t, "verify the new address upper-cased", http.StatusNoContent)
		azSignIn(t, h, strings.ToUpper(newStored), azPw)
	}
}

// TestAZResetUnknownAddress (issue 16.5): as the current generator does, a reset for an address
// with no account is answered exactly as one for an unverified address, so the answer does not
// tell which addresses have accounts; neither writes anything nor sends mail.
func TestAZResetUnknownAddress(t *testing.T) {
	h := servertest.Start(t)
	azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "unverified@example.com", "password", azPw).want(t, "sign up", http.StatusCreated)
	h.Mail.Next(t, "unverified@example.com")
	u := azSignUp(t, h, "disabled@example.com")
	if err := h.Store.SetUserDisabled(context.Background(), uuid.MustParse(u["id"].(string)), true); err != nil {
		t.Fatal(err)
	}
	var answers []azAnswer
	h.NoWrites(t, func() {
		for _, email := range []string{"unverified@example.com", "nobody@example.com", "disabled@example.com"} {
			a := azDo(t, h, http.MethodPost, "/identity/password_reset", "", azJSONBody, "email", email)
			a.want(t, "reset for "+email, http.StatusBadRequest, "You can't reset your password until you verify your email")
			answers = append(answers, a)
		}
	})
	for _, a := range answers[1:] {
		if string(a.raw) != string(answers[0].raw) || a.header.Get("Content-Type") != answers[0].header.Get("Content-Type") {
			t.Fatalf("answers differ: %s vs %s", a.raw, answers[0].raw)
		}
	}
	for _, email := range []string{"unverified@example.com", "nobody@example.com"} {
		if n := h.Mail.Count(email); n > 1 {
			t.Fatalf("%d mails to %s", n, email)
		}
	}
}
