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

// The negative scenarios of the Zesty Auth dialect (the root paths /login, /verify, /logout,
// /password/request and /password/reset). They run on the machinery of TestNhostNegative
// (negCase, fixtures, runNegativeCase, the leak watch); what differs is the error body: every
// Zesty error is {code, message, error?}, checked by each row's errBody.

// zestyAnyError is the wantCode of Zesty rows: it only says that an error is wanted (the Nhost
// code does not apply); errBody checks the body.
const zestyAnyError gen.ErrorResponseError = "zesty-error"

// zErr is a Zesty error answer: its status, its message (errors_zesty.go) and its reason (the
// envelope's "error").
type zErr struct {
	status int
	msg    string // followed by ": " and the fields for invalid requests that name some
	reason string
}

var (
	zInvalid     = zErr{http.StatusBadRequest, "Invalid request", "invalid-request"}
	zMediaType   = zErr{http.StatusUnsupportedMediaType, "The body must be JSON or a form", "unsupported-media-type"}
	zTooLarge    = zErr{http.StatusRequestEntityTooLarge, "The request body is too large", "payload-too-large"}
	zMethod      = zErr{http.StatusMethodNotAllowed, "Method not allowed", "method-not-allowed"}
	zSession     = zErr{http.StatusUnauthorized, "Invalid or expired session token", "unauthenticated"}
	zCredentials = zErr{http.StatusUnauthorized, "Invalid email or password", "invalid-credentials"}
	zTicket      = zErr{http.StatusBadRequest, "Invalid or expired reset token", "invalid-ticket"}
	zDisabled    = zErr{http.StatusForbidden, "User is disabled", "disabled-user"}
	zUnverified  = zErr{http.StatusForbidden, "User is not verified", "unverified-user"}
	zTooShort    = zErr{http.StatusBadRequest, "Password is too short", "password-too-short"}
)

// zErrByStatus is the answer of the generic rows the shared builders make.
var zErrByStatus = map[int]zErr{
	http.StatusBadRequest:            zInvalid,
	http.StatusRequestEntityTooLarge: zTooLarge,
	http.StatusUnsupportedMediaType:  zMediaType,
	http.StatusMethodNotAllowed:      zMethod,
}

// The messages of Zesty's answers without data.
const (
	zMsgLoggedOut = "Logged out"
	zMsgRequested = "If the account exists, a reset token is on its way"
	zMsgReset     = "Password changed"
)

var (
	pwZestyOver   = "L0ng~" + strings.Repeat("z", 252) // one over ZestyLoginRequest's maxLength of 256
	pwZestyChosen = "Zesty-chosen-7719"
	zEmailOver    = strings.Repeat("a", 243) + "@example.com" // 255 bytes: one over validateEmail's 254
)

// TestZestyNegative runs the negative scenarios of every Zesty operation, as TestNhostNegative
// does for Nhost's: the rows of one operation that share a configuration share one server and
// run in order, each with accounts of its own.
func TestZestyNegative(t *testing.T) {
	runNegativeTable(t, []negOp{
		{"zestyLogin", zestyLoginNegative()},
		{"zestyVerify", zestyVerifyNegative()},
		{"zestyLogout", zestyLogoutNegative()},
		{"zestyPasswordRequest", zestyPasswordRequestNegative()},
		{"zestyPasswordReset", zestyPasswordResetNegative()},
		{"zestySessionTokenElsewhere", zestyTokenElsewhereNegative()},
	})
}

// --- the Zesty error body

// zestyErrorBody checks a Zesty error: a JSON object with "code" (the HTTP status), "message" (a
// non-empty string) and optionally "error" (a string), and nothing else; the message is want's,
// or want's followed by ": " and details, and the error, when there, is want's reason.
func zestyErrorBody(want zErr) func(t *testing.T, status int, body []byte) {
	return func(t *testing.T, status int, body []byte) {
		t.Helper()
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
			t.Errorf("not a Zesty error (a JSON object): %v: %.300s", err, body)
			return
		}
		for k := range fields {
			if k != "code" && k != "message" && k != "error" {
				t.Errorf("Zesty error has member %q; want only code, message and error: %.300s", k, body)
			}
		}
		var code int
		if raw, ok := fields["code"]; !ok || json.Unmarshal(raw, &code) != nil || code != status {
			t.Errorf("Zesty error code is %s, want the HTTP status %d: %.300s", fields["code"], status, body)
		}
		var message string
		if err := json.Unmarshal(fields["message"], &message); err != nil || message == "" {
			t.Errorf("Zesty error message is not a non-empty string: %.300s", body)
		}
		if want.msg != "" && message != want.msg && !strings.HasPrefix(message, want.msg+": ") {
			t.Errorf("Zesty error message = %q, want %q", message, want.msg)
		}
		if raw, ok := fields["error"]; ok {
			var reason string
			if err := json.Unmarshal(raw, &reason); err != nil {
				t.Errorf("Zesty error \"error\" is not a string: %.300s", body)
			} else if want.reason != "" && reason != want.reason {
				t.Errorf("Zesty error reason = %q, want %q", reason, want.reason)
			}
		}
	}
}

// zRow is a refused Zesty request: its answer, nothing written.
func zRow(name string, e zErr) negCase {
	return negCase{name: name, wantStatus: e.status, wantCode: zestyAnyError, wantNoWrites: true, errBody: zestyErrorBody(e)}
}

// zestyShaped turns the shared builders' error rows into Zesty rows: same requests and
// statuses, Zesty bodies.
func zestyShaped(cs []negCase) []negCase {
	out := slices.Clone(cs)
	for i := range out {
		if out[i].wantCode == "" {
			continue
		}
		e, ok := zErrByStatus[out[i].wantStatus]
		if !ok {
			panic(fmt.Sprintf("zestyShaped: no Zesty answer for status %d (%s)", out[i].wantStatus, out[i].name))
		}
		out[i].wantCode, out[i].errBody = zestyAnyError, zestyErrorBody(e)
	}
	return out
}

// zestyWrongMethods are the methods each operation's path does not take.
var zestyWrongMethods = map[string][]string{
	"zestyLogin":           {http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete},
	"zestyVerify":          {http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
	"zestyLogout":          {http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch},
	"zestyPasswordRequest": {http.MethodGet, http.MethodPut, http.MethodDelete},
	"zestyPasswordReset":   {http.MethodGet, http.MethodPut, http.MethodDelete},
}

// zMethodCases: another method on a Zesty path is 405 with a Zesty body, nothing written.
func zMethodCases(op, path string) []negCase {
	var out []negCase
	for _, m := range zestyWrongMethods[op] {
		c := zRow("method-"+strings.ToLower(m), zMethod)
		c.method, c.path = m, path
		out = append(out, c)
	}
	return out
}

// --- bodies in the three encodings

// zBoundary is the multipart boundary of every multipart row.
const zBoundary = "zestyNegBoundary7MA4YWxkTrZu0gW"

// zEnc is a body encoding a Zesty operation takes.
type zEnc struct {
	name  string
	ctype string
	body  func(kv ...string) string
}

var (
	zJSONEnc  = zEnc{"json", "application/json", wmeJSON}
	zFormEnc  = zEnc{"form", "application/x-www-form-urlencoded", zForm}
	zMultiEnc = zEnc{"multipart", "multipart/form-data; boundary=" + zBoundary, zMultipart}
)

// with gives c a body of the named fields in this encoding, its content type and a name prefixed
// with the encoding.
func (e zEnc) with(c negCase, kv ...string) negCase {
	c.name = e.name + "-" + c.name
	c.body = e.body(kv...)
	h := maps.Clone(c.headers)
	if h == nil {
		h = map[string]string{}
	}
	h["Content-Type"] = e.ctype
	c.headers = h
	return c
}

// zForm is an url-encoded form of the fields in order. Values holding {{placeholders}} go in as
// they are: the fixtures' addresses, tokens and tickets are safe in a form unescaped.
func zForm(kv ...string) string {
	esc := func(s string) string {
		if strings.Contains(s, "{{") {
			return s
		}
		return url.QueryEscape(s)
	}
	parts := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, esc(kv[i])+"="+esc(kv[i+1]))
	}
	return strings.Join(parts, "&")
}

// zMultipart is a multipart/form-data body of the fields in order, with zBoundary.
func zMultipart(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString("--" + zBoundary + "\r\nContent-Disposition: form-data; name=\"" + kv[i] + "\"\r\n\r\n" + kv[i+1] + "\r\n")
	}
	b.WriteString("--" + zBoundary + "--\r\n")
	return b.String()
}

// zMediaCases are the wrong media types and the oversized bodies (in every encoding the
// operation takes, chunked too) of an operation; kv is a valid body's fields.
func zMediaCases(encs []zEnc, kv ...string) []negCase {
	valid := wmeJSON(kv...)
	wrong := func(name, ctype string) negCase {
		c := zRow(name, zMediaType)
		c.body, c.headers = valid, negHeaders("Content-Type", ctype)
		return c
	}
	out := []negCase{
		wrong("content-type-text-plain", "text/plain"),
		wrong("content-type-xml", "application/xml"),
		wrong("content-type-octet-stream", "application/octet-stream"),
		wrong("content-type-not-a-media-type", "json please"),
		wrong("content-type-missing", ""),
	}
	if !slices.ContainsFunc(encs, func(e zEnc) bool { return e.name == zMultiEnc.name }) {
		out = append(out, wrong("content-type-multipart", zMultiEnc.ctype))
	}
	pad := strings.Repeat("a", negBigPad)
	for _, e := range encs {
		big := slices.Clone(kv)
		if e.name == zMultiEnc.name {
			// A declared field, so the decoder reads it (an undeclared part is refused unread).
			big[len(big)-1] += pad
		} else {
			big = append(big, "pad", pad)
		}
		c := e.with(zRow("body-over-64KiB", zTooLarge), big...)
		chunked := c
		chunked.name, chunked.chunked = c.name+"-chunked", true
		out = append(out, c, chunked)
	}
	return out
}

// zShapeCases are the malformed bodies of every encoding the operation takes.
func zShapeCases(encs []zEnc) []negCase {
	out := zestyShaped(negBodyShapeCases(true))
	raw := func(e zEnc, name, ctype, body string) negCase {
		c := zRow(e.name+"-"+name, zInvalid)
		c.body, c.headers = body, negHeaders("Content-Type", ctype)
		return c
	}
	for _, e := range encs {
		switch e.name {
		case zFormEnc.name:
			out = append(out,
				raw(e, "empty-body", e.ctype, ""),
				raw(e, "bad-escape", e.ctype, "email=%zz&password=%"),
			)
		case zMultiEnc.name:
			other := strings.ReplaceAll(zMultipart("email", "a@example.com", "password", pwOwner), zBoundary, "someOtherBoundary42")
			out = append(out,
				raw(e, "empty-body", e.ctype, ""),
				raw(e, "no-parts", e.ctype, "--"+zBoundary+"--\r\n"),
				raw(e, "wrong-boundary", e.ctype, other),
				raw(e, "no-boundary-parameter", "multipart/form-data", zMultipart("email", "a@example.com", "password", pwOwner)),
				raw(e, "unterminated", e.ctype, strings.TrimSuffix(zMultipart("email", "a@example.com", "password", pwOwner), "--"+zBoundary+"--\r\n")),
				raw(e, "json-body", e.ctype, wmeJSON("email", "a@example.com", "password", pwOwner)),
			)
		}
	}
	return out
}

// zForOp fills every row's method, path and setup as negForOp does, and has every row declare
// the test's passwords secret, so the leak watch looks for them in forms and multipart bodies too.
func zForOp(method, path string, setup negSetup, cases ...[]negCase) []negCase {
	out := negForOp(method, path, setup, cases...)
	for i := range out {
		s := out[i].setup
		out[i].setup = func(t *testing.T, h *servertest.Harness, f *negFixture) {
			t.Helper()
			f.secrets = append(f.secrets, pwOwner, pwOther, pwWrong, pwNew, pwUnderPolicy, pwZestyOver, pwZestyChosen)
			if s != nil {
				s(t, h, f)
			}
		}
	}
	return out
}

// --- setups

// zestyDo sends a body in an encoding and returns the status and body.
func zestyDo(t *testing.T, h *servertest.Harness, method, path string, e zEnc, kv ...string) (int, []byte) {
	t.Helper()
	return h.Do(t, method, path, negHeaders("Content-Type", e.ctype), e.body(kv...))
}

type zestyLoginAnswer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
	Meta    struct {
		Token string `json:"token"`
	} `json:"meta"`
}

// zestyLoginAs logs in through Zesty (JSON) and returns the session token.
func zestyLoginAs(t *testing.T, h *servertest.Harness, email, password string) string {
	t.Helper()
	status, body := zestyDo(t, h, http.MethodPost, "/login", zJSONEnc, "email", email, "password", password)
	var a zestyLoginAnswer
	if status != http.StatusOK || json.Unmarshal(body, &a) != nil || a.Data == "" || a.Meta.Token != a.Data {
		t.Fatalf("Zesty login of %s: %d %s", email, status, body)
	}
	return a.Data
}

// fxZestyLogin logs {{email}} in through Zesty: {{zesty}}, the session token, and
// {{zestyUpper}}, the same upper-cased.
func fxZestyLogin(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	tok := zestyLoginAs(t, h, f.get(t, "email"), pwOwner)
	f.set("zesty", tok, true)
	f.set("zestyUpper", strings.ToUpper(tok), true)
}

// fxZestyUser signs {{email}} up (fxUser: {{access}}, {{refresh}}, {{userID}}, also kept as
// {{nhostAccess}} and {{nhostRefresh}}) and logs it in through Zesty: {{zesty}}.
func fxZestyUser(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	fxUser(t, h, f)
	f.set("nhostAccess", f.get(t, "access"), true)
	f.set("nhostRefresh", f.get(t, "refresh"), true)
	fxZestyLogin(t, h, f)
}

// fxZestyTruncated: {{zestyTruncated}} is {{zesty}} without its last character.
func fxZestyTruncated(t *testing.T, _ *servertest.Harness, f *negFixture) {
	t.Helper()
	tok := f.get(t, "zesty")
	f.set("zestyTruncated", tok[:len(tok)-1], true)
}

// fxZestyLogout logs {{zesty}} out.
func fxZestyLogout(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	status, body := h.Do(t, http.MethodDelete, "/logout", negHeaders("Authorization", f.get(t, "zesty")), "")
	if status != http.StatusOK {
		t.Fatalf("Zesty logout: %d %s", status, body)
	}
}

// fxZestyVerify uses {{zesty}} once (sliding its expiry).
func fxZestyVerify(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	if status, body := h.Do(t, http.MethodGet, "/verify", negHeaders("Authorization", f.get(t, "zesty")), ""); status != http.StatusOK {
		t.Fatalf("Zesty verify: %d %s", status, body)
	}
}

// fxZestyRequest asks for a reset token for {{email}} and reads the mail: {{resetFull}}, the
// link's ticket, and {{reset}}, the same without its "passwordReset:" prefix.
func fxZestyRequest(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	email := f.get(t, "email")
	if status, body := zestyDo(t, h, http.MethodPost, "/password/request", zJSONEnc, "email", email); status != http.StatusOK {
		t.Fatalf("Zesty password request: %d %s", status, body)
	}
	link, err := url.Parse(h.Mail.Next(t, email).Link(t, "/v1/verify"))
	if err != nil {
		t.Fatal(err)
	}
	ticket := link.Query().Get("ticket")
	bare, ok := strings.CutPrefix(ticket, "passwordReset:")
	if !ok {
		t.Fatalf("reset mail's ticket %q is not a password-reset ticket", ticket)
	}
	f.set("resetFull", ticket, true)
	f.set("reset", bare, true)
}

// fxZestyReset spends {{reset}}, setting the password to pwZestyChosen.
func fxZestyReset(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	status, body := zestyDo(t, h, http.MethodPost, "/password/reset", zJSONEnc, "token", f.get(t, "reset"), "password", pwZestyChosen)
	if status != http.StatusOK {
		t.Fatalf("Zesty password reset: %d %s", status, body)
	}
}

// fxNhostSignOutAll ends every session of the user through Nhost, with {{nhostAccess}}.
func fxNhostSignOutAll(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	status, body := h.Do(t, http.MethodPost, "/v1/signout", negHeaders("Content-Type", "application/json",
		"Authorization", "Bearer "+f.get(t, "nhostAccess")), `{"all":true}`)
	if status != http.StatusOK {
		t.Fatalf("Nhost sign out everywhere: %d %s", status, body)
	}
}

// fxSecret declares literal values the row sends secret.
func fxSecret(values ...string) negSetup {
	return func(_ *testing.T, _ *servertest.Harness, f *negFixture) {
		f.secrets = append(f.secrets, values...)
	}
}

// fxEnableUser enables the fixture's user again.
func fxEnableUser(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	if err := h.Store.SetUserDisabled(context.Background(), uuid.MustParse(f.get(t, "userID")), false); err != nil {
		t.Fatal(err)
	}
}

// --- checks

type negCheck = func(t *testing.T, h *servertest.Harness, f *negFixture, body []byte)

// checkZestyVerifies asserts that the session token {{name}} still authenticates as {{email}}.
func checkZestyVerifies(name string) negCheck {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
		t.Helper()
		status, body := h.Do(t, http.MethodGet, "/verify", negHeaders("Authorization", "Bearer "+f.get(t, name)), "")
		var v gen.ZestyVerifyResponse
		if status != http.StatusOK || json.Unmarshal(body, &v) != nil || !strings.EqualFold(string(v.Data.Email), f.get(t, "email")) {
			t.Errorf("session token {{%s}} after the request: %d %s, want it to verify as %s", name, status, body, f.get(t, "email"))
		}
	}
}

// checkZestyRefused asserts that the session token {{name}} no longer authenticates.
func checkZestyRefused(name string) negCheck {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
		t.Helper()
		status, body := h.Do(t, http.MethodGet, "/verify", negHeaders("Authorization", f.get(t, name)), "")
		if status != http.StatusUnauthorized {
			t.Errorf("session token {{%s}} after the request: %d %s, want 401", name, status, body)
		}
	}
}

// checkZestyVerified asserts a verify answer naming {{email}}.
func checkZestyVerified(t *testing.T, _ *servertest.Harness, f *negFixture, body []byte) {
	t.Helper()
	var v gen.ZestyVerifyResponse
	if err := json.Unmarshal(body, &v); err != nil || v.Code != 200 || v.Message == "" || v.Data.ZUID == "" ||
		!strings.EqualFold(string(v.Data.Email), f.get(t, "email")) {
		t.Errorf("want a verify answer naming %s, got %s", f.get(t, "email"), body)
	}
}

// checkZestyLoggedIn asserts a log-in answer with its token twice.
func checkZestyLoggedIn(t *testing.T, _ *servertest.Harness, _ *negFixture, body []byte) {
	t.Helper()
	var a zestyLoginAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.Code != 200 || a.Data == "" || a.Meta.Token != a.Data {
		t.Errorf("want a log-in answer with a session token, got %s", body)
	}
}

// checkZestyMessage asserts Zesty's answer without data: exactly {"code":200,"message":msg}.
func checkZestyMessage(msg string) negCheck {
	return func(t *testing.T, _ *servertest.Harness, _ *negFixture, body []byte) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil || len(m) != 2 || m["code"] != float64(200) || m["message"] != msg {
			t.Errorf("body = %s, want {\"code\":200,\"message\":%q}", body, msg)
		}
	}
}

// checkZestyLoginWith asserts that {{email}} logs in with password.
func checkZestyLoginWith(password string) negCheck {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
		t.Helper()
		status, body := zestyDo(t, h, http.MethodPost, "/login", zJSONEnc, "email", f.get(t, "email"), "password", password)
		if status != http.StatusOK {
			t.Errorf("log-in of %s with the expected password after the request: %d %s", f.get(t, "email"), status, body)
		}
	}
}

// checkZestyResetWorks asserts that {{reset}} still sets a password: the rejected request did
// not spend it.
func checkZestyResetWorks(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	t.Helper()
	status, body := zestyDo(t, h, http.MethodPost, "/password/reset", zJSONEnc, "token", f.get(t, "reset"), "password", pwZestyChosen)
	if status != http.StatusOK {
		t.Errorf("the mailed reset token no longer works after a rejected request: %d %s", status, body)
		return
	}
	checkZestyLoginWith(pwZestyChosen)(t, h, f, nil)
}

// checkZestyNoMail asserts the quiet answer of a reset request and that {{email}} got no mail
// beyond the {{mails}} it had.
func checkZestyNoMail(t *testing.T, h *servertest.Harness, f *negFixture, body []byte) {
	t.Helper()
	checkZestyMessage(zMsgRequested)(t, h, f, body)
	if n := strconv.Itoa(h.Mail.Count(f.get(t, "email"))); n != f.get(t, "mails") {
		t.Errorf("%s got %s mails, had %s before the request", f.get(t, "email"), n, f.get(t, "mails"))
	}
}

// checkZestyMailed asserts that {{email}} gets a reset mail.
func checkZestyMailed(t *testing.T, h *servertest.Harness, f *negFixture, body []byte) {
	t.Helper()
	checkZestyMessage(zMsgRequested)(t, h, f, body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.Mail.Wait(ctx, f.get(t, "email")); err != nil {
		t.Errorf("no reset mail to %s: %v", f.get(t, "email"), err)
	}
}

// checkSameAnswer asserts that the answer is byte for byte the one another request gets (its
// headers and body may hold {{placeholders}}).
func checkSameAnswer(what, method, path string, headers map[string]string, body string) negCheck {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, got []byte) {
		t.Helper()
		pairs := make([]string, 0, 2*len(f.vars))
		for k, v := range f.vars {
			pairs = append(pairs, k, v)
		}
		r := strings.NewReplacer(pairs...)
		hs := map[string]string{}
		for k, v := range headers {
			hs[k] = r.Replace(v)
		}
		_, other := h.Do(t, method, path, hs, r.Replace(body))
		if !bytes.Equal(got, other) {
			t.Errorf("the answer differs from the one %s gets:\n%s\n%s", what, got, other)
		}
	}
}

// --- per operation

func zestyLoginNegative() []negCase {
	const path = "/login"
	audit := []string{"audit_events"} // a failed log-in is audited, and writes nothing else
	encs := []zEnc{zJSONEnc, zFormEnc, zMultiEnc}
	var perEnc []negCase
	for _, e := range encs {
		inv := func(name string, kv ...string) negCase { return e.with(zRow(name, zInvalid), kv...) }
		failed := func(name string, setup negSetup, kv ...string) negCase {
			c := zRow(name, zCredentials)
			c.setup, c.except = setup, audit
			return e.with(c, kv...)
		}
		wrongPassword := func(name string, setup negSetup, kv ...string) negCase {
			c := failed(name, setup, kv...)
			c.except = negWrongPassword
			return c
		}
		unknown := func(email string) (map[string]string, string) {
			return negHeaders("Content-Type", e.ctype), e.body("email", email, "password", pwWrong)
		}
		// A wrong password and an unknown address must be indistinguishable, byte for byte.
		wrong := wrongPassword("wrong-password", nil, "email", "{{email}}", "password", pwWrong)
		hs, b := unknown("nobody@example.com")
		wrong.check = checkSameAnswer("an unknown address", http.MethodPost, path, hs, b)
		disabled := e.with(zRow("disabled-user", zDisabled), "email", "{{email}}", "password", pwOwner)
		disabled.setup = fxSteps(fxUser, fxDisableUser)
		accepted := e.with(negCase{name: "address-other-case-accepted", wantStatus: http.StatusOK, check: checkZestyLoggedIn},
			"email", "{{emailCased}}", "password", pwOwner)
		perEnc = append(perEnc,
			inv("no-fields"),
			inv("missing-email", "password", pwOwner),
			inv("missing-password", "email", "{{email}}"),
			inv("email-empty", "email", "", "password", pwOwner),
			inv("password-empty", "email", "{{email}}", "password", ""),
			inv("email-not-an-address", "email", "not-an-email", "password", pwOwner),
			inv("email-without-domain", "email", "owner@", "password", pwOwner),
			inv("email-with-display-name", "email", "Owner <{{email}}>", "password", pwOwner),
			inv("email-with-surrounding-spaces", "email", " {{email}} ", "password", pwOwner),
			inv("email-over-maximum", "email", zEmailOver, "password", pwOwner),
			inv("password-over-maximum", "email", "{{email}}", "password", pwZestyOver),
			inv("unknown-field", "email", "{{email}}", "password", pwOwner, "remember", "true"),
			inv("username-instead-of-email", "username", "{{email}}", "password", pwOwner),
			inv("field-names-capitalised", "Email", "{{email}}", "Password", pwOwner),
			wrong,
			wrongPassword("unknown-address", nil, "email", "nobody@example.com", "password", pwOwner),
			wrongPassword("wrong-password-address-other-case", nil, "email", "{{emailCased}}", "password", pwWrong),
			// The server's minimum length is a rule for new passwords: at log-in a short one is just wrong.
			wrongPassword("short-password-is-just-wrong", nil, "email", "{{email}}", "password", pwUnderPolicy),
			// Another user's password does not open this account.
			wrongPassword("another-users-password", fxSteps(fxUser, fxOtherUser), "email", "{{email}}", "password", pwOther),
			// Account state is told only to whoever knows the password.
			wrongPassword("disabled-user-wrong-password", fxSteps(fxUser, fxDisableUser), "email", "{{email}}", "password", pwWrong),
			disabled,
			accepted,
		)
	}

	jsonInv := func(name, body string) negCase {
		c := zRow(name, zInvalid)
		c.body = body
		return c
	}
	jsonCT := negHeaders("Content-Type", zJSONEnc.ctype)
	// Conceal mode: a disabled user with the right password gets what a wrong password gets, and
	// is counted toward a lock as one.
	concealDisabled := zRow("conceal-disabled-user", zCredentials)
	concealDisabled.setup, concealDisabled.opts, concealDisabled.except = fxSteps(fxUser, fxDisableUser), negOpts(concealErrors), negWrongPassword
	concealDisabled.body = wmeJSON("email", "{{email}}", "password", pwOwner)
	concealDisabled.check = checkSameAnswer("a wrong password", http.MethodPost, path, jsonCT, wmeJSON("email", "{{email}}", "password", pwWrong))
	concealWrong := zRow("conceal-wrong-password", zCredentials)
	concealWrong.opts, concealWrong.except = negOpts(concealErrors), negWrongPassword
	concealWrong.body = wmeJSON("email", "{{email}}", "password", pwWrong)
	concealWrong.check = checkSameAnswer("an unknown address", http.MethodPost, path, jsonCT, wmeJSON("email", "nobody@example.com", "password", pwWrong))
	// Unverified addresses, where the server requires verified ones.
	unverified := zRow("unverified-user", zUnverified)
	unverified.setup, unverified.opts = fxUnverifiedUser, negOpts(verifiedEmailRequired)
	unverified.body = wmeJSON("email", "{{email}}", "password", pwOwner)
	concealUnverified := zRow("conceal-unverified-user", zCredentials)
	concealUnverified.setup, concealUnverified.opts, concealUnverified.except = fxUnverifiedUser, negOpts(verifiedEmailRequired, concealErrors), negWrongPassword
	concealUnverified.body = wmeJSON("email", "{{email}}", "password", pwOwner)
	concealUnverified.check = checkSameAnswer("a wrong password", http.MethodPost, path, jsonCT, wmeJSON("email", "{{email}}", "password", pwWrong))

	ok := func(name, ctype, body string) negCase {
		return negCase{name: name, headers: negHeaders("Content-Type", ctype), body: body, wantStatus: http.StatusOK, check: checkZestyLoggedIn}
	}
	// A multipart field given twice: the value the handler uses must be one the validator checked.
	dupEmail := zRow("multipart-duplicate-email-second-not-an-address", zInvalid)
	dupEmail.headers = negHeaders("Content-Type", zMultiEnc.ctype)
	dupEmail.body = zMultipart("email", "{{email}}", "email", "not-an-email", "password", pwOwner)
	dupPassword := zRow("multipart-duplicate-password-second-over-maximum", zInvalid)
	dupPassword.headers = negHeaders("Content-Type", zMultiEnc.ctype)
	dupPassword.body = zMultipart("email", "{{email}}", "password", pwOwner, "password", pwZestyOver)
	// Login takes no token: a stale or garbage Authorization is ignored.
	garbageBearer := negCase{name: "garbage-authorization-ignored", headers: negHeaders("Authorization", "Bearer not-a-session-token"),
		body: wmeJSON("email", "{{email}}", "password", pwOwner), wantStatus: http.StatusOK, check: checkZestyLoggedIn}

	return zForOp(http.MethodPost, path, fxUser,
		zShapeCases(encs),
		zMediaCases(encs, "email", "{{email}}", "password", pwOwner),
		zestyShaped(zMethodCases("zestyLogin", path)),
		perEnc,
		negRows(
			jsonInv("email-number", `{"email":42,"password":"`+pwOwner+`"}`),
			jsonInv("email-null", `{"email":null,"password":"`+pwOwner+`"}`),
			jsonInv("email-array", `{"email":["{{email}}"],"password":"`+pwOwner+`"}`),
			jsonInv("password-number", `{"email":"{{email}}","password":123456789}`),
			jsonInv("password-object", `{"email":"{{email}}","password":{"value":"`+pwOwner+`"}}`),
			jsonInv("password-null", `{"email":"{{email}}","password":null}`),
			// A JSON body sent as a form is a form without the fields.
			func() negCase {
				c := jsonInv("json-body-as-form", wmeJSON("email", "{{email}}", "password", pwOwner))
				c.headers = negHeaders("Content-Type", zFormEnc.ctype)
				return c
			}(),
			jsonInv("form-body-as-json", zForm("email", "{{email}}", "password", pwOwner)),
			dupEmail, dupPassword,
			concealDisabled, concealWrong, unverified, concealUnverified,
			ok("json-content-type-with-charset-accepted", "application/json; charset=utf-8", wmeJSON("email", "{{email}}", "password", pwOwner)),
			ok("form-content-type-with-charset-accepted", "application/x-www-form-urlencoded; charset=utf-8", zForm("email", "{{email}}", "password", pwOwner)),
			ok("multipart-password-part-first-accepted", zMultiEnc.ctype, zMultipart("password", pwOwner, "email", "{{email}}")),
			ok("content-type-mixed-case-json-accepted", "Application/JSON", wmeJSON("email", "{{email}}", "password", pwOwner)),
			ok("content-type-mixed-case-form-accepted", "Application/X-WWW-Form-Urlencoded", zForm("email", "{{email}}", "password", pwOwner)),
			garbageBearer,
		))
}

// zestyAuthCases are the credentials a session-token operation must refuse, and the forms of a
// good one it must take. accept is the check of an accepted row; refusedCheck, when set, runs
// after every refusal whose fixture has a live {{zesty}} (the refusal must not end it).
func zestyAuthCases(accept negCheck, acceptWrites bool, refusedCheck negCheck) []negCase {
	unauth := func(name string, setup negSetup, auth string) negCase {
		c := zRow(name, zSession)
		c.setup = setup
		if auth != "" {
			c.headers = negHeaders("Authorization", auth)
		}
		if literal := strings.TrimSpace(strings.TrimPrefix(auth, "Bearer ")); !strings.Contains(literal, "{{") && len(literal) >= 6 {
			c.setup = fxSteps(fxSecret(literal), setup)
		}
		return c
	}
	// alive checks, after a refusal, that {{zesty}} still works (first: some checks end it),
	// then what else the row must leave alone.
	alive := func(c negCase, checks ...negCheck) negCase {
		if refusedCheck != nil {
			checks = append([]negCheck{refusedCheck}, checks...)
		}
		c.check = checkSteps(checks...)
		return c
	}
	base := fxZestyUser
	ok := func(name string, setup negSetup, auth string) negCase {
		return negCase{name: name, setup: setup, headers: negHeaders("Authorization", auth), wantStatus: http.StatusOK,
			wantNoWrites: !acceptWrites, check: accept}
	}
	disabledSetup := fxSteps(base, fxDisableUser)
	disabled := zRow("disabled-user", zDisabled)
	disabled.setup, disabled.headers = disabledSetup, negHeaders("Authorization", "{{zesty}}")
	disabled.check = func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
		t.Helper()
		// Enabled again, the token works again.
		fxEnableUser(t, h, f)
		checkZestyVerifies("zesty")(t, h, f, nil)
	}
	disabledBearer := zRow("disabled-user-bearer", zDisabled)
	disabledBearer.setup, disabledBearer.headers = disabledSetup, negHeaders("Authorization", "Bearer {{zesty}}")
	// Conceal mode: a disabled user's live token gets what any dead token gets.
	concealDisabled := zRow("conceal-disabled-user", zSession)
	concealDisabled.setup, concealDisabled.headers, concealDisabled.opts = disabledSetup, negHeaders("Authorization", "{{zesty}}"), negOpts(concealErrors)
	// Its check, the same bytes as for a token that never existed, needs the operation's method
	// and path: zestySessionOp sets it.
	concealUnknown := unauth("conceal-unknown-token", base, "Bearer "+uuid.NewString())
	concealUnknown.opts = negOpts(concealErrors)

	return []negCase{
		unauth("no-authorization", base, ""),
		// An empty value: runNegativeCase drops a header set to "", so a blank one goes out, which the
		// server reads as "" (field values are trimmed).
		unauth("authorization-empty", base, " "),
		unauth("bearer-only", base, "Bearer "),
		unauth("bearer-word-only", base, "Bearer"),
		alive(unauth("garbage-bare", base, "not-a-session-token")),
		alive(unauth("garbage-bearer", base, "Bearer not-a-session-token")),
		alive(unauth("unknown-uuid-bare", base, uuid.NewString())),
		alive(unauth("unknown-uuid-bearer", base, "Bearer "+uuid.NewString())),
		alive(unauth("basic-scheme", base, "Basic b3duZXI6T3duZXItcGFzcy04ODQx")),
		alive(unauth("other-scheme-with-token", base, "Token {{zesty}}")),
		alive(unauth("bearer-twice", base, "Bearer Bearer {{zesty}}")),
		alive(unauth("token-with-suffix", base, "{{zesty}}0")),
		alive(unauth("token-truncated", fxSteps(base, fxZestyTruncated), "{{zestyTruncated}}")),
		alive(unauth("token-upper-cased", base, "{{zestyUpper}}")),
		alive(unauth("two-tokens", base, "{{zesty}}, {{zesty}}")),
		alive(unauth("nhost-access-token-bare", base, "{{nhostAccess}}"), checkSessionAlive),
		alive(unauth("nhost-access-token-bearer", base, "Bearer {{nhostAccess}}"), checkSessionAlive),
		alive(unauth("nhost-refresh-token-bare", base, "{{nhostRefresh}}"), checkNhostRefreshWorks),
		alive(unauth("nhost-refresh-token-bearer", base, "Bearer {{nhostRefresh}}"), checkNhostRefreshWorks),
		alive(unauth("wme-refresh-token", fxSteps(fxWMEUser, fxZestyLogin, fxWMELogin), "{{refresh}}"), checkWMERefreshWorks),
		alive(unauth("wme-access-token", fxSteps(fxWMEUser, fxZestyLogin, fxWMELogin), "Bearer {{access}}"), checkWMERefreshWorks),
		alive(unauth("reset-token", fxSteps(base, fxZestyRequest), "{{reset}}"), checkZestyResetWorks),
		alive(unauth("reset-ticket-with-prefix", fxSteps(base, fxZestyRequest), "Bearer {{resetFull}}"), checkZestyResetWorks),
		unauth("expired-31-minutes", fxSteps(base, fxAdvance(31*time.Minute)), "{{zesty}}"),
		unauth("expired-exactly-30-minutes", fxSteps(base, fxAdvance(30*time.Minute)), "{{zesty}}"),
		unauth("expired-after-sliding", fxSteps(base, fxAdvance(20*time.Minute), fxZestyVerify, fxAdvance(30*time.Minute)), "Bearer {{zesty}}"),
		unauth("logged-out", fxSteps(base, fxZestyLogout), "{{zesty}}"),
		unauth("logged-out-bearer", fxSteps(base, fxZestyLogout), "Bearer {{zesty}}"),
		unauth("session-ended-by-password-reset", fxSteps(base, fxZestyRequest, fxZestyReset), "{{zesty}}"),
		unauth("session-ended-by-nhost-sign-out-everywhere", fxSteps(base, fxNhostSignOutAll), "{{zesty}}"),
		unauth("disabled-user-expired-token", fxSteps(disabledSetup, fxAdvance(31*time.Minute)), "{{zesty}}"),
		disabled, disabledBearer,
		concealDisabled, concealUnknown,
		ok("bare-token-accepted", base, "{{zesty}}"),
		ok("bearer-token-accepted", base, "Bearer {{zesty}}"),
		ok("bearer-lower-case-accepted", base, "bearer {{zesty}}"),
		ok("bearer-extra-spaces-accepted", base, "Bearer    {{zesty}}  "),
		ok("slid-by-use-accepted", fxSteps(base, fxAdvance(20*time.Minute), fxZestyVerify, fxAdvance(20*time.Minute)), "{{zesty}}"),
	}
}

// zestySessionOp builds the rows of a session-token operation: the shared auth rows, the
// conceal comparison (which needs the method and path) and the wrong methods.
func zestySessionOp(op, method, path string, accept negCheck, acceptWrites bool, refusedCheck negCheck) []negCase {
	rows := zestyAuthCases(accept, acceptWrites, refusedCheck)
	for i := range rows {
		if rows[i].name == "conceal-disabled-user" {
			rows[i].check = checkSameAnswer("an unknown token", method, path, negHeaders("Authorization", uuid.NewString()), "")
		}
	}
	// Nothing is read from the body of a session-token operation, and nothing is bounded by it
	// but the server's limit.
	ignored := negCase{name: "json-body-ignored", headers: negHeaders("Authorization", "{{zesty}}"),
		body: wmeJSON("token", "{{zesty}}"), wantStatus: http.StatusOK, wantNoWrites: !acceptWrites, check: accept}
	tooLarge := zRow("body-over-64KiB", zTooLarge)
	tooLarge.headers, tooLarge.body = negHeaders("Authorization", "{{zesty}}"), negBigBody("{")
	tooLarge.check = checkZestyVerifies("zesty")
	// A query parameter is not where the token goes.
	inQuery := zRow("token-in-query", zSession)
	inQuery.path = path + "?token={{zesty}}"
	inQuery.check = checkZestyVerifies("zesty")
	return zForOp(method, path, fxZestyUser,
		rows,
		negRows(ignored, tooLarge, inQuery),
		zestyShaped(zMethodCases(op, path)),
	)
}

func zestyVerifyNegative() []negCase {
	return zestySessionOp("zestyVerify", http.MethodGet, "/verify", checkZestyVerified, false, checkZestyVerifies("zesty"))
}

func zestyLogoutNegative() []negCase {
	loggedOut := checkSteps(checkZestyMessage(zMsgLoggedOut), checkZestyRefused("zesty"))
	rows := zestySessionOp("zestyLogout", http.MethodDelete, "/logout", loggedOut, true, checkZestyVerifies("zesty"))
	// Logging out one Zesty session leaves the user's other sessions alone: another Zesty one
	// and a Nhost one.
	other := negCase{name: "other-sessions-of-same-user-live-on", headers: negHeaders("Authorization", "{{zesty}}"),
		wantStatus: http.StatusOK, check: checkSteps(loggedOut, checkZestyVerifies("second"), checkSessionAlive)}
	other.setup = fxSteps(fxZestyUser, func(t *testing.T, h *servertest.Harness, f *negFixture) {
		t.Helper()
		f.set("second", zestyLoginAs(t, h, f.get(t, "email"), pwOwner), true)
	})
	// Logging out twice: the second is refused and changes nothing.
	twice := zRow("logged-out-twice", zSession)
	twice.setup, twice.headers = fxSteps(fxZestyUser, fxZestyLogout), negHeaders("Authorization", "{{zesty}}")
	twice.check = checkZestyRefused("zesty")
	return append(rows, zForOp(http.MethodDelete, "/logout", nil, negRows(other, twice))...)
}

func zestyPasswordRequestNegative() []negCase {
	const path = "/password/request"
	encs := []zEnc{zJSONEnc, zFormEnc}
	// The answer for an address that gets no mail is the answer for one that does, and nothing
	// is written or sent.
	quiet := func(name string, setup negSetup, headers map[string]string, body string) negCase {
		return negCase{name: name, setup: fxSteps(setup, fxWMEMailCount), headers: headers, body: body,
			wantStatus: http.StatusOK, wantNoWrites: true, check: checkZestyNoMail}
	}
	var perEnc []negCase
	for _, e := range encs {
		inv := func(name string, kv ...string) negCase { return e.with(zRow(name, zInvalid), kv...) }
		hs := negHeaders("Content-Type", e.ctype)
		mails := negCase{name: e.name + "-address-other-case-mails", headers: hs, body: e.body("email", "{{emailCased}}"),
			wantStatus: http.StatusOK, check: checkZestyMailed}
		perEnc = append(perEnc,
			inv("no-fields"),
			inv("email-empty", "email", ""),
			inv("email-not-an-address", "email", "not-an-email"),
			inv("email-with-display-name", "email", "Owner <{{email}}>"),
			inv("email-over-maximum", "email", zEmailOver),
			inv("unknown-field", "email", "{{email}}", "redirectTo", servertest.ClientURL),
			inv("username-instead-of-email", "username", "{{email}}"),
			quiet(e.name+"-unknown-address", fxUser, hs, e.body("email", "nobody@example.com")),
			quiet(e.name+"-disabled-user", fxSteps(fxUser, fxDisableUser), hs, e.body("email", "{{email}}")),
			mails,
		)
	}
	jsonInv := func(name, body string) negCase {
		c := zRow(name, zInvalid)
		c.body = body
		return c
	}
	concealUnknown := quiet("conceal-unknown-address", fxUser, nil, wmeJSON("email", "nobody@example.com"))
	concealUnknown.opts = negOpts(concealErrors)
	concealDisabled := quiet("conceal-disabled-user", fxSteps(fxUser, fxDisableUser), nil, wmeJSON("email", "{{email}}"))
	concealDisabled.opts = negOpts(concealErrors)
	mixedCase := negCase{name: "content-type-mixed-case-json-mails", headers: negHeaders("Content-Type", "Application/JSON"),
		body: wmeJSON("email", "{{email}}"), wantStatus: http.StatusOK, check: checkZestyMailed}

	return zForOp(http.MethodPost, path, fxUser,
		zShapeCases(encs),
		zMediaCases(encs, "email", "{{email}}"),
		zestyShaped(zMethodCases("zestyPasswordRequest", path)),
		perEnc,
		negRows(
			jsonInv("email-number", `{"email":42}`),
			jsonInv("email-null", `{"email":null}`),
			jsonInv("email-array", `{"email":["{{email}}"]}`),
			concealUnknown, concealDisabled,
			mixedCase,
		))
}

func zestyPasswordResetNegative() []negCase {
	const path = "/password/reset"
	encs := []zEnc{zJSONEnc, zFormEnc}
	base := fxSteps(fxUser, fxZestyRequest)
	// A refused token: 400, nothing written, and the mailed token (when there is one) unspent.
	refused := func(name string, setup negSetup, token string, check negCheck) negCase {
		c := zRow(name, zTicket)
		c.setup, c.body, c.check = setup, wmeJSON("token", token, "password", pwNew), check
		return c
	}
	unspent := checkSteps(checkZestyLoginWith(pwOwner), checkZestyResetWorks)
	var perEnc []negCase
	for _, e := range encs {
		inv := func(name string, kv ...string) negCase {
			c := e.with(zRow(name, zInvalid), kv...)
			c.check = unspent
			return c
		}
		tooShort := e.with(zRow("password-under-server-minimum", zTooShort), "token", "{{reset}}", "password", pwUnderPolicy)
		tooShort.check = unspent
		tooShortContract := e.with(zRow("password-two-characters", zTooShort), "token", "{{reset}}", "password", pwUnderContract)
		tooShortContract.check = unspent
		unknown := e.with(zRow("unknown-token", zTicket), "token", uuid.NewString(), "password", pwNew)
		unknown.check = unspent
		accepted := e.with(negCase{name: "accepted", wantStatus: http.StatusOK,
			check: checkSteps(checkZestyMessage(zMsgReset), checkZestyLoginWith(pwNew))}, "token", "{{resetFull}}", "password", pwNew)
		perEnc = append(perEnc,
			inv("no-fields"),
			inv("missing-token", "password", pwNew),
			inv("missing-password", "token", "{{reset}}"),
			inv("token-empty", "token", "", "password", pwNew),
			inv("password-empty", "token", "{{reset}}", "password", ""),
			inv("token-over-maximum", "token", strings.Repeat("t", 129), "password", pwNew),
			inv("password-over-maximum", "token", "{{reset}}", "password", pwZestyOver),
			inv("unknown-field", "token", "{{reset}}", "password", pwNew, "email", "{{email}}"),
			inv("ticket-instead-of-token", "ticket", "{{reset}}", "password", pwNew),
			inv("new-password-instead-of-password", "token", "{{reset}}", "newPassword", pwNew),
			tooShort, tooShortContract, unknown, accepted,
		)
	}
	jsonInv := func(name, body string) negCase {
		c := zRow(name, zInvalid)
		c.body, c.check = body, unspent
		return c
	}
	// A disabled user's token says so, and stays unspent (the refusal rolls back).
	disabledSetup := fxSteps(base, fxDisableUser)
	disabled := zRow("disabled-user", zDisabled)
	disabled.setup, disabled.body = disabledSetup, wmeJSON("token", "{{reset}}", "password", pwNew)
	disabled.check = func(t *testing.T, h *servertest.Harness, f *negFixture, b []byte) {
		t.Helper()
		fxEnableUser(t, h, f)
		unspent(t, h, f, b)
	}
	// Conceal mode: it gets what an unknown token gets, and stays unspent.
	concealDisabled := zRow("conceal-disabled-user", zTicket)
	concealDisabled.setup, concealDisabled.opts = disabledSetup, negOpts(concealErrors)
	concealDisabled.body = wmeJSON("token", "{{reset}}", "password", pwNew)
	concealDisabled.check = checkSameAnswer("an unknown token", http.MethodPost, path, negHeaders("Content-Type", zJSONEnc.ctype),
		wmeJSON("token", uuid.NewString(), "password", pwNew))
	concealUnknown := refused("conceal-unknown-token", base, uuid.NewString(), unspent)
	concealUnknown.opts = negOpts(concealErrors)
	mixedCase := negCase{name: "content-type-mixed-case-json-accepted", setup: base, headers: negHeaders("Content-Type", "Application/JSON"),
		body: wmeJSON("token", "{{reset}}", "password", pwNew), wantStatus: http.StatusOK, check: checkZestyLoginWith(pwNew)}

	return zForOp(http.MethodPost, path, base,
		zShapeCases(encs),
		zMediaCases(encs, "token", "{{reset}}", "password", pwNew),
		zestyShaped(zMethodCases("zestyPasswordReset", path)),
		perEnc,
		negRows(
			jsonInv("token-number", `{"token":42,"password":"`+pwNew+`"}`),
			jsonInv("token-null", `{"token":null,"password":"`+pwNew+`"}`),
			jsonInv("token-object", `{"token":{"value":"{{reset}}"},"password":"`+pwNew+`"}`),
			jsonInv("password-number", `{"token":"{{reset}}","password":123456789}`),
			jsonInv("password-null", `{"token":"{{reset}}","password":null}`),
			refused("unknown-token-with-prefix", base, "passwordReset:"+uuid.NewString(), unspent),
			refused("garbage-token", base, "not-a-reset-token", unspent),
			refused("prefix-only", base, "passwordReset:", unspent),
			refused("used-token", fxSteps(base, fxZestyReset), "{{reset}}", checkZestyLoginWith(pwZestyChosen)),
			refused("used-token-with-prefix", fxSteps(base, fxZestyReset), "{{resetFull}}", checkZestyLoginWith(pwZestyChosen)),
			refused("expired-token", fxSteps(base, fxAdvance(server.DefaultConfig().TicketTTL+time.Minute)), "{{reset}}", checkZestyLoginWith(pwOwner)),
			refused("superseded-token", fxSteps(base, func(t *testing.T, h *servertest.Harness, f *negFixture) {
				t.Helper()
				// A second request retires the first token.
				f.set("first", f.get(t, "reset"), true)
				fxZestyRequest(t, h, f)
			}), "{{first}}", unspent),
			refused("token-under-another-kind-prefix", base, "emailVerify:{{reset}}", unspent),
			refused("token-upper-cased", fxSteps(base, func(t *testing.T, _ *servertest.Harness, f *negFixture) {
				t.Helper()
				f.set("resetUpper", strings.ToUpper(f.get(t, "reset")), true)
			}), "{{resetUpper}}", unspent),
			refused("magic-link-ticket", fxSteps(fxUser, fxMailedMagicLink), "{{ticket}}", checkLinkWorks),
			refused("magic-link-ticket-renamed", fxSteps(fxUser, fxMailedMagicLink, fxRenameTicket), "{{ticket}}", nil),
			refused("session-token-as-reset-token", fxSteps(fxZestyUser, fxZestyRequest), "{{zesty}}",
				checkSteps(checkZestyVerifies("zesty"), unspent)),
			refused("nhost-refresh-token-as-reset-token", base, "{{refresh}}", checkSteps(checkRefreshWorks("refresh"), unspent)),
			disabled, concealDisabled, concealUnknown,
			mixedCase,
		))
}

// checkRefreshWorks asserts that the Nhost refresh token {{name}} was not spent.
func checkRefreshWorks(name string) negCheck {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
		t.Helper()
		r, err := refresh(t, h, f.get(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if r.JSON200 == nil {
			t.Errorf("the Nhost refresh token {{%s}} no longer works: %d %s", name, r.StatusCode(), r.Body)
		}
	}
}

// zestyTokenElsewhereNegative: a Zesty session token is no credential of the other dialects, and
// presenting it there leaves its session alone.
func zestyTokenElsewhereNegative() []negCase {
	alive := checkZestyVerifies("zesty")
	nhostBearer := negRow("nhost-get-user-bearer", http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest)
	nhostBearer.method, nhostBearer.path, nhostBearer.headers = http.MethodGet, "/v1/user", negBearer("{{zesty}}")
	nhostBearer.check = alive
	nhostRefresh := negRow("nhost-refresh-token", http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRefreshToken)
	nhostRefresh.path, nhostRefresh.body = "/v1/token", `{"refreshToken":"{{zesty}}"}`
	nhostRefresh.check = alive
	nhostSignOut := negCase{name: "nhost-sign-out-refresh-token", path: "/v1/signout", body: `{"refreshToken":"{{zesty}}"}`,
		wantStatus: http.StatusOK, wantBody: "\"OK\"\n", wantNoWrites: true, check: alive}
	nhostPAT := negRow("nhost-sign-in-pat", http.StatusUnauthorized, gen.ErrorResponseErrorInvalidPat)
	nhostPAT.path, nhostPAT.body, nhostPAT.except = "/v1/signin/pat", `{"personalAccessToken":"{{zesty}}"}`, []string{"audit_events"}
	nhostPAT.check = alive
	wmeRefresh := wmeRow("wme-token-refresh", http.StatusUnauthorized, wmeMsgRefresh)
	wmeRefresh.path, wmeRefresh.body = "/v1/token-refresh", wmeJSON("username", "{{email}}", "refresh_token", "{{zesty}}")
	wmeRefresh.check = alive
	wmeRevoke := negCase{name: "wme-token-revoke", path: "/v1/token-revoke", body: wmeJSON("refresh_token", "{{zesty}}"),
		wantStatus: http.StatusOK, wantNoWrites: true, check: checkSteps(checkWMEMessage("Token revoked"), alive)}
	wmeChange := wmeRow("wme-change-password-access-token", http.StatusUnauthorized, wmeMsgAccess)
	wmeChange.path = "/v1/change-password"
	wmeChange.body = wmeJSON("access_token", "{{zesty}}", "previous_password", pwOwner, "proposed_password", pwNew)
	wmeChange.check = checkSteps(alive, checkZestyLoginWith(pwOwner))
	// The password-reset ticket path of Nhost does not take a Zesty session token either.
	nhostReset := negRow("nhost-password-reset-ticket", http.StatusUnauthorized, gen.ErrorResponseErrorInvalidTicket)
	nhostReset.path, nhostReset.body = "/v1/user/password", `{"newPassword":"`+pwNew+`","ticket":"passwordReset:{{zesty}}"}`
	nhostReset.check = checkSteps(alive, checkZestyLoginWith(pwOwner))
	return zForOp(http.MethodPost, "", fxZestyUser, negRows(
		nhostBearer, nhostRefresh, nhostSignOut, nhostPAT, wmeRefresh, wmeRevoke, wmeChange, nhostReset,
	))
}
