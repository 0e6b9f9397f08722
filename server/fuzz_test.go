package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/alexedwards/argon2id"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// Fuzz targets for what a hostile client controls: tokens and the headers that carry them,
// request bodies in every media type, and the errors every dialect renders for them. With their
// seeds they run as ordinary tests; `go test -run=^$ -fuzz=FuzzX ./server` explores further.

// fuzzServer is a server on a real store with cheap password hashing and no mailer.
func fuzzServer(f *testing.F) *Server {
	f.Helper()
	clock := testdb.NewClock()
	cfg := DefaultConfig()
	cfg.PasswordHashParams = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	s, err := New(context.Background(), Deps{Store: testdb.Open(f, testdb.Options{Now: clock.Now}), Now: clock.Now, Config: cfg,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzAuthorizationHeader: the three readers of Authorization (Nhost's Bearer, Zesty's bare or
// Bearer, Authentication Zero's Bearer or Rails' Token token="…") never panic, never return a
// token with the separators they strip, and read back any clean token in every form.
func FuzzAuthorizationHeader(f *testing.F) {
	for _, seed := range []string{"", "Bearer", "Bearer ", "bearer abc", "BEARER  abc  ", "Bearer a b", "abc",
		`Token token="abc"`, `Token token=abc, expires="x"`, `Token abc`, `token token=""`, `Token token="a"b"`,
		"Bearer \x00", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer\tabc", "\u202eBearer abc", "Bearer abc\r\nX: y"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{"Authorization": {h}}}
		if tok, ok := bearerToken(r); ok && (tok == "" || tok != strings.TrimSpace(tok)) {
			t.Errorf("bearerToken(%q) = %q", h, tok)
		}
		_ = zestyToken(h)
		if tok, ok := azToken(h); ok && (tok == "" || strings.ContainsAny(tok, " \t\",")) {
			t.Errorf("azToken(%q) = %q", h, tok)
		}
		// A clean token survives every form a client may send it in.
		tok := h
		if tok == "" || strings.ContainsAny(tok, "\",") || strings.IndexFunc(tok, unicode.IsSpace) >= 0 ||
			!utf8Clean(tok) {
			return
		}
		for _, hv := range []string{"Bearer " + tok, "bearer  " + tok + " ", `Token token="` + tok + `"`, "Token " + tok} {
			if got, ok := azToken(hv); !ok || got != tok {
				t.Errorf("azToken(%q) = %q, %v; want %q", hv, got, ok, tok)
			}
		}
		if got, ok := bearerToken(&http.Request{Header: http.Header{"Authorization": {"Bearer " + tok}}}); !ok || got != tok {
			t.Errorf("bearerToken(Bearer %q) = %q, %v", tok, got, ok)
		}
		if got := zestyToken("Bearer " + tok); got != tok && !strings.EqualFold(tok, "bearer") {
			t.Errorf("zestyToken(Bearer %q) = %q", tok, got)
		}
		if got := zestyToken(tok); got != tok {
			t.Errorf("zestyToken(%q) = %q", tok, got)
		}
	})
}

func utf8Clean(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// FuzzAccessToken: only a token this server signed verifies, and then for its own user and
// session; anything else is "unauthenticated", never an internal error or a panic.
func FuzzAccessToken(f *testing.F) {
	s := fuzzServer(f)
	u := &store.User{ID: uuid.New(), DefaultRole: "user"}
	sid := uuid.New()
	tok, _, err := s.mintAccessToken(u, []string{"user"}, sid, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	for _, seed := range []string{tok, tok + "x", tok[:len(tok)-2], parts[0] + "." + parts[1] + ".", parts[1] + "." + parts[0] + "." + parts[2],
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".", "", "a.b.c", "....", strings.Repeat("A", 5000),
		"eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo"} {
		f.Add(seed)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		gotUser, gotSession, err := s.parseAccessToken(ctx, raw)
		if err == nil && (gotUser != u.ID || gotSession != sid) {
			t.Fatalf("parseAccessToken(%q) verified for %s/%s", raw, gotUser, gotSession)
		}
		if _, err := s.authenticateAccessToken(ctx, raw); err == nil || codeOf(err) != CodeUnauthenticated {
			t.Fatalf("authenticateAccessToken(%q) = %v, want unauthenticated (the session does not exist)", raw, err)
		}
	})
}

// FuzzOpaqueTokens: refresh tokens, link tickets, reset tokens, personal access tokens and Zesty
// session tokens that the server never issued are refused with their own code, not a 500.
func FuzzOpaqueTokens(f *testing.F) {
	s := fuzzServer(f)
	for _, seed := range []string{"", "x", "passwordReset:", "passwordReset:abc", "emailVerify:" + uuid.NewString(), ":", "signinPasswordless:\x00",
		"\x00", "\xed\xa0\x80", strings.Repeat("z", 4096), "' OR 1=1 --", "%00", "verifyEmail:a:b:c"} {
		f.Add(seed)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := s.refresh(ctx, secret(raw)); codeOf(err) != CodeInvalidRefreshToken {
			t.Errorf("refresh(%q) = %v", raw, err)
		}
		if _, _, _, err := s.useTicket(ctx, secret(raw)); codeOf(err) != CodeInvalidTicket {
			t.Errorf("useTicket(%q) = %v", raw, err)
		}
		if _, err := s.azResetTicket(ctx, raw); codeOf(err) != CodeInvalidTicket {
			t.Errorf("azResetTicket(%q) = %v", raw, err)
		}
		if _, err := s.signInPAT(ctx, secret(raw)); codeOf(err) != CodeInvalidPAT {
			t.Errorf("signInPAT(%q) = %v", raw, err)
		}
		if _, err := s.authenticateZestyToken(ctx, raw); codeOf(err) != CodeUnauthenticated {
			t.Errorf("authenticateZestyToken(%q) = %v", raw, err)
		}
		kind, ok := ticketKindOf(secret(raw))
		if ok && !strings.HasPrefix(raw, kind+":") {
			t.Errorf("ticketKindOf(%q) = %q", raw, kind)
		}
		if got := azTicket(raw, store.TicketPasswordReset); !strings.HasPrefix(string(got), store.TicketPasswordReset+":") {
			t.Errorf("azTicket(%q) = %q", raw, got)
		}
	})
}

func codeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// FuzzFormats: an address the email format takes is a bare address of at most 254 bytes, and a
// URI it takes has a scheme.
func FuzzFormats(f *testing.F) {
	for _, seed := range []string{"a@b.co", "A <a@b.co>", "a@b", "\"a b\"@c.d", "a@b.co\x00", "a@[127.0.0.1]", "https://x.y/z", "javascript:alert(1)", "//x", "a@"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if validateEmail(v) == nil {
			a, err := mail.ParseAddress(v)
			if len(v) > 254 || err != nil || a.Address != v {
				t.Errorf("validateEmail accepted %q", v)
			}
		}
		if validateURI(v) == nil {
			if u, err := url.Parse(v); err != nil || u.Scheme == "" {
				t.Errorf("validateURI accepted %q", v)
			}
		}
	})
}

// fuzzOps is the contract's operations in a fixed order, for fuzzers to pick one by index.
func fuzzOps(f *testing.F) (*openapi3.T, []*operation) {
	spec, err := gen.GetSpec()
	if err != nil {
		f.Fatal(err)
	}
	ops, err := operations(spec)
	if err != nil {
		f.Fatal(err)
	}
	var out []*operation
	for _, op := range ops {
		out = append(out, op)
	}
	slices.SortFunc(out, func(a, b *operation) int { return strings.Compare(a.id, b.id) })
	return spec, out
}

// FuzzRequestDecoding sends any body, in any media type, with any query, to any operation of the
// contract (through the whole handler: validator, decoders, handlers): the answer is never a
// 5xx, and an error is valid JSON in the operation's dialect shape.
func FuzzRequestDecoding(f *testing.F) {
	s := fuzzServer(f)
	spec, ops := fuzzOps(f)
	h := s.Handler()
	for i, op := range ops {
		if !op.hasBody {
			f.Add(uint16(i), "", "", []byte(nil))
			continue
		}
		f.Add(uint16(i), "application/json", "", []byte(`{"email":"a@b.co","password":"x"}`))
		f.Add(uint16(i), "application/json", "", []byte(`{"email":"a\u0000@b.co","password":{"$ne":1}}`))
		f.Add(uint16(i), "application/x-www-form-urlencoded", "", []byte("email=a%40b.co&password=%00"))
		f.Add(uint16(i), "multipart/form-data; boundary=b", "", []byte("--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.co\r\n--b--\r\n"))
	}
	f.Add(uint16(0), "application/json; charset=utf-16", "a=%00&b=%zz", []byte("\xff\xfe{\x00}\x00"))
	f.Fuzz(func(t *testing.T, opIndex uint16, contentType, query string, body []byte) {
		op := ops[int(opIndex)%len(ops)]
		path := op.route.Path
		for strings.Contains(path, "{") {
			i, j := strings.IndexByte(path, '{'), strings.IndexByte(path, '}')
			path = path[:i] + "x" + path[j+1:]
		}
		u := &url.URL{Path: path, RawQuery: query}
		req, err := http.NewRequest(op.route.Method, u.String(), bytes.NewReader(body))
		if err != nil {
			return
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s (%q): %d %s", op.route.Method, u, contentType, rec.Code, rec.Body)
		}
		// The documentation's missing assets are text, as the contract declares.
		plainText := op.dialect == dialectOps && strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain")
		if rec.Code >= 400 && op.route.Method != http.MethodHead && !plainText {
			checkErrorShape(t, spec, op.dialect, rec.Code, rec.Body.Bytes())
		}
	})
}

// dialectErrorSchemas names each dialect's error body in the contract (see TestSpecLint).
var dialectErrorSchemas = map[dialect]string{dialectNhost: "ErrorResponse", dialectWME: "WmeError", dialectZesty: "ZestyError",
	dialectAdmin: "AdminError", dialectAZ: "AzError"}

func checkErrorShape(t *testing.T, spec *openapi3.T, d dialect, status int, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("dialect %s, %d: body is not JSON: %q", d, status, body)
	}
	name, ok := dialectErrorSchemas[d]
	if !ok {
		var p plainError
		if err := json.Unmarshal(body, &p); err != nil || p.Status != status || p.Error == "" || p.Message == "" {
			t.Fatalf("dialect %s, %d: not a plain error: %s", d, status, body)
		}
		return
	}
	if d == dialectAZ && status == http.StatusUnprocessableEntity {
		name = "AzFieldErrors"
	}
	if err := spec.Components.Schemas[name].Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Fatalf("dialect %s, %d: not a %s: %v\n%s", d, status, name, err, body)
	}
}

// FuzzErrorRenderers: any code (a known one, or one no table has) with any field problems, for
// any operation of any dialect, in either Nhost mode, renders a 4xx or 5xx whose body is valid
// JSON in that dialect's shape.
func FuzzErrorRenderers(f *testing.F) {
	spec, ops := fuzzOps(f)
	dialects := []dialect{dialectNhost, dialectWME, dialectZesty, dialectAZ, dialectAdmin, dialectOps, dialectPlain}
	for i := range Codes {
		f.Add(uint8(i), "", "/email", "not a valid email address", uint8(i), uint8(i), false)
		f.Add(uint8(i), "", "", "", uint8(i+3), uint8(i*7), true)
	}
	f.Add(uint8(255), "no-such-code", "/password", "\x00\xed\xa0\x80\u202e", uint8(1), uint8(9), false)
	f.Add(uint8(254), "", "password_confirmation", strings.Repeat("x", 3000), uint8(3), uint8(40), false)
	f.Fuzz(func(t *testing.T, codeIndex uint8, unknown, field, reason string, dialectIndex, opIndex uint8, conceal bool) {
		code := Code(unknown)
		if int(codeIndex) < len(Codes) {
			code = Codes[codeIndex]
		}
		d := dialects[int(dialectIndex)%len(dialects)]
		var sameDialect []string
		for _, op := range ops {
			if op.dialect == d {
				sameDialect = append(sameDialect, op.id)
			}
		}
		operation := ""
		if len(sameDialect) > 0 && opIndex%8 != 0 {
			operation = sameDialect[int(opIndex)%len(sameDialect)]
		}
		s := &Server{cfg: DefaultConfig()}
		s.cfg.ConcealErrors = conceal
		e := &Error{Code: code}
		if field != "" || reason != "" {
			e.Fields = []FieldError{{Field: field, Reason: reason}, {Field: field, Reason: reason + "!"}, {Field: "", Reason: reason}}
		}
		r := d.render(s, e, operation)
		if r.Status < 400 || r.Status > 599 || r.Body == nil {
			t.Fatalf("%s %s (%s): status %d body %v", d, code, operation, r.Status, r.Body)
		}
		body, err := json.Marshal(r.Body)
		if err != nil {
			t.Fatalf("%s %s: body does not marshal: %v", d, code, err)
		}
		checkErrorShape(t, spec, d, r.Status, body)
	})
}
