package server_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server/servertest"
)

// zestyLogin logs in with the body the published @zesty-io/sdk sends (multipart), or JSON, or an
// url-encoded form, and returns the status and the decoded answer.
func zestyLogin(t *testing.T, h *servertest.Harness, kind, email, password string) (int, map[string]any) {
	t.Helper()
	var body, ctype string
	switch kind {
	case "multipart":
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		_ = w.WriteField("email", email)
		_ = w.WriteField("password", password)
		_ = w.Close()
		body, ctype = b.String(), w.FormDataContentType()
	case "form":
		body, ctype = url.Values{"email": {email}, "password": {password}}.Encode(), "application/x-www-form-urlencoded"
	default:
		b, _ := json.Marshal(map[string]string{"email": email, "password": password})
		body, ctype = string(b), "application/json"
	}
	status, resp := h.Do(t, http.MethodPost, "/login", map[string]string{"Content-Type": ctype}, body)
	var out map[string]any
	if err := json.Unmarshal(resp, &out); err != nil {
		t.Fatalf("login answer is not JSON: %s", resp)
	}
	return status, out
}

func zestyCall(t *testing.T, h *servertest.Harness, method, path, auth string) (int, map[string]any) {
	t.Helper()
	status, resp := h.Do(t, method, path, map[string]string{"Authorization": auth}, "")
	var out map[string]any
	if err := json.Unmarshal(resp, &out); err != nil {
		t.Fatalf("%s %s answer is not JSON: %s", method, path, resp)
	}
	if status >= 400 && (out["code"] != float64(status) || out["message"] == "") {
		t.Fatalf("%s %s: %d is not a Zesty error envelope: %s", method, path, status, resp)
	}
	return status, out
}

// TestZestySessionLifeCycle: log in with each body type, verify with the bare token and with
// Bearer, the 30-minute expiry slides with use, log out ends it.
func TestZestySessionLifeCycle(t *testing.T) {
	h := servertest.Start(t)
	signUp(t, h, "zesty@example.com", "zesty-password-1")

	var token string
	for _, kind := range []string{"multipart", "form", "json"} {
		status, out := zestyLogin(t, h, kind, "Zesty@Example.com", "zesty-password-1")
		meta, _ := out["meta"].(map[string]any)
		if status != http.StatusOK || out["code"] != float64(200) || out["data"] == "" || meta == nil || meta["token"] != out["data"] {
			t.Fatalf("login (%s): %d %v", kind, status, out)
		}
		token = out["data"].(string)
	}
	if status, out := zestyLogin(t, h, "multipart", "zesty@example.com", "wrong-password"); status != http.StatusUnauthorized || out["code"] != float64(401) {
		t.Fatalf("wrong password: %d %v", status, out)
	}

	for _, auth := range []string{token, "Bearer " + token} {
		status, out := zestyCall(t, h, http.MethodGet, "/verify", auth)
		data, _ := out["data"].(map[string]any)
		if status != http.StatusOK || data == nil || data["email"] != "zesty@example.com" || !strings.HasPrefix(data["ZUID"].(string), "5-") {
			t.Fatalf("verify with %q: %d %v", auth[:6], status, out)
		}
	}

	// Each use pushes the expiry 30 minutes on: three uses 25 minutes apart keep it alive.
	for range 3 {
		h.Clock.Advance(25 * time.Minute)
		if status, _ := zestyCall(t, h, http.MethodGet, "/verify", token); status != http.StatusOK {
			t.Fatalf("verify within 30 minutes of the last use: %d", status)
		}
	}
	h.Clock.Advance(31 * time.Minute)
	if status, _ := zestyCall(t, h, http.MethodGet, "/verify", token); status != http.StatusUnauthorized {
		t.Fatalf("verify 31 minutes after the last use: %d, want 401", status)
	}

	_, out := zestyLogin(t, h, "json", "zesty@example.com", "zesty-password-1")
	fresh := out["data"].(string)
	if status, _ := zestyCall(t, h, http.MethodDelete, "/logout", fresh); status != http.StatusOK {
		t.Fatalf("logout: %d", status)
	}
	if status, _ := zestyCall(t, h, http.MethodGet, "/verify", fresh); status != http.StatusUnauthorized {
		t.Fatalf("verify after logout: %d, want 401", status)
	}
	for _, auth := range []string{"", "Bearer ", "garbage", "Bearer garbage"} {
		if status, _ := zestyCall(t, h, http.MethodGet, "/verify", auth); status != http.StatusUnauthorized {
			t.Fatalf("verify with %q: %d, want 401", auth, status)
		}
	}
}

// TestZestyPasswordReset: the same answer for unknown addresses; the mailed token (with or
// without its prefix) sets the password once and ends every session.
func TestZestyPasswordReset(t *testing.T) {
	h := servertest.Start(t)
	signUp(t, h, "forgot@example.com", "zesty-password-1")
	_, out := zestyLogin(t, h, "json", "forgot@example.com", "zesty-password-1")
	token := out["data"].(string)

	post := func(path, body string) (int, map[string]any) {
		status, resp := h.Do(t, http.MethodPost, path, map[string]string{"Content-Type": "application/json"}, body)
		var m map[string]any
		_ = json.Unmarshal(resp, &m)
		return status, m
	}
	h.NoWrites(t, func() {
		if status, _ := post("/password/request", `{"email":"nobody@example.com"}`); status != http.StatusOK {
			t.Fatalf("request for an unknown address: %d", status)
		}
	})
	if status, _ := post("/password/request", `{"email":"forgot@example.com"}`); status != http.StatusOK {
		t.Fatalf("request: %d", status)
	}
	ticket := linkOf(t, h.Mail.Next(t, "forgot@example.com")).ticket
	bare := strings.TrimPrefix(ticket, "passwordReset:")
	if status, m := post("/password/reset", `{"token":"`+bare+`","password":"short"}`); status != http.StatusBadRequest {
		t.Fatalf("short password: %d %v", status, m)
	}
	if status, m := post("/password/reset", `{"token":"`+bare+`","password":"zesty-password-2"}`); status != http.StatusOK {
		t.Fatalf("reset: %d %v", status, m)
	}
	if status, m := post("/password/reset", `{"token":"`+ticket+`","password":"zesty-password-3"}`); status != http.StatusBadRequest || m["code"] != float64(400) {
		t.Fatalf("second use of the token: %d %v", status, m)
	}
	if status, _ := zestyCall(t, h, http.MethodGet, "/verify", token); status != http.StatusUnauthorized {
		t.Fatalf("a session survived the reset: %d", status)
	}
	if status, _ := zestyLogin(t, h, "multipart", "forgot@example.com", "zesty-password-2"); status != http.StatusOK {
		t.Fatalf("login with the new password: %d", status)
	}
}
