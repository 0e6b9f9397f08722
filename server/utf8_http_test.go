package server_test

import (
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/server/servertest"
)

// Passwords that are not valid Unicode text. JSON decoding replaces each bad byte, and each \u
// escape of a lone surrogate, with U+FFFD without a word, so every one of these would be the
// same password as the next.
const (
	utf8Pw       = "correct-horse-battery"
	badBytesPw   = "correct-horse-\xff\xfe" // bytes that are not UTF-8
	otherBytesPw = "correct-horse-\xfd\xfc" // other such bytes, decoded to the same string
	surrogatePw  = `correct-horse-\ud800\udc00x\udfff`
	cesu8Pw      = "correct-horse-\xed\xa0\x80" // a surrogate encoded as UTF-8, which UTF-8 forbids
)

// TestInvalidUTF8PasswordsDoNotFold: before the fix, an account signed up with one string of bad
// bytes signed in with another. Now neither request gets past the contract check.
func TestInvalidUTF8PasswordsDoNotFold(t *testing.T) {
	h := servertest.Start(t)
	json := map[string]string{"Content-Type": "application/json"}
	h.NoWrites(t, func() {
		status, body := h.Do(t, http.MethodPost, "/v1/signup/email-password", json, `{"email":"fold@example.com","password":"`+badBytesPw+`"}`)
		if status != http.StatusBadRequest {
			t.Errorf("sign-up with a password of invalid UTF-8: %d %s, want 400", status, body)
		}
	})
	status, body := h.Do(t, http.MethodPost, "/v1/signin/email-password", json, `{"email":"fold@example.com","password":"`+otherBytesPw+`"}`)
	if status != http.StatusBadRequest {
		t.Errorf("sign-in with other invalid bytes: %d %s, want 400", status, body)
	}
}

// TestInvalidUTF8PasswordRefused: every operation that takes a password, in every dialect and
// body encoding, refuses one that is not valid UTF-8 (bad bytes, lone surrogate escapes, an
// encoded surrogate) with a 400 in its own error shape that says so, and writes nothing.
func TestInvalidUTF8PasswordRefused(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	s := signUp(t, h, "utf8@example.com", utf8Pw)
	wmeUser(t, h, "utf8user", "utf8-wme@example.com", utf8Pw)
	wme := wmeLoginAs(t, h, "utf8user", utf8Pw)
	_, azTok := azSignIn(t, h, "utf8@example.com", utf8Pw)

	jsonCT := map[string]string{"Content-Type": "application/json"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Content-Type": "application/json"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	form := func(fields string) (map[string]string, string) {
		return map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, fields
	}
	multipartBody := func(kv ...string) (map[string]string, string) {
		var b strings.Builder
		w := multipart.NewWriter(&b)
		for i := 0; i+1 < len(kv); i += 2 {
			if err := w.WriteField(kv[i], kv[i+1]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return map[string]string{"Content-Type": w.FormDataContentType()}, b.String()
	}
	type row struct {
		name, method, path string
		header             map[string]string
		body               string
	}
	var rows []row
	for _, pw := range []struct{ kind, v string }{{"bytes", badBytesPw}, {"surrogate", surrogatePw}, {"cesu8", cesu8Pw}} {
		p := pw.v
		rows = append(rows,
			row{"nhost-signup-" + pw.kind, http.MethodPost, "/v1/signup/email-password", jsonCT, `{"email":"new-utf8@example.com","password":"` + p + `"}`},
			row{"nhost-signin-" + pw.kind, http.MethodPost, "/v1/signin/email-password", jsonCT, `{"email":"utf8@example.com","password":"` + p + `"}`},
			row{"nhost-change-" + pw.kind, http.MethodPost, "/v1/user/password", with("Authorization", "Bearer "+s.AccessToken), `{"newPassword":"` + p + `"}`},
			row{"nhost-reset-" + pw.kind, http.MethodPost, "/v1/user/password", jsonCT, `{"newPassword":"` + p + `","ticket":"passwordReset:00000000-0000-4000-8000-000000000000"}`},
			row{"wme-login-" + pw.kind, http.MethodPost, "/v1/login", jsonCT, `{"username":"utf8user","password":"` + p + `"}`},
			row{"wme-change-" + pw.kind, http.MethodPost, "/v1/change-password", jsonCT,
				`{"access_token":"` + wme.AccessToken + `","previous_password":"` + utf8Pw + `","proposed_password":"` + p + `"}`},
			row{"wme-change-previous-" + pw.kind, http.MethodPost, "/v1/change-password", jsonCT,
				`{"access_token":"` + wme.AccessToken + `","previous_password":"` + p + `","proposed_password":"` + utf8Pw + `-2"}`},
			row{"wme-forgot-confirm-" + pw.kind, http.MethodPost, "/v1/forgot-password-confirm", jsonCT,
				`{"username":"utf8user","confirmation_code":"123456","password":"` + p + `"}`},
			row{"wme-new-password-" + pw.kind, http.MethodPost, "/v1/new-password-required", jsonCT,
				`{"session":"x","username":"utf8user","new_password":"` + p + `"}`},
			row{"zesty-login-" + pw.kind, http.MethodPost, "/login", jsonCT, `{"email":"utf8@example.com","password":"` + p + `"}`},
			row{"zesty-reset-" + pw.kind, http.MethodPost, "/password/reset", jsonCT, `{"token":"x","password":"` + p + `"}`},
			row{"az-signup-" + pw.kind, http.MethodPost, "/sign_up", jsonCT, `{"email":"new-az@example.com","password":"` + p + `","password_confirmation":"` + p + `"}`},
			row{"az-signin-" + pw.kind, http.MethodPost, "/sign_in", jsonCT, `{"email":"utf8@example.com","password":"` + p + `"}`},
			row{"az-password-" + pw.kind, http.MethodPut, "/password", with("Authorization", "Bearer "+azTok),
				`{"password_challenge":"` + utf8Pw + `","password":"` + p + `","password_confirmation":"` + p + `"}`},
			row{"az-reset-" + pw.kind, http.MethodPut, "/identity/password_reset", jsonCT, `{"sid":"x","password":"` + p + `","password_confirmation":"` + p + `"}`},
			row{"admin-set-password-" + pw.kind, http.MethodPost, "/v1/admin/users/" + s.User.Id + "/password", with("X-Admin-Secret", testAdminSecret), `{"password":"` + p + `"}`},
			row{"admin-create-user-" + pw.kind, http.MethodPost, "/v1/admin/users", with("X-Admin-Secret", testAdminSecret), `{"email":"made-utf8@example.com","password":"` + p + `"}`},
		)
	}
	// Form bodies carry bytes, not escapes: percent-encoded or raw.
	hdr, body := form("email=utf8%40example.com&password=correct-horse-%FF%FE")
	rows = append(rows, row{"zesty-login-urlencoded", http.MethodPost, "/login", hdr, body})
	hdr, body = multipartBody("email", "utf8@example.com", "password", badBytesPw)
	rows = append(rows, row{"zesty-login-multipart", http.MethodPost, "/login", hdr, body})
	hdr, body = form("email=utf8%40example.com&password=correct-horse-%ED%A0%80")
	rows = append(rows, row{"az-signin-urlencoded", http.MethodPost, "/sign_in", hdr, body})
	hdr, body = form("password_challenge=" + utf8Pw + "&password=correct-horse-%FF&password_confirmation=correct-horse-%FF")
	hdr["Authorization"] = "Bearer " + azTok
	rows = append(rows, row{"az-password-urlencoded", http.MethodPut, "/password", hdr, body})

	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			var status int
			var resp []byte
			h.NoWrites(t, func() { status, resp = h.Do(t, r.method, r.path, r.header, r.body) })
			if status != http.StatusBadRequest || !strings.Contains(string(resp), "UTF-8") {
				t.Errorf("%s %s: %d %s, want 400 saying the text is not valid UTF-8", r.method, r.path, status, resp)
			}
			if strings.Contains(string(resp), "correct-horse") {
				t.Errorf("%s %s: the answer repeats the password: %s", r.method, r.path, resp)
			}
		})
	}

	// A valid password with U+FFFD itself, and escapes of a proper surrogate pair, are text.
	for _, pw := range []string{"correct-horse-\ufffd", `correct-horse-\ud83d\ude00`, `correct-horse-\u00e9`} {
		status, resp := h.Do(t, http.MethodPost, "/v1/admin/users/"+s.User.Id+"/password", with("X-Admin-Secret", testAdminSecret), `{"password":"`+pw+`"}`)
		if status != http.StatusOK {
			t.Errorf("valid password %q: %d %s, want 200", pw, status, resp)
		}
	}
}

// TestInvalidUTF8Shapes: the refusal in each dialect's own error shape, naming the field.
func TestInvalidUTF8Shapes(t *testing.T) {
	h := servertest.Start(t)
	jsonCT := map[string]string{"Content-Type": "application/json"}
	for _, c := range []struct{ path, body, want string }{
		{"/v1/signin/email-password", `{"email":"a@example.com","password":"` + badBytesPw + `"}`,
			`{"error":"invalid-request","message":"The request payload is incorrect: /password: must be valid UTF-8 text","status":400}`},
		{"/v1/login", `{"username":"someone","password":"` + badBytesPw + `"}`,
			`{"message":"Invalid request: /password: must be valid UTF-8 text","status":400}`},
		{"/login", `{"email":"a@example.com","password":"` + badBytesPw + `"}`,
			`{"code":400,"error":"invalid-request","message":"Invalid request: /password: must be valid UTF-8 text"}`},
		{"/sign_in", `{"email":"a@example.com","password":"` + badBytesPw + `"}`,
			`{"error":"password must be valid UTF-8 text"}`},
	} {
		status, body := h.Do(t, http.MethodPost, c.path, jsonCT, c.body)
		if status != http.StatusBadRequest || strings.TrimSpace(string(body)) != c.want {
			t.Errorf("POST %s: %d %s, want 400 %s", c.path, status, body, c.want)
		}
	}
}
