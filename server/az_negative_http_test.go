package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// The negative scenarios of the Authentication Zero dialect, on the machinery of
// TestNhostNegative and the Zesty table's body encodings. What differs is the error body: 422
// {"field": ["message", …]} for field problems, {"error": "…"} for everything else.

// azAnyError is the wantCode of Authentication Zero rows: an error is wanted; errBody checks it.
const azAnyError = zestyAnyError

// azErrorBody checks an Authentication Zero error body: 422 is a non-empty object of non-empty
// message lists (naming field when set); any other error is exactly {"error": msg} (msg when set).
func azErrorBody(field, msg string) func(t *testing.T, status int, body []byte) {
	return func(t *testing.T, status int, body []byte) {
		t.Helper()
		if status == http.StatusUnprocessableEntity {
			var fields map[string][]string
			if err := json.Unmarshal(body, &fields); err != nil || len(fields) == 0 {
				t.Errorf("not Rails field errors: %v: %.300s", err, body)
				return
			}
			for k, ms := range fields {
				if k == "" || len(ms) == 0 || slices.Contains(ms, "") {
					t.Errorf("field errors with an empty name or message: %.300s", body)
				}
			}
			if field != "" && len(fields[field]) == 0 {
				t.Errorf("field errors %.300s do not name %q", body, field)
			}
			if field != "" && msg != "" && !slices.Contains(fields[field], msg) {
				t.Errorf("field errors %.300s: %s lacks %q", body, field, msg)
			}
			return
		}
		var e map[string]string
		if err := json.Unmarshal(body, &e); err != nil || len(e) != 1 || e["error"] == "" {
			t.Errorf("not {\"error\": …}: %v: %.300s", err, body)
			return
		}
		if msg != "" && e["error"] != msg {
			t.Errorf("error = %q, want %q", e["error"], msg)
		}
	}
}

// azRow is a refused request: its status, its body, nothing written.
func azRow(name string, status int, field, msg string) negCase {
	return negCase{name: name, wantStatus: status, wantCode: azAnyError, wantNoWrites: true, errBody: azErrorBody(field, msg)}
}

// azShaped turns rows built for Zesty (or Nhost) into Authentication Zero rows: same requests
// and statuses, this dialect's bodies.
func azShaped(cs []negCase) []negCase {
	out := slices.Clone(cs)
	for i := range out {
		if out[i].wantCode != "" {
			out[i].wantCode, out[i].errBody = azAnyError, azErrorBody("", "")
		}
	}
	return out
}

var azEncs = []zEnc{zJSONEnc, zFormEnc}

const azMsgDenied = "HTTP Token: Access denied"

// azAuthCases: no token, garbage in every form, a token of another dialect, an ended session's.
func azAuthCases(method string, withBody func(c negCase) negCase) []negCase {
	row := func(name, auth string, setup negSetup) negCase {
		c := withBody(azRow(name, http.StatusUnauthorized, "", azMsgDenied))
		c.headers = negHeaders("Authorization", auth, "Content-Type", c.headers["Content-Type"])
		c.method, c.setup = method, setup
		return c
	}
	return []negCase{
		row("no-token", "", nil),
		row("bearer-empty", "Bearer ", nil),
		row("bearer-garbage", "Bearer garbage", nil),
		row("token-garbage", `Token token="garbage"`, nil),
		row("token-empty", `Token token=""`, nil),
		row("basic-scheme", "Basic {{az}}", fxAZUser),
		row("token-upper-cased", "Bearer {{azUpper}}", fxAZUser),
		row("nhost-access-token", "Bearer {{access}}", fxAZUser),
		row("zesty-session-token", "Bearer {{zesty}}", fxSteps(fxAZUser, fxZestyLogin)),
		row("ended-session", "Bearer {{az}}", fxSteps(fxAZUser, fxNhostSignOutAll)),
	}
}

// fxAZUser signs {{email}} up (fxUser, through Nhost: {{access}}, {{refresh}}, {{userID}}) and
// in through Authentication Zero: {{az}}, its session token, and {{azUpper}}, upper-cased.
func fxAZUser(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	fxUser(t, h, f)
	f.set("nhostAccess", f.get(t, "access"), true)
	s, tok := azSignIn(t, h, f.get(t, "email"), pwOwner)
	f.set("az", tok, true)
	f.set("sessionID", s["id"].(string), false)
	f.set("azUpper", strings.ToUpper(tok), true)
}

// azBodyOp is the rows of an operation with a body: media types, sizes, shapes, field problems
// in both encodings, and (authed) the credential rows.
func azBodyOp(method, path string, authed bool, setup negSetup, valid []string, fields []negCase) []negCase {
	auth := func(c negCase) negCase {
		if authed {
			if c.headers == nil {
				c.headers = map[string]string{}
			}
			if _, ok := c.headers["Authorization"]; !ok {
				c.headers["Authorization"] = "Bearer {{az}}"
			}
		}
		return c
	}
	var rows []negCase
	for _, c := range slices.Concat(azShaped(zMediaCases(azEncs, valid...)), azShaped(zShapeCases(azEncs)), fields) {
		rows = append(rows, auth(c))
	}
	if authed {
		rows = append(rows, azAuthCases(method, func(c negCase) negCase { return zJSONEnc.with(c, valid...) })...)
	}
	return zForOp(method, path, setup, rows)
}

// azFieldCases are the field problems of a body in both encodings: each is 422 naming the field.
func azFieldCases(rows ...struct {
	name, field string
	kv          []string
}) []negCase {
	var out []negCase
	for _, r := range rows {
		for _, e := range azEncs {
			out = append(out, e.with(azRow(r.name, http.StatusUnprocessableEntity, r.field, ""), r.kv...))
		}
	}
	return out
}

type azField = struct {
	name, field string
	kv          []string
}

// azNoBodyOp is the rows of an authenticated operation without a body.
func azNoBodyOp(method, path string, extra ...negCase) []negCase {
	rows := azAuthCases(method, func(c negCase) negCase { return c })
	for i := range extra {
		extra[i].headers = negHeaders("Authorization", "Bearer {{az}}")
	}
	return zForOp(method, path, fxAZUser, rows, extra)
}

func TestAZNegative(t *testing.T) {
	pwShort := "Short1*2*3"
	passwordFields := func(current string) []negCase {
		return slices.Concat(azFieldCases(
			azField{"password-missing", "password", []string{current, pwOwner}},
			azField{"password-too-short", "password", []string{current, pwOwner, "password", pwShort}},
			azField{"password-over-256", "password", []string{current, pwOwner, "password", pwZestyOver}},
			azField{"confirmation-differs", "password_confirmation", []string{current, pwOwner, "password", pwNew + "-long", "password_confirmation", pwOther}},
			azField{"unknown-field", "role", []string{current, pwOwner, "password", pwNew + "-long", "role", "admin"}},
			azField{"no-current-password", "current_password", []string{"password", pwNew + "-long"}},
		), negRows(
			zJSONEnc.with(azRow("current-password-wrong", http.StatusBadRequest, "", "The password you entered is incorrect"), current, pwWrong, "password", pwNew+"-long"),
			zJSONEnc.with(azRow("password-number", http.StatusUnprocessableEntity, "password", "is invalid")),
		))
	}
	// The JSON row above with no fields gets a mistyped body instead; and a wrong current password
	// counts as a failed sign-in of the account (its lockout rows), as every password check does.
	fixNumber := func(cs []negCase) []negCase {
		for i := range cs {
			if strings.HasSuffix(cs[i].name, "password-number") {
				cs[i].body = `{"current_password":"` + pwOwner + `","password":12345678901234}`
			}
		}
		return countWrongCurrent(cs)
	}
	emailFields := func() []negCase {
		return slices.Concat(azFieldCases(
			azField{"email-missing", "email", []string{"current_password", pwOwner}},
			azField{"email-invalid", "email", []string{"current_password", pwOwner, "email", "not-an-address"}},
			azField{"email-taken", "email", []string{"current_password", pwOwner, "email", "{{takenEmail}}"}},
			azField{"challenge-wrong", "password_challenge", []string{"password_challenge", pwWrong, "email", "{{newEmail}}"}},
			azField{"unknown-field", "verified", []string{"current_password", pwOwner, "email", "{{newEmail}}", "verified", "true"}},
		), negRows(zJSONEnc.with(azRow("current-password-wrong", http.StatusBadRequest, "", "The password you entered is incorrect"),
			"current_password", pwWrong, "email", "{{newEmail}}")))
	}
	emailFieldsCounted := func() []negCase { return countWrongCurrent(emailFields()) }
	emailSetup := fxSteps(fxAZUser, fxOtherUser)
	resetFields := func() []negCase {
		return slices.Concat(azFieldCases(
			azField{"password-missing", "password", []string{"token", "{{reset}}"}},
			azField{"password-too-short", "password", []string{"sid", "{{reset}}", "password", pwShort}},
			azField{"confirmation-differs", "password_confirmation", []string{"token", "{{reset}}", "password", pwNew + "-long", "password_confirmation", pwOther}},
			azField{"unknown-field", "email", []string{"token", "{{reset}}", "password", pwNew + "-long", "email", "a@example.com"}},
		), negRows(
			zJSONEnc.with(azRow("token-garbage", http.StatusBadRequest, "", "That password reset link is invalid"), "token", "garbage", "password", pwNew+"-long"),
			zJSONEnc.with(azRow("no-token", http.StatusBadRequest, "", "That password reset link is invalid"), "password", pwNew+"-long"),
			zJSONEnc.with(azRow("token-of-verification", http.StatusBadRequest, "", "That password reset link is invalid"), "token", "{{verify}}", "password", pwNew+"-long"),
		))
	}
	resetSetup := fxSteps(fxAZUser, fxAZVerified, fxAZResetRequest, fxAZVerifyMail)
	resetValid := []string{"token", "{{reset}}", "password", pwNew + "-long"}

	runNegativeTable(t, []negOp{
		{"azSignUp", azBodyOp(http.MethodPost, "/sign_up", false, fxOtherUser, []string{"email", "{{newEmail}}", "password", pwNew + "-long"},
			slices.Concat(azFieldCases(
				azField{"email-missing", "email", []string{"password", pwNew + "-long"}},
				azField{"email-invalid", "email", []string{"email", "not-an-address", "password", pwNew + "-long"}},
				azField{"email-taken", "email", []string{"email", "{{takenEmailCased}}", "password", pwNew + "-long"}},
				azField{"password-too-short", "password", []string{"email", "{{newEmail}}", "password", pwShort}},
				azField{"password-over-256", "password", []string{"email", "{{newEmail}}", "password", pwZestyOver}},
				azField{"confirmation-differs", "password_confirmation", []string{"email", "{{newEmail}}", "password", pwNew + "-long", "password_confirmation", pwOther}},
				azField{"unknown-field", "admin", []string{"email", "{{newEmail}}", "password", pwNew + "-long", "admin", "1"}},
			)))},
		{"azSignIn", azBodyOp(http.MethodPost, "/sign_in", false, fxUser, []string{"email", "{{email}}", "password", pwOwner},
			slices.Concat(azFieldCases(
				azField{"email-missing", "email", []string{"password", pwOwner}},
				azField{"password-missing", "password", []string{"email", "{{email}}"}},
				azField{"unknown-field", "remember", []string{"email", "{{email}}", "password", pwOwner, "remember", "1"}},
			), negRows(
				withWrongPassword(zJSONEnc.with(azRow("wrong-password", http.StatusUnauthorized, "", "That email or password is incorrect"), "email", "{{email}}", "password", pwWrong)),
				withWrongPassword(zFormEnc.with(azRow("unknown-address", http.StatusUnauthorized, "", "That email or password is incorrect"), "email", "nobody@example.com", "password", pwOwner)),
			)))},
		{"azListSessions", azNoBodyOp(http.MethodGet, "/sessions")},
		{"azGetSession", azNoBodyOp(http.MethodGet, "/sessions/{{sessionID}}",
			withSetup(azRow("another-users-session", http.StatusNotFound, "", "Not found"), fxSteps(fxAZUser, fxAZOtherSession)),
			withSetup(azRow("malformed-id", http.StatusNotFound, "", "Not found"), fxAZUser, "/sessions/12"),
			withSetup(azRow("id-over-64", http.StatusNotFound, "", "Not found"), fxAZUser, "/sessions/"+strings.Repeat("a", 65)),
		)},
		{"azDeleteSession", azNoBodyOp(http.MethodDelete, "/sessions/{{sessionID}}",
			withSetup(azRow("another-users-session", http.StatusNotFound, "", "Not found"), fxSteps(fxAZUser, fxAZOtherSession)),
			withSetup(azRow("ended-session-id", http.StatusNotFound, "", "Not found"), fxSteps(fxAZUser, fxAZEndedSessionID)),
		)},
		{"azUpdatePassword", azBodyOp(http.MethodPut, "/password", true, fxAZUser, []string{"current_password", pwOwner, "password", pwNew + "-long"}, fixNumber(passwordFields("current_password")))},
		{"azPatchPassword", azBodyOp(http.MethodPatch, "/password", true, fxAZUser, []string{"password_challenge", pwOwner, "password", pwNew + "-long"}, fixNumber(passwordFields("current_password")))},
		{"azUpdateEmail", azBodyOp(http.MethodPut, "/identity/email", true, emailSetup, []string{"current_password", pwOwner, "email", "{{newEmail}}"}, emailFieldsCounted())},
		{"azPatchEmail", azBodyOp(http.MethodPatch, "/identity/email", true, emailSetup, []string{"password_challenge", pwOwner, "email", "{{newEmail}}"}, emailFieldsCounted())},
		{"azSendEmailVerification", azNoBodyOp(http.MethodPost, "/identity/email_verification")},
		{"azVerifyEmail", zForOp(http.MethodGet, "/identity/email_verification", fxSteps(fxAZUser, fxAZVerifyMail), negRows(
			withPath(azRow("no-token", http.StatusBadRequest, "", "That email verification link is invalid"), "/identity/email_verification?email={{email}}"),
			withPath(azRow("garbage-token", http.StatusBadRequest, "", "That email verification link is invalid"), "/identity/email_verification?email={{email}}&token=garbage"),
			withPath(azRow("other-address", http.StatusBadRequest, "", "That email verification link is invalid"), "/identity/email_verification?email=someone%40example.com&token={{verify}}"),
			withSetup(azRow("reset-token", http.StatusBadRequest, "", "That email verification link is invalid"), resetSetup, "/identity/email_verification?sid={{resetFull}}"),
			withPath(azRow("token-over-256", http.StatusBadRequest, "", "That email verification link is invalid"), "/identity/email_verification?token="+strings.Repeat("a", 257)),
		))},
		{"azRequestPasswordReset", azBodyOp(http.MethodPost, "/identity/password_reset", false, fxUser, []string{"email", "{{email}}"},
			slices.Concat(negRows(zJSONEnc.with(azRow("email-missing", http.StatusUnprocessableEntity, "email", "can't be blank"))), azFieldCases(
				azField{"email-invalid", "email", []string{"email", "nope"}},
				azField{"unknown-field", "redirect", []string{"email", "{{email}}", "redirect", "https://evil.example"}},
			), negRows(
				zJSONEnc.with(azRow("unknown-address", http.StatusBadRequest, "", "You can't reset your password until you verify your email"), "email", "nobody@example.com"),
				zFormEnc.with(azRow("unverified-address", http.StatusBadRequest, "", "You can't reset your password until you verify your email"), "email", "{{email}}"),
				withOpts(zJSONEnc.with(negCase{name: "conceal-unknown-address", wantStatus: http.StatusNoContent, wantNoWrites: true}, "email", "nobody@example.com"), concealErrors),
				withOpts(zJSONEnc.with(negCase{name: "conceal-unverified-address", setup: fxUnverifiedUser, wantStatus: http.StatusNoContent, wantNoWrites: true}, "email", "{{email}}"), concealErrors),
			)))},
		{"azResetPassword", azBodyOp(http.MethodPut, "/identity/password_reset", false, resetSetup, resetValid, resetFields())},
		{"azPatchPasswordReset", azBodyOp(http.MethodPatch, "/identity/password_reset", false, resetSetup, resetValid, resetFields())},
		{"azEditPasswordReset", zForOp(http.MethodGet, "/identity/password_reset/edit", resetSetup, negRows(
			azRow("nothing", http.StatusBadRequest, "", "That password reset link is invalid"),
			withPath(azRow("sid-over-256", http.StatusBadRequest, "", "That password reset link is invalid"), "/identity/password_reset/edit?sid="+strings.Repeat("a", 257)),
			withPath(azRow("garbage", http.StatusBadRequest, "", "That password reset link is invalid"), "/identity/password_reset/edit?sid=garbage"),
			withPath(azRow("verification-token", http.StatusBadRequest, "", "That password reset link is invalid"), "/identity/password_reset/edit?sid={{verify}}"),
			withSetup(azRow("spent", http.StatusBadRequest, "", "That password reset link is invalid"), fxSteps(resetSetup, fxAZResetSpend), "/identity/password_reset/edit?sid={{reset}}"),
		))},
	})
}

func withWrongPassword(c negCase) negCase { c.except = negWrongPassword; return c }

// countWrongCurrent lets the rows whose current password (or challenge) is wrong write the
// account's lockout rows: the failure counts toward its lock, as a failed sign-in does.
func countWrongCurrent(cs []negCase) []negCase {
	for i := range cs {
		if strings.HasSuffix(cs[i].name, "current-password-wrong") || strings.HasSuffix(cs[i].name, "challenge-wrong") {
			cs[i].except = append(slices.Clone(cs[i].except), "lockouts")
		}
	}
	return cs
}

func withSetup(c negCase, setup negSetup, path ...string) negCase {
	c.setup = setup
	if len(path) > 0 {
		c.path = path[0]
	}
	return c
}

func withPath(c negCase, path string) negCase { c.path = path; return c }

func withOpts(c negCase, o ...func(*server.Config)) negCase { c.opts = o; return c }

// azPost sends a JSON body with the fixture's {{az}} token (when auth) and wants 204.
func azPost(t *testing.T, h *servertest.Harness, f *negFixture, path string, auth bool, kv ...string) {
	t.Helper()
	hdr := negHeaders("Content-Type", "application/json")
	body := wmeJSON(kv...)
	if auth {
		hdr["Authorization"] = "Bearer " + f.get(t, "az")
	}
	if len(kv) == 0 {
		delete(hdr, "Content-Type")
		body = ""
	}
	if status, resp := h.Do(t, http.MethodPost, path, hdr, body); status != http.StatusNoContent {
		t.Fatalf("POST %s: %d %s", path, status, resp)
	}
}

// fxAZVerifyMail mails {{email}} a verification link: {{verify}}, its token.
func fxAZVerifyMail(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	azPost(t, h, f, "/identity/email_verification", true)
	u, err := url.Parse(h.Mail.Next(t, f.get(t, "email")).Link(t, "/identity/email_verification"))
	if err != nil {
		t.Fatal(err)
	}
	f.set("verify", u.Query().Get("token"), true)
}

// fxAZVerified verifies {{email}} through a mailed link.
func fxAZVerified(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	fxAZVerifyMail(t, h, f)
	if status, body := h.Do(t, http.MethodGet, "/identity/email_verification?sid="+url.QueryEscape(f.get(t, "verify")), nil, ""); status != http.StatusNoContent {
		t.Fatalf("verify: %d %s", status, body)
	}
}

// fxAZResetRequest asks for a reset link for {{email}}: {{resetFull}}, its sid, and {{reset}},
// the same without its prefix.
func fxAZResetRequest(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	azPost(t, h, f, "/identity/password_reset", false, "email", f.get(t, "email"))
	u, err := url.Parse(h.Mail.Next(t, f.get(t, "email")).Link(t, "/identity/password_reset/edit"))
	if err != nil {
		t.Fatal(err)
	}
	full := u.Query().Get("sid")
	f.set("resetFull", full, true)
	f.set("reset", strings.TrimPrefix(full, "passwordReset:"), true)
}

// fxAZResetSpend spends {{reset}}.
func fxAZResetSpend(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	status, body := h.Do(t, http.MethodPut, "/identity/password_reset", negHeaders("Content-Type", "application/json"),
		wmeJSON("sid", f.get(t, "reset"), "password", pwNew+"-long"))
	if status != http.StatusOK {
		t.Fatalf("reset: %d %s", status, body)
	}
}

// fxAZOtherSession signs {{takenEmail}} up and in through Authentication Zero: {{sessionID}} is
// now that other user's session.
func fxAZOtherSession(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	fxOtherUser(t, h, f)
	s, tok := azSignIn(t, h, f.get(t, "takenEmail"), pwOther)
	f.set("otherAZ", tok, true)
	f.set("sessionID", s["id"].(string), false)
}

// fxAZEndedSessionID opens a second session of {{email}} and destroys it: {{sessionID}} is the
// ended one.
func fxAZEndedSessionID(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	s, _ := azSignIn(t, h, f.get(t, "email"), pwOwner)
	id := s["id"].(string)
	if status, body := h.Do(t, http.MethodDelete, "/sessions/"+id, negBearer(f.get(t, "az")), ""); status != http.StatusNoContent {
		t.Fatalf("destroy: %d %s", status, body)
	}
	f.set("sessionID", id, false)
}
