package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
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

// seenAll is what a client can tell of one refusal: seen's status, body and Retry-After, and
// the headers a dialect may set on one.
func seenAll(a answer) string {
	return fmt.Sprintf("%s Content-Type=%q WWW-Authenticate=%q", seen(a), a.header.Get("Content-Type"), a.header.Get("Www-Authenticate"))
}

// TestConcealSignInAfterSignUp (issue 17.9): in conceal mode, signing a free and a taken address
// up with a password of one's own, then signing in with it, tells them apart no more than the
// sign-up did. An account whose address is not verified yet, or that is disabled, is refused and
// counted toward the lockout exactly as a wrong password is, in every dialect: the free address,
// now an account of the caller's, answers as the taken one at every step, lockout included,
// whether addresses must be verified or not and whether new accounts start disabled or not. The
// new account gets in once the link mailed to its address is followed.
func TestConcealSignInAfterSignUp(t *testing.T) {
	const pw, ownerPw = "the-callers-own-password", "the-owners-password-0"
	// lockoutConfig: the fourth try from one address meets its lock; the fifth failure from
	// anywhere locks the account for two minutes.
	steps := []lockStep{{"127.0.0.1", 0}, {"127.0.0.1", 0}, {"127.0.0.1", 0}, {"127.0.0.1", 0},
		{"127.0.0.2", 0}, {"127.0.0.3", 0}, {"127.0.0.4", 0}, {"127.0.0.4", 2*time.Minute + time.Second}}
	for _, d := range limitDialects {
		for _, c := range []struct {
			name   string
			opt    func(*server.Config)
			mailed bool // the free address gets a verification link
		}{
			{"defaults", func(*server.Config) {}, true},
			{"require-verified", func(c *server.Config) { c.RequireVerifiedEmail = true }, true},
			{"new-users-disabled", func(c *server.Config) { c.DisableNewUsers = true }, false},
		} {
			t.Run(fmt.Sprintf("dialect=%s/config=%s", d.name, c.name), func(t *testing.T) {
				t.Parallel()
				h := servertest.Start(t, lockoutConfig, concealErrors, c.opt)
				adminCreate(t, h, gen.AdminCreateUserRequest{Email: "owner@example.com", Password: ptr(ownerPw), EmailVerified: ptr(true)})
				// Authentication Zero's accounts sign up through its own /sign_up, the others' through Nhost.
				verify := func() {
					t.Helper()
					if q := follow(t, h, linkOf(t, h.Mail.Next(t, "free@example.com")).raw).Query(); q.Get("refreshToken") == "" {
						t.Fatalf("the verification link did not sign in: %v", q)
					}
				}
				if d.name == "az" {
					f := azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "free@example.com", "password", pw, "password_confirmation", pw)
					k := azDo(t, h, http.MethodPost, "/sign_up", "", azJSONBody, "email", "owner@example.com", "password", pw, "password_confirmation", pw)
					sameAnswer(t, "sign-up, free and taken", f.status, f.header, f.raw, k.status, k.header, k.raw, "id", "email")
					verify = func() {
						t.Helper()
						azDo(t, h, http.MethodGet, azMailedPath(t, h, "free@example.com", "/identity/email_verification"), "", nil).want(t, "verify", http.StatusNoContent)
					}
				} else {
					hdr := negHeaders("Content-Type", "application/json")
					fh, fs, fb := h.Send(t, http.MethodPost, "/v1/signup/email-password", hdr, wmeJSON("email", "free@example.com", "password", pw))
					th, ts, tb := h.Send(t, http.MethodPost, "/v1/signup/email-password", hdr, wmeJSON("email", "owner@example.com", "password", pw))
					sameAnswer(t, "sign-up, free and taken", fs, fh, fb, ts, th, tb)
				}

				var free, taken []string
				limited := false
				for _, s := range steps {
					h.Clock.Advance(s.advance)
					f := from(t, h, s.ip, http.MethodPost, d.path, d.body("free@example.com", pw))
					k := from(t, h, s.ip, http.MethodPost, d.path, d.body("owner@example.com", pw))
					free, taken = append(free, seenAll(f)), append(taken, seenAll(k))
					limited = limited || k.status == http.StatusTooManyRequests
				}
				for i := range free {
					if free[i] != taken[i] {
						t.Errorf("step %d (%s): the free address answers %s\nthe taken one answers %s", i+1, steps[i].ip, free[i], taken[i])
					}
				}
				if !limited {
					t.Fatalf("the sequence never met the lock: %q", taken)
				}
				if !c.mailed {
					return
				}
				verify()
				h.Clock.Advance(16 * time.Minute) // past the locks the sequence left
				if a := from(t, h, "127.0.0.9", http.MethodPost, d.path, d.body("free@example.com", pw)); a.status != http.StatusOK && a.status != http.StatusCreated {
					t.Fatalf("sign-in once the address is verified: %d %s", a.status, a.raw)
				}
			})
		}
	}
}

// TestConcealAdminCreatedUnverified: in conceal mode a user an administrator created with a
// password but an unverified address is refused as a wrong password is, until a mailed link
// proves the address (here the verification link Nhost's send-verification-email mails; a
// password reset does as well). One created verified signs in at once.
func TestConcealAdminCreatedUnverified(t *testing.T) {
	h := servertest.Start(t, concealErrors, func(c *server.Config) { c.AdminSecret = testAdminSecret })
	adminCreate(t, h, gen.AdminCreateUserRequest{Email: "made@example.com", Password: ptr(mailPassword)})
	adminCreate(t, h, gen.AdminCreateUserRequest{Email: "made-verified@example.com", Password: ptr(mailPassword), EmailVerified: ptr(true)})
	signIn(t, h, "made-verified@example.com", mailPassword)

	right := nhostSignIn(t, h, "127.0.0.1", "made@example.com", mailPassword)
	wrong := nhostSignIn(t, h, "127.0.0.1", "made@example.com", "not-the-password")
	if seenAll(right) != seenAll(wrong) {
		t.Fatalf("unverified, the right password answers %s\na wrong one answers %s", seenAll(right), seenAll(wrong))
	}
	hdr := negHeaders("Content-Type", "application/json")
	if _, status, body := h.Send(t, http.MethodPost, "/v1/user/email/send-verification-email", hdr, wmeJSON("email", "made@example.com")); status != http.StatusOK {
		t.Fatalf("send-verification-email: %d %s", status, body)
	}
	follow(t, h, linkOf(t, h.Mail.Next(t, "made@example.com")).raw)
	signIn(t, h, "made@example.com", mailPassword)
}

// anonSession signs a new anonymous user in through Nhost.
func anonSession(t *testing.T, h *servertest.Harness) gen.Session {
	t.Helper()
	res, err := h.Client.SignInAnonymousWithResponse(context.Background(), gen.SignInAnonymousJSONRequestBody{})
	if err != nil || res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("anonymous sign-in: %v %s", err, res.Body)
	}
	return *res.JSON200.Session
}

// TestConcealDeanonymize (issue 17.9): in conceal mode an anonymous user who deanonymizes with a
// taken address cannot tell it from a free one: the answer is the same, and so is the account
// afterwards (a regular one, with no address yet), in GET /v1/user and in the next refresh. The
// address becomes the account's, verified, when the link mailed to it is followed, as in an
// address change; the owner of a taken address is told that someone tried, and their account
// does not change. With a password or passwordless alike.
func TestConcealDeanonymize(t *testing.T) {
	const pw, ownerPw = "the-callers-new-password", "the-owners-password-0"
	for _, method := range []string{"email-password", "passwordless"} {
		t.Run("method="+method, func(t *testing.T) {
			t.Parallel()
			h := servertest.Start(t, concealErrors, anonymousOn, func(c *server.Config) { c.AdminSecret = testAdminSecret })
			owner := adminCreate(t, h, gen.AdminCreateUserRequest{Email: "owner@example.com", Password: ptr(ownerPw), EmailVerified: ptr(true)})
			free, taken := anonSession(t, h), anonSession(t, h)
			deanonymize := func(s gen.Session, email string) (http.Header, int, []byte) {
				t.Helper()
				body := wmeJSON("signInMethod", method, "email", email, "password", pw)
				if method == "passwordless" {
					body = wmeJSON("signInMethod", method, "email", email)
				}
				return h.Send(t, http.MethodPost, "/v1/user/deanonymize",
					negHeaders("Content-Type", "application/json", "Authorization", "Bearer "+s.AccessToken), body)
			}
			fh, fs, fb := deanonymize(free, "new@example.com")
			th, ts, tb := deanonymize(taken, "Owner@Example.com")
			sameAnswer(t, "deanonymize, free and taken", fs, fh, fb, ts, th, tb)
			if fs != http.StatusOK {
				t.Fatalf("deanonymize: %d %s", fs, fb)
			}

			// What each caller sees of itself, after a refresh: the same but for its id.
			me := func(s gen.Session) (http.Header, int, []byte) {
				t.Helper()
				r := must(refresh(t, h, s.RefreshToken))(t)
				if r.JSON200 == nil {
					t.Fatalf("refresh: %d %s", r.StatusCode(), r.Body)
				}
				return h.Send(t, http.MethodGet, "/v1/user", negHeaders("Authorization", "Bearer "+r.JSON200.AccessToken), "")
			}
			fh, fs, fb = me(free)
			th, ts, tb = me(taken)
			sameAnswer(t, "the user afterwards, free and taken", fs, fh, fb, ts, th, tb, "id", "createdAt")
			if strings.Contains(string(fb), "example.com") || !strings.Contains(string(fb), `"isAnonymous":false`) {
				t.Fatalf("the user afterwards: %s, want a regular user with no address yet", fb)
			}

			if m := h.Mail.Next(t, "owner@example.com"); !strings.Contains(m.Subject, "tried to use your email address") {
				t.Fatalf("notice to the owner: %q", m.Subject)
			}
			q := follow(t, h, linkOf(t, h.Mail.Next(t, "new@example.com")).raw).Query()
			u := getUser(t, h, must(refresh(t, h, q.Get("refreshToken")))(t).JSON200.AccessToken)
			if u.JSON200 == nil || u.JSON200.Id != free.User.Id || u.JSON200.Email == nil || *u.JSON200.Email != "new@example.com" || !u.JSON200.EmailVerified {
				t.Fatalf("after the link: %d %s", u.StatusCode(), u.Body)
			}
			if method == "email-password" {
				if s := signIn(t, h, "new@example.com", pw); s.User.Id != free.User.Id {
					t.Fatalf("signed in as %s, want %s", s.User.Id, free.User.Id)
				}
			}
			if s := signIn(t, h, "owner@example.com", ownerPw); s.User.Id != owner.User.Id.String() {
				t.Fatalf("the owner signs in as %s, want %s", s.User.Id, owner.User.Id)
			}
			if n := h.Mail.Count("owner@example.com"); n != 1 {
				t.Fatalf("%d mails to the owner, want the one notice", n)
			}
		})
	}
}

// TestConcealZestyMemberByEmail (issue 17.9): in conceal mode adding a member to a Zesty instance
// by address would tell any user, who may create an instance of their own, which addresses have
// accounts. It is refused alike for every address, with a 400 that says to name members by
// their ZUID, and writes nothing; adding by ZUID works.
func TestConcealZestyMemberByEmail(t *testing.T) {
	h := servertest.Start(t, concealErrors)
	signUp(t, h, "owner@example.com", mailPassword)
	signUp(t, h, "member@example.com", mailPassword)
	owner := zestyLoginAs(t, h, "owner@example.com", mailPassword)
	inst := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", owner, `{"name":"Probe"}`))["ZUID"].(string)
	seo := zRoleZUIDs(t, h, owner, inst)["seo"]
	add := func(kv ...string) (http.Header, int, []byte) {
		t.Helper()
		return h.Send(t, http.MethodPost, "/v1/instances/"+inst+"/users",
			negHeaders("Content-Type", "application/json", "Authorization", "Bearer "+owner), zJSON(append(kv, "roleZUID", seo)...))
	}
	var kh, uh http.Header
	var ks, us int
	var kb, ub []byte
	h.NoWrites(t, func() {
		kh, ks, kb = add("email", "member@example.com")
		uh, us, ub = add("email", "nobody@example.com")
	})
	sameAnswer(t, "add by address, an account and none", ks, kh, kb, us, uh, ub)
	if ks != http.StatusBadRequest || !strings.Contains(string(kb), "userZUID") {
		t.Fatalf("add by address: %d %s, want 400 naming userZUID", ks, kb)
	}
	zuid := zObj(t, zWant(t, h, http.StatusOK, http.MethodGet, "/verify", zestyLoginAs(t, h, "member@example.com", mailPassword), ""))["ZUID"].(string)
	zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances/"+inst+"/users", owner, zJSON("userZUID", zuid, "roleZUID", seo))
}
