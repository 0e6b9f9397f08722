package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/servertest"
)

// The negative scenarios of the admin API (/v1/admin), on the machinery of TestNhostNegative.
// Every admin error is an AdminError {status, error, message, fields?}, checked by each row's
// errBody; every row is refused and writes nothing.

// adminAnyError is the wantCode of admin rows: an error is wanted; errBody checks the body.
const adminAnyError gen.ErrorResponseError = "admin-error"

// adminErrorBody checks an AdminError: only its four members, the HTTP status repeated, the
// machine code wanted, a message.
func adminErrorBody(code string) func(t *testing.T, status int, body []byte) {
	return func(t *testing.T, status int, body []byte) {
		t.Helper()
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
			t.Errorf("not an AdminError (a JSON object): %v: %.300s", err, body)
			return
		}
		for k := range fields {
			if k != "status" && k != "error" && k != "message" && k != "fields" {
				t.Errorf("AdminError has member %q: %.300s", k, body)
			}
		}
		var e gen.AdminError
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("AdminError: %v: %.300s", err, body)
			return
		}
		if e.Status != status || string(e.Error) != code || e.Message == "" {
			t.Errorf("AdminError = %d %q %q, want %d %q: %.300s", e.Status, e.Error, e.Message, status, code, body)
		}
	}
}

// adminCodeByStatus is the admin code of each status the rows want.
var adminCodeByStatus = map[int]string{
	http.StatusBadRequest:            "invalid-request",
	http.StatusUnauthorized:          "unauthenticated",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not-found",
	http.StatusMethodNotAllowed:      "method-not-allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "payload-too-large",
	http.StatusUnsupportedMediaType:  "unsupported-media-type",
}

// adminRow is a refused admin request: its status, nothing written.
func adminRow(name string, status int) negCase {
	code, ok := adminCodeByStatus[status]
	if !ok {
		panic(fmt.Sprintf("adminRow: no admin code for %d", status))
	}
	return negCase{name: name, wantStatus: status, wantCode: adminAnyError, wantNoWrites: true, errBody: adminErrorBody(code),
		opts: negOpts(adminSecretOn)}
}

// adminShaped turns the shared builders' error rows into admin rows sent with the admin secret.
func adminShaped(cs []negCase) []negCase {
	out := slices.Clone(cs)
	for i := range out {
		r := adminRow(out[i].name, out[i].wantStatus)
		r.body, r.headers, r.chunked = out[i].body, withSecret(out[i].headers), out[i].chunked
		out[i] = r
	}
	return out
}

// withSecret adds the admin secret to headers (a copy).
func withSecret(h map[string]string) map[string]string {
	out := map[string]string{"X-Admin-Secret": "{{adminSecret}}"}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// fxAdmin signs up {{email}} ({{access}}, {{userID}}: a user without the admin role) and names
// {{adminSecret}} and {{unknownID}}.
func fxAdmin(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	fxUser(t, h, f)
	f.set("adminSecret", testAdminSecret, true)
	f.set("unknownID", uuid.NewString(), false)
}

// adminOp builds the rows of one admin operation: bad credentials (401), a user without the admin
// role (403), bad ids (400, 404), bad bodies and media types, and other methods (405). body is a
// valid body, "" for operations without one; userScoped says the path names {{userID}}.
func adminOp(method, path, body string, userScoped bool, wrongMethods []string, extra ...negCase) []negCase {
	cred := func(name string, status int, headers map[string]string) negCase {
		c := adminRow(name, status)
		c.headers, c.body = headers, body
		return c
	}
	rows := []negCase{
		cred("no-credentials", http.StatusUnauthorized, nil),
		cred("wrong-secret", http.StatusUnauthorized, negHeaders("X-Admin-Secret", testAdminSecret+"-not")),
		cred("secret-case-changed", http.StatusUnauthorized, negHeaders("X-Admin-Secret", strings.ToUpper(testAdminSecret))),
		cred("secret-as-bearer", http.StatusUnauthorized, negBearer("{{adminSecret}}")),
		cred("bearer-garbage", http.StatusUnauthorized, negBearer("not-a-jwt")),
		cred("bearer-refresh-token", http.StatusUnauthorized, negBearer("{{refresh}}")),
		cred("access-token-without-admin-role", http.StatusForbidden, negBearer("{{access}}")),
	}
	if body != "" {
		bad := cred("wrong-secret-and-malformed-body", http.StatusUnauthorized, negHeaders("X-Admin-Secret", "nope"))
		bad.body = `{"nope`
		rows = append(rows, bad)
		rows = append(rows, adminShaped(negBodyShapeCases(true))...)
		rows = append(rows, adminShaped(negMediaCases(body))...)
		unknown := adminRow("unknown-field", http.StatusBadRequest)
		unknown.headers, unknown.body = withSecret(nil), strings.TrimSuffix(body, "}")+`,"isAdmin":true}`
		if body == "{}" {
			unknown.body = `{"isAdmin":true}`
		}
		rows = append(rows, unknown)
	}
	if userScoped {
		malformed := adminRow("malformed-user-id", http.StatusBadRequest)
		malformed.path, malformed.headers, malformed.body = strings.Replace(path, "{{userID}}", "not-a-uuid", 1), withSecret(nil), body
		unknown := adminRow("unknown-user-id", http.StatusNotFound)
		unknown.path, unknown.headers, unknown.body = strings.Replace(path, "{{userID}}", "{{unknownID}}", 1), withSecret(nil), body
		rows = append(rows, malformed, unknown)
	}
	for _, m := range wrongMethods {
		c := adminRow("method-"+strings.ToLower(m), http.StatusMethodNotAllowed)
		c.method, c.headers = m, withSecret(nil)
		rows = append(rows, c)
	}
	for _, c := range extra {
		if c.headers == nil {
			c.headers = withSecret(nil)
		}
		rows = append(rows, c)
	}
	return negForOp(method, path, fxAdmin, rows)
}

// adminQuery is a row with a bad query string on path (400).
func adminQuery(path, name, query string) negCase {
	c := adminRow(name, http.StatusBadRequest)
	c.path = path + "?" + query
	return c
}

// adminBody is a row with the admin secret and a body the operation refuses.
func adminBody(name string, status int, body string) negCase {
	c := adminRow(name, status)
	c.body = body
	return c
}

// TestAdminNegative runs the negative scenarios of every admin operation.
func TestAdminNegative(t *testing.T) {
	const users = "/v1/admin/users"
	const user = users + "/{{userID}}"
	const audit = "/v1/admin/audit"
	runNegativeTable(t, []negOp{
		{"adminListUsers", adminOp(http.MethodGet, users, "", false, []string{http.MethodPut, http.MethodDelete},
			adminQuery(users, "limit-zero", "limit=0"), adminQuery(users, "limit-over-200", "limit=201"),
			adminQuery(users, "limit-not-a-number", "limit=ten"), adminQuery(users, "offset-negative", "offset=-1"),
			adminQuery(users, "disabled-not-a-boolean", "disabled=maybe"), adminQuery(users, "email-empty", "email="),
		)},
		{"adminCreateUser", adminOp(http.MethodPost, users, `{"email":"new-{{email}}"}`, false, nil,
			adminBody("missing-email", http.StatusBadRequest, `{"password":"long-enough-password"}`),
			adminBody("email-malformed", http.StatusBadRequest, `{"email":"not an address"}`),
			adminBody("email-not-a-string", http.StatusBadRequest, `{"email":42}`),
			adminBody("roles-not-an-array", http.StatusBadRequest, `{"email":"x-{{email}}","roles":"admin"}`),
			adminBody("role-empty", http.StatusBadRequest, `{"email":"x-{{email}}","roles":[""]}`),
			adminBody("temporary-not-a-boolean", http.StatusBadRequest, `{"email":"x-{{email}}","temporaryPassword":"yes"}`),
			adminBody("password-too-short", http.StatusBadRequest, `{"email":"x-{{email}}","password":"short"}`),
			adminBody("password-over-256", http.StatusBadRequest, `{"email":"x-{{email}}","password":"`+strings.Repeat("p", 257)+`"}`),
			adminBody("username-with-spaces", http.StatusBadRequest, `{"email":"x-{{email}}","username":"a b"}`),
			adminBody("email-taken-other-case", http.StatusConflict, `{"email":"{{emailCased}}"}`),
			adminBody("default-role-not-granted", http.StatusBadRequest, `{"email":"x-{{email}}","roles":["user"],"defaultRole":"admin"}`),
		)},
		{"adminGetUser", adminOp(http.MethodGet, user, "", true, []string{http.MethodPost, http.MethodPut})},
		{"adminUpdateUser", adminOp(http.MethodPatch, user, `{"displayName":"New Name"}`, true, nil,
			adminBody("roles-empty", http.StatusBadRequest, `{"roles":[]}`),
			adminBody("default-role-not-granted", http.StatusBadRequest, `{"defaultRole":"admin"}`),
			adminBody("locale-not-allowed", http.StatusBadRequest, `{"locale":"xx"}`),
			adminBody("metadata-not-an-object", http.StatusBadRequest, `{"metadata":[1]}`),
			adminBody("email-not-updatable", http.StatusBadRequest, `{"email":"x@example.com"}`),
		)},
		{"adminDeleteUser", adminOp(http.MethodDelete, user, "", true, nil)},
		{"adminDisableUser", adminOp(http.MethodPost, user+"/disable", "", true, []string{http.MethodGet, http.MethodDelete})},
		{"adminEnableUser", adminOp(http.MethodPost, user+"/enable", "", true, []string{http.MethodGet, http.MethodPut})},
		{"adminSetUserPassword", adminOp(http.MethodPost, user+"/password", `{"temporary":true}`, true, []string{http.MethodGet},
			adminBody("password-too-short", http.StatusBadRequest, `{"password":"short"}`),
			adminBody("temporary-not-a-boolean", http.StatusBadRequest, `{"temporary":"no"}`),
		)},
		{"adminListUserSessions", adminOp(http.MethodGet, user+"/sessions", "", true, []string{http.MethodPost})},
		{"adminRevokeUserSessions", adminOp(http.MethodDelete, user+"/sessions", "", true, nil)},
		{"adminRevokeUserSession", adminOp(http.MethodDelete, user+"/sessions/{{unknownID}}", "", false, []string{http.MethodGet},
			negCase{name: "unknown-session", wantStatus: http.StatusNotFound, wantCode: adminAnyError, wantNoWrites: true,
				errBody: adminErrorBody("not-found"), opts: negOpts(adminSecretOn)},
			func() negCase {
				c := adminRow("malformed-session-id", http.StatusBadRequest)
				c.path = user + "/sessions/123"
				return c
			}(),
		)},
		{"adminListUserTokens", adminOp(http.MethodGet, user+"/tokens", "", true, []string{http.MethodPost})},
		{"adminRevokeUserToken", adminOp(http.MethodDelete, user+"/tokens/{{unknownID}}", "", false, nil,
			negCase{name: "unknown-token", wantStatus: http.StatusNotFound, wantCode: adminAnyError, wantNoWrites: true,
				errBody: adminErrorBody("not-found"), opts: negOpts(adminSecretOn)},
		)},
		{"adminListAuditEvents", adminOp(http.MethodGet, audit, "", false, []string{http.MethodPost, http.MethodDelete},
			adminQuery(audit, "since-not-a-time", "since=yesterday"), adminQuery(audit, "until-without-zone", "until=2024-01-01T00:00:00"),
			adminQuery(audit, "actor-not-a-uuid", "actorUserId=42"), adminQuery(audit, "target-not-a-uuid", "targetUserId=x"),
			adminQuery(audit, "cursor-garbage", "cursor=%21%21"), adminQuery(audit, "limit-over-200", "limit=500"),
		)},
		{"adminUnknownPath", negForOp(http.MethodGet, "/v1/admin/nothing-here", fxAdmin, []negCase{
			func() negCase {
				c := adminRow("unknown-path", http.StatusNotFound)
				c.headers = withSecret(nil)
				return c
			}(),
			func() negCase {
				c := adminRow("unknown-path-without-credentials", http.StatusNotFound)
				c.path = "/v1/admin"
				return c
			}(),
		})},
	})
}
