package server_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/server/servertest"
)

// sameAnswer fails unless two answers have one status, one content type and equal JSON bodies
// once the members named in masked (which differ by nature: a new id, the address asked for)
// are left out.
func sameAnswer(t *testing.T, what string, statusA int, hdrA http.Header, bodyA []byte, statusB int, hdrB http.Header, bodyB []byte, masked ...string) {
	t.Helper()
	if statusA != statusB || hdrA.Get("Content-Type") != hdrB.Get("Content-Type") {
		t.Fatalf("%s: %d %q %s and %d %q %s differ", what, statusA, hdrA.Get("Content-Type"), bodyA, statusB, hdrB.Get("Content-Type"), bodyB)
	}
	var a, b any
	if err := json.Unmarshal(bodyA, &a); err != nil {
		t.Fatalf("%s: %s is not JSON", what, bodyA)
	}
	if err := json.Unmarshal(bodyB, &b); err != nil {
		t.Fatalf("%s: %s is not JSON", what, bodyB)
	}
	strip := func(v any) any {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		m = maps.Clone(m)
		for _, k := range masked {
			if _, ok := m[k]; !ok {
				t.Fatalf("%s: %v has no %q", what, v, k)
			}
			delete(m, k)
		}
		return m
	}
	if !reflect.DeepEqual(strip(a), strip(b)) {
		t.Fatalf("%s: %s and %s differ (beyond %v)", what, bodyA, bodyB, masked)
	}
}

// TestConcealTakenAddress (issue 17.9): in conceal mode no dialect's sign-up or address change
// tells a taken address from a free one: both get the same answer and leave the account of the
// caller in the same state. The owner of the taken address is told by mail that someone tried;
// a free address goes on as it always did.
func TestConcealTakenAddress(t *testing.T) {
	h := servertest.Start(t, concealErrors)
	owner := azSignUp(t, h, "owner@example.com")
	taken := func(m *servertest.Mail) {
		t.Helper()
		if !strings.Contains(m.Subject, "tried to use your email address") || !strings.Contains(m.Text, "owner@example.com") || strings.Contains(m.Text, "http://127.0.0.1") {
			t.Fatalf("notice to the owner: %q\n%s", m.Subject, m.Text)
		}
	}

	// Authentication Zero sign-up: 201 and a user either way; only the id and the address differ.
	free := azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", " Free@Example.com", "password", azPw, "password_confirmation", azPw)
	dup := azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "OWNER@example.com ", "password", azNewPw, "password_confirmation", azNewPw)
	sameAnswer(t, "AZ sign-up, free and taken", free.status, free.header, free.raw, dup.status, dup.header, dup.raw, "id", "email")
	if free.status != http.StatusCreated || free.obj()["email"] != "free@example.com" || dup.obj()["email"] != "owner@example.com" {
		t.Fatalf("AZ sign-up answers: %s / %s", free.raw, dup.raw)
	}
	if id, err := uuid.Parse(dup.obj()["id"].(string)); err != nil || id.String() == owner["id"] {
		t.Fatalf("AZ sign-up of a taken address answered id %v (the owner is %v)", dup.obj()["id"], owner["id"])
	}
	taken(h.Mail.Next(t, "owner@example.com"))
	azSignIn(t, h, "owner@example.com", azPw) // the owner's account did not change
	azDo(t, h, http.MethodGet, azMailedPath(t, h, "free@example.com", "/identity/email_verification"), "", nil).want(t, "verify the free address", http.StatusNoContent)
	_, freeTok := azSignIn(t, h, "free@example.com", azPw)

	// Nhost sign-up: no session either way (one would give the free address away), the same
	// bytes. The free address's mailed link signs it in.
	hdr := negHeaders("Content-Type", "application/json")
	fh, fs, fb := h.Send(t, http.MethodPost, "/v1/signup/email-password", hdr, wmeJSON("email", "nhost-free@example.com", "password", mailPassword))
	th, ts, tb := h.Send(t, http.MethodPost, "/v1/signup/email-password", hdr, wmeJSON("email", "Owner@Example.com", "password", mailPassword))
	sameAnswer(t, "Nhost sign-up, free and taken", fs, fh, fb, ts, th, tb)
	if fs != http.StatusOK || string(fb) != string(tb) || strings.Contains(string(fb), "accessToken") {
		t.Fatalf("Nhost sign-up answers: %d %s / %d %s", fs, fb, ts, tb)
	}
	taken(h.Mail.Next(t, "owner@example.com"))
	if q := follow(t, h, linkOf(t, h.Mail.Next(t, "nhost-free@example.com")).raw).Query(); q.Get("refreshToken") == "" {
		t.Fatalf("the free address's link did not sign it in: %v", q)
	}
	nhost := signIn(t, h, "nhost-free@example.com", mailPassword)

	// Nhost address change: "OK" either way; the caller's own address gets the same notice.
	bearerHdr := negHeaders("Content-Type", "application/json", "Authorization", "Bearer "+nhost.AccessToken)
	fh, fs, fb = h.Send(t, http.MethodPost, "/v1/user/email/change", bearerHdr, wmeJSON("newEmail", "nhost-new@example.com"))
	th, ts, tb = h.Send(t, http.MethodPost, "/v1/user/email/change", bearerHdr, wmeJSON("newEmail", "owner@example.com"))
	sameAnswer(t, "Nhost address change, free and taken", fs, fh, fb, ts, th, tb)
	if fs != http.StatusOK {
		t.Fatalf("Nhost address change: %d %s", fs, fb)
	}
	for _, to := range []string{"nhost-new@example.com", "owner@example.com"} {
		if m := h.Mail.Next(t, "nhost-free@example.com"); !strings.Contains(m.Text, to) {
			t.Fatalf("notice of the change to %s:\n%s", to, m.Text)
		}
	}
	linkOf(t, h.Mail.Next(t, "nhost-new@example.com"))
	taken(h.Mail.Next(t, "owner@example.com"))

	// Authentication Zero address change: the same answer either way, the caller as it stands;
	// the address changes when the link mailed to it is followed, so nothing the caller sees
	// afterwards tells the two apart either.
	fa := azDo(t, h, http.MethodPut, "/identity/email", bearer(freeTok), azJSONBody, "current_password", azPw, "email", "az-new@example.com")
	ta := azDo(t, h, http.MethodPut, "/identity/email", bearer(freeTok), azJSONBody, "current_password", azPw, "email", "Owner@example.com")
	sameAnswer(t, "AZ address change, free and taken", fa.status, fa.header, fa.raw, ta.status, ta.header, ta.raw)
	if fa.status != http.StatusOK || fa.obj()["email"] != "free@example.com" || fa.obj()["verified"] != true {
		t.Fatalf("AZ address change answered %s, want the caller unchanged", fa.raw)
	}
	for _, to := range []string{"az-new@example.com", "owner@example.com"} {
		if m := h.Mail.Next(t, "free@example.com"); !strings.Contains(m.Text, to) {
			t.Fatalf("notice of the change to %s:\n%s", to, m.Text)
		}
	}
	taken(h.Mail.Next(t, "owner@example.com"))
	azDo(t, h, http.MethodGet, azMailedPath(t, h, "az-new@example.com", "/identity/email_verification"), "", nil).want(t, "confirm the new address", http.StatusNoContent)
	a := azDo(t, h, http.MethodPut, "/password", bearer(freeTok), azJSONBody, "current_password", azPw, "password", azNewPw)
	if a.status != http.StatusOK || a.obj()["email"] != "az-new@example.com" || a.obj()["verified"] != true {
		t.Fatalf("after the link, the user is %s, want az-new@example.com, verified", a.raw)
	}
	azSignIn(t, h, "owner@example.com", azPw)
	if n := h.Mail.Count("owner@example.com"); n != 5 { // the verification link, then four notices
		t.Fatalf("%d mails to the owner, want 5", n)
	}
}
