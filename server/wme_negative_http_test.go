package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// The negative scenarios of the Wikimedia Enterprise dialect. They run on the machinery of
// TestNhostNegative (negCase, fixtures, runNegativeCase, the leak watch); what differs is the
// error body: every WME error is {message, status}, checked by each row's errBody.

// wmeAnyError is the wantCode of WME rows: it only says that an error is wanted (WME bodies carry
// no code); errBody checks the body.
const wmeAnyError gen.ErrorResponseError = "wme-error"

// The messages of errors_wme.go a client sees.
const (
	wmeMsgInvalid     = "Invalid request" // followed by ": " and the fields when there are some
	wmeMsgMediaType   = "The request body must be JSON"
	wmeMsgTooLarge    = "The request body is too large"
	wmeMsgCredentials = "Incorrect username or password"
	wmeMsgAccess      = "Invalid or expired access token"
	wmeMsgRefresh     = "Invalid or expired refresh token"
	wmeMsgTicket      = "Invalid or expired code or session"
	wmeMsgDisabled    = "User is disabled"
	wmeMsgTooShort    = "Password does not conform to policy: too short"
)

// wmeMsgByStatus is the message of the generic answers the shared row builders make.
var wmeMsgByStatus = map[int]string{
	http.StatusMethodNotAllowed:      "Method not allowed",
	http.StatusBadRequest:            wmeMsgInvalid,
	http.StatusRequestEntityTooLarge: wmeMsgTooLarge,
	http.StatusUnsupportedMediaType:  wmeMsgMediaType,
}

// More distinctive passwords (see pwOwner).
var (
	pwWMEOver    = "L0ng~" + strings.Repeat("w", 252) // one over WmePassword's maxLength of 256
	pwWMEChosen  = "Chosen-pass-4471"
	wmeNameOver  = strings.Repeat("u", 255) // one over WmeUsername's maxLength of 254
	wmeGuessSess = "wme-challenge-guess-2b7c9e1f"
)

// TestWMENegative runs the negative scenarios of every WME operation, as TestNhostNegative does
// for Nhost's: the rows of one operation that share a configuration share one server and run in
// order, each with accounts of its own.
func TestWMENegative(t *testing.T) {
	runNegativeTable(t, []negOp{
		{"wmeLogin", wmeLoginNegative()},
		{"wmeNewPasswordRequired", wmeNewPasswordRequiredNegative()},
		{"wmeTokenRefresh", wmeTokenRefreshNegative()},
		{"wmeTokenRevoke", wmeTokenRevokeNegative()},
		{"wmeForgotPassword", wmeForgotPasswordNegative()},
		{"wmeForgotPasswordConfirm", wmeForgotPasswordConfirmNegative()},
		{"wmeChangePassword", wmeChangePasswordNegative()},
	})
}

// --- the WME error body

// wmeErrorBody checks a WME error: a JSON object with exactly "message" (a non-empty string) and
// "status" (the HTTP status); when msg is set, the message is msg, or msg followed by ": " and
// details.
func wmeErrorBody(msg string) func(t *testing.T, status int, body []byte) {
	return func(t *testing.T, status int, body []byte) {
		t.Helper()
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
			t.Errorf("not a WME error (a JSON object): %v: %.300s", err, body)
			return
		}
		if keys := slices.Sorted(maps.Keys(fields)); !slices.Equal(keys, []string{"message", "status"}) {
			t.Errorf("WME error has members %q, want exactly [message status]: %.300s", keys, body)
		}
		var message string
		if err := json.Unmarshal(fields["message"], &message); err != nil || message == "" {
			t.Errorf("WME error message is not a non-empty string: %.300s", body)
		}
		var st int
		if err := json.Unmarshal(fields["status"], &st); err != nil || st != status {
			t.Errorf("WME error status is %s, want the HTTP status %d: %.300s", fields["status"], status, body)
		}
		if msg != "" && message != msg && !strings.HasPrefix(message, msg+": ") {
			t.Errorf("WME error message = %q, want %q", message, msg)
		}
	}
}

// wmeRow is a refused WME request: its status and message, nothing written.
func wmeRow(name string, status int, msg string) negCase {
	return negCase{name: name, wantStatus: status, wantCode: wmeAnyError, wantNoWrites: true, errBody: wmeErrorBody(msg)}
}

// wmeInvalid is a request the contract rejects: 400, nothing written.
func wmeInvalid(name, body string) negCase {
	c := wmeRow(name, http.StatusBadRequest, wmeMsgInvalid)
	c.body = body
	return c
}

// wmeShaped turns the shared builders' error rows (negBodyShapeCases, negMediaCases) into WME
// rows: same requests and statuses, WME bodies.
func wmeShaped(cs []negCase) []negCase {
	out := slices.Clone(cs)
	for i := range out {
		if out[i].wantCode == "" {
			continue
		}
		msg, ok := wmeMsgByStatus[out[i].wantStatus]
		if !ok {
			panic(fmt.Sprintf("wmeShaped: no WME message for status %d (%s)", out[i].wantStatus, out[i].name))
		}
		out[i].wantCode, out[i].errBody = wmeAnyError, wmeErrorBody(msg)
	}
	return out
}

// wmeMethodCases: a method a WME path does not take is 405 in the path's dialect, WME's.
func wmeMethodCases(path string) []negCase {
	return wmeShaped(negMethodCases(path, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete))
}

// wmeJSON is a JSON object of string members, in the order given.
func wmeJSON(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv[i])
		v, _ := json.Marshal(kv[i+1])
		b.Write(k)
		b.WriteByte(':')
		// Placeholders go in unescaped; json.Marshal leaves {{…}} alone anyway.
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// --- setups

// wmePost posts a JSON body to a WME path, fails unless the answer is want, and returns the body.
func wmePost(t *testing.T, h *servertest.Harness, path, body string, want int) []byte {
	t.Helper()
	status, resp := h.Do(t, http.MethodPost, path, negHeaders("Content-Type", "application/json"), body)
	if status != want {
		t.Fatalf("POST %s: %d %s, want %d", path, status, resp, want)
	}
	return resp
}

type wmeNegTokens struct {
	ChallengeName string `json:"challenge_name"`
	Session       string `json:"session"`
	IDToken       string `json:"id_token"`
	AccessToken   string `json:"access_token"`
	RefreshToken  string `json:"refresh_token"`
	ExpiresIn     int    `json:"expires_in"`
}

func wmeLoginAs(t *testing.T, h *servertest.Harness, username, password string) wmeNegTokens {
	t.Helper()
	var tok wmeNegTokens
	if err := json.Unmarshal(wmePost(t, h, "/v1/login", wmeJSON("username", username, "password", password), http.StatusOK), &tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

// fxWMEUser makes {{email}} (fxUser: a Nhost sign-up, whose tokens become {{nhostAccess}} and
// {{nhostRefresh}}) a WME account with the username {{username}} (the address's local part;
// {{usernameCased}} is it upper-cased).
func fxWMEUser(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	fxUser(t, h, f)
	f.set("nhostAccess", f.get(t, "access"), true)
	f.set("nhostRefresh", f.get(t, "refresh"), true)
	name, _, _ := strings.Cut(f.get(t, "email"), "@")
	if err := h.Store.SetUsername(context.Background(), uuid.MustParse(f.get(t, "userID")), name); err != nil {
		t.Fatal(err)
	}
	f.set("username", name, false)
	f.set("usernameCased", strings.ToUpper(name), false)
}

// fxWMELogin logs {{username}} in through WME: {{access}}, {{refresh}}, {{idToken}}.
func fxWMELogin(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	tok := wmeLoginAs(t, h, f.get(t, "username"), pwOwner)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" {
		t.Fatalf("WME login: %+v", tok)
	}
	f.set("access", tok.AccessToken, true)
	f.set("refresh", tok.RefreshToken, true)
	f.set("idToken", tok.IDToken, true)
}

// fxWMEOther makes {{takenEmail}} a WME account, {{takenUsername}}, logged in through WME:
// {{otherAccess}}, {{otherRefresh}}.
func fxWMEOther(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	f.secrets = append(f.secrets, pwOther)
	s := signUp(t, h, f.get(t, "takenEmail"), pwOther)
	name, _, _ := strings.Cut(f.get(t, "takenEmail"), "@")
	if err := h.Store.SetUsername(context.Background(), uuid.MustParse(s.User.Id), name); err != nil {
		t.Fatal(err)
	}
	f.set("takenUsername", name, false)
	tok := wmeLoginAs(t, h, name, pwOther)
	f.set("otherAccess", tok.AccessToken, true)
	f.set("otherRefresh", tok.RefreshToken, true)
}

// fxWMEChallenge flags {{username}} to choose a new password and logs in: {{session}}.
func fxWMEChallenge(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	if err := h.Store.SetNewPasswordRequired(context.Background(), uuid.MustParse(f.get(t, "userID")), true); err != nil {
		t.Fatal(err)
	}
	tok := wmeLoginAs(t, h, f.get(t, "username"), pwOwner)
	if tok.ChallengeName != "NEW_PASSWORD_REQUIRED" || tok.Session == "" || tok.AccessToken != "" {
		t.Fatalf("login of a flagged user: %+v", tok)
	}
	f.set("session", tok.Session, true)
}

// fxWMEAnswerChallenge answers {{session}}, spending it.
func fxWMEAnswerChallenge(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	wmePost(t, h, "/v1/new-password-required",
		wmeJSON("session", f.get(t, "session"), "username", f.get(t, "username"), "new_password", pwWMEChosen), http.StatusOK)
}

// fxWMERevoke revokes {{refresh}} and so its session.
func fxWMERevoke(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	wmePost(t, h, "/v1/token-revoke", wmeJSON("refresh_token", f.get(t, "refresh")), http.StatusOK)
}

// fxWMEForgot asks for a confirmation code for {{username}} and reads the mail: {{code}} (and
// {{ticket}}, the mail's link, secret as well).
func fxWMEForgot(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	wmePost(t, h, "/v1/forgot-password", wmeJSON("username", f.get(t, "username")), http.StatusOK)
	m := h.Mail.Next(t, f.get(t, "email"))
	link, err := url.Parse(m.Link(t, "/v1/verify"))
	if err != nil {
		t.Fatal(err)
	}
	f.set("ticket", link.Query().Get("ticket"), true)
	f.set("code", m.Code(t, 8), true)
}

// fxWMEOtherForgot asks for a confirmation code for {{takenUsername}}: {{otherCode}}.
func fxWMEOtherForgot(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	wmePost(t, h, "/v1/forgot-password", wmeJSON("username", f.get(t, "takenUsername")), http.StatusOK)
	f.set("otherCode", h.Mail.Next(t, f.get(t, "takenEmail")).Code(t, 8), true)
}

func wmeConfirmBody(username, password, code string) string {
	return wmeJSON("username", username, "password", password, "confirmation_code", code)
}

// fxWMEUseCode spends {{code}}.
func fxWMEUseCode(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	wmePost(t, h, "/v1/forgot-password-confirm", wmeConfirmBody(f.get(t, "username"), pwWMEChosen, f.get(t, "code")), http.StatusOK)
}

// fxWMECodeOutOfTries spends every try of {{code}} on wrong guesses.
func fxWMECodeOutOfTries(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	for range server.DefaultConfig().CodeMaxAttempts {
		wmePost(t, h, "/v1/forgot-password-confirm", wmeConfirmBody(f.get(t, "username"), pwWMEChosen, negWrongCode), http.StatusUnauthorized)
	}
}

// fxWMEMailCount records how many mails {{email}} got so far: {{mails}}.
func fxWMEMailCount(t *testing.T, h *servertest.Harness, f *negFixture) {
	f.set("mails", strconv.Itoa(h.Mail.Count(f.get(t, "email"))), false)
}

// --- checks

// checkWMERefreshWorks asserts that {{refresh}} still refreshes: the rejected request neither
// spent it nor ended its session.
func checkWMERefreshWorks(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	t.Helper()
	status, body := h.Do(t, http.MethodPost, "/v1/token-refresh", negHeaders("Content-Type", "application/json"),
		wmeJSON("username", f.get(t, "username"), "refresh_token", f.get(t, "refresh")))
	if status != http.StatusOK {
		t.Errorf("refresh after a rejected request: %d %s, want 200", status, body)
	}
}

// checkWMELoginWith asserts that {{username}} still logs in with password: the rejected request
// did not change it.
func checkWMELoginWith(password string) func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
		t.Helper()
		status, body := h.Do(t, http.MethodPost, "/v1/login", negHeaders("Content-Type", "application/json"),
			wmeJSON("username", f.get(t, "username"), "password", password))
		var tok wmeNegTokens
		if status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
			t.Errorf("login with the unchanged password after a rejected request: %d %s", status, body)
		}
	}
}

// checkWMECodeWorks asserts that {{code}} still sets a password: the rejected request did not spend it.
func checkWMECodeWorks(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	t.Helper()
	status, body := h.Do(t, http.MethodPost, "/v1/forgot-password-confirm", negHeaders("Content-Type", "application/json"),
		wmeConfirmBody(f.get(t, "username"), pwWMEChosen, f.get(t, "code")))
	if status != http.StatusOK {
		t.Errorf("the mailed code no longer works after a rejected request: %d %s", status, body)
	}
}

// checkWMEOtherCodeWorks asserts that {{otherCode}}, mailed to {{takenUsername}}, still works.
func checkWMEOtherCodeWorks(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	t.Helper()
	status, body := h.Do(t, http.MethodPost, "/v1/forgot-password-confirm", negHeaders("Content-Type", "application/json"),
		wmeConfirmBody(f.get(t, "takenUsername"), pwWMEChosen, f.get(t, "otherCode")))
	if status != http.StatusOK {
		t.Errorf("the other account's mailed code no longer works after a rejected request: %d %s", status, body)
	}
}

// checkWMEChallengeWorks asserts that {{session}} can still be answered: the rejected request did
// not spend it.
func checkWMEChallengeWorks(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	t.Helper()
	status, body := h.Do(t, http.MethodPost, "/v1/new-password-required", negHeaders("Content-Type", "application/json"),
		wmeJSON("session", f.get(t, "session"), "username", f.get(t, "username"), "new_password", pwWMEChosen))
	var tok wmeNegTokens
	if status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Errorf("the challenge no longer works after a rejected request: %d %s", status, body)
	}
}

// checkNhostRefreshWorks asserts that {{nhostRefresh}} (a rotating token) was not spent.
func checkNhostRefreshWorks(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	t.Helper()
	r, err := refresh(t, h, f.get(t, "nhostRefresh"))
	if err != nil {
		t.Fatal(err)
	}
	if r.JSON200 == nil {
		t.Errorf("the Nhost refresh token no longer works after a rejected WME refresh: %d %s", r.StatusCode(), r.Body)
	}
}

// checkWMEMessage asserts WME's answer without data: {"message": msg, "status": 200}.
func checkWMEMessage(msg string) func(t *testing.T, _ *servertest.Harness, _ *negFixture, body []byte) {
	return func(t *testing.T, _ *servertest.Harness, _ *negFixture, body []byte) {
		t.Helper()
		var m gen.WmeMessage
		if err := json.Unmarshal(body, &m); err != nil || m.Message != msg || m.Status != gen.WmeMessageStatusN200 {
			t.Errorf("body = %s, want {\"message\":%q,\"status\":200}", body, msg)
		}
	}
}

// checkWMETokens asserts a log-in's tokens.
func checkWMETokens(t *testing.T, _ *servertest.Harness, _ *negFixture, body []byte) {
	t.Helper()
	var tok wmeNegTokens
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || tok.IDToken == "" {
		t.Errorf("want tokens, got %s", body)
	}
}

// checkNoNewMail asserts that {{email}} got no mail beyond the {{mails}} it had.
func checkNoNewMail(t *testing.T, h *servertest.Harness, f *negFixture, body []byte) {
	t.Helper()
	checkWMEMessage("If the account exists, a confirmation code is on its way")(t, h, f, body)
	if n := strconv.Itoa(h.Mail.Count(f.get(t, "email"))); n != f.get(t, "mails") {
		t.Errorf("%s got %s mails, had %s before the request", f.get(t, "email"), n, f.get(t, "mails"))
	}
}

func checkSteps(fns ...func(t *testing.T, h *servertest.Harness, f *negFixture, body []byte)) func(t *testing.T, h *servertest.Harness, f *negFixture, body []byte) {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, body []byte) {
		t.Helper()
		for _, fn := range fns {
			fn(t, h, f, body)
		}
	}
}

// --- per operation

func wmeLoginNegative() []negCase {
	const path = "/v1/login"
	body := func(username, password string) string { return wmeJSON("username", username, "password", password) }
	valid := body("{{username}}", pwOwner)
	audit := []string{"audit_events"} // a failed log-in is audited, and writes nothing else
	failed := func(name string, setup negSetup, b string) negCase {
		c := wmeRow(name, http.StatusUnauthorized, wmeMsgCredentials)
		c.setup, c.body, c.except = setup, b, audit
		return c
	}
	wrongPassword := func(name string, setup negSetup, b string) negCase {
		c := failed(name, setup, b)
		c.except = negWrongPassword
		return c
	}
	// A wrong password and an unknown user must be indistinguishable, byte for byte.
	wrong := wrongPassword("wrong-password", nil, body("{{username}}", pwWrong))
	wrong.check = func(t *testing.T, h *servertest.Harness, _ *negFixture, b []byte) {
		t.Helper()
		_, other := h.Do(t, http.MethodPost, path, negHeaders("Content-Type", "application/json"), body("nobody", pwWrong))
		if !bytes.Equal(b, other) {
			t.Errorf("wrong password and unknown user answer differently:\n%s\n%s", b, other)
		}
	}
	disabledSetup := fxSteps(fxWMEUser, fxDisableUser)
	disabled := wmeRow("disabled-user", http.StatusForbidden, wmeMsgDisabled)
	disabled.setup, disabled.body = disabledSetup, valid
	disabledByAddress := wmeRow("disabled-user-by-address", http.StatusForbidden, wmeMsgDisabled)
	disabledByAddress.setup, disabledByAddress.body = disabledSetup, body("{{emailCased}}", pwOwner)
	// Account state is told only to whoever knows the password.
	disabledWrong := wrongPassword("disabled-user-wrong-password", disabledSetup, body("{{username}}", pwWrong))
	// Concealed, the right password of a disabled account is answered, and counted toward a lock,
	// as a wrong one.
	concealDisabled := wmeRow("conceal-disabled-user", http.StatusUnauthorized, wmeMsgCredentials)
	concealDisabled.setup, concealDisabled.body, concealDisabled.opts, concealDisabled.except = disabledSetup, valid, negOpts(concealErrors), negWrongPassword
	concealWrong := wrongPassword("conceal-wrong-password", nil, body("{{username}}", pwWrong))
	concealWrong.opts = negOpts(concealErrors)
	concealUnknown := wrongPassword("conceal-unknown-user", nil, body("nobody", pwWrong))
	concealUnknown.opts = negOpts(concealErrors)
	// A flagged user with a wrong password gets no challenge.
	flaggedWrong := wrongPassword("new-password-required-wrong-password", fxSteps(fxWMEUser, fxWMEChallenge), body("{{username}}", pwWrong))
	// Another user's password does not open this account, and the other account is untouched.
	othersPassword := wrongPassword("another-users-password", fxSteps(fxWMEUser, fxWMEOther), body("{{username}}", pwOther))
	unknownSibling := negRow("unknown-sibling-path", http.StatusNotFound, gen.ErrorResponseErrorInvalidRequest)
	unknownSibling.method, unknownSibling.path, unknownSibling.body = http.MethodPost, "/v1/logins", valid
	// nhost-style clients may attach a stale bearer; WME takes none and ignores it.
	garbageBearer := negCase{name: "garbage-bearer-ignored", headers: negBearer("not-a-jwt"), body: valid,
		wantStatus: http.StatusOK, check: checkWMETokens}

	return negForOp(http.MethodPost, path, fxWMEUser,
		wmeShaped(negBodyShapeCases(true)),
		wmeShaped(negMediaCases(valid)),
		wmeMethodCases(path),
		negRows(
			wmeInvalid("empty-object", `{}`),
			wmeInvalid("missing-username", wmeJSON("password", pwOwner)),
			wmeInvalid("missing-password", wmeJSON("username", "{{username}}")),
			wmeInvalid("username-number", `{"username":42,"password":"`+pwOwner+`"}`),
			wmeInvalid("username-null", `{"username":null,"password":"`+pwOwner+`"}`),
			wmeInvalid("username-array", `{"username":["{{username}}"],"password":"`+pwOwner+`"}`),
			wmeInvalid("password-number", `{"username":"{{username}}","password":123456789}`),
			wmeInvalid("password-object", `{"username":"{{username}}","password":{"value":"`+pwOwner+`"}}`),
			wmeInvalid("password-null", `{"username":"{{username}}","password":null}`),
			wmeInvalid("username-empty", body("", pwOwner)),
			wmeInvalid("password-empty", body("{{username}}", "")),
			wmeInvalid("username-over-maximum", body(wmeNameOver, pwOwner)),
			wmeInvalid("password-over-maximum", body("{{username}}", pwWMEOver)),
			wmeInvalid("unknown-field", `{"username":"{{username}}","password":"`+pwOwner+`","remember":true}`),
			wmeInvalid("field-names-case-folded", `{"Username":"{{username}}","Password":"`+pwOwner+`"}`),
			wmeInvalid("email-instead-of-username", `{"email":"{{email}}","password":"`+pwOwner+`"}`),
			wrong,
			wrongPassword("unknown-user", nil, body("nobody", pwOwner)),
			wrongPassword("unknown-address", nil, body("nobody@example.com", pwOwner)),
			wrongPassword("wrong-password-username-other-case", nil, body("{{usernameCased}}", pwWrong)),
			wrongPassword("wrong-password-by-address", nil, body("{{emailCased}}", pwWrong)),
			// The server's minimum length is a rule for new passwords: at log-in a short one is just wrong.
			wrongPassword("short-password-is-just-wrong", nil, body("{{username}}", pwUnderPolicy)),
			othersPassword, flaggedWrong,
			disabled, disabledByAddress, disabledWrong,
			concealDisabled, concealWrong, concealUnknown,
			unknownSibling, garbageBearer,
		))
}

func wmeNewPasswordRequiredNegative() []negCase {
	const path = "/v1/new-password-required"
	body := func(session, username, password string) string {
		return wmeJSON("session", session, "username", username, "new_password", password)
	}
	valid := body("{{session}}", "{{username}}", pwNew)
	refused := func(name string, setup negSetup, b string) negCase {
		c := wmeRow(name, http.StatusUnauthorized, wmeMsgTicket)
		c.setup, c.body = setup, b
		return c
	}
	// A wrong username is refused without spending the challenge.
	wrongUser := refused("wrong-username", nil, body("{{session}}", "nobody", pwNew))
	wrongUser.check = checkWMEChallengeWorks
	otherUser := refused("another-users-username", fxSteps(fxWMEUser, fxWMEOther, fxWMEChallenge), body("{{session}}", "{{takenUsername}}", pwNew))
	otherUser.check = checkWMEChallengeWorks
	tooShort := wmeRow("new-password-under-server-minimum", http.StatusBadRequest, wmeMsgTooShort)
	tooShort.body, tooShort.check = body("{{session}}", "{{username}}", pwUnderPolicy), checkWMEChallengeWorks
	disabledSetup := fxSteps(fxWMEUser, fxWMEChallenge, fxDisableUser)
	disabled := wmeRow("disabled-user", http.StatusForbidden, wmeMsgDisabled)
	disabled.setup, disabled.body = disabledSetup, valid
	concealDisabled := wmeRow("conceal-disabled-user", http.StatusUnauthorized, wmeMsgTicket)
	concealDisabled.setup, concealDisabled.body, concealDisabled.opts = disabledSetup, valid, negOpts(concealErrors)
	// The username may be given as the address, in any case, as at log-in.
	byAddress := negCase{name: "address-as-username-accepted", body: body("{{session}}", "{{emailCased}}", pwNew),
		wantStatus: http.StatusOK, check: checkWMETokens}
	cased := negCase{name: "username-other-case-accepted", body: body("{{session}}", "{{usernameCased}}", pwNew),
		wantStatus: http.StatusOK, check: checkWMETokens}

	return negForOp(http.MethodPost, path, fxSteps(fxWMEUser, fxWMEChallenge),
		wmeShaped(negBodyShapeCases(true)),
		wmeShaped(negMediaCases(valid)),
		wmeMethodCases(path),
		negRows(
			wmeInvalid("empty-object", `{}`),
			wmeInvalid("missing-session", wmeJSON("username", "{{username}}", "new_password", pwNew)),
			wmeInvalid("missing-username", wmeJSON("session", "{{session}}", "new_password", pwNew)),
			wmeInvalid("missing-new-password", wmeJSON("session", "{{session}}", "username", "{{username}}")),
			wmeInvalid("session-number", `{"session":42,"username":"{{username}}","new_password":"`+pwNew+`"}`),
			wmeInvalid("session-null", `{"session":null,"username":"{{username}}","new_password":"`+pwNew+`"}`),
			wmeInvalid("new-password-number", `{"session":"{{session}}","username":"{{username}}","new_password":123456789}`),
			wmeInvalid("session-empty", body("", "{{username}}", pwNew)),
			wmeInvalid("username-empty", body("{{session}}", "", pwNew)),
			wmeInvalid("new-password-empty", body("{{session}}", "{{username}}", "")),
			wmeInvalid("session-over-maximum", body(strings.Repeat("s", 129), "{{username}}", pwNew)),
			wmeInvalid("username-over-maximum", body("{{session}}", wmeNameOver, pwNew)),
			wmeInvalid("new-password-over-maximum", body("{{session}}", "{{username}}", pwWMEOver)),
			wmeInvalid("unknown-field", `{"session":"{{session}}","username":"{{username}}","new_password":"`+pwNew+`","password":"`+pwOwner+`"}`),
			wmeInvalid("password-instead-of-new-password", wmeJSON("session", "{{session}}", "username", "{{username}}", "password", pwNew)),
			wmeInvalid("camel-case-new-password", wmeJSON("session", "{{session}}", "username", "{{username}}", "newPassword", pwNew)),
			refused("unknown-session", fxWMEUser, body(wmeGuessSess, "{{username}}", pwNew)),
			refused("used-session", fxSteps(fxWMEUser, fxWMEChallenge, fxWMEAnswerChallenge), valid),
			refused("expired-session", fxSteps(fxWMEUser, fxWMEChallenge, fxAdvance(server.DefaultConfig().NewPasswordChallengeTTL+time.Second)), valid),
			refused("refresh-token-as-session", fxSteps(fxWMEUser, fxWMELogin), body("{{refresh}}", "{{username}}", pwNew)),
			refused("unknown-username-unknown-session", fxWMEUser, body(wmeGuessSess, "nobody", pwNew)),
			wrongUser, otherUser,
			tooShort,
			disabled, concealDisabled,
			byAddress, cased,
		))
}

func wmeTokenRefreshNegative() []negCase {
	const path = "/v1/token-refresh"
	body := func(username, token string) string { return wmeJSON("username", username, "refresh_token", token) }
	valid := body("{{username}}", "{{refresh}}")
	refused := func(name string, setup negSetup, b string) negCase {
		c := wmeRow(name, http.StatusUnauthorized, wmeMsgRefresh)
		c.setup, c.body = setup, b
		return c
	}
	// A token naming another user is refused, and neither spent nor ended.
	otherUser := refused("token-of-another-user", fxSteps(fxWMEUser, fxWMELogin, fxWMEOther), body("{{takenUsername}}", "{{refresh}}"))
	otherUser.check = checkWMERefreshWorks
	unknownUser := refused("naming-unknown-user", nil, body("nobody", "{{refresh}}"))
	unknownUser.check = checkWMERefreshWorks
	// A Nhost (rotating) refresh token is not a WME one, and the attempt does not spend it.
	nhost := refused("rotating-nhost-token", nil, body("{{username}}", "{{nhostRefresh}}"))
	nhost.check = checkNhostRefreshWorks
	disabledSetup := fxSteps(fxWMEUser, fxWMELogin, fxDisableUser)
	disabled := wmeRow("disabled-user", http.StatusForbidden, wmeMsgDisabled)
	disabled.setup, disabled.body = disabledSetup, valid
	concealDisabled := wmeRow("conceal-disabled-user", http.StatusUnauthorized, wmeMsgRefresh)
	concealDisabled.setup, concealDisabled.body, concealDisabled.opts = disabledSetup, valid, negOpts(concealErrors)
	concealUnknown := refused("conceal-unknown-token", nil, body("{{username}}", uuid.NewString()))
	concealUnknown.opts = negOpts(concealErrors)
	// The username may be given in any case, or as the address.
	cased := negCase{name: "username-other-case-accepted", body: body("{{usernameCased}}", "{{refresh}}"),
		wantStatus: http.StatusOK, check: checkWMETokens}
	byAddress := negCase{name: "address-as-username-accepted", body: body("{{emailCased}}", "{{refresh}}"),
		wantStatus: http.StatusOK, check: checkWMETokens}

	return negForOp(http.MethodPost, path, fxSteps(fxWMEUser, fxWMELogin),
		wmeShaped(negBodyShapeCases(true)),
		wmeShaped(negMediaCases(valid)),
		wmeMethodCases(path),
		negRows(
			wmeInvalid("empty-object", `{}`),
			wmeInvalid("missing-username", wmeJSON("refresh_token", "{{refresh}}")),
			wmeInvalid("missing-refresh-token", wmeJSON("username", "{{username}}")),
			wmeInvalid("refresh-token-number", `{"username":"{{username}}","refresh_token":42}`),
			wmeInvalid("refresh-token-null", `{"username":"{{username}}","refresh_token":null}`),
			wmeInvalid("refresh-token-object", `{"username":"{{username}}","refresh_token":{"id":"{{refresh}}"}}`),
			wmeInvalid("username-number", `{"username":7,"refresh_token":"{{refresh}}"}`),
			wmeInvalid("refresh-token-empty", body("{{username}}", "")),
			wmeInvalid("username-empty", body("", "{{refresh}}")),
			wmeInvalid("refresh-token-over-maximum", body("{{username}}", strings.Repeat("r", 129))),
			wmeInvalid("username-over-maximum", body(wmeNameOver, "{{refresh}}")),
			wmeInvalid("unknown-field", `{"username":"{{username}}","refresh_token":"{{refresh}}","all":true}`),
			wmeInvalid("camel-case-refresh-token", wmeJSON("username", "{{username}}", "refreshToken", "{{refresh}}")),
			refused("unknown-token", nil, body("{{username}}", uuid.NewString())),
			refused("garbage-token", nil, body("{{username}}", "not-a-refresh-token")),
			refused("revoked-token", fxSteps(fxWMEUser, fxWMELogin, fxWMERevoke), valid),
			refused("expired-token", fxSteps(fxWMEUser, fxWMELogin, fxAdvance(server.DefaultConfig().WMERefreshTokenTTL+time.Minute)), valid),
			refused("session-ended-by-nhost-sign-out", fxSteps(fxWMEUser, fxWMELogin, func(t *testing.T, h *servertest.Harness, f *negFixture) {
				t.Helper()
				// Nhost's sign-out of every session of the user, with a WME access token as the bearer.
				status, resp := h.Do(t, http.MethodPost, "/v1/signout", negHeaders("Content-Type", "application/json",
					"Authorization", "Bearer "+f.get(t, "access")), `{"all":true}`)
				if status != http.StatusOK {
					t.Fatalf("sign out everywhere: %d %s", status, resp)
				}
			}), valid),
			otherUser, unknownUser, nhost,
			disabled, concealDisabled, concealUnknown,
			cased, byAddress,
		))
}

func wmeTokenRevokeNegative() []negCase {
	const path = "/v1/token-revoke"
	body := func(token string) string { return wmeJSON("refresh_token", token) }
	valid := body("{{refresh}}")
	// As in RFC 7009, a token that is not a live one gets the answer a revoked one gets, and
	// nothing changes.
	ok := func(name string, setup negSetup, b string) negCase {
		return negCase{name: name, setup: setup, body: b, wantStatus: http.StatusOK, wantNoWrites: true,
			check: checkSteps(checkWMEMessage("Token revoked"), checkWMERefreshWorks)}
	}
	again := ok("already-revoked", fxSteps(fxWMEUser, fxWMELogin, fxWMERevoke), valid)
	again.check = checkWMEMessage("Token revoked")

	return negForOp(http.MethodPost, path, fxSteps(fxWMEUser, fxWMELogin),
		wmeShaped(negBodyShapeCases(true)),
		wmeShaped(negMediaCases(valid)),
		wmeMethodCases(path),
		negRows(
			wmeInvalid("empty-object", `{}`),
			wmeInvalid("refresh-token-number", `{"refresh_token":42}`),
			wmeInvalid("refresh-token-null", `{"refresh_token":null}`),
			wmeInvalid("refresh-token-array", `{"refresh_token":["{{refresh}}"]}`),
			wmeInvalid("refresh-token-empty", body("")),
			wmeInvalid("refresh-token-over-maximum", body(strings.Repeat("r", 129))),
			wmeInvalid("unknown-field", wmeJSON("refresh_token", "{{refresh}}", "username", "{{username}}")),
			wmeInvalid("camel-case-refresh-token", wmeJSON("refreshToken", "{{refresh}}")),
			ok("unknown-token", nil, body(uuid.NewString())),
			ok("garbage-token", nil, body("not-a-refresh-token")),
			ok("access-token-prefix", nil, body("eyJhbGciOiJFUzI1NiJ9")),
			again,
		))
}

func wmeForgotPasswordNegative() []negCase {
	const path = "/v1/forgot-password"
	body := func(username string) string { return wmeJSON("username", username) }
	valid := body("{{username}}")
	// The answer for an account that gets no mail is the answer for one that does, and nothing
	// is written or sent.
	quiet := func(name string, setup negSetup, b string) negCase {
		return negCase{name: name, setup: fxSteps(setup, fxWMEMailCount), body: b, wantStatus: http.StatusOK,
			wantNoWrites: true, check: checkNoNewMail}
	}
	disabledSetup := fxSteps(fxWMEUser, fxDisableUser)
	concealUnknown := quiet("conceal-unknown-user", fxWMEUser, body("nobody"))
	concealUnknown.opts = negOpts(concealErrors)
	concealDisabled := quiet("conceal-disabled-user", disabledSetup, valid)
	concealDisabled.opts = negOpts(concealErrors)

	return negForOp(http.MethodPost, path, fxWMEUser,
		wmeShaped(negBodyShapeCases(true)),
		wmeShaped(negMediaCases(valid)),
		wmeMethodCases(path),
		negRows(
			wmeInvalid("empty-object", `{}`),
			wmeInvalid("username-number", `{"username":42}`),
			wmeInvalid("username-null", `{"username":null}`),
			wmeInvalid("username-array", `{"username":["{{username}}"]}`),
			wmeInvalid("username-empty", body("")),
			wmeInvalid("username-over-maximum", body(wmeNameOver)),
			wmeInvalid("unknown-field", wmeJSON("username", "{{username}}", "password", pwNew)),
			wmeInvalid("email-instead-of-username", wmeJSON("email", "{{email}}")),
			quiet("unknown-user", fxWMEUser, body("nobody")),
			quiet("unknown-address", fxWMEUser, body("nobody@example.com")),
			quiet("disabled-user", disabledSetup, valid),
			quiet("disabled-user-by-address", disabledSetup, body("{{emailCased}}")),
			concealUnknown, concealDisabled,
		))
}

func wmeForgotPasswordConfirmNegative() []negCase {
	const path = "/v1/forgot-password-confirm"
	valid := wmeConfirmBody("{{username}}", pwNew, "{{code}}")
	// A failed code is audited and counted against the name's guess cap (lockouts). Every try at
	// a pending code is charged to that code before it is compared (tickets), even when the code
	// is right and the user then refused.
	audit, tried := negCodeGuess, negCodeTried
	failed := func(name string, setup negSetup, b string) negCase {
		c := wmeRow(name, http.StatusUnauthorized, wmeMsgTicket)
		c.setup, c.body, c.except = setup, b, audit
		return c
	}
	// A wrong guess costs a try, not the code.
	wrong := failed("wrong-code", nil, wmeConfirmBody("{{username}}", pwNew, negWrongCode))
	wrong.check, wrong.except = checkWMECodeWorks, tried
	wrongCased := failed("wrong-code-username-other-case", nil, wmeConfirmBody("{{usernameCased}}", pwNew, negWrongCode))
	wrongCased.check, wrongCased.except = checkWMECodeWorks, tried
	// {{code}} went to {{username}}; another account does not take it, though a code of its own
	// is pending (so that only the code can be wrong: with none, any code is refused).
	otherUser := failed("code-for-another-user", fxSteps(fxWMEUser, fxWMEOther, fxWMEOtherForgot, fxWMEForgot), wmeConfirmBody("{{takenUsername}}", pwNew, "{{code}}"))
	otherUser.check, otherUser.except = checkSteps(checkWMECodeWorks, checkWMEOtherCodeWorks), tried
	// Another account's code does not work for this one.
	othersCode := failed("code-of-another-user", fxSteps(fxWMEUser, fxWMEOther, fxWMEForgot, fxWMEOtherForgot), wmeConfirmBody("{{username}}", pwNew, "{{otherCode}}"))
	othersCode.check, othersCode.except = checkWMECodeWorks, tried
	// A password under the server's minimum is refused before the code is looked at: the code
	// is neither spent nor charged a try.
	tooShort := wmeRow("password-under-server-minimum", http.StatusBadRequest, wmeMsgTooShort)
	tooShort.body, tooShort.check = wmeConfirmBody("{{username}}", pwUnderPolicy, "{{code}}"), checkSteps(checkWMECodeWorks, checkWMELoginWith(pwWMEChosen))
	// The code of a user disabled after it was mailed: the right code says so, and stays unspent
	// (the refusal rolls back).
	disabledSetup := fxSteps(fxWMEUser, fxWMEForgot, fxDisableUser)
	disabled := wmeRow("disabled-user", http.StatusForbidden, wmeMsgDisabled)
	disabled.setup, disabled.body, disabled.except = disabledSetup, valid, []string{"tickets", "lockouts"}
	concealDisabled := wmeRow("conceal-disabled-user", http.StatusUnauthorized, wmeMsgTicket)
	concealDisabled.setup, concealDisabled.body, concealDisabled.opts, concealDisabled.except = disabledSetup, valid, negOpts(concealErrors), []string{"tickets", "lockouts"}
	concealWrong := failed("conceal-wrong-code", nil, wmeConfirmBody("{{username}}", pwNew, negWrongCode))
	concealWrong.opts, concealWrong.except = negOpts(concealErrors), tried
	concealUnknown := failed("conceal-unknown-user", nil, wmeConfirmBody("nobody", pwNew, negWrongCode))
	concealUnknown.opts = negOpts(concealErrors)

	return negForOp(http.MethodPost, path, fxSteps(fxWMEUser, fxWMEForgot),
		wmeShaped(negBodyShapeCases(true)),
		wmeShaped(negMediaCases(valid)),
		wmeMethodCases(path),
		negRows(
			wmeInvalid("empty-object", `{}`),
			wmeInvalid("missing-username", wmeJSON("password", pwNew, "confirmation_code", "{{code}}")),
			wmeInvalid("missing-password", wmeJSON("username", "{{username}}", "confirmation_code", "{{code}}")),
			wmeInvalid("missing-confirmation-code", wmeJSON("username", "{{username}}", "password", pwNew)),
			wmeInvalid("confirmation-code-number", `{"username":"{{username}}","password":"`+pwNew+`","confirmation_code":`+negWrongCode[1:]+`}`),
			wmeInvalid("confirmation-code-null", `{"username":"{{username}}","password":"`+pwNew+`","confirmation_code":null}`),
			wmeInvalid("password-number", `{"username":"{{username}}","password":123456789,"confirmation_code":"{{code}}"}`),
			wmeInvalid("confirmation-code-empty", wmeConfirmBody("{{username}}", pwNew, "")),
			wmeInvalid("password-empty", wmeConfirmBody("{{username}}", "", "{{code}}")),
			wmeInvalid("username-empty", wmeConfirmBody("", pwNew, "{{code}}")),
			wmeInvalid("confirmation-code-over-maximum", wmeConfirmBody("{{username}}", pwNew, strings.Repeat("8", 33))),
			wmeInvalid("password-over-maximum", wmeConfirmBody("{{username}}", pwWMEOver, "{{code}}")),
			wmeInvalid("username-over-maximum", wmeConfirmBody(wmeNameOver, pwNew, "{{code}}")),
			wmeInvalid("unknown-field", `{"username":"{{username}}","password":"`+pwNew+`","confirmation_code":"{{code}}","type":"passwordReset"}`),
			wmeInvalid("code-instead-of-confirmation-code", wmeJSON("username", "{{username}}", "password", pwNew, "code", "{{code}}")),
			wmeInvalid("camel-case-confirmation-code", wmeJSON("username", "{{username}}", "password", pwNew, "confirmationCode", "{{code}}")),
			wrong, wrongCased,
			failed("unknown-user", nil, wmeConfirmBody("nobody", pwNew, negWrongCode)),
			failed("unknown-address", nil, wmeConfirmBody("nobody@example.com", pwNew, "{{code}}")),
			failed("no-code-pending", fxWMEUser, wmeConfirmBody("{{username}}", pwNew, negWrongCode)),
			failed("code-used", fxSteps(fxWMEUser, fxWMEForgot, fxWMEUseCode), valid),
			failed("code-expired", fxSteps(fxWMEUser, fxWMEForgot, fxAdvance(server.DefaultConfig().TicketTTL+time.Minute)), valid),
			failed("code-out-of-tries", fxSteps(fxWMEUser, fxWMEForgot, fxWMECodeOutOfTries), valid),
			otherUser, othersCode,
			tooShort,
			disabled, concealDisabled,
			concealWrong, concealUnknown,
		))
}

func wmeChangePasswordNegative() []negCase {
	const path = "/v1/change-password"
	body := func(access, previous, proposed string) string {
		return wmeJSON("access_token", access, "previous_password", previous, "proposed_password", proposed)
	}
	valid := body("{{access}}", pwOwner, pwNew)
	unauth := func(name string, setup negSetup, access string) negCase {
		c := wmeRow(name, http.StatusUnauthorized, wmeMsgAccess)
		c.setup, c.body = setup, body(access, pwOwner, pwNew)
		return c
	}
	forged := fxSteps(fxWMEUser, fxWMELogin, fxForgedTokens)
	// A wrong previous password changes nothing (no password, no session, not even an audit row)
	// but the account's lockout rows, where it counts as a failed sign-in: a password check is one
	// wherever it happens.
	wrongPrevious := wmeRow("wrong-previous-password", http.StatusUnauthorized, wmeMsgCredentials)
	wrongPrevious.body, wrongPrevious.except = body("{{access}}", pwWrong, pwNew), []string{"lockouts"}
	wrongPrevious.check = checkSteps(checkWMERefreshWorks, checkWMELoginWith(pwOwner))
	othersPrevious := wmeRow("another-users-password-as-previous", http.StatusUnauthorized, wmeMsgCredentials)
	othersPrevious.setup, othersPrevious.body = fxSteps(fxWMEUser, fxWMELogin, fxWMEOther), body("{{access}}", pwOther, pwNew)
	othersPrevious.except = []string{"lockouts"}
	othersToken := wmeRow("another-users-token-with-own-password", http.StatusUnauthorized, wmeMsgCredentials)
	othersToken.setup, othersToken.body = fxSteps(fxWMEUser, fxWMELogin, fxWMEOther), body("{{otherAccess}}", pwOwner, pwNew)
	othersToken.check, othersToken.except = checkWMELoginWith(pwOwner), []string{"lockouts"}
	tooShort := wmeRow("proposed-password-under-server-minimum", http.StatusBadRequest, wmeMsgTooShort)
	tooShort.body = body("{{access}}", pwOwner, pwUnderPolicy)
	tooShort.check = checkSteps(checkWMERefreshWorks, checkWMELoginWith(pwOwner))
	disabledSetup := fxSteps(fxWMEUser, fxWMELogin, fxDisableUser)
	disabled := wmeRow("disabled-user", http.StatusForbidden, wmeMsgDisabled)
	disabled.setup, disabled.body = disabledSetup, valid
	concealDisabled := wmeRow("conceal-disabled-user", http.StatusUnauthorized, wmeMsgAccess)
	concealDisabled.setup, concealDisabled.body, concealDisabled.opts = disabledSetup, valid, negOpts(concealErrors)
	// The id token names the user and the session and is signed by the same key, but it is not
	// an access token.
	idToken := unauth("id-token-as-access-token", nil, "{{idToken}}")
	idToken.check = checkWMELoginWith(pwOwner)

	return negForOp(http.MethodPost, path, fxSteps(fxWMEUser, fxWMELogin),
		wmeShaped(negBodyShapeCases(true)),
		wmeShaped(negMediaCases(valid)),
		wmeMethodCases(path),
		negRows(
			wmeInvalid("empty-object", `{}`),
			wmeInvalid("missing-access-token", wmeJSON("previous_password", pwOwner, "proposed_password", pwNew)),
			wmeInvalid("missing-previous-password", wmeJSON("access_token", "{{access}}", "proposed_password", pwNew)),
			wmeInvalid("missing-proposed-password", wmeJSON("access_token", "{{access}}", "previous_password", pwOwner)),
			wmeInvalid("access-token-number", `{"access_token":42,"previous_password":"`+pwOwner+`","proposed_password":"`+pwNew+`"}`),
			wmeInvalid("access-token-null", `{"access_token":null,"previous_password":"`+pwOwner+`","proposed_password":"`+pwNew+`"}`),
			wmeInvalid("proposed-password-object", `{"access_token":"{{access}}","previous_password":"`+pwOwner+`","proposed_password":{"v":"`+pwNew+`"}}`),
			wmeInvalid("access-token-empty", body("", pwOwner, pwNew)),
			wmeInvalid("previous-password-empty", body("{{access}}", "", pwNew)),
			wmeInvalid("proposed-password-empty", body("{{access}}", pwOwner, "")),
			wmeInvalid("access-token-over-maximum", body(strings.Repeat("a", 4097), pwOwner, pwNew)),
			wmeInvalid("previous-password-over-maximum", body("{{access}}", pwWMEOver, pwNew)),
			wmeInvalid("proposed-password-over-maximum", body("{{access}}", pwOwner, pwWMEOver)),
			wmeInvalid("unknown-field", `{"access_token":"{{access}}","previous_password":"`+pwOwner+`","proposed_password":"`+pwNew+`","username":"{{username}}"}`),
			wmeInvalid("new-password-instead-of-proposed", wmeJSON("access_token", "{{access}}", "previous_password", pwOwner, "new_password", pwNew)),
			wmeInvalid("camel-case-access-token", wmeJSON("accessToken", "{{access}}", "previous_password", pwOwner, "proposed_password", pwNew)),
			unauth("garbage-access-token", nil, "not-a-jwt"),
			unauth("refresh-token-as-access-token", nil, "{{refresh}}"),
			unauth("expired-access-token", fxSteps(fxWMEUser, fxWMELogin, fxAdvance(server.DefaultConfig().WMEAccessTokenTTL+time.Minute)), "{{access}}"),
			unauth("revoked-session", fxSteps(fxWMEUser, fxWMELogin, fxWMERevoke), "{{access}}"),
			unauth("tampered-payload", forged, "{{tampered}}"),
			unauth("foreign-key", forged, "{{foreign}}"),
			unauth("alg-none", forged, "{{none}}"),
			idToken,
			wrongPrevious, othersPrevious, othersToken,
			tooShort,
			disabled, concealDisabled,
		))
}
