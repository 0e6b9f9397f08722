package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store/testdb"
)

// TestQuickCheckMatchesValidator holds the validator's fast path for bodiless requests to
// kin-openapi's verdicts: for every operation that has one, and a spread of credentials (none,
// malformed, forged, valid, of an ended session, of a disabled user, of each dialect, the admin
// secret right and wrong), both must accept or refuse alike, refuse with the same code, and leave
// the same principal, admin flag and failure notes on the request.
func TestQuickCheckMatchesValidator(t *testing.T) {
	clock := testdb.NewClock()
	st := testdb.Open(t, testdb.Options{Now: clock.Now})
	cfg := DefaultConfig()
	cfg.PasswordHashParams = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	cfg.RateLimits = false
	cfg.AdminSecret = strings.Repeat("a", 40)
	s, err := New(context.Background(), Deps{Store: st, Now: clock.Now, Config: cfg,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	call := func(method, path, ctype, body string) (http.Header, []byte) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		return rec.Header(), rec.Body.Bytes()
	}
	// One user signed in through every dialect, and a second one who gets disabled.
	session := func(email string) (access string) {
		_, body := call(http.MethodPost, "/v1/signup/email-password", "application/json",
			`{"email":"`+email+`","password":"correct-horse-battery"}`)
		var out struct{ Session struct{ AccessToken string } }
		if err := json.Unmarshal(body, &out); err != nil || out.Session.AccessToken == "" {
			t.Fatalf("sign-up %s: %s", email, body)
		}
		return out.Session.AccessToken
	}
	access := session("quick@example.com")
	disabledAccess := session("disabled@example.com")
	_, body := call(http.MethodPost, "/login", "application/json", `{"email":"quick@example.com","password":"correct-horse-battery"}`)
	var zl struct{ Data string }
	if err := json.Unmarshal(body, &zl); err != nil || zl.Data == "" {
		t.Fatalf("zesty login: %s", body)
	}
	hdr, _ := call(http.MethodPost, "/sign_in", "application/json", `{"email":"quick@example.com","password":"correct-horse-battery"}`)
	azToken := hdr.Get("X-Session-Token")
	if azToken == "" {
		t.Fatal("no AZ session token")
	}
	endedAccess := session("ended@example.com")
	_, endedSID, err := s.parseAccessToken(context.Background(), endedAccess)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeSession(context.Background(), endedSID, "test"); err != nil {
		t.Fatal(err)
	}
	disabledUser, _, err := s.parseAccessToken(context.Background(), disabledAccess)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetUserDisabled(context.Background(), disabledUser, true); err != nil {
		t.Fatal(err)
	}

	creds := map[string]http.Header{
		"none":            {},
		"empty bearer":    {"Authorization": {"Bearer "}},
		"garbage bearer":  {"Authorization": {"Bearer not-a-token"}},
		"forged bearer":   {"Authorization": {"Bearer " + access[:len(access)-4] + "AAAA"}},
		"valid bearer":    {"Authorization": {"Bearer " + access}},
		"lower bearer":    {"Authorization": {"bearer " + access}},
		"basic":           {"Authorization": {"Basic " + access}},
		"ended session":   {"Authorization": {"Bearer " + endedAccess}},
		"disabled user":   {"Authorization": {"Bearer " + disabledAccess}},
		"zesty bare":      {"Authorization": {zl.Data}},
		"zesty bearer":    {"Authorization": {"Bearer " + zl.Data}},
		"zesty unknown":   {"Authorization": {uuid.NewString()}},
		"az bearer":       {"Authorization": {"Bearer " + azToken}},
		"az rails":        {"Authorization": {`Token token="` + azToken + `"`}},
		"az unknown":      {"Authorization": {"Token " + uuid.NewString()}},
		"admin secret":    {"X-Admin-Secret": {cfg.AdminSecret}},
		"wrong admin":     {"X-Admin-Secret": {strings.Repeat("b", 40)}},
		"bearer and junk": {"Authorization": {"Bearer " + access + " x"}},
	}

	type verdict struct {
		ok        bool
		code      Code
		user      uuid.UUID
		session   uuid.UUID
		token     bool
		admin     bool
		authErr   bool
		refused   Code
		errString string
	}
	judge := func(st *reqState, err error) verdict {
		v := verdict{ok: err == nil, admin: st.admin, authErr: st.authErr != nil}
		if err != nil {
			var e *Error
			if errors.As(fromValidation(err), &e) {
				v.code = e.Code
			}
			v.errString = err.Error()
		}
		if p := st.principal; p != nil {
			v.session, v.token = p.SessionID, p.Token != nil
			if p.User != nil {
				v.user = p.User.ID
			}
		}
		if st.refused != nil {
			v.refused = st.refused.Code
		}
		return v
	}

	checked := 0
	for key, op := range s.ops {
		if op.quick == nil {
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		for name, hdr := range creds {
			run := func(quick bool) verdict {
				req := httptest.NewRequest(method, path, nil)
				for k, vs := range hdr {
					req.Header[k] = vs
				}
				st := &reqState{client: client{IP: "192.0.2.1", RequestID: "r"}, op: op, operation: op.id, dialect: op.dialect}
				req = req.WithContext(withState(req.Context(), st))
				in := &openapi3filter.RequestValidationInput{Request: req, Route: op.route, Options: s.filterOptions}
				var err error
				if quick {
					err = op.quick.run(req.Context(), in)
				} else {
					err = openapi3filter.ValidateRequest(req.Context(), in)
				}
				return judge(st, err)
			}
			want, got := run(false), run(true)
			if got != want {
				t.Errorf("%s %s with %s:\n quick     %+v\n validator %+v", method, path, name, got, want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no operation has a quick check")
	}
	if s.ops["GET /v1/user"].quick == nil {
		t.Error("GET /v1/user has no quick check")
	}
}
