package server

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
)

// encoderBytes is what the generated responses write: json.Encoder's output, or its error.
func encoderBytes(v any) ([]byte, error) {
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(v)
	return buf.Bytes(), err
}

func sameAsEncoder(t *testing.T, what string, v any, got []byte, gotErr error) {
	t.Helper()
	want, wantErr := encoderBytes(v)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%s: error %v, encoding/json's %v", what, gotErr, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got, want) {
		t.Fatalf("%s:\n ours          %s\n encoding/json %s", what, got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// testUsers spread over what the hand-written encoder must get right: absent and present
// optional fields, strings it writes itself and ones it hands to encoding/json, addresses that
// are plain and ones net/mail rewrites or refuses, times in and out of RFC 3339's range.
func testUsers() []gen.User {
	base := gen.User{
		AvatarUrl: "https://gravatar.example/avatar/1?d=blank&s=64", CreatedAt: time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.UTC),
		DefaultRole: "user", DisplayName: "Ada Lovelace", Id: "2c35b6f3-c4b9-48e3-978a-d4d0f1d42e24", Locale: "en",
		Metadata: map[string]any{}, Roles: []string{"me", "user"},
	}
	var out []gen.User
	add := func(f func(u *gen.User)) {
		u := base
		f(&u)
		out = append(out, u)
	}
	add(func(*gen.User) {})
	add(func(u *gen.User) {
		u.Email, u.ActiveMfaType, u.PhoneNumber = ptr(openapi_types.Email("ada@example.com")), ptr("totp"), ptr("+15555550100")
		u.EmailVerified, u.IsAnonymous, u.PhoneNumberVerified = true, true, true
	})
	add(func(u *gen.User) { u.Metadata, u.Roles = nil, nil })
	add(func(u *gen.User) {
		u.Metadata = map[string]any{"b": []any{1.5, "x<y>", nil, true}, "a": map[string]any{"z": "é\u2028"}, "": "\x00"}
	})
	add(func(u *gen.User) { u.Roles = []string{} })
	add(func(u *gen.User) {
		u.DisplayName = `Quote " backslash \ tab	 nl` + "\n" + ` <b>&amp;</b> é ☃ 🙂 ` + "\u2028\u2029\x7f\xff"
	})
	add(func(u *gen.User) { u.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 5*3600+30*60)) })
	add(func(u *gen.User) { u.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })
	add(func(u *gen.User) { u.CreatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) })
	add(func(u *gen.User) { u.CreatedAt = time.Time{} })
	add(func(u *gen.User) { u.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", 25*3600)) })
	for _, e := range []string{"a.b-c_d+e@sub.example.co", "A@B", "x&y@example.com", "Ada <ada@example.com>", `"q u"@example.com`,
		"a..b@example.com", ".a@example.com", "a.@example.com", "a@example..com", "a@", "@a", "a@b@c", "", "é@example.com",
		"a@[127.0.0.1]", "a@-b-.c", " a@b", "a@b ", "a(comment)@b"} {
		add(func(u *gen.User) { u.Email = ptr(openapi_types.Email(e)) })
	}
	return out
}

func TestNhostJSONMatchesEncoder(t *testing.T) {
	for i, u := range testUsers() {
		got, err := appendUserJSON(nil, &u)
		sameAsEncoder(t, "user "+string(rune('A'+i)), u, append(got, '\n'), err)
		for _, withUser := range []bool{true, false} {
			ss := gen.Session{AccessToken: "eyJhbGciOiJFUzI1NiJ9.e30.sig-_x", AccessTokenExpiresIn: 900,
				RefreshToken: "b2c3d4e5-0000-4000-8000-000000000001", RefreshTokenId: "b2c3d4e5-0000-4000-8000-000000000002"}
			if withUser {
				ss.User = &u
			}
			got, err := appendSessionJSON(nil, &ss)
			sameAsEncoder(t, "session "+string(rune('A'+i)), ss, append(got, '\n'), err)
		}
	}
	// The answers themselves: the bytes and the header the generated responses write.
	u := testUsers()[1]
	rec, want := httptest.NewRecorder(), httptest.NewRecorder()
	if err := getUserAnswer(u).VisitGetUserResponse(rec); err != nil {
		t.Fatal(err)
	}
	if err := gen.GetUser200JSONResponse(u).VisitGetUserResponse(want); err != nil {
		t.Fatal(err)
	}
	if rec.Code != want.Code || rec.Header().Get("Content-Type") != want.Header().Get("Content-Type") || rec.Body.String() != want.Body.String() {
		t.Fatalf("GET /v1/user answer %d %q %s, generated %d %q %s", rec.Code, rec.Header(), rec.Body, want.Code, want.Header(), want.Body)
	}
	ss := gen.Session{AccessToken: "t", AccessTokenExpiresIn: 1, RefreshToken: "r", RefreshTokenId: "i", User: &u}
	rec, want = httptest.NewRecorder(), httptest.NewRecorder()
	if err := refreshAnswer(ss).VisitRefreshTokenResponse(rec); err != nil {
		t.Fatal(err)
	}
	if err := gen.RefreshToken200JSONResponse(ss).VisitRefreshTokenResponse(want); err != nil {
		t.Fatal(err)
	}
	if rec.Code != want.Code || rec.Header().Get("Content-Type") != want.Header().Get("Content-Type") || rec.Body.String() != want.Body.String() {
		t.Fatalf("POST /v1/token answer %d %q %s, generated %d %q %s", rec.Code, rec.Header(), rec.Body, want.Code, want.Header(), want.Body)
	}
}

// FuzzNhostUserJSON: any strings, times and flags encode as encoding/json encodes them.
func FuzzNhostUserJSON(f *testing.F) {
	for _, u := range testUsers() {
		email := ""
		if u.Email != nil {
			email = string(*u.Email)
		}
		f.Add(u.DisplayName, email, u.Locale, u.CreatedAt.Unix(), int64(u.CreatedAt.Nanosecond()), 0, true, false)
	}
	f.Fuzz(func(t *testing.T, s, email, role string, sec, nsec int64, offset int, hasEmail, flag bool) {
		u := gen.User{AvatarUrl: s, CreatedAt: time.Unix(sec, nsec).In(time.FixedZone("", offset%(30*3600))), DefaultRole: role,
			DisplayName: s + role, Id: role, Locale: s, Metadata: map[string]any{}, Roles: []string{s, role, email},
			EmailVerified: flag, IsAnonymous: !flag, PhoneNumberVerified: flag}
		if hasEmail {
			u.Email = ptr(openapi_types.Email(email))
			u.PhoneNumber, u.ActiveMfaType = ptr(email), ptr(s)
		}
		if flag {
			u.Metadata = map[string]any{s: email}
		}
		got, err := appendUserJSON(nil, &u)
		sameAsEncoder(t, "user", u, append(got, '\n'), err)
	})
}
