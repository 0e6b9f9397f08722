package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// The passwords the negative scenarios use. Each is distinctive, so finding one in a response
// body or in the server log can only mean it was echoed.
const (
	pwOwner         = "Owner-pass-8841"
	pwOther         = "Other-pass-6617"
	pwWrong         = "Wrong-pass-3317"
	pwNew           = "Fresh-pass-5529"
	pwUnderContract = "Q~"       // under the contract's minLength 3
	pwUnderPolicy   = "Zq#4x7!p" // 8 characters: passes the contract, under the server minimum of 9
	negResetTicket  = "passwordReset:7d0c7a3e-ticket-9f1b"
)

// pwOverContract is one character over the contract's maxLength of 50.
var pwOverContract = "L0ng~" + strings.Repeat("p", 46)

// negCase is one request the Nhost dialect must refuse (or, for the nhost-js quirks, must accept
// although it looks wrong). Its path, headers and body may hold {{placeholders}} that setup fills.
type negCase struct {
	name    string
	opts    []func(*server.Config) // server configuration; rows with the same options share a server
	setup   func(t *testing.T, h *servertest.Harness, f *negFixture)
	method  string
	path    string
	headers map[string]string // Content-Type defaults to application/json when a body is sent; "" removes it
	body    string
	chunked bool // send the body without a Content-Length

	wantStatus   int
	wantCode     gen.ErrorResponseError // the Nhost `error`; empty for a 2xx answer
	wantBody     string                 // exact body of a 2xx answer, when set
	wantLinkErr  gen.ErrorResponseError // for a 302 from a mailed link: the `error` its Location carries
	wantNoWrites bool
	except       []string // tables a rejected request may still write (the audit log, a code's tries, a session it revokes, negWrongPassword)
	check        func(t *testing.T, h *servertest.Harness, f *negFixture, body []byte)
	// errBody, when set, checks an error answer's body in place of the Nhost ErrorResponse (for
	// another dialect's rows); wantCode then only says that an error is wanted.
	errBody func(t *testing.T, status int, body []byte)
}

// negWrongPassword are the tables a wrong password writes, in every dialect: the audit log
// (sign-in.failed) and the lockout rows of the name given, where the failure is counted toward a
// lock. Failures are counted per name whether or not an account has it, so an unknown address
// writes the same rows as a known one (a lock that told them apart would tell which addresses
// have accounts). That count is the lockout's whole purpose; nothing else may change. (The
// rate-limit counters are left out of every comparison: see servertest.Counters.)
var negWrongPassword = []string{"audit_events", "lockouts"}

// negCodeGuess are the tables a judged code guess writes: the audit log and the guess cap's row
// for the name the code was sent to (lockouts), account or not, code pending or not: the cap
// counts every guess before the code is compared. negCodeTried adds the pending code's own tries.
var (
	negCodeGuess = []string{"audit_events", "lockouts"}
	negCodeTried = []string{"audit_events", "lockouts", "tickets"}
)

// negFixture is what a case's setup made: values for the placeholders, and which of them are secret.
type negFixture struct {
	vars    map[string]string
	secrets []string
}

func (f *negFixture) set(name, value string, secret bool) {
	f.vars["{{"+name+"}}"] = value
	if secret {
		f.secrets = append(f.secrets, value)
	}
}

func (f *negFixture) get(t *testing.T, name string) string {
	t.Helper()
	v, ok := f.vars["{{"+name+"}}"]
	if !ok {
		t.Fatalf("fixture has no %q", name)
	}
	return v
}

// leakWatch collects every server log and every secret a case sent, so the test can assert at
// its end that no log line of any case holds any of them.
type leakWatch struct {
	mu      sync.Mutex
	logs    map[string]fmt.Stringer // each server's log
	secrets map[string]string       // secret → the case that sent it
}

func (w *leakWatch) addLogs(name string, logs fmt.Stringer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.logs[name] = logs
}

func (w *leakWatch) addSecrets(name string, secrets []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range secrets {
		if s != "" {
			w.secrets[s] = name
			servertest.RegisterSecret(name, s) // and the end-of-run check of every server's log
		}
	}
}

// TestNhostNegative runs the negative scenarios of every Nhost operation. The rows of one
// operation that share a configuration share one server and database and run in order; each row
// signs up its own users under addresses no other row uses, so rows do not see each other's
// accounts, and a row that moves the clock does so before any later row mints its tokens.
func TestNhostNegative(t *testing.T) {
	runNegativeTable(t, []negOp{
		{"signUpEmailPassword", signUpNegative()},
		{"signInEmailPassword", signInNegative()},
		{"signInAnonymous", signInAnonymousNegative()},
		{"signInPAT", signInPATNegative()},
		{"createPAT", createPATNegative()},
		{"refreshToken", refreshTokenNegative()},
		{"verifyToken", verifyTokenNegative()},
		{"signOut", signOutNegative()},
		{"getUser", getUserNegative()},
		{"deanonymizeUser", deanonymizeNegative()},
		{"changeUserPassword", changePasswordNegative()},
		{"sendPasswordResetEmail", sendPasswordResetNegative()},
		{"sendVerificationEmail", sendVerificationNegative()},
		{"changeUserEmail", changeEmailNegative()},
		{"signInPasswordlessEmail", mailSignInNegative("/v1/signin/passwordless/email")},
		{"signInOTPEmail", mailSignInNegative("/v1/signin/otp/email")},
		{"verifySignInOTPEmail", verifyOTPNegative()},
		{"verifyTicketCode", verifyTicketCodeNegative()},
		{"verifyTicket", verifyTicketNegative()},
		{"confirmTicket", confirmTicketNegative()},
		{"getJWKs", negMethodCases("/v1/.well-known/jwks.json", http.MethodPost, http.MethodDelete)},
		{"healthCheckGet", negMethodCases("/v1/healthz", http.MethodPost, http.MethodDelete)},
		{"healthCheckHead", negMethodCases("/v1/healthz", http.MethodPut, http.MethodPatch)},
		{"getVersion", append(negMethodCases("/v1/version", http.MethodPost, http.MethodPut), negCase{
			name: "unknown-sibling-path", method: http.MethodGet, path: "/v1/versions",
			wantStatus: http.StatusNotFound, wantCode: gen.ErrorResponseErrorInvalidRequest, wantNoWrites: true,
		})},
	})
}

// negOp is one operation's rows in a negative table.
type negOp struct {
	op    string
	cases []negCase
}

// runNegativeTable runs the rows of every operation. The rows of one operation that share a
// configuration share one server and database and run in order; operations run in parallel.
// Once every row has finished and its server has closed, the logs of every server are searched
// for the secrets the rows sent.
func runNegativeTable(t *testing.T, ops []negOp) {
	t.Helper()
	watch := &leakWatch{logs: map[string]fmt.Stringer{}, secrets: map[string]string{}}
	t.Cleanup(func() {
		watch.mu.Lock()
		defer watch.mu.Unlock()
		// Numeric codes are looked for as whole numbers that are not JSON numbers (FindLeaks): a
		// six-digit code also turns up by chance inside a log's durations and timestamps.
		codes := map[string]string{}
		for s, from := range watch.secrets {
			if strings.Trim(s, "0123456789") == "" {
				codes[s] = from
			}
		}
		for name, logs := range watch.logs {
			text := logs.String()
			for s, from := range watch.secrets {
				if codes[s] == "" && strings.Contains(text, s) {
					t.Errorf("server log of %s contains a secret sent by %s: %q", name, from, s)
				}
			}
		}
		for _, leak := range servertest.FindLeaks(watch.logs, codes) {
			t.Error(leak)
		}
	})
	for _, o := range ops {
		seen := map[string]bool{}
		for _, c := range o.cases {
			if seen[c.name] {
				t.Fatalf("op=%s: case %q is listed twice", o.op, c.name)
			}
			seen[c.name] = true
		}
	}
	for _, o := range ops {
		t.Run("op="+o.op, func(t *testing.T) {
			t.Parallel()
			servers := map[string]*servertest.Harness{}
			for i, c := range o.cases {
				key := negConfigKey(c.opts)
				h := servers[key]
				if h == nil {
					h = servertest.Start(t, c.opts...)
					servers[key] = h
					watch.addLogs(fmt.Sprintf("op=%s (server %d)", o.op, len(servers)), h.Logs)
				}
				t.Run("case="+c.name, func(t *testing.T) {
					runNegativeCase(t, h, i, "op="+o.op+"/case="+c.name, c, watch)
				})
			}
		})
	}
}

// negSecretField finds the values of the request fields that carry passwords, tokens, tickets and
// mailed codes, in well-formed and malformed JSON bodies alike. (Tickets sent in a query string or
// a form are fixture values, marked secret by the setup that makes them.)
var negSecretField = regexp.MustCompile(`"(password|newPassword|refreshToken|personalAccessToken|token|ticket|otp|code|` +
	`new_password|previous_password|proposed_password|refresh_token|access_token|session|confirmation_code)"\s*:\s*"([^"]+)"`)

// negConfigKey names a set of config options, so rows with the same options share a server.
func negConfigKey(options []func(*server.Config)) string {
	names := make([]string, 0, len(options))
	for _, o := range options {
		names = append(names, runtime.FuncForPC(reflect.ValueOf(o).Pointer()).Name())
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func runNegativeCase(t *testing.T, h *servertest.Harness, row int, label string, c negCase, watch *leakWatch) {
	f := &negFixture{vars: map[string]string{}}
	// Addresses of this row only: the server is shared with the other rows of the operation.
	f.set("email", fmt.Sprintf("owner-%d@example.com", row), false)
	f.set("emailCased", fmt.Sprintf("OWNER-%d@Example.COM", row), false)
	f.set("newEmail", fmt.Sprintf("new-%d@example.com", row), false)
	f.set("takenEmail", fmt.Sprintf("taken-%d@example.com", row), false)
	f.set("takenEmailCased", fmt.Sprintf("Taken-%d@EXAMPLE.com", row), false)
	f.set("anonEmail", fmt.Sprintf("anon-%d@example.com", row), false)
	if c.setup != nil {
		c.setup(t, h, f)
	}
	now := h.Clock.Now()
	f.set("future", now.Add(24*time.Hour).Format(time.RFC3339), false)
	f.set("past", now.Add(-time.Minute).Format(time.RFC3339), false)
	f.set("now", now.Format(time.RFC3339Nano), false)
	f.set("nozone", now.Add(24*time.Hour).Format("2006-01-02T15:04:05"), false)

	pairs := make([]string, 0, 2*len(f.vars))
	for k, v := range f.vars {
		pairs = append(pairs, k, v)
	}
	r := strings.NewReplacer(pairs...)
	path, body := r.Replace(c.path), r.Replace(c.body)
	headers := map[string]string{}
	if body != "" {
		headers["Content-Type"] = "application/json"
	}
	for k, v := range c.headers {
		if v == "" {
			delete(headers, k)
			continue
		}
		headers[k] = r.Replace(v)
	}
	if strings.Contains(path+body+strings.Join(slices.Collect(maps.Values(headers)), " "), "{{") {
		t.Fatalf("unfilled placeholder in %s %s %v %s", c.method, path, headers, body)
	}

	secrets := append([]string(nil), f.secrets...)
	for _, m := range negSecretField.FindAllStringSubmatch(body, -1) {
		secrets = append(secrets, m[2])
	}
	if a := headers["Authorization"]; strings.HasPrefix(a, "Bearer ") && len(a) > len("Bearer ") {
		secrets = append(secrets, strings.TrimPrefix(a, "Bearer "))
	}
	watch.addSecrets(label, secrets)

	var (
		status int
		resp   []byte
		header http.Header
	)
	send := func() {
		if c.chunked {
			// A body of unknown length (chunked): the limit must catch it while reading, not from
			// Content-Length.
			status, resp = h.DoReader(t, c.method, path, headers, io.MultiReader(strings.NewReader(body)))
			return
		}
		header, status, resp = h.Send(t, c.method, path, headers, body)
	}
	if c.wantNoWrites {
		h.NoWrites(t, send, c.except...)
	} else {
		send()
	}

	if status != c.wantStatus {
		t.Errorf("%s %s: status = %d, want %d; body: %.300s", c.method, c.path, status, c.wantStatus, resp)
	}
	switch {
	case c.wantCode != "" && status < 400:
		t.Errorf("%s %s: want error %q, got a success: %.300s", c.method, c.path, c.wantCode, resp)
	case c.wantCode != "" && c.errBody != nil:
		c.errBody(t, status, resp)
	case c.wantCode != "":
		e := servertest.NhostError(t, resp)
		if e.Error != c.wantCode {
			t.Errorf("%s %s: error = %q, want %q; body: %.300s", c.method, c.path, e.Error, c.wantCode, resp)
		}
		if e.Status != status {
			t.Errorf("%s %s: body status = %d, HTTP status %d", c.method, c.path, e.Status, status)
		}
	case status >= 400:
		t.Errorf("%s %s: case wants a success but got %d: %.300s", c.method, c.path, status, resp)
	}
	if c.wantBody != "" && string(resp) != c.wantBody {
		t.Errorf("%s %s: body = %q, want %q", c.method, c.path, resp, c.wantBody)
	}
	if c.wantLinkErr != "" {
		checkLinkError(t, header.Get("Location"), c.wantLinkErr)
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(resp, []byte(s)) {
			t.Errorf("%s %s: response echoes a secret the request sent (%q): %.300s", c.method, c.path, s, resp)
		}
		if s != "" && strings.Contains(header.Get("Location"), s) {
			t.Errorf("%s %s: redirect echoes a secret the request sent (%q): %s", c.method, c.path, s, header.Get("Location"))
		}
	}
	if c.check != nil {
		c.check(t, h, f, resp)
	}
}

// --- setups

type negSetup = func(t *testing.T, h *servertest.Harness, f *negFixture)

// fxSteps runs setups in order.
func fxSteps(fns ...negSetup) negSetup {
	return func(t *testing.T, h *servertest.Harness, f *negFixture) {
		t.Helper()
		for _, fn := range fns {
			fn(t, h, f)
		}
	}
}

func fxSetSession(f *negFixture, s gen.Session) {
	f.set("access", s.AccessToken, true)
	f.set("refresh", s.RefreshToken, true)
	if s.User != nil {
		f.set("userID", s.User.Id, false)
	}
}

// fxUser signs up {{email}}: {{access}}, {{refresh}}, {{userID}}.
func fxUser(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	f.secrets = append(f.secrets, pwOwner)
	fxSetSession(f, signUp(t, h, f.get(t, "email"), pwOwner))
}

// fxOtherUser signs up {{takenEmail}}, whose address others then try to take.
func fxOtherUser(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	f.secrets = append(f.secrets, pwOther)
	s := signUp(t, h, f.get(t, "takenEmail"), pwOther)
	f.set("otherAccess", s.AccessToken, true)
	f.set("otherRefresh", s.RefreshToken, true)
}

// fxAnon signs in a new anonymous user (needs anonymousUsersOn): {{access}}, {{refresh}}.
func fxAnon(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	res, err := h.Client.SignInAnonymousWithResponse(context.Background(), gen.SignInAnonymousJSONRequestBody{})
	if err != nil {
		t.Fatal(err)
	}
	if res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("anonymous sign-in: %d %s", res.StatusCode(), res.Body)
	}
	fxSetSession(f, *res.JSON200.Session)
}

// fxExpireAccess moves past the 15-minute life of access tokens; refresh tokens stay valid.
func fxExpireAccess(t *testing.T, h *servertest.Harness, _ *negFixture) {
	h.Clock.Advance(16 * time.Minute)
}

// fxEndSession signs the fixture's session out by its refresh token.
func fxEndSession(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	rt := f.get(t, "refresh")
	res, err := h.Client.SignOutWithResponse(context.Background(), gen.SignOutJSONRequestBody{RefreshToken: &rt})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("sign out: %v %d %s", err, res.StatusCode(), res.Body)
	}
}

// fxDisableUser disables the fixture's user directly in the store.
func fxDisableUser(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	if err := h.Store.SetUserDisabled(context.Background(), uuid.MustParse(f.get(t, "userID")), true); err != nil {
		t.Fatal(err)
	}
}

// fxPAT creates a personal access token for the fixture's user, valid for an hour: {{pat}}.
func fxPAT(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	res, err := h.Client.CreatePATWithResponse(context.Background(),
		gen.CreatePATJSONRequestBody{ExpiresAt: h.Clock.Now().Add(time.Hour)}, servertest.Bearer(f.get(t, "access")))
	if err != nil {
		t.Fatal(err)
	}
	if res.JSON200 == nil {
		t.Fatalf("create PAT: %d %s", res.StatusCode(), res.Body)
	}
	f.set("pat", res.JSON200.PersonalAccessToken, true)
	f.set("patId", res.JSON200.Id, false)
}

func fxAdvance(d time.Duration) negSetup {
	return func(t *testing.T, h *servertest.Harness, _ *negFixture) { h.Clock.Advance(d) }
}

// fxSpendRefresh rotates {{refresh}} once ({{next}} is its successor) and moves past the reuse
// leeway, so presenting {{refresh}} again is a replay.
func fxSpendRefresh(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	r, err := refresh(t, h, f.get(t, "refresh"))
	if err != nil || r.JSON200 == nil {
		t.Fatalf("refresh: %v %d %s", err, r.StatusCode(), r.Body)
	}
	f.set("next", r.JSON200.RefreshToken, true)
	f.set("nextAccess", r.JSON200.AccessToken, true)
	h.Clock.Advance(time.Minute)
}

// fxForgedTokens derives bad access tokens from {{access}}: {{tampered}} (payload changed,
// signature kept), {{foreign}} (same claims and kid, signed by a key Latchkey never saw) and
// {{none}} (alg "none", no signature).
func fxForgedTokens(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	access := f.get(t, "access")
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS: %q", access)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	hasura, ok := claims[server.DefaultClaimsNamespace].(map[string]any)
	if !ok {
		t.Fatalf("access token lacks the Hasura claims: %s", payload)
	}

	// Tampered: grant admin, keep the original signature.
	hasura["x-hasura-default-role"] = "admin"
	hasura["x-hasura-allowed-roles"] = []string{"admin", "user"}
	tp, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	f.set("tampered", parts[0]+"."+base64.RawURLEncoding.EncodeToString(tp)+"."+parts[2], true)

	// Foreign: the original claims, the original kid, a fresh ECDSA key.
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var jose map[string]any
	if err := json.Unmarshal(header, &jose); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims))
	if kid, ok := jose["kid"]; ok {
		tok.Header["kid"] = kid
	}
	foreign, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	f.set("foreign", foreign, true)

	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	f.set("none", none+"."+parts[1]+".", true)
}

// fxUnverifiedUser signs up {{email}} on a server that requires verified addresses.
func fxUnverifiedUser(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	f.secrets = append(f.secrets, pwOwner)
	code, body := h.Do(t, http.MethodPost, "/v1/signup/email-password", map[string]string{"Content-Type": "application/json"},
		`{"email":"`+f.get(t, "email")+`","password":"`+pwOwner+`"}`)
	if code != http.StatusOK {
		t.Fatalf("sign up: %d %s", code, body)
	}
}

// fxVerifyEmail marks the address of the fixture's user verified, directly in the store.
func fxVerifyEmail(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	if err := h.Store.MarkEmailVerified(context.Background(), uuid.MustParse(f.get(t, "userID")), f.get(t, "email")); err != nil {
		t.Fatal(err)
	}
}

// negPostOK posts a JSON body and fails unless the answer is 200.
func negPostOK(t *testing.T, h *servertest.Harness, path, body string) {
	t.Helper()
	if code, resp := h.Do(t, http.MethodPost, path, negHeaders("Content-Type", "application/json"), body); code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, code, resp)
	}
}

// fxMailed asks path (a mail flow that takes {"email"}) for a mail to {{email}} and reads it:
// {{ticket}}, its link's ticket, and {{code}}, its eight-digit code.
func fxMailed(path string) negSetup {
	return func(t *testing.T, h *servertest.Harness, f *negFixture) {
		t.Helper()
		email := f.get(t, "email")
		negPostOK(t, h, path, `{"email":"`+email+`"}`)
		m := h.Mail.Next(t, email)
		link, err := url.Parse(m.Link(t, "/v1/verify"))
		if err != nil {
			t.Fatal(err)
		}
		f.set("ticket", link.Query().Get("ticket"), true)
		f.set("code", m.Code(t, 8), true)
	}
}

// fxMailedReset mails {{email}} (an account: fxUser first) a password-reset link.
var fxMailedReset = fxMailed("/v1/user/password/reset")

// fxMailedMagicLink mails {{email}} a passwordless sign-in link.
var fxMailedMagicLink = fxMailed("/v1/signin/passwordless/email")

// fxMailedCode asks path (a mail flow that takes {"email"}) for a mail to the address in the
// fixture's variable who, and keeps its eight-digit code in the variable code.
func fxMailedCode(path, who, code string) negSetup {
	return func(t *testing.T, h *servertest.Harness, f *negFixture) {
		t.Helper()
		email := f.get(t, who)
		negPostOK(t, h, path, `{"email":"`+email+`"}`)
		f.set(code, h.Mail.Next(t, email).Code(t, 8), true)
	}
}

// fxOtherMailedReset mails {{takenEmail}} (fxOtherUser first) a password reset: {{otherCode}}.
var fxOtherMailedReset = fxMailedCode("/v1/user/password/reset", "takenEmail", "otherCode")

// fxMailedVerifyCode mails {{email}} a verification link and code: {{verifyCode}}.
var fxMailedVerifyCode = fxMailedCode("/v1/user/email/send-verification-email", "email", "verifyCode")

// checkCodeOf: the code in variable code, mailed to the address in variable who, still signs in
// as kind.
func checkCodeOf(who, code, kind string) func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
		t.Helper()
		status, body := h.Do(t, http.MethodPost, "/v1/verify/code", negHeaders("Content-Type", "application/json"),
			`{"email":"`+f.get(t, who)+`","code":"`+f.get(t, code)+`","type":"`+kind+`"}`)
		if status != http.StatusOK {
			t.Errorf("the %s code mailed to {{%s}} no longer signs in after a rejected request: %d %s", kind, who, status, body)
		}
	}
}

// fxMailedOTP mails {{email}} a one-time sign-in code: {{otp}}.
func fxMailedOTP(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	email := f.get(t, "email")
	negPostOK(t, h, "/v1/signin/otp/email", `{"email":"`+email+`"}`)
	f.set("otp", h.Mail.Next(t, email).Code(t, 6), true)
}

// fxUseCode spends {{code}}, a password-reset code, through /v1/verify/code.
func fxUseCode(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	negPostOK(t, h, "/v1/verify/code", `{"email":"`+f.get(t, "email")+`","code":"`+f.get(t, "code")+`","type":"passwordReset"}`)
}

// fxFollowLink spends {{ticket}} by following its link.
func fxFollowLink(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	if q := followLink(t, h, f.get(t, "ticket")); q.Get("refreshToken") == "" {
		t.Fatalf("following the mailed link did not sign in: %v", q)
	}
}

// fxCodeOutOfTries spends every try of {{code}} (a password-reset code) on wrong guesses.
func fxCodeOutOfTries(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	for range server.DefaultConfig().CodeMaxAttempts {
		code, resp := h.Do(t, http.MethodPost, "/v1/verify/code", negHeaders("Content-Type", "application/json"),
			`{"email":"`+f.get(t, "email")+`","code":"`+negWrongCode+`","type":"passwordReset"}`)
		if code != http.StatusUnauthorized {
			t.Fatalf("wrong code: %d %s", code, resp)
		}
	}
}

// fxRenameTicket gives {{ticket}} the kind prefix of a password-reset ticket, keeping the rest.
func fxRenameTicket(t *testing.T, _ *servertest.Harness, f *negFixture) {
	t.Helper()
	_, rest, _ := strings.Cut(f.get(t, "ticket"), ":")
	f.set("ticket", "passwordReset:"+rest, true)
}

// fxUnknownTicket: {{ticket}}, a well-formed password-reset ticket that was never mailed.
func fxUnknownTicket(_ *testing.T, _ *servertest.Harness, f *negFixture) {
	f.set("ticket", negResetTicket, true)
}

// --- config options

func anonymousUsersOn(c *server.Config)      { c.AnonymousUsers = true }
func concealErrors(c *server.Config)         { c.ConcealErrors = true }
func signupDisabled(c *server.Config)        { c.DisableSignup = true }
func verifiedEmailRequired(c *server.Config) { c.RequireVerifiedEmail = true }
func linksConfirmed(c *server.Config)        { c.ConfirmLinks = true }

func negOpts(o ...func(*server.Config)) []func(*server.Config) { return o }

// --- checks

// checkSessionAlive asserts that {{access}} still works: the rejected request did not end the session.
func checkSessionAlive(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	t.Helper()
	if u := getUser(t, h, f.get(t, "access")); u.StatusCode() != http.StatusOK {
		t.Errorf("session ended by a rejected request: GET /v1/user = %d %s", u.StatusCode(), u.Body)
	}
}

// checkRefreshRefused asserts that the named refresh token no longer works.
func checkRefreshRefused(name string) func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
		t.Helper()
		r, err := refresh(t, h, f.get(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if r.JSON401 == nil || r.JSON401.Error != gen.ErrorResponseErrorInvalidRefreshToken {
			t.Errorf("refresh with {{%s}} afterwards: %d %s, want 401 invalid-refresh-token", name, r.StatusCode(), r.Body)
		}
	}
}

// checkSessionPayload asserts a {"session": …} answer with tokens.
func checkSessionPayload(t *testing.T, _ *servertest.Harness, _ *negFixture, body []byte) {
	t.Helper()
	var p gen.SessionPayload
	if err := json.Unmarshal(body, &p); err != nil || p.Session == nil || p.Session.AccessToken == "" || p.Session.RefreshToken == "" {
		t.Errorf("want a session payload, got %s", body)
	}
}

// checkSession asserts a bare Session answer (POST /v1/token) that includes the user.
func checkSession(t *testing.T, _ *servertest.Harness, _ *negFixture, body []byte) {
	t.Helper()
	var s gen.Session
	if err := json.Unmarshal(body, &s); err != nil || s.AccessToken == "" || s.RefreshToken == "" || s.User == nil {
		t.Errorf("want a session with its user, got %s", body)
	}
}

// followLink GETs the mailed link of ticket (redirecting to the client URL) and returns the query
// of the 302's Location.
func followLink(t *testing.T, h *servertest.Harness, ticket string) url.Values {
	t.Helper()
	hdr, status, body := h.Send(t, http.MethodGet, negLinkPath(ticket, servertest.ClientURL), nil, "")
	if status != http.StatusFound {
		t.Fatalf("GET /v1/verify: %d %s, want 302", status, body)
	}
	to, err := url.Parse(hdr.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return to.Query()
}

// checkLinkWorks asserts that {{ticket}} still signs in: the rejected request did not spend it.
func checkLinkWorks(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	t.Helper()
	if q := followLink(t, h, f.get(t, "ticket")); q.Get("refreshToken") == "" {
		t.Errorf("the mailed link no longer signs in after a rejected request: %v", q)
	}
}

// checkCodeWorks asserts that {{code}}, mailed to {{email}} for kind, still signs in: the rejected
// request did not spend it.
func checkCodeWorks(kind string) func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
	return func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
		t.Helper()
		status, body := h.Do(t, http.MethodPost, "/v1/verify/code", negHeaders("Content-Type", "application/json"),
			`{"email":"`+f.get(t, "email")+`","code":"`+f.get(t, "code")+`","type":"`+kind+`"}`)
		if status != http.StatusOK {
			t.Errorf("the mailed code no longer signs in after a rejected request: %d %s", status, body)
			return
		}
		checkSessionPayload(t, h, f, body)
	}
}

// checkLinkError asserts a mailed link's failure redirect: back to the client URL, with the
// error and its description and no session.
func checkLinkError(t *testing.T, location string, code gen.ErrorResponseError) {
	t.Helper()
	to, err := url.Parse(location)
	if err != nil || !strings.HasPrefix(location, servertest.ClientURL) {
		t.Errorf("redirect Location %q: want the client URL %s (%v)", location, servertest.ClientURL, err)
		return
	}
	q := to.Query()
	if q.Get("error") != string(code) || q.Get("errorDescription") == "" || q.Get("refreshToken") != "" || q.Get("type") != "" {
		t.Errorf("redirect query %v: want error=%s with a description and no session", q, code)
	}
}

// --- shared row builders

const (
	negBearerAccess = "Bearer {{access}}"
	negBigPad       = 70 << 10 // over the default 64 KiB body limit
)

func negHeaders(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func negBearer(tok string) map[string]string { return negHeaders("Authorization", "Bearer "+tok) }

func negBigBody(prefix string) string {
	return prefix + `"pad":"` + strings.Repeat("a", negBigPad) + `"}`
}

// negRow is a refused request: its status and Nhost error code, nothing written.
func negRow(name string, status int, code gen.ErrorResponseError) negCase {
	return negCase{name: name, wantStatus: status, wantCode: code, wantNoWrites: true}
}

// negInvalid is a request the contract rejects: 400 invalid-request, nothing written.
func negInvalid(name, body string) negCase {
	c := negRow(name, http.StatusBadRequest, gen.ErrorResponseErrorInvalidRequest)
	c.body = body
	return c
}

// negBodyShapeCases are the malformed and mistyped bodies every JSON operation must refuse with 400.
func negBodyShapeCases(required bool) []negCase {
	out := []negCase{
		negInvalid("malformed-json", `{"email": "a@example.com", `),
		negInvalid("trailing-comma", `{"a":1,}`),
		negInvalid("json-null", `null`),
		negInvalid("json-array", `[]`),
		negInvalid("json-array-of-object", `[{}]`),
		negInvalid("json-string", `"hello"`),
		negInvalid("json-number", `42`),
		negInvalid("json-true", `true`),
	}
	if required {
		empty := negInvalid("empty-body", "")
		empty.headers = negHeaders("Content-Type", "application/json")
		out = append(out, empty, negInvalid("empty-body-no-content-type", ""))
	}
	return out
}

// negMediaCases are the wrong media types and oversized bodies, for an operation whose valid body is
// given (so only the media type or the size is wrong).
func negMediaCases(validBody string) []negCase {
	textPlain := negRow("content-type-text-plain", http.StatusUnsupportedMediaType, gen.ErrorResponseErrorInvalidRequest)
	textPlain.body, textPlain.headers = validBody, negHeaders("Content-Type", "text/plain")
	form := negRow("content-type-form", http.StatusUnsupportedMediaType, gen.ErrorResponseErrorInvalidRequest)
	form.body, form.headers = validBody, negHeaders("Content-Type", "application/x-www-form-urlencoded")
	none := negRow("content-type-missing", http.StatusUnsupportedMediaType, gen.ErrorResponseErrorInvalidRequest)
	none.body, none.headers = validBody, negHeaders("Content-Type", "")
	prefix := strings.TrimSuffix(strings.TrimSpace(validBody), "}")
	if !strings.HasSuffix(prefix, "{") {
		prefix += ","
	}
	tooLarge := negRow("body-over-64KiB", http.StatusRequestEntityTooLarge, gen.ErrorResponseErrorInvalidRequest)
	tooLarge.body = negBigBody(prefix)
	chunked := tooLarge
	chunked.name, chunked.chunked = "body-over-64KiB-chunked", true
	return []negCase{textPlain, form, none, tooLarge, chunked}
}

// negForOp fills the method, the path and (where a row has none) the setup of every row.
func negForOp(method, path string, setup negSetup, cases ...[]negCase) []negCase {
	var out []negCase
	for _, cs := range cases {
		for _, c := range cs {
			if c.method == "" {
				c.method = method
			}
			if c.path == "" {
				c.path = path
			}
			if c.setup == nil {
				c.setup = setup
			}
			out = append(out, c)
		}
	}
	return out
}

// negAuthed sends the fixture's access token with every row that sets no Authorization itself.
func negAuthed(cs ...negCase) []negCase {
	for i := range cs {
		if cs[i].headers == nil {
			cs[i].headers = map[string]string{}
		}
		if _, ok := cs[i].headers["Authorization"]; !ok {
			cs[i].headers["Authorization"] = negBearerAccess
		}
	}
	return cs
}

// negWithOpts adds config options to every row.
func negWithOpts(cs []negCase, o ...func(*server.Config)) []negCase {
	for i := range cs {
		cs[i].opts = append(append([]func(*server.Config){}, cs[i].opts...), o...)
	}
	return cs
}

// negAuthCases are the bad credentials an operation that takes an access token must refuse with
// 401: none, garbage, forged, expired, of an ended session, of a disabled user. base signs the
// user in; body is a valid body for the operation. When the token is optional (security
// alternatives include {}), a malformed body without a token is a body problem, 400.
func negAuthCases(base negSetup, body string, optional bool) []negCase {
	unauth := func(name string, setup negSetup, headers map[string]string) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest)
		c.setup, c.headers, c.body = setup, headers, body
		return c
	}
	forged := fxSteps(base, fxForgedTokens)
	malformedNoToken := unauth("no-authorization-and-malformed-body", base, nil)
	malformedNoToken.body = `{"nope`
	if optional {
		malformedNoToken.wantStatus = http.StatusBadRequest
	}
	disabled := negRow("jwt-disabled-user", http.StatusUnauthorized, gen.ErrorResponseErrorDisabledUser)
	disabled.setup, disabled.headers, disabled.body = fxSteps(base, fxDisableUser), negBearer("{{access}}"), body
	out := []negCase{
		unauth("no-authorization", base, nil),
		unauth("bearer-garbage", base, negBearer("not-a-jwt")),
		unauth("bearer-empty", base, negHeaders("Authorization", "Bearer ")),
		unauth("basic-scheme", base, negHeaders("Authorization", "Basic b3duZXI6T3duZXItcGFzcy04ODQx")),
		unauth("bearer-refresh-token", base, negBearer("{{refresh}}")),
		unauth("jwt-tampered-payload", forged, negBearer("{{tampered}}")),
		unauth("jwt-foreign-key", forged, negBearer("{{foreign}}")),
		unauth("jwt-alg-none", forged, negBearer("{{none}}")),
		unauth("jwt-expired", fxSteps(base, fxExpireAccess), negBearer("{{access}}")),
		unauth("jwt-signed-out-session", fxSteps(base, fxEndSession), negBearer("{{access}}")),
		disabled,
	}
	if body != "" {
		out = append(out, malformedNoToken)
	}
	return out
}

// negMethodCases: other methods on a path answer 405 with a JSON Nhost error.
func negMethodCases(path string, methods ...string) []negCase {
	var out []negCase
	for _, m := range methods {
		c := negRow("method-"+strings.ToLower(m), http.StatusMethodNotAllowed, gen.ErrorResponseErrorInvalidRequest)
		c.method, c.path = m, path
		out = append(out, c)
	}
	return out
}

func negRows(cs ...negCase) []negCase { return cs }

// negOK is a request the server answers "OK" to although it does nothing: the same answer as for
// an account that gets its mail, and nothing written.
func negOK(name string, setup negSetup, body string) negCase {
	return negCase{name: name, setup: setup, body: body, wantStatus: http.StatusOK, wantBody: "\"OK\"\n", wantNoWrites: true}
}

// negBadRedirects are redirect targets outside the test server's allow-list, which is its client
// URL (servertest.ClientURL) alone. Each passes the contract's uri format.
var negBadRedirects = []struct{ name, url string }{
	{"redirect-to-foreign-host", "https://evil.example/"},
	{"redirect-to-client-host-as-subdomain", "https://app.latchkey.test.evil.example/"},
	{"redirect-to-client-host-as-user-info", "https://app.latchkey.test@evil.example/"},
	{"redirect-to-client-host-over-http", "http://app.latchkey.test/"},
	{"redirect-to-client-host-other-port", "https://app.latchkey.test:8443/"},
	{"redirect-to-dot-dot-path", "https://app.latchkey.test/app/../admin"},
	{"redirect-to-javascript", "javascript:alert(1)"},
}

// negRedirectCases are the disallowed redirects for an operation: 400 redirectTo-not-allowed,
// nothing written. fill puts the target into a row that is otherwise valid.
func negRedirectCases(fill func(c *negCase, redirectTo string)) []negCase {
	out := make([]negCase, 0, len(negBadRedirects))
	for _, r := range negBadRedirects {
		c := negRow(r.name, http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
		fill(&c, r.url)
		out = append(out, c)
	}
	return out
}

// negLinkPath is a mailed link: /v1/verify with the ticket (a {{placeholder}} or a ticket, both
// safe in a query as they are) and the redirect.
func negLinkPath(ticket, redirectTo string) string {
	return "/v1/verify?ticket=" + ticket + "&redirectTo=" + url.QueryEscape(redirectTo)
}

// --- per operation

func signUpNegative() []negCase {
	valid := `{"email":"{{newEmail}}","password":"` + pwOwner + `"}`
	withOptions := func(o string) string {
		return `{"email":"{{newEmail}}","password":"` + pwOwner + `","options":` + o + `}`
	}
	dup := func(name, email string) negCase {
		c := negRow(name, http.StatusConflict, gen.ErrorResponseErrorEmailAlreadyInUse)
		c.setup, c.body = fxOtherUser, `{"email":"`+email+`","password":"`+pwOwner+`"}`
		return c
	}
	// Concealed, a taken address gets a new address's answer (no session in conceal mode) and
	// creates nothing: its owner gets a notice, and the attempt is audited.
	concealDup := negCase{name: "conceal-duplicate-email", body: `{"email":"{{takenEmail}}","password":"` + pwOwner + `"}`,
		wantStatus: http.StatusOK, wantBody: "{}\n", wantNoWrites: true, except: []string{"mail_outbox", "audit_events"}}
	concealDup.setup, concealDup.opts = fxOtherUser, negOpts(concealErrors)
	disabled := negRow("signup-disabled", http.StatusForbidden, gen.ErrorResponseErrorSignupDisabled)
	disabled.body, disabled.opts = valid, negOpts(signupDisabled)
	disabledBad := negInvalid("signup-disabled-bad-body", `{"email":"{{newEmail}}"}`)
	disabledBad.opts = negOpts(signupDisabled)
	concealDisabled := negInvalid("conceal-signup-disabled", valid)
	concealDisabled.opts = negOpts(signupDisabled, concealErrors)
	roleNA := negRow("role-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRoleNotAllowed)
	roleNA.body = withOptions(`{"allowedRoles":["user","admin"]}`)
	concealRole := negInvalid("conceal-role-not-allowed", roleNA.body)
	concealRole.opts = negOpts(concealErrors)
	defRole := negRow("default-role-not-in-allowed-roles", http.StatusBadRequest, gen.ErrorResponseErrorDefaultRoleMustBeInAllowedRoles)
	defRole.body = withOptions(`{"allowedRoles":["user"],"defaultRole":"me"}`)
	defRoleUnknown := negRow("default-role-not-in-default-allowed-roles", http.StatusBadRequest, gen.ErrorResponseErrorDefaultRoleMustBeInAllowedRoles)
	defRoleUnknown.body = withOptions(`{"defaultRole":"admin"}`)
	locale := negRow("locale-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorLocaleNotAllowed)
	locale.body = withOptions(`{"locale":"fr"}`)
	tooShort := negRow("password-under-server-minimum", http.StatusBadRequest, gen.ErrorResponseErrorPasswordTooShort)
	tooShort.body = `{"email":"{{newEmail}}","password":"` + pwUnderPolicy + `"}`
	// nhost-js attaches its stored access token, expired or not, to every request.
	stale := negCase{name: "stale-bearer-ignored", setup: fxSteps(fxUser, fxExpireAccess), headers: negBearer("{{access}}"),
		body: valid, wantStatus: http.StatusOK, check: checkSessionPayload}
	garbage := negCase{name: "garbage-bearer-ignored", headers: negBearer("not-a-jwt"), body: valid,
		wantStatus: http.StatusOK, check: checkSessionPayload}

	return negForOp(http.MethodPost, "/v1/signup/email-password", nil,
		negBodyShapeCases(true),
		negMediaCases(valid),
		negMethodCases("/v1/signup/email-password", http.MethodGet, http.MethodPut),
		negRows(
			negInvalid("empty-object", `{}`),
			negInvalid("missing-email", `{"password":"`+pwOwner+`"}`),
			negInvalid("missing-password", `{"email":"{{newEmail}}"}`),
			negInvalid("email-number", `{"email":42,"password":"`+pwOwner+`"}`),
			negInvalid("email-null", `{"email":null,"password":"`+pwOwner+`"}`),
			negInvalid("password-object", `{"email":"{{newEmail}}","password":{"value":"`+pwOwner+`"}}`),
			negInvalid("password-number", `{"email":"{{newEmail}}","password":123456789}`),
			negInvalid("unknown-field", `{"email":"{{newEmail}}","password":"`+pwOwner+`","isAdmin":true}`),
			negInvalid("field-names-case-folded", `{"Email":"{{newEmail}}","Password":"`+pwOwner+`"}`),
			negInvalid("unknown-option", withOptions(`{"isAdmin":true}`)),
			negInvalid("email-bad-format", `{"email":"not-an-email","password":"`+pwOwner+`"}`),
			negInvalid("email-with-display-name", `{"email":"New <{{newEmail}}>","password":"`+pwOwner+`"}`),
			negInvalid("email-empty", `{"email":"","password":"`+pwOwner+`"}`),
			negInvalid("password-under-contract-minimum", `{"email":"{{newEmail}}","password":"`+pwUnderContract+`"}`),
			negInvalid("password-over-maximum", `{"email":"{{newEmail}}","password":"`+pwOverContract+`"}`),
			negInvalid("options-not-object", withOptions(`"user"`)),
			negInvalid("allowed-roles-string", withOptions(`{"allowedRoles":"user"}`)),
			negInvalid("allowed-roles-numbers", withOptions(`{"allowedRoles":[1,2]}`)),
			negInvalid("display-name-markup", withOptions(`{"displayName":"<b>x</b>"}`)),
			negInvalid("display-name-too-long", withOptions(`{"displayName":"`+strings.Repeat("n", 33)+`"}`)),
			negInvalid("locale-three-letters", withOptions(`{"locale":"eng"}`)),
			negInvalid("metadata-array", withOptions(`{"metadata":[1]}`)),
			negInvalid("redirect-to-not-uri", withOptions(`{"redirectTo":"not a uri"}`)),
			negInvalid("code-challenge-too-long", `{"email":"{{newEmail}}","password":"`+pwOwner+`","codeChallenge":"`+strings.Repeat("c", 129)+`"}`),
			dup("duplicate-email", "{{takenEmail}}"),
			dup("duplicate-email-other-case", "{{takenEmailCased}}"),
			concealDup,
			tooShort,
			roleNA, concealRole, defRole, defRoleUnknown, locale,
			disabled, disabledBad, concealDisabled,
			stale, garbage,
		))
}

func signInNegative() []negCase {
	valid := `{"email":"{{email}}","password":"` + pwOwner + `"}`
	audit := []string{"audit_events"} // a failed sign-in is audited, and writes nothing else
	failed := func(name, body string) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidEmailPassword)
		c.body, c.except = body, audit
		return c
	}
	wrongPassword := func(name, body string) negCase {
		c := failed(name, body)
		c.except = negWrongPassword
		return c
	}
	wrong := wrongPassword("wrong-password", `{"email":"{{email}}","password":"`+pwWrong+`"}`)
	// A wrong password and an unknown address must be indistinguishable, byte for byte.
	wrong.check = func(t *testing.T, h *servertest.Harness, _ *negFixture, body []byte) {
		t.Helper()
		_, other := h.Do(t, http.MethodPost, "/v1/signin/email-password", negHeaders("Content-Type", "application/json"),
			`{"email":"nobody@example.com","password":"`+pwWrong+`"}`)
		if !bytes.Equal(body, other) {
			t.Errorf("wrong password and unknown email answer differently:\n%s\n%s", body, other)
		}
	}
	disabled := negRow("disabled-user", http.StatusUnauthorized, gen.ErrorResponseErrorDisabledUser)
	disabled.setup, disabled.body, disabled.except = fxSteps(fxUser, fxDisableUser), valid, audit
	unverified := negRow("unverified-user", http.StatusUnauthorized, gen.ErrorResponseErrorUnverifiedUser)
	unverified.setup, unverified.body, unverified.opts, unverified.except = fxUnverifiedUser, valid, negOpts(verifiedEmailRequired), audit
	concealWrong := negInvalid("conceal-wrong-password", `{"email":"{{email}}","password":"`+pwWrong+`"}`)
	concealWrong.opts, concealWrong.except = negOpts(concealErrors), negWrongPassword
	concealUnknown := negInvalid("conceal-unknown-email", `{"email":"nobody@example.com","password":"`+pwWrong+`"}`)
	concealUnknown.opts, concealUnknown.except = negOpts(concealErrors), negWrongPassword
	// Concealed, a disabled account's right password is answered, and counted toward a lock,
	// as a wrong one (TestConcealSignInAfterSignUp).
	concealDisabled := negInvalid("conceal-disabled-user", valid)
	concealDisabled.setup, concealDisabled.opts, concealDisabled.except = fxSteps(fxUser, fxDisableUser), negOpts(concealErrors), negWrongPassword
	stale := negCase{name: "stale-bearer-ignored", setup: fxSteps(fxUser, fxExpireAccess), headers: negBearer("{{access}}"),
		body: valid, wantStatus: http.StatusOK, check: checkSessionPayload}
	ended := negCase{name: "signed-out-bearer-ignored", setup: fxSteps(fxUser, fxEndSession), headers: negBearer("{{access}}"),
		body: valid, wantStatus: http.StatusOK, check: checkSessionPayload}

	return negForOp(http.MethodPost, "/v1/signin/email-password", fxUser,
		negBodyShapeCases(true),
		negMediaCases(valid),
		negMethodCases("/v1/signin/email-password", http.MethodGet, http.MethodDelete),
		negRows(
			negInvalid("empty-object", `{}`),
			negInvalid("missing-email", `{"password":"`+pwOwner+`"}`),
			negInvalid("missing-password", `{"email":"{{email}}"}`),
			negInvalid("email-number", `{"email":42,"password":"`+pwOwner+`"}`),
			negInvalid("email-array", `{"email":["{{email}}"],"password":"`+pwOwner+`"}`),
			negInvalid("password-object", `{"email":"{{email}}","password":{"value":"`+pwOwner+`"}}`),
			negInvalid("password-null", `{"email":"{{email}}","password":null}`),
			negInvalid("password-bool", `{"email":"{{email}}","password":true}`),
			negInvalid("unknown-field", `{"email":"{{email}}","password":"`+pwOwner+`","remember":true}`),
			negInvalid("field-names-case-folded", `{"EMAIL":"{{email}}","PASSWORD":"`+pwOwner+`"}`),
			negInvalid("email-bad-format", `{"email":"owner-at-example.com","password":"`+pwOwner+`"}`),
			negInvalid("email-with-display-name", `{"email":"Owner <{{email}}>","password":"`+pwOwner+`"}`),
			negInvalid("email-too-long", `{"email":"`+strings.Repeat("o", 250)+`@example.com","password":"`+pwOwner+`"}`),
			negInvalid("password-under-contract-minimum", `{"email":"{{email}}","password":"`+pwUnderContract+`"}`),
			negInvalid("password-over-maximum", `{"email":"{{email}}","password":"`+pwOverContract+`"}`),
			wrong,
			wrongPassword("unknown-email", `{"email":"nobody@example.com","password":"`+pwOwner+`"}`),
			// The server's minimum length is a sign-up rule: at sign-in a short password is just wrong.
			wrongPassword("short-password-is-just-wrong", `{"email":"{{email}}","password":"`+pwUnderPolicy+`"}`),
			wrongPassword("wrong-password-email-other-case", `{"email":"{{emailCased}}","password":"`+pwWrong+`"}`),
			disabled, unverified,
			concealWrong, concealUnknown, concealDisabled,
			stale, ended,
		))
}

func signInAnonymousNegative() []negCase {
	off := func(name, body string, headers map[string]string, o ...func(*server.Config)) negCase {
		c := negRow(name, http.StatusConflict, gen.ErrorResponseErrorDisabledEndpoint)
		c.body, c.headers, c.opts = body, headers, o
		return c
	}
	localeNA := negRow("locale-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorLocaleNotAllowed)
	localeNA.body = `{"locale":"fr"}`
	// nhost-js sends Content-Type: application/json and no body at all.
	bodiless := negCase{name: "bodiless-json-content-type", headers: negHeaders("Content-Type", "application/json"),
		wantStatus: http.StatusOK, check: checkSessionPayload}
	staleBodiless := negCase{name: "bodiless-with-stale-bearer", setup: fxSteps(fxAnon, fxExpireAccess),
		headers: negHeaders("Content-Type", "application/json", "Authorization", negBearerAccess), wantStatus: http.StatusOK, check: checkSessionPayload}

	return negForOp(http.MethodPost, "/v1/signin/anonymous", nil,
		negRows(
			off("disabled-endpoint-bodiless", "", negHeaders("Content-Type", "application/json")),
			off("disabled-endpoint-empty-object", `{}`, nil),
			off("disabled-endpoint-conceal", `{}`, nil, concealErrors),
		),
		negWithOpts(negBodyShapeCases(false), anonymousUsersOn),
		negWithOpts(negMediaCases(`{"displayName":"Anon"}`), anonymousUsersOn),
		negWithOpts(negMethodCases("/v1/signin/anonymous", http.MethodGet, http.MethodPut), anonymousUsersOn),
		negWithOpts(negRows(
			negInvalid("unknown-field", `{"displayName":"Anon","role":"admin"}`),
			negInvalid("display-name-number", `{"displayName":7}`),
			negInvalid("locale-three-letters", `{"locale":"eng"}`),
			negInvalid("locale-number", `{"locale":12}`),
			negInvalid("metadata-string", `{"metadata":"x"}`),
			negInvalid("metadata-array", `{"metadata":[]}`),
			localeNA,
			bodiless,
			staleBodiless,
		), anonymousUsersOn))
}

func signInPATNegative() []negCase {
	valid := `{"personalAccessToken":"{{pat}}"}`
	audit := []string{"audit_events"} // a failed PAT sign-in is audited, and writes nothing else
	failed := func(name string, setup negSetup, body string) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidPat)
		c.setup, c.body, c.except = setup, body, audit
		return c
	}
	disabled := negRow("disabled-user", http.StatusUnauthorized, gen.ErrorResponseErrorDisabledUser)
	disabled.setup, disabled.body, disabled.except = fxSteps(fxUser, fxPAT, fxDisableUser), valid, audit
	// hasura-auth conceals invalid-pat too; Latchkey does not: a PAT is a random secret that says
	// nothing about accounts, so conceal mode keeps the 401 and its code.
	concealUnknown := negRow("conceal-unknown-pat", http.StatusUnauthorized, gen.ErrorResponseErrorInvalidPat)
	concealUnknown.body = `{"personalAccessToken":"` + uuid.NewString() + `"}`
	concealUnknown.opts, concealUnknown.except = negOpts(concealErrors), audit
	stale := negCase{name: "stale-bearer-ignored", setup: fxSteps(fxUser, fxPAT, fxExpireAccess), headers: negBearer("{{access}}"),
		body: valid, wantStatus: http.StatusOK, check: checkSessionPayload}

	return negForOp(http.MethodPost, "/v1/signin/pat", fxSteps(fxUser, fxPAT),
		negBodyShapeCases(true),
		negMediaCases(valid),
		negMethodCases("/v1/signin/pat", http.MethodGet, http.MethodDelete),
		negRows(
			negInvalid("empty-object", `{}`),
			negInvalid("pat-number", `{"personalAccessToken":42}`),
			negInvalid("pat-null", `{"personalAccessToken":null}`),
			negInvalid("pat-not-uuid", `{"personalAccessToken":"not-a-token"}`),
			negInvalid("pat-uppercase-uuid", `{"personalAccessToken":"`+strings.ToUpper(uuid.NewString())+`"}`),
			negInvalid("pat-uuid-with-braces", `{"personalAccessToken":"{`+uuid.NewString()+`}"}`),
			negInvalid("unknown-field", `{"personalAccessToken":"{{pat}}","extra":1}`),
			negInvalid("access-token-instead", `{"personalAccessToken":"{{access}}"}`),
			failed("unknown-pat", nil, `{"personalAccessToken":"`+uuid.NewString()+`"}`),
			failed("refresh-token-as-pat", nil, `{"personalAccessToken":"{{refresh}}"}`),
			failed("expired-pat", fxSteps(fxUser, fxPAT, fxAdvance(2*time.Hour)), valid),
			disabled,
			concealUnknown,
			stale,
		))
}

func createPATNegative() []negCase {
	valid := `{"expiresAt":"{{future}}","metadata":{"name":"ci"}}`
	anon := negRow("anonymous-user", http.StatusForbidden, gen.ErrorResponseErrorForbiddenAnonymous)
	anon.setup, anon.body, anon.opts = fxAnon, valid, negOpts(anonymousUsersOn)
	concealAnon := negInvalid("conceal-anonymous-user", valid)
	concealAnon.setup, concealAnon.opts = fxAnon, negOpts(anonymousUsersOn, concealErrors)

	return negForOp(http.MethodPost, "/v1/pat", fxUser,
		negAuthCases(fxUser, valid, false),
		negAuthed(negBodyShapeCases(true)...),
		negAuthed(negMediaCases(valid)...),
		negAuthed(negMethodCases("/v1/pat", http.MethodPut, http.MethodDelete)...),
		negAuthed(
			negInvalid("empty-object", `{}`),
			negInvalid("missing-expires-at", `{"metadata":{"name":"ci"}}`),
			negInvalid("expires-at-number", `{"expiresAt":1893456000}`),
			negInvalid("expires-at-not-a-date", `{"expiresAt":"tomorrow"}`),
			negInvalid("expires-at-date-only", `{"expiresAt":"2099-01-01"}`),
			negInvalid("expires-at-without-zone", `{"expiresAt":"{{nozone}}"}`),
			negInvalid("metadata-string", `{"expiresAt":"{{future}}","metadata":"ci"}`),
			negInvalid("unknown-field", `{"expiresAt":"{{future}}","scope":"admin"}`),
			negInvalid("expires-at-in-the-past", `{"expiresAt":"{{past}}"}`),
			negInvalid("expires-at-now", `{"expiresAt":"{{now}}"}`),
			negInvalid("expires-at-beyond-the-longest-life", `{"expiresAt":"9999-12-31T23:59:59Z"}`),
			anon, concealAnon,
		))
}

func refreshTokenNegative() []negCase {
	valid := `{"refreshToken":"{{refresh}}"}`
	refused := func(name string, setup negSetup, body string) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRefreshToken)
		c.setup, c.body = setup, body
		return c
	}
	replay := refused("spent-token-replayed", fxSteps(fxUser, fxSpendRefresh), valid)
	replay.except = []string{"audit_events", "sessions"} // the replay revokes the session and audits it
	replay.check = checkRefreshRefused("next")
	disabled := negRow("disabled-user", http.StatusUnauthorized, gen.ErrorResponseErrorDisabledUser)
	disabled.setup, disabled.body = fxSteps(fxUser, fxDisableUser), valid
	// hasura-auth conceals invalid-refresh-token too; Latchkey keeps the 401, because nhost-js
	// drops a dead session only when a refresh fails with 401 (API.md).
	concealUnknown := negRow("conceal-unknown-token", http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRefreshToken)
	concealUnknown.body = `{"refreshToken":"` + uuid.NewString() + `"}`
	concealUnknown.opts = negOpts(concealErrors)
	// nhost-js sends its stored access token, expired or not, with the refresh.
	stale := negCase{name: "stale-bearer-ignored", setup: fxSteps(fxUser, fxExpireAccess), headers: negBearer("{{access}}"),
		body: valid, wantStatus: http.StatusOK, check: checkSession}
	garbage := negCase{name: "garbage-bearer-ignored", headers: negBearer("not-a-jwt"), body: valid,
		wantStatus: http.StatusOK, check: checkSession}
	ended := negCase{name: "signed-out-bearer-ignored", setup: fxSteps(fxUser, fxOtherUser, func(t *testing.T, h *servertest.Harness, f *negFixture) {
		// The bearer is an ended session's token; the refresh token belongs to another, live session.
		fxEndSession(t, h, f)
		f.set("refresh", f.get(t, "otherRefresh"), true)
	}), headers: negBearer("{{access}}"), body: valid, wantStatus: http.StatusOK, check: checkSession}

	return negForOp(http.MethodPost, "/v1/token", fxUser,
		negBodyShapeCases(true),
		negMediaCases(valid),
		negMethodCases("/v1/token", http.MethodGet, http.MethodPut),
		negRows(
			negInvalid("empty-object", `{}`),
			negInvalid("refresh-token-number", `{"refreshToken":42}`),
			negInvalid("refresh-token-object", `{"refreshToken":{"id":"{{refresh}}"}}`),
			negInvalid("refresh-token-null", `{"refreshToken":null}`),
			negInvalid("refresh-token-empty", `{"refreshToken":""}`),
			negInvalid("refresh-token-not-uuid", `{"refreshToken":"not-a-refresh-token"}`),
			negInvalid("refresh-token-uppercase-uuid", `{"refreshToken":"`+strings.ToUpper(uuid.NewString())+`"}`),
			negInvalid("refresh-token-uuid-no-dashes", `{"refreshToken":"`+strings.ReplaceAll(uuid.NewString(), "-", "")+`"}`),
			negInvalid("access-token-instead", `{"refreshToken":"{{access}}"}`),
			negInvalid("unknown-field", `{"refreshToken":"{{refresh}}","all":true}`),
			refused("unknown-token", nil, `{"refreshToken":"`+uuid.NewString()+`"}`),
			refused("expired-token", fxSteps(fxUser, fxAdvance(31*24*time.Hour)), valid),
			refused("signed-out-session", fxSteps(fxUser, fxEndSession), valid),
			refused("pat-as-refresh-token", fxSteps(fxUser, fxPAT), `{"refreshToken":"{{pat}}"}`),
			replay,
			disabled,
			concealUnknown,
			stale, garbage, ended,
		))
}

func verifyTokenNegative() []negCase {
	unauth := func(name string, setup negSetup, headers map[string]string, body string) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest)
		c.setup, c.headers, c.body = setup, headers, body
		return c
	}
	inBody := func(tok string) string { return `{"token":"` + tok + `"}` }
	// nhost-js's verifyToken(): Content-Type: application/json, the bearer, no body.
	bodiless := func(tok string) map[string]string {
		return negHeaders("Content-Type", "application/json", "Authorization", "Bearer "+tok)
	}
	forged := fxSteps(fxUser, fxForgedTokens)
	// A disabled user's token is refused the same way whether it comes in the body or the header.
	disabledBearer := negRow("disabled-user-bearer", http.StatusUnauthorized, gen.ErrorResponseErrorDisabledUser)
	disabledBearer.setup, disabledBearer.headers = fxSteps(fxUser, fxDisableUser), bodiless("{{access}}")
	disabledBody := negRow("disabled-user-in-body", http.StatusUnauthorized, gen.ErrorResponseErrorDisabledUser)
	disabledBody.setup, disabledBody.body = fxSteps(fxUser, fxDisableUser), inBody("{{access}}")
	ok := negCase{name: "bodiless-json-content-type-valid-bearer", headers: bodiless("{{access}}"),
		wantStatus: http.StatusOK, wantBody: "\"OK\"\n"}
	okNoType := negCase{name: "bodiless-valid-bearer", headers: negBearer("{{access}}"), wantStatus: http.StatusOK, wantBody: "\"OK\"\n"}

	return negForOp(http.MethodPost, "/v1/token/verify", fxUser,
		negBodyShapeCases(false),
		negMediaCases(inBody("{{access}}")),
		negMethodCases("/v1/token/verify", http.MethodGet, http.MethodDelete),
		negRows(
			negInvalid("token-number", `{"token":42}`),
			negInvalid("token-object", `{"token":{"jwt":"x"}}`),
			negInvalid("unknown-field", `{"token":"{{access}}","audience":"x"}`),
			unauth("no-token-bodiless", nil, negHeaders("Content-Type", "application/json"), ""),
			unauth("no-token-empty-object", nil, nil, `{}`),
			unauth("bearer-garbage", nil, bodiless("not-a-jwt"), ""),
			unauth("basic-scheme", nil, negHeaders("Content-Type", "application/json", "Authorization", "Basic b3duZXI6eA=="), ""),
			unauth("bearer-refresh-token", nil, bodiless("{{refresh}}"), ""),
			unauth("bearer-tampered-payload", forged, bodiless("{{tampered}}"), ""),
			unauth("bearer-foreign-key", forged, bodiless("{{foreign}}"), ""),
			unauth("bearer-alg-none", forged, bodiless("{{none}}"), ""),
			unauth("bearer-expired", fxSteps(fxUser, fxExpireAccess), bodiless("{{access}}"), ""),
			unauth("bearer-signed-out-session", fxSteps(fxUser, fxEndSession), bodiless("{{access}}"), ""),
			unauth("body-garbage", nil, nil, inBody("not-a-jwt")),
			unauth("body-empty-string", nil, nil, inBody("")),
			unauth("body-refresh-token", nil, nil, inBody("{{refresh}}")),
			unauth("body-tampered-payload", forged, nil, inBody("{{tampered}}")),
			unauth("body-foreign-key", forged, nil, inBody("{{foreign}}")),
			unauth("body-alg-none", forged, nil, inBody("{{none}}")),
			unauth("body-expired", fxSteps(fxUser, fxExpireAccess), nil, inBody("{{access}}")),
			unauth("body-signed-out-session", fxSteps(fxUser, fxEndSession), nil, inBody("{{access}}")),
			unauth("body-garbage-wins-over-valid-bearer", nil, negBearer("{{access}}"), inBody("not-a-jwt")),
			disabledBearer, disabledBody,
			ok, okNoType,
		))
}

func signOutNegative() []negCase {
	unauth := func(name string, setup negSetup, headers map[string]string) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest)
		c.setup, c.headers, c.body = setup, headers, `{"all":true}`
		return c
	}
	forged := fxSteps(fxUser, fxForgedTokens)
	noBody := negRow("no-body-no-token", http.StatusBadRequest, gen.ErrorResponseErrorInvalidRequest)
	noBodyJSON := negRow("no-body-json-content-type-no-token", http.StatusBadRequest, gen.ErrorResponseErrorInvalidRequest)
	noBodyJSON.headers = negHeaders("Content-Type", "application/json")
	// The contract's member is "refreshToken"; "RefreshToken" is just an unknown member (this
	// schema allows those). Such a body names no session, and with no bearer the request is 400,
	// and the session of the token it carries must live on. (Go's encoding/json would bind the
	// member case-insensitively, past the validator's UUID check.)
	folded := negInvalid("field-name-case-folded", `{"RefreshToken":"{{refresh}}"}`)
	folded.check = checkSessionAlive
	// nhost-js sends its stored (possibly expired) access token along with the refresh token.
	stale := negCase{name: "stale-bearer-with-refresh-token", setup: fxSteps(fxUser, fxExpireAccess), headers: negBearer("{{access}}"),
		body: `{"refreshToken":"{{refresh}}"}`, wantStatus: http.StatusOK, wantBody: "\"OK\"\n", check: checkRefreshRefused("refresh")}

	// Signing out only takes access away: a disabled user's client must still be able to end its
	// session, bearer attached (whatever the fix for disabled users on optional-token operations).
	disabled := negCase{name: "disabled-user-bearer-with-refresh-token", setup: fxSteps(fxUser, fxDisableUser),
		headers: negBearer("{{access}}"), body: `{"refreshToken":"{{refresh}}"}`, wantStatus: http.StatusOK, wantBody: "\"OK\"\n",
		check: checkRefreshRefused("refresh")}

	return negForOp(http.MethodPost, "/v1/signout", fxUser,
		negBodyShapeCases(false),
		negMediaCases(`{"refreshToken":"{{refresh}}"}`),
		negMethodCases("/v1/signout", http.MethodGet, http.MethodDelete),
		negRows(
			noBody, noBodyJSON,
			negInvalid("empty-object-no-token", `{}`),
			negInvalid("all-false-no-token", `{"all":false}`),
			negInvalid("all-string", `{"all":"true"}`),
			negInvalid("all-number", `{"all":1}`),
			negInvalid("all-null", `{"all":null}`),
			negInvalid("refresh-token-number", `{"refreshToken":42}`),
			negInvalid("refresh-token-not-uuid", `{"refreshToken":"not-a-refresh-token"}`),
			negInvalid("refresh-token-uppercase-uuid", `{"refreshToken":"`+strings.ToUpper(uuid.NewString())+`"}`),
			negInvalid("refresh-token-access-token", `{"refreshToken":"{{access}}"}`),
			unauth("all-no-token", fxUser, nil),
			unauth("all-bearer-garbage", fxUser, negBearer("not-a-jwt")),
			unauth("all-bearer-tampered", forged, negBearer("{{tampered}}")),
			unauth("all-bearer-foreign-key", forged, negBearer("{{foreign}}")),
			unauth("all-bearer-alg-none", forged, negBearer("{{none}}")),
			unauth("all-bearer-expired", fxSteps(fxUser, fxExpireAccess), negBearer("{{access}}")),
			unauth("all-bearer-signed-out-session", fxSteps(fxUser, fxEndSession), negBearer("{{access}}")),
			folded,
			stale, disabled,
		))
}

func getUserNegative() []negCase {
	return negForOp(http.MethodGet, "/v1/user", fxUser,
		negAuthCases(fxUser, "", false),
		negMethodCases("/v1/user", http.MethodPost, http.MethodDelete),
	)
}

func deanonymizeNegative() []negCase {
	body := func(email, extra string) string {
		return `{"signInMethod":"email-password","email":"` + email + `","password":"` + pwNew + `"` + extra + `}`
	}
	valid := body("{{anonEmail}}", "")
	notAnon := negRow("user-not-anonymous", http.StatusBadRequest, gen.ErrorResponseErrorUserNotAnonymous)
	notAnon.setup, notAnon.body = fxUser, valid
	inUse := func(name, email string) negCase {
		c := negRow(name, http.StatusConflict, gen.ErrorResponseErrorEmailAlreadyInUse)
		c.setup, c.body = fxSteps(fxOtherUser, fxAnon), body(email, "")
		return c
	}
	// Concealed, a taken address gets a free one's "OK" and the account the same change (a
	// regular one, with no address yet: TestConcealDeanonymize); no ticket is made, and the
	// address's owner gets a notice.
	concealInUse := func(name, body string) negCase {
		return negCase{name: name, setup: fxSteps(fxOtherUser, fxAnon), body: body, opts: negOpts(concealErrors),
			wantStatus: http.StatusOK, wantBody: "\"OK\"\n", wantNoWrites: true,
			except: []string{"users", "user_roles", "audit_events", "mail_outbox"}}
	}
	tooShort := negRow("password-under-server-minimum", http.StatusBadRequest, gen.ErrorResponseErrorPasswordTooShort)
	tooShort.body = `{"signInMethod":"email-password","email":"{{anonEmail}}","password":"` + pwUnderPolicy + `"}`
	roleNA := negRow("role-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRoleNotAllowed)
	roleNA.body = body("{{anonEmail}}", `,"options":{"allowedRoles":["admin"]}`)
	defRole := negRow("default-role-not-in-allowed-roles", http.StatusBadRequest, gen.ErrorResponseErrorDefaultRoleMustBeInAllowedRoles)
	defRole.body = body("{{anonEmail}}", `,"options":{"allowedRoles":["user"],"defaultRole":"me"}`)
	locale := negRow("locale-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorLocaleNotAllowed)
	locale.body = body("{{anonEmail}}", `,"options":{"locale":"fr"}`)
	// Passwordless deanonymization mails a sign-in link; what still fails, fails before anything
	// is written or mailed.
	passwordless := func(email, extra string) string {
		return `{"signInMethod":"passwordless","email":"` + email + `"` + extra + `}`
	}
	plRedirect := negRow("passwordless-redirect-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	plRedirect.body = passwordless("{{anonEmail}}", `,"options":{"redirectTo":"https://evil.example/"}`)
	plInUse := func(name, email string) negCase {
		c := negRow(name, http.StatusConflict, gen.ErrorResponseErrorEmailAlreadyInUse)
		c.setup, c.body = fxSteps(fxOtherUser, fxAnon), passwordless(email, "")
		return c
	}
	plRole := negRow("passwordless-role-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRoleNotAllowed)
	plRole.body = passwordless("{{anonEmail}}", `,"options":{"allowedRoles":["admin"]}`)
	plNotAnon := negRow("passwordless-user-not-anonymous", http.StatusBadRequest, gen.ErrorResponseErrorUserNotAnonymous)
	plNotAnon.setup, plNotAnon.body = fxUser, passwordless("{{anonEmail}}", "")
	redirect := negRow("redirect-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	redirect.body = body("{{anonEmail}}", `,"options":{"redirectTo":"https://evil.example/"}`)

	return negWithOpts(negForOp(http.MethodPost, "/v1/user/deanonymize", fxAnon,
		negAuthCases(fxAnon, valid, false),
		negAuthed(negBodyShapeCases(true)...),
		negAuthed(negMediaCases(valid)...),
		negAuthed(negMethodCases("/v1/user/deanonymize", http.MethodGet, http.MethodPut)...),
		negAuthed(
			negInvalid("empty-object", `{}`),
			negInvalid("missing-sign-in-method", `{"email":"{{anonEmail}}","password":"`+pwNew+`"}`),
			negInvalid("missing-email", `{"signInMethod":"email-password","password":"`+pwNew+`"}`),
			negInvalid("sign-in-method-unknown", `{"signInMethod":"sms","email":"{{anonEmail}}","password":"`+pwNew+`"}`),
			negInvalid("sign-in-method-number", `{"signInMethod":1,"email":"{{anonEmail}}","password":"`+pwNew+`"}`),
			negInvalid("email-number", `{"signInMethod":"email-password","email":7,"password":"`+pwNew+`"}`),
			negInvalid("email-bad-format", body("anon-at-example.org", "")),
			negInvalid("password-object", `{"signInMethod":"email-password","email":"{{anonEmail}}","password":{"v":"`+pwNew+`"}}`),
			negInvalid("password-under-contract-minimum", `{"signInMethod":"email-password","email":"{{anonEmail}}","password":"`+pwUnderContract+`"}`),
			negInvalid("password-over-maximum", `{"signInMethod":"email-password","email":"{{anonEmail}}","password":"`+pwOverContract+`"}`),
			negInvalid("password-missing-for-email-password", `{"signInMethod":"email-password","email":"{{anonEmail}}"}`),
			negInvalid("unknown-field", body("{{anonEmail}}", `,"role":"admin"`)),
			negInvalid("unknown-option", body("{{anonEmail}}", `,"options":{"isAdmin":true}`)),
			negInvalid("passwordless-redirect-to-not-uri", passwordless("{{anonEmail}}", `,"options":{"redirectTo":"not a uri"}`)),
			tooShort, roleNA, defRole, locale, redirect,
			notAnon,
			inUse("email-in-use", "{{takenEmail}}"),
			inUse("email-in-use-other-case", "{{takenEmailCased}}"),
			concealInUse("conceal-email-in-use", body("{{takenEmail}}", "")),
			plRedirect, plRole, plNotAnon,
			plInUse("passwordless-email-in-use", "{{takenEmail}}"),
			plInUse("passwordless-email-in-use-other-case", "{{takenEmailCased}}"),
			concealInUse("passwordless-conceal-email-in-use", passwordless("{{takenEmail}}", "")),
		)), anonymousUsersOn)
}

func changePasswordNegative() []negCase {
	valid := `{"newPassword":"` + pwNew + `"}`
	withTicket := `{"newPassword":"` + pwNew + `","ticket":"{{ticket}}"}`
	badTicket := func(name string, setup negSetup) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidTicket)
		c.setup, c.body = setup, withTicket
		return c
	}
	// A well-formed password-reset ticket that was never mailed.
	ticket := badTicket("ticket-without-session", fxSteps(fxUser, fxUnknownTicket))
	// The ticket stands in for a session: a bearer beside a bad one does not rescue it, and the
	// session lives on.
	ticketWithSession := badTicket("unknown-ticket-with-session", fxSteps(fxUser, fxUnknownTicket))
	ticketWithSession.headers, ticketWithSession.check = negBearer("{{access}}"), checkSessionAlive
	// A sign-in link's ticket renamed: the kind prefix is only a label, the ticket's own kind counts.
	renamed := badTicket("magic-link-ticket-renamed", fxSteps(fxUser, fxMailedMagicLink, fxRenameTicket))
	concealTicket := negInvalid("conceal-unknown-ticket", withTicket)
	concealTicket.setup, concealTicket.opts = fxSteps(fxUser, fxUnknownTicket), negOpts(concealErrors)
	// A real ticket with a password under the server's minimum: refused, and the ticket not spent.
	ticketShort := negRow("ticket-password-under-server-minimum", http.StatusBadRequest, gen.ErrorResponseErrorPasswordTooShort)
	ticketShort.setup, ticketShort.body = fxSteps(fxUser, fxMailedReset), `{"newPassword":"`+pwUnderPolicy+`","ticket":"{{ticket}}"}`
	ticketShort.check = checkLinkWorks
	anon := negRow("anonymous-user", http.StatusForbidden, gen.ErrorResponseErrorForbiddenAnonymous)
	anon.setup, anon.body, anon.opts = fxAnon, valid, negOpts(anonymousUsersOn)
	concealAnon := negInvalid("conceal-anonymous-user", valid)
	concealAnon.setup, concealAnon.opts = fxAnon, negOpts(anonymousUsersOn, concealErrors)
	tooShort := negRow("password-under-server-minimum", http.StatusBadRequest, gen.ErrorResponseErrorPasswordTooShort)
	tooShort.body = `{"newPassword":"` + pwUnderPolicy + `"}`

	return negForOp(http.MethodPost, "/v1/user/password", fxUser,
		negAuthCases(fxUser, valid, true),
		negAuthed(negBodyShapeCases(true)...),
		negAuthed(negMediaCases(valid)...),
		negAuthed(negMethodCases("/v1/user/password", http.MethodGet, http.MethodPut)...),
		negRows(
			ticket, ticketWithSession, renamed, concealTicket, ticketShort,
			badTicket("spent-ticket", fxSteps(fxUser, fxMailedReset, fxFollowLink)),
			badTicket("ticket-of-spent-code", fxSteps(fxUser, fxMailedReset, fxUseCode)),
			badTicket("expired-ticket", fxSteps(fxUser, fxMailedReset, fxAdvance(server.DefaultConfig().TicketTTL+time.Minute))),
		),
		negAuthed(
			negInvalid("empty-object", `{}`),
			negInvalid("new-password-number", `{"newPassword":123456789}`),
			negInvalid("new-password-null", `{"newPassword":null}`),
			negInvalid("new-password-under-contract-minimum", `{"newPassword":"`+pwUnderContract+`"}`),
			negInvalid("new-password-over-maximum", `{"newPassword":"`+pwOverContract+`"}`),
			negInvalid("old-field-name", `{"password":"`+pwNew+`"}`),
			negInvalid("unknown-field", `{"newPassword":"`+pwNew+`","oldPassword":"`+pwOwner+`"}`),
			negInvalid("ticket-bad-prefix", `{"newPassword":"`+pwNew+`","ticket":"reset:abc"}`),
			negInvalid("ticket-number", `{"newPassword":"`+pwNew+`","ticket":7}`),
			tooShort,
			anon, concealAnon,
		))
}

// --- mail flows

// Wrong guesses at mailed codes. The server compares a code, it does not parse it, so the wrong
// sign-in code need not be six digits, and it is not: registered as a secret, a six-digit guess
// could turn up in a log by chance (the leak checks look for numeric codes only as whole numbers
// outside JSON numbers, which makes that rare, not impossible).
const (
	negWrongOTP  = "Otp-guess-7731"
	negWrongCode = "04172953"
)

func sendPasswordResetNegative() []negCase {
	const path = "/v1/user/password/reset"
	valid := `{"email":"{{email}}"}`
	withRedirect := func(email, to string) string {
		return `{"email":"` + email + `","options":{"redirectTo":"` + to + `"}}`
	}
	concealUnknown := negOK("conceal-unknown-address", nil, `{"email":"{{newEmail}}"}`)
	concealUnknown.opts = negOpts(concealErrors)
	// The redirect is checked before the account is looked up: the answer says nothing about it.
	redirectUnknown := negRow("redirect-not-allowed-unknown-address", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	redirectUnknown.body = withRedirect("{{newEmail}}", "https://evil.example/")
	concealRedirect := negRow("conceal-redirect-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	concealRedirect.body, concealRedirect.opts = withRedirect("{{email}}", "https://evil.example/"), negOpts(concealErrors)
	// nhost-js attaches its stored access token to every request; this operation takes none.
	garbage := negOK("garbage-bearer-ignored", nil, `{"email":"{{newEmail}}"}`)
	garbage.headers = negBearer("not-a-jwt")

	return negForOp(http.MethodPost, path, fxUser,
		negBodyShapeCases(true),
		negMediaCases(valid),
		negMethodCases(path, http.MethodGet, http.MethodPut),
		negRows(
			negInvalid("empty-object", `{}`),
			negInvalid("email-number", `{"email":42}`),
			negInvalid("email-null", `{"email":null}`),
			negInvalid("email-array", `{"email":["{{email}}"]}`),
			negInvalid("email-bad-format", `{"email":"owner-at-example.com"}`),
			negInvalid("email-with-display-name", `{"email":"Owner <{{email}}>"}`),
			negInvalid("email-too-long", `{"email":"`+strings.Repeat("o", 250)+`@example.com"}`),
			negInvalid("field-name-case-folded", `{"Email":"{{email}}"}`),
			negInvalid("unknown-field", `{"email":"{{email}}","newPassword":"`+pwNew+`"}`),
			negInvalid("options-not-object", `{"email":"{{email}}","options":"`+servertest.ClientURL+`"}`),
			negInvalid("unknown-option", `{"email":"{{email}}","options":{"locale":"en"}}`),
			negInvalid("redirect-to-not-uri", withRedirect("{{email}}", "not a uri")),
			negInvalid("redirect-to-relative", withRedirect("{{email}}", "/reset")),
			negInvalid("redirect-to-over-maximum", withRedirect("{{email}}", servertest.ClientURL+"/"+strings.Repeat("r", 2048))),
			negOK("unknown-address", nil, `{"email":"{{newEmail}}"}`),
			negOK("disabled-user", fxSteps(fxUser, fxDisableUser), valid),
			negOK("disabled-user-other-case", fxSteps(fxUser, fxDisableUser), `{"email":"{{emailCased}}"}`),
			concealUnknown,
			redirectUnknown, concealRedirect,
			garbage,
		),
		negRedirectCases(func(c *negCase, to string) { c.body = withRedirect("{{email}}", to) }),
	)
}

func sendVerificationNegative() []negCase {
	const path = "/v1/user/email/send-verification-email"
	valid := `{"email":"{{email}}"}`
	withRedirect := func(email, to string) string {
		return `{"email":"` + email + `","options":{"redirectTo":"` + to + `"}}`
	}
	verified := func(name, body string) negCase {
		c := negRow(name, http.StatusBadRequest, gen.ErrorResponseErrorEmailAlreadyVerified)
		c.setup, c.body = fxSteps(fxUser, fxVerifyEmail), body
		return c
	}
	concealVerified := negOK("conceal-already-verified", fxSteps(fxUser, fxVerifyEmail), valid)
	concealVerified.opts = negOpts(concealErrors)
	concealUnknown := negOK("conceal-unknown-address", nil, `{"email":"{{newEmail}}"}`)
	concealUnknown.opts = negOpts(concealErrors)
	redirectUnknown := negRow("redirect-not-allowed-unknown-address", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	redirectUnknown.body = withRedirect("{{newEmail}}", "https://evil.example/")
	// The redirect is checked first, so a verified address with a bad redirect learns nothing new.
	redirectVerified := negRow("redirect-not-allowed-already-verified", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	redirectVerified.setup, redirectVerified.body = fxSteps(fxUser, fxVerifyEmail), withRedirect("{{email}}", "https://evil.example/")
	garbage := negOK("garbage-bearer-ignored", nil, `{"email":"{{newEmail}}"}`)
	garbage.headers = negBearer("not-a-jwt")

	return negForOp(http.MethodPost, path, fxUser,
		negBodyShapeCases(true),
		negMediaCases(valid),
		negMethodCases(path, http.MethodGet, http.MethodPut),
		negRows(
			negInvalid("empty-object", `{}`),
			negInvalid("email-number", `{"email":42}`),
			negInvalid("email-null", `{"email":null}`),
			negInvalid("email-bad-format", `{"email":"owner-at-example.com"}`),
			negInvalid("email-with-display-name", `{"email":"Owner <{{email}}>"}`),
			negInvalid("field-name-case-folded", `{"EMAIL":"{{email}}"}`),
			negInvalid("unknown-field", `{"email":"{{email}}","emailVerified":true}`),
			negInvalid("options-not-object", `{"email":"{{email}}","options":[]}`),
			negInvalid("unknown-option", `{"email":"{{email}}","options":{"displayName":"Owner"}}`),
			negInvalid("redirect-to-not-uri", withRedirect("{{email}}", "not a uri")),
			negInvalid("redirect-to-relative", withRedirect("{{email}}", "/verified")),
			negOK("unknown-address", nil, `{"email":"{{newEmail}}"}`),
			negOK("disabled-user", fxSteps(fxUser, fxDisableUser), valid),
			verified("already-verified", valid),
			verified("already-verified-other-case", `{"email":"{{emailCased}}"}`),
			concealVerified, concealUnknown,
			redirectUnknown, redirectVerified,
			garbage,
		),
		negRedirectCases(func(c *negCase, to string) { c.body = withRedirect("{{email}}", to) }),
	)
}

func changeEmailNegative() []negCase {
	const path = "/v1/user/email/change"
	valid := `{"newEmail":"{{newEmail}}"}`
	withRedirect := func(to string) string {
		return `{"newEmail":"{{newEmail}}","options":{"redirectTo":"` + to + `"}}`
	}
	inUse := func(name, email string) negCase {
		c := negRow(name, http.StatusConflict, gen.ErrorResponseErrorEmailAlreadyInUse)
		c.setup, c.body = fxSteps(fxUser, fxOtherUser), `{"newEmail":"`+email+`"}`
		return c
	}
	// Concealed, a taken address gets a free one's "OK" and notice to the current address; its
	// owner gets a notice instead of a link.
	concealInUse := negOK("conceal-email-in-use", fxSteps(fxUser, fxOtherUser), `{"newEmail":"{{takenEmail}}"}`)
	concealInUse.opts, concealInUse.except = negOpts(concealErrors), []string{"mail_outbox", "audit_events"}
	anon := negRow("anonymous-user", http.StatusForbidden, gen.ErrorResponseErrorForbiddenAnonymous)
	anon.setup, anon.body, anon.opts = fxAnon, valid, negOpts(anonymousUsersOn)
	concealAnon := negInvalid("conceal-anonymous-user", valid)
	concealAnon.setup, concealAnon.opts = fxAnon, negOpts(anonymousUsersOn, concealErrors)
	// An anonymous user is refused before its options are looked at.
	anonRedirect := negRow("anonymous-user-redirect-not-allowed", http.StatusForbidden, gen.ErrorResponseErrorForbiddenAnonymous)
	anonRedirect.setup, anonRedirect.body, anonRedirect.opts = fxAnon, withRedirect("https://evil.example/"), negOpts(anonymousUsersOn)
	// The redirect is checked before the new address: a bad redirect does not tell whether it is taken.
	redirectInUse := negRow("redirect-not-allowed-email-in-use", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	redirectInUse.setup = fxSteps(fxUser, fxOtherUser)
	redirectInUse.body = `{"newEmail":"{{takenEmail}}","options":{"redirectTo":"https://evil.example/"}}`

	return negForOp(http.MethodPost, path, fxUser,
		negAuthCases(fxUser, valid, false),
		negAuthed(negBodyShapeCases(true)...),
		negAuthed(negMediaCases(valid)...),
		negAuthed(negMethodCases(path, http.MethodGet, http.MethodPut)...),
		negAuthed(
			negInvalid("empty-object", `{}`),
			negInvalid("options-only", `{"options":{"redirectTo":"`+servertest.ClientURL+`"}}`),
			negInvalid("old-field-name", `{"email":"{{newEmail}}"}`),
			negInvalid("new-email-number", `{"newEmail":42}`),
			negInvalid("new-email-null", `{"newEmail":null}`),
			negInvalid("new-email-bad-format", `{"newEmail":"new-at-example.com"}`),
			negInvalid("new-email-with-display-name", `{"newEmail":"New <{{newEmail}}>"}`),
			negInvalid("new-email-empty", `{"newEmail":""}`),
			negInvalid("unknown-field", `{"newEmail":"{{newEmail}}","emailVerified":true}`),
			negInvalid("unknown-option", `{"newEmail":"{{newEmail}}","options":{"locale":"en"}}`),
			negInvalid("redirect-to-not-uri", withRedirect("not a uri")),
			inUse("email-in-use", "{{takenEmail}}"),
			inUse("email-in-use-other-case", "{{takenEmailCased}}"),
			// The user's own address is taken too (by the user): nothing to change, nothing mailed.
			inUse("own-address", "{{email}}"),
			inUse("own-address-other-case", "{{emailCased}}"),
			concealInUse,
			anon, concealAnon, anonRedirect,
			redirectInUse,
		),
		negAuthed(negRedirectCases(func(c *negCase, to string) { c.body = withRedirect(to) })...),
	)
}

// mailSignInNegative: passwordless links and one-time codes take the same request and follow the
// same rules (mailflows.go).
func mailSignInNegative(path string) []negCase {
	valid := `{"email":"{{newEmail}}"}`
	withOptions := func(o string) string { return `{"email":"{{newEmail}}","options":` + o + `}` }
	signupOff := negRow("signup-disabled", http.StatusForbidden, gen.ErrorResponseErrorSignupDisabled)
	signupOff.body, signupOff.opts = valid, negOpts(signupDisabled)
	signupOffBad := negInvalid("signup-disabled-bad-body", `{"email":"new-at-example.com"}`)
	signupOffBad.opts = negOpts(signupDisabled)
	concealSignupOff := negOK("conceal-signup-disabled", nil, valid)
	concealSignupOff.opts = negOpts(signupDisabled, concealErrors)
	disabled := func(name, email string) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorDisabledUser)
		c.setup, c.body = fxSteps(fxUser, fxDisableUser), `{"email":"`+email+`"}`
		return c
	}
	concealDisabled := negOK("conceal-disabled-user", fxSteps(fxUser, fxDisableUser), `{"email":"{{email}}"}`)
	concealDisabled.opts = negOpts(concealErrors)
	roleNA := negRow("role-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRoleNotAllowed)
	roleNA.body = withOptions(`{"allowedRoles":["user","admin"]}`)
	concealRole := negInvalid("conceal-role-not-allowed", roleNA.body)
	concealRole.opts = negOpts(concealErrors)
	defRole := negRow("default-role-not-in-allowed-roles", http.StatusBadRequest, gen.ErrorResponseErrorDefaultRoleMustBeInAllowedRoles)
	defRole.body = withOptions(`{"allowedRoles":["user"],"defaultRole":"me"}`)
	defRoleUnknown := negRow("default-role-not-in-default-allowed-roles", http.StatusBadRequest, gen.ErrorResponseErrorDefaultRoleMustBeInAllowedRoles)
	defRoleUnknown.body = withOptions(`{"defaultRole":"admin"}`)
	locale := negRow("locale-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorLocaleNotAllowed)
	locale.body = withOptions(`{"locale":"fr"}`)
	// Closed sign-up is told before a bad redirect is: neither writes anything.
	redirectSignupOff := negRow("redirect-not-allowed-signup-disabled", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	redirectSignupOff.body, redirectSignupOff.opts = withOptions(`{"redirectTo":"https://evil.example/"}`), negOpts(signupDisabled)
	redirectExisting := negRow("redirect-not-allowed-existing-account", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	redirectExisting.setup, redirectExisting.body = fxUser, `{"email":"{{email}}","options":{"redirectTo":"https://evil.example/"}}`

	return negForOp(http.MethodPost, path, nil,
		negBodyShapeCases(true),
		negMediaCases(valid),
		negMethodCases(path, http.MethodGet, http.MethodPut),
		negRows(
			negInvalid("empty-object", `{}`),
			negInvalid("options-only", `{"options":{"locale":"en"}}`),
			negInvalid("email-number", `{"email":42}`),
			negInvalid("email-null", `{"email":null}`),
			negInvalid("email-bad-format", `{"email":"new-at-example.com"}`),
			negInvalid("email-with-display-name", `{"email":"New <{{newEmail}}>"}`),
			negInvalid("email-too-long", `{"email":"`+strings.Repeat("n", 250)+`@example.com"}`),
			negInvalid("field-name-case-folded", `{"Email":"{{newEmail}}"}`),
			negInvalid("unknown-field", `{"email":"{{newEmail}}","password":"`+pwNew+`"}`),
			negInvalid("unknown-option", withOptions(`{"isAdmin":true}`)),
			negInvalid("options-not-object", withOptions(`"user"`)),
			negInvalid("allowed-roles-string", withOptions(`{"allowedRoles":"user"}`)),
			negInvalid("display-name-markup", withOptions(`{"displayName":"<b>x</b>"}`)),
			negInvalid("display-name-link", withOptions(`{"displayName":"https://evil.example"}`)),
			negInvalid("locale-three-letters", withOptions(`{"locale":"eng"}`)),
			negInvalid("metadata-array", withOptions(`{"metadata":[1]}`)),
			negInvalid("redirect-to-not-uri", withOptions(`{"redirectTo":"not a uri"}`)),
			negInvalid("redirect-to-relative", withOptions(`{"redirectTo":"/welcome"}`)),
			roleNA, concealRole, defRole, defRoleUnknown, locale,
			signupOff, signupOffBad, concealSignupOff,
			disabled("disabled-user", "{{email}}"),
			disabled("disabled-user-other-case", "{{emailCased}}"),
			concealDisabled,
			redirectSignupOff, redirectExisting,
		),
		negRedirectCases(func(c *negCase, to string) { c.body = withOptions(`{"redirectTo":"` + to + `"}`) }),
	)
}

func verifyOTPNegative() []negCase {
	const path = "/v1/signin/otp/email/verify"
	body := func(email, otp string) string { return `{"email":"` + email + `","otp":"` + otp + `"}` }
	valid := body("{{email}}", negWrongOTP)
	// A failed code is audited and counted against the name's guess cap; a wrong guess at a
	// pending code also costs that code a try.
	audit, tried := negCodeGuess, negCodeTried
	failed := func(name string, setup negSetup, b string) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidOtp)
		c.setup, c.body, c.except = setup, b, audit
		return c
	}
	guessed := func(name, b string) negCase {
		c := failed(name, nil, b)
		c.except = tried
		return c
	}
	// A link's code is not a sign-in code, and trying it as one does not spend it.
	linkCode := failed("link-code-as-otp", fxSteps(fxUser, fxMailedMagicLink), body("{{email}}", "{{code}}"))
	linkCode.check = checkCodeWorks("signinPasswordless")
	concealWrong := negInvalid("conceal-wrong-code", valid)
	concealWrong.opts, concealWrong.except = negOpts(concealErrors), tried
	concealUnknown := negInvalid("conceal-unknown-address", body("{{newEmail}}", negWrongOTP))
	concealUnknown.opts, concealUnknown.except = negOpts(concealErrors), audit

	return negForOp(http.MethodPost, path, fxSteps(fxUser, fxMailedOTP),
		negBodyShapeCases(true),
		negMediaCases(valid),
		negMethodCases(path, http.MethodGet, http.MethodPut),
		negRows(
			negInvalid("empty-object", `{}`),
			negInvalid("missing-otp", `{"email":"{{email}}"}`),
			negInvalid("missing-email", `{"otp":"`+negWrongOTP+`"}`),
			negInvalid("otp-number", `{"email":"{{email}}","otp":123456}`),
			negInvalid("otp-null", `{"email":"{{email}}","otp":null}`),
			negInvalid("otp-empty", body("{{email}}", "")),
			negInvalid("otp-over-maximum", body("{{email}}", strings.Repeat("7", 33))),
			negInvalid("email-number", `{"email":42,"otp":"`+negWrongOTP+`"}`),
			negInvalid("email-bad-format", body("owner-at-example.com", negWrongOTP)),
			negInvalid("code-instead-of-otp", `{"email":"{{email}}","code":"`+negWrongOTP+`"}`),
			negInvalid("unknown-field", `{"email":"{{email}}","otp":"`+negWrongOTP+`","type":"signinOTP"}`),
			guessed("wrong-code", valid),
			guessed("wrong-code-email-other-case", body("{{emailCased}}", negWrongOTP)),
			failed("unknown-address", nil, body("{{newEmail}}", negWrongOTP)),
			failed("no-code-pending", fxUser, valid),
			// The right code, too late: with a wrong one the row would be refused for that alone.
			failed("code-expired", fxSteps(fxUser, fxMailedOTP, fxAdvance(server.DefaultConfig().OTPTTL+time.Second)), body("{{email}}", "{{otp}}")),
			linkCode,
			concealWrong, concealUnknown,
		))
}

func verifyTicketCodeNegative() []negCase {
	const path = "/v1/verify/code"
	body := func(email, code, kind string) string {
		return `{"email":"` + email + `","code":"` + code + `","type":"` + kind + `"}`
	}
	valid := body("{{email}}", "{{code}}", "passwordReset")
	// A failed code is audited and counted against the name's guess cap; a wrong guess at a
	// pending code also costs that code a try.
	audit, tried := negCodeGuess, negCodeTried
	failed := func(name string, setup negSetup, b string) negCase {
		c := negRow(name, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidTicket)
		c.setup, c.body, c.except = setup, b, audit
		return c
	}
	// A wrong guess costs a try, not the code.
	wrong := failed("wrong-code", nil, body("{{email}}", negWrongCode, "passwordReset"))
	wrong.check, wrong.except = checkCodeWorks("passwordReset"), tried
	wrongCased := failed("wrong-code-email-other-case", nil, body("{{emailCased}}", negWrongCode, "passwordReset"))
	wrongCased.except = tried
	// The reset code is no verification code. A verification code is pending too, so that only
	// the kind can be wrong (with none, any code would be refused for want of a ticket); the
	// guess costs it a try.
	otherType := failed("code-of-another-type", fxSteps(fxUser, fxMailedReset, fxMailedVerifyCode), body("{{email}}", "{{code}}", "emailVerify"))
	otherType.check, otherType.except = checkSteps(checkCodeWorks("passwordReset"), checkCodeOf("email", "verifyCode", "emailVerify")), tried
	// {{code}} went to {{email}}; another account's address does not take it, though a reset
	// code of its own is pending (so that only the code can be wrong).
	otherAddress := failed("code-for-another-address", fxSteps(fxUser, fxOtherUser, fxOtherMailedReset, fxMailedReset), body("{{takenEmail}}", "{{code}}", "passwordReset"))
	otherAddress.check, otherAddress.except = checkSteps(checkCodeWorks("passwordReset"), checkCodeOf("takenEmail", "otherCode", "passwordReset")), tried
	// Out of tries the code is dead; its link still works.
	exhausted := failed("code-out-of-tries", fxSteps(fxUser, fxMailedReset, fxCodeOutOfTries), valid)
	exhausted.check = checkLinkWorks
	concealWrong := negInvalid("conceal-wrong-code", body("{{email}}", negWrongCode, "passwordReset"))
	concealWrong.opts, concealWrong.except = negOpts(concealErrors), tried
	concealUnknown := negInvalid("conceal-unknown-address", body("{{newEmail}}", negWrongCode, "passwordReset"))
	concealUnknown.opts, concealUnknown.except = negOpts(concealErrors), audit

	return negForOp(http.MethodPost, path, fxSteps(fxUser, fxMailedReset),
		negBodyShapeCases(true),
		negMediaCases(valid),
		negMethodCases(path, http.MethodGet, http.MethodPut),
		negRows(
			negInvalid("empty-object", `{}`),
			negInvalid("missing-type", `{"email":"{{email}}","code":"{{code}}"}`),
			negInvalid("missing-code", `{"email":"{{email}}","type":"passwordReset"}`),
			negInvalid("missing-email", `{"code":"{{code}}","type":"passwordReset"}`),
			negInvalid("type-unknown", body("{{email}}", "{{code}}", "resetPassword")),
			negInvalid("type-sign-in-otp", body("{{email}}", "{{code}}", "signinOTP")),
			negInvalid("type-case-folded", body("{{email}}", "{{code}}", "PasswordReset")),
			negInvalid("type-empty", body("{{email}}", "{{code}}", "")),
			negInvalid("type-number", `{"email":"{{email}}","code":"{{code}}","type":3}`),
			negInvalid("code-number", `{"email":"{{email}}","code":`+negWrongCode[1:]+`,"type":"passwordReset"}`),
			negInvalid("code-empty", body("{{email}}", "", "passwordReset")),
			negInvalid("code-over-maximum", body("{{email}}", strings.Repeat("8", 33), "passwordReset")),
			negInvalid("email-bad-format", body("owner-at-example.com", "{{code}}", "passwordReset")),
			negInvalid("ticket-instead-of-code", `{"email":"{{email}}","ticket":"{{ticket}}","type":"passwordReset"}`),
			negInvalid("unknown-field", `{"email":"{{email}}","code":"{{code}}","type":"passwordReset","redirectTo":"`+servertest.ClientURL+`"}`),
			wrong,
			wrongCased,
			failed("unknown-address", nil, body("{{newEmail}}", negWrongCode, "passwordReset")),
			failed("no-code-pending", fxUser, body("{{email}}", negWrongCode, "passwordReset")),
			otherType, otherAddress, exhausted,
			failed("code-spent", fxSteps(fxUser, fxMailedReset, fxUseCode), valid),
			failed("code-of-followed-link", fxSteps(fxUser, fxMailedReset, fxFollowLink), valid),
			failed("code-expired", fxSteps(fxUser, fxMailedReset, fxAdvance(server.DefaultConfig().TicketTTL+time.Minute)), valid),
			concealWrong, concealUnknown,
		))
}

func verifyTicketNegative() []negCase {
	client := url.QueryEscape(servertest.ClientURL)
	link := func(name, query string) negCase {
		c := negInvalid(name, "")
		c.path = "/v1/verify?" + query
		return c
	}
	// A ticket that cannot be used is told on the way back to the app, not in an error body.
	refused := func(name string, setup negSetup, ticket string) negCase {
		return negCase{name: name, setup: setup, path: negLinkPath(ticket, servertest.ClientURL),
			wantStatus: http.StatusFound, wantLinkErr: gen.ErrorResponseErrorInvalidTicket, wantNoWrites: true}
	}
	// A disallowed redirect is refused before the ticket is looked at, and does not spend it.
	badRedirect := negRow("mailed-ticket-redirect-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	badRedirect.setup, badRedirect.path = fxSteps(fxUser, fxMailedReset), negLinkPath("{{ticket}}", "https://evil.example/")
	badRedirect.check = checkLinkWorks
	confirmBadRedirect := negRow("confirm-mode-redirect-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed)
	confirmBadRedirect.path, confirmBadRedirect.opts = negLinkPath("{{ticket}}", "https://evil.example/"), negOpts(linksConfirmed)
	concealRefused := refused("conceal-unknown-ticket", nil, "{{ticket}}")
	concealRefused.opts, concealRefused.wantLinkErr = negOpts(concealErrors), gen.ErrorResponseErrorInvalidRequest

	return negForOp(http.MethodGet, "", fxUnknownTicket,
		negMethodCases("/v1/verify", http.MethodPut, http.MethodDelete),
		negRows(
			link("no-query", ""),
			link("missing-ticket", "type=passwordReset&redirectTo="+client),
			link("missing-redirect-to", "ticket={{ticket}}&type=passwordReset"),
			link("ticket-empty", "ticket=&redirectTo="+client),
			link("ticket-over-maximum", "ticket=passwordReset:"+strings.Repeat("t", 115)+"&redirectTo="+client),
			link("type-unknown", "ticket={{ticket}}&type=resetPassword&redirectTo="+client),
			link("type-sign-in-otp", "ticket={{ticket}}&type=signinOTP&redirectTo="+client),
			link("redirect-to-empty", "ticket={{ticket}}&redirectTo="),
			link("redirect-to-not-uri", "ticket={{ticket}}&redirectTo=not%20a%20uri"),
			link("redirect-to-relative", "ticket={{ticket}}&redirectTo=%2Fwelcome"),
			refused("unknown-ticket", nil, "{{ticket}}"),
			refused("ticket-without-kind", nil, "7d0c7a3e-ticket-9f1b"),
			refused("spent-ticket", fxSteps(fxUser, fxMailedReset, fxFollowLink), "{{ticket}}"),
			refused("ticket-of-spent-code", fxSteps(fxUser, fxMailedReset, fxUseCode), "{{ticket}}"),
			refused("magic-link-ticket-renamed", fxSteps(fxUser, fxMailedMagicLink, fxRenameTicket), "{{ticket}}"),
			refused("expired-ticket", fxSteps(fxUser, fxMailedReset, fxAdvance(server.DefaultConfig().TicketTTL+time.Minute)), "{{ticket}}"),
			concealRefused,
			badRedirect, confirmBadRedirect,
		),
		negRedirectCases(func(c *negCase, to string) { c.path = negLinkPath("{{ticket}}", to) }),
	)
}

func confirmTicketNegative() []negCase {
	const path = "/v1/verify"
	formType := negHeaders("Content-Type", "application/x-www-form-urlencoded")
	client := url.QueryEscape(servertest.ClientURL)
	valid := "ticket={{ticket}}&redirectTo=" + client
	form := func(c negCase, body string) negCase {
		c.headers, c.body = formType, body
		return c
	}
	invalid := func(name, body string) negCase { return form(negInvalid(name, ""), body) }
	media := func(name string, headers map[string]string, body string) negCase {
		c := negRow(name, http.StatusUnsupportedMediaType, gen.ErrorResponseErrorInvalidRequest)
		c.headers, c.body = headers, body
		return c
	}
	tooLarge := form(negRow("body-over-64KiB", http.StatusRequestEntityTooLarge, gen.ErrorResponseErrorInvalidRequest),
		valid+"&pad="+strings.Repeat("a", negBigPad))
	chunked := tooLarge
	chunked.name, chunked.chunked = "body-over-64KiB-chunked", true
	emptyForm := invalid("empty-body", "")
	refused := func(name string, setup negSetup, ticket string) negCase {
		return form(negCase{name: name, setup: setup, wantStatus: http.StatusFound, wantLinkErr: gen.ErrorResponseErrorInvalidTicket,
			wantNoWrites: true}, "ticket="+ticket+"&redirectTo="+client)
	}
	badRedirect := form(negRow("mailed-ticket-redirect-not-allowed", http.StatusBadRequest, gen.ErrorResponseErrorRedirectToNotAllowed),
		"ticket={{ticket}}&redirectTo="+url.QueryEscape("https://evil.example/"))
	badRedirect.setup, badRedirect.check = fxSteps(fxUser, fxMailedReset), checkLinkWorks

	return negForOp(http.MethodPost, path, fxUnknownTicket,
		negRows(
			// The confirmation page posts a form; JSON (what every other operation takes) is refused.
			media("json-body", nil, `{"ticket":"{{ticket}}","redirectTo":"`+servertest.ClientURL+`"}`),
			media("json-body-form-fields", negHeaders("Content-Type", "application/json"), valid),
			media("content-type-text-plain", negHeaders("Content-Type", "text/plain"), valid),
			media("content-type-multipart", negHeaders("Content-Type", "multipart/form-data; boundary=x"), valid),
			media("content-type-missing", negHeaders("Content-Type", ""), valid),
			tooLarge, chunked,
			emptyForm,
			negInvalid("empty-body-no-content-type", ""),
			invalid("missing-ticket", "redirectTo="+client),
			invalid("missing-redirect-to", "ticket={{ticket}}"),
			invalid("ticket-empty", "ticket=&redirectTo="+client),
			invalid("ticket-over-maximum", "ticket=passwordReset:"+strings.Repeat("t", 115)+"&redirectTo="+client),
			invalid("type-unknown", valid+"&type=resetPassword"),
			invalid("redirect-to-empty", "ticket={{ticket}}&redirectTo="),
			invalid("redirect-to-not-uri", "ticket={{ticket}}&redirectTo=not%20a%20uri"),
			refused("unknown-ticket", nil, "{{ticket}}"),
			refused("ticket-without-kind", nil, "7d0c7a3e-ticket-9f1b"),
			refused("spent-ticket", fxSteps(fxUser, fxMailedReset, fxFollowLink), "{{ticket}}"),
			badRedirect,
		),
		negRedirectCases(func(c *negCase, to string) {
			c.headers, c.body = formType, "ticket={{ticket}}&redirectTo="+url.QueryEscape(to)
		}),
	)
}
