package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server/servertest"
)

// zAcc sends a Zesty Accounts request with a token (bare) and a JSON body, and decodes the
// envelope. Error answers must be Zesty error envelopes.
func zAcc(t *testing.T, h *servertest.Harness, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	hs := map[string]string{}
	if token != "" {
		hs["Authorization"] = "Bearer " + token
	}
	if body != "" {
		hs["Content-Type"] = "application/json"
	}
	status, resp := h.Do(t, method, path, hs, body)
	var out map[string]any
	if err := json.Unmarshal(resp, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %s", method, path, resp)
	}
	if out["code"] != float64(status) {
		t.Fatalf("%s %s: envelope code %v, HTTP status %d: %s", method, path, out["code"], status, resp)
	}
	return status, out
}

// zWant is zAcc that fails unless the status is want; it returns data.
func zWant(t *testing.T, h *servertest.Harness, want int, method, path, token, body string) any {
	t.Helper()
	status, out := zAcc(t, h, method, path, token, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, status, want, out)
	}
	return out["data"]
}

func zObj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("data is not an object: %v", v)
	}
	return m
}

func zJSON(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// zUser signs a user up and logs in through Zesty; it returns the session token and the ZUID.
func zUser(t *testing.T, h *servertest.Harness, email string) (string, string) {
	t.Helper()
	signUp(t, h, email, "zesty-accounts-pw-1")
	tok := zestyLoginAs(t, h, email, "zesty-accounts-pw-1")
	data := zObj(t, zWant(t, h, http.StatusOK, http.MethodGet, "/verify", tok, ""))
	return tok, data["ZUID"].(string)
}

// roleZUIDs maps the system role names of an instance (and custom role names) to their ZUIDs.
func zRoleZUIDs(t *testing.T, h *servertest.Harness, tok, inst string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range zWant(t, h, http.StatusOK, http.MethodGet, "/v1/instances/"+inst+"/roles", tok, "").([]any) {
		m := zObj(t, r)
		if m["custom"] == true {
			out[m["name"].(string)] = m["ZUID"].(string)
		} else {
			out[m["systemRole"].(string)] = m["ZUID"].(string)
		}
	}
	return out
}

// TestZestyAccountsFlow covers every Zesty Accounts operation with users of each kind: create
// an instance (Owner), its system roles, members and their roles, custom roles, and the Owner
// rules.
func TestZestyAccountsFlow(t *testing.T) {
	h := servertest.Start(t)
	owner, ownerZUID := zUser(t, h, "owner@example.com")
	admin, adminZUID := zUser(t, h, "admin@example.com")
	contrib, contribZUID := zUser(t, h, "contrib@example.com")
	stranger, _ := zUser(t, h, "stranger@example.com")

	inst := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", owner, `{"name":"Acme"}`))
	instZUID := inst["ZUID"].(string)
	if !strings.HasPrefix(instZUID, "8-") || inst["ID"].(float64) < 1 || inst["name"] != "Acme" {
		t.Fatalf("created instance: %v", inst)
	}
	base := "/v1/instances/" + instZUID
	roles := zRoleZUIDs(t, h, owner, instZUID)
	for _, sr := range []string{"owner", "admin", "developer", "seo", "publisher", "contributor"} {
		if !strings.HasPrefix(roles[sr], "30-") {
			t.Fatalf("system role %s missing: %v", sr, roles)
		}
	}
	if got := zWant(t, h, http.StatusOK, http.MethodGet, "/v1/instances", owner, "").([]any); len(got) != 1 {
		t.Fatalf("owner's instances: %v", got)
	}
	if got := zWant(t, h, http.StatusOK, http.MethodGet, "/v1/instances", stranger, "").([]any); len(got) != 0 {
		t.Fatalf("stranger's instances: %v", got)
	}

	// The creator is the Owner.
	members := zWant(t, h, http.StatusOK, http.MethodGet, base+"/users/roles", owner, "").([]any)
	if len(members) != 1 || zObj(t, members[0])["ZUID"] != ownerZUID || zObj(t, zObj(t, members[0])["role"])["systemRole"] != "owner" {
		t.Fatalf("members: %v", members)
	}

	// Add an Admin by address and a Contributor by ZUID; change the Contributor's role and back.
	zWant(t, h, http.StatusCreated, http.MethodPost, base+"/users", owner, zJSON("email", "admin@example.com", "roleZUID", roles["admin"]))
	zWant(t, h, http.StatusCreated, http.MethodPost, base+"/users", admin, zJSON("userZUID", contribZUID, "roleZUID", roles["publisher"]))
	m := zObj(t, zWant(t, h, http.StatusOK, http.MethodPost, base+"/users", admin, zJSON("userZUID", contribZUID, "roleZUID", roles["contributor"])))
	if zObj(t, m["role"])["ZUID"] != roles["contributor"] {
		t.Fatalf("changed member: %v", m)
	}
	if got := zWant(t, h, http.StatusOK, http.MethodGet, base+"/users", contrib, "").([]any); len(got) != 3 {
		t.Fatalf("members seen by a contributor: %v", got)
	}

	// Non-members do not see the instance; members without power are refused.
	zWant(t, h, http.StatusNotFound, http.MethodGet, base, stranger, "")
	zWant(t, h, http.StatusNotFound, http.MethodGet, base+"/roles", stranger, "")
	zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/instances/8-0000000000000000", owner, "")
	zWant(t, h, http.StatusForbidden, http.MethodPut, base, contrib, `{"name":"Mine"}`)
	zWant(t, h, http.StatusForbidden, http.MethodPost, base+"/users", contrib, zJSON("userZUID", contribZUID, "roleZUID", roles["admin"]))
	// Only an Owner grants Owner or touches an Owner; the last Owner stays.
	zWant(t, h, http.StatusForbidden, http.MethodPost, base+"/users", admin, zJSON("userZUID", adminZUID, "roleZUID", roles["owner"]))
	zWant(t, h, http.StatusForbidden, http.MethodDelete, base+"/users/"+ownerZUID, admin, "")
	zWant(t, h, http.StatusConflict, http.MethodDelete, base+"/users/"+ownerZUID, owner, "")
	zWant(t, h, http.StatusConflict, http.MethodPost, base+"/users", owner, zJSON("userZUID", ownerZUID, "roleZUID", roles["admin"]))
	zWant(t, h, http.StatusNotFound, http.MethodPost, base+"/users", owner, zJSON("email", "nobody@example.com", "roleZUID", roles["admin"]))
	zWant(t, h, http.StatusBadRequest, http.MethodPost, base+"/users", owner, zJSON("email", "admin@example.com", "userZUID", adminZUID, "roleZUID", roles["admin"]))

	// Rename.
	got := zObj(t, zWant(t, h, http.StatusOK, http.MethodPut, base, admin, `{"name":"Acme Corp"}`))
	if got["name"] != "Acme Corp" || got["ID"] != inst["ID"] {
		t.Fatalf("renamed: %v", got)
	}
	if got := zObj(t, zWant(t, h, http.StatusOK, http.MethodGet, base, contrib, "")); got["name"] != "Acme Corp" {
		t.Fatalf("read: %v", got)
	}

	// Custom roles.
	role := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/roles", admin,
		zJSON("instanceZUID", instZUID, "name", "Deployer", "systemRoleZUID", roles["developer"], "description", "CI")))
	roleZUID := role["ZUID"].(string)
	if role["custom"] != true || role["systemRole"] != "developer" || role["systemRoleZUID"] != roles["developer"] {
		t.Fatalf("custom role: %v", role)
	}
	zWant(t, h, http.StatusConflict, http.MethodPost, "/v1/roles", admin, zJSON("instanceZUID", instZUID, "name", "Deployer", "systemRoleZUID", roles["seo"]))
	zWant(t, h, http.StatusForbidden, http.MethodPost, "/v1/roles", admin, zJSON("instanceZUID", instZUID, "name", "Boss", "systemRoleZUID", roles["owner"]))
	zWant(t, h, http.StatusNotFound, http.MethodPost, "/v1/roles", admin, zJSON("instanceZUID", instZUID, "name", "X", "systemRoleZUID", roleZUID))
	zWant(t, h, http.StatusForbidden, http.MethodPost, "/v1/roles", contrib, zJSON("instanceZUID", instZUID, "name", "X", "systemRoleZUID", roles["seo"]))
	zWant(t, h, http.StatusNotFound, http.MethodPost, "/v1/roles", stranger, zJSON("instanceZUID", instZUID, "name", "X", "systemRoleZUID", roles["seo"]))
	if got := zObj(t, zWant(t, h, http.StatusOK, http.MethodGet, "/v1/roles/"+roleZUID, contrib, "")); got["name"] != "Deployer" {
		t.Fatalf("read role: %v", got)
	}
	if got := zObj(t, zWant(t, h, http.StatusOK, http.MethodPut, "/v1/roles/"+roleZUID, admin, `{"name":"Deployers"}`)); got["name"] != "Deployers" || got["description"] != "CI" {
		t.Fatalf("updated role: %v", got)
	}
	zWant(t, h, http.StatusForbidden, http.MethodPut, "/v1/roles/"+roles["seo"], owner, `{"name":"Search"}`)
	zWant(t, h, http.StatusForbidden, http.MethodDelete, "/v1/roles/"+roles["seo"], owner, "")
	zWant(t, h, http.StatusForbidden, http.MethodPut, "/v1/roles/"+roleZUID, contrib, `{"name":"Mine"}`)
	zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/roles/"+roleZUID, stranger, "")
	// Held by a member: 409; freed: deleted.
	zWant(t, h, http.StatusOK, http.MethodPost, base+"/users", admin, zJSON("userZUID", contribZUID, "roleZUID", roleZUID))
	zWant(t, h, http.StatusConflict, http.MethodDelete, "/v1/roles/"+roleZUID, admin, "")
	zWant(t, h, http.StatusOK, http.MethodPost, base+"/users", admin, zJSON("userZUID", contribZUID, "roleZUID", roles["contributor"]))
	zWant(t, h, http.StatusOK, http.MethodDelete, "/v1/roles/"+roleZUID, admin, "")
	zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/roles/"+roleZUID, admin, "")

	// Members leave; a second Owner lets the first go.
	zWant(t, h, http.StatusOK, http.MethodDelete, base+"/users/"+contribZUID, admin, "")
	zWant(t, h, http.StatusNotFound, http.MethodGet, base, contrib, "")
	zWant(t, h, http.StatusNotFound, http.MethodDelete, base+"/users/"+contribZUID, admin, "")
	zWant(t, h, http.StatusOK, http.MethodPost, base+"/users", owner, zJSON("userZUID", adminZUID, "roleZUID", roles["owner"]))
	zWant(t, h, http.StatusOK, http.MethodDelete, base+"/users/"+ownerZUID, admin, "")
	zWant(t, h, http.StatusNotFound, http.MethodGet, base, owner, "")

	// Only an Owner deletes the instance; then it is gone for everyone.
	zWant(t, h, http.StatusOK, http.MethodDelete, base, admin, "")
	zWant(t, h, http.StatusNotFound, http.MethodGet, base, admin, "")

	// Every change is audited with the acting user.
	ev, err := h.Store.AuditEvents(context.Background(), "instance.member_set", 100)
	if err != nil || len(ev) < 4 {
		t.Fatalf("member audit: %v %v", ev, err)
	}
	for _, e := range ev {
		if e.ActorUserID == nil || e.ActorTokenName != "" || e.Detail["instance_zuid"] != instZUID {
			t.Errorf("member audit row: %+v", e)
		}
	}
}

// TestZestyAccessTokens: only Owners and Admins mint tokens, and only with a user session; a
// token reads and acts on its own instance with its role's power and nothing else, works on
// /verify, is audited by name with no user, is shown once, and stops at deletion or expiry.
func TestZestyAccessTokens(t *testing.T) {
	h := servertest.Start(t)
	owner, ownerZUID := zUser(t, h, "tok-owner@example.com")
	contrib, contribZUID := zUser(t, h, "tok-contrib@example.com")
	_, otherZUID := zUser(t, h, "tok-other@example.com")
	instA := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", owner, `{"name":"A"}`))["ZUID"].(string)
	instB := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", owner, `{"name":"B"}`))["ZUID"].(string)
	rolesA, rolesB := zRoleZUIDs(t, h, owner, instA), zRoleZUIDs(t, h, owner, instB)
	zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances/"+instA+"/users", owner, zJSON("userZUID", contribZUID, "roleZUID", rolesA["contributor"]))

	// A Contributor cannot mint; a stranger to the instance is told it does not exist.
	zWant(t, h, http.StatusForbidden, http.MethodPost, "/v1/tokens", contrib, zJSON("name", "ci", "roleZUID", rolesA["contributor"]))
	zWant(t, h, http.StatusNotFound, http.MethodPost, "/v1/tokens", contrib, zJSON("name", "ci", "roleZUID", rolesB["contributor"]))
	zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/tokens/42-0000000000000000", owner, "")

	created := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/tokens", owner, zJSON("name", "deploy-bot", "roleZUID", rolesA["admin"])))
	tok, tokZUID := created["token"].(string), created["ZUID"].(string)
	if !strings.HasPrefix(tokZUID, "42-") || tok == "" || created["instanceZUID"] != instA || created["createdByUserZUID"] != ownerZUID {
		t.Fatalf("created token: %v", created)
	}
	expiry, _ := time.Parse(time.RFC3339, created["expiry"].(string))
	if d := expiry.Sub(h.Clock.Now()); d < 89*24*time.Hour || d > 91*24*time.Hour {
		t.Fatalf("token expiry in %v, want 90 days", d)
	}
	readOnly := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/tokens", owner, zJSON("name", "reader", "roleZUID", rolesA["contributor"])))
	roTok := readOnly["token"].(string)

	// The token works on /verify and reads its instance the way the SDK does.
	v := zObj(t, zWant(t, h, http.StatusOK, http.MethodGet, "/verify", tok, ""))
	if v["ZUID"] != tokZUID || v["email"] != "" || v["firstName"] != "deploy-bot" {
		t.Fatalf("verify with a token: %v", v)
	}
	if got := zWant(t, h, http.StatusOK, http.MethodGet, "/v1/instances", tok, "").([]any); len(got) != 1 || zObj(t, got[0])["ZUID"] != instA {
		t.Fatalf("token's instances: %v", got)
	}
	zWant(t, h, http.StatusOK, http.MethodGet, "/v1/instances/"+instA, tok, "")
	zWant(t, h, http.StatusOK, http.MethodGet, "/v1/instances/"+instA+"/users/roles", roTok, "")
	// Not on instance B, whatever it tries.
	zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/instances/"+instB, tok, "")
	zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/instances/"+instB+"/users", tok, "")
	zWant(t, h, http.StatusNotFound, http.MethodPost, "/v1/instances/"+instB+"/users", tok, zJSON("userZUID", otherZUID, "roleZUID", rolesB["admin"]))
	zWant(t, h, http.StatusNotFound, http.MethodPut, "/v1/instances/"+instB, tok, `{"name":"pwned"}`)
	zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/roles/"+rolesB["owner"], tok, "")
	zWant(t, h, http.StatusNotFound, http.MethodPost, "/v1/roles", tok, zJSON("instanceZUID", instB, "name", "x", "systemRoleZUID", rolesB["seo"]))
	// A token cannot create instances or tokens, nor log out.
	zWant(t, h, http.StatusForbidden, http.MethodPost, "/v1/instances", tok, `{"name":"C"}`)
	zWant(t, h, http.StatusForbidden, http.MethodPost, "/v1/tokens", tok, zJSON("name", "child", "roleZUID", rolesA["contributor"]))
	zWant(t, h, http.StatusForbidden, http.MethodDelete, "/logout", tok, "")
	// A Contributor token has a Contributor's power.
	zWant(t, h, http.StatusForbidden, http.MethodPut, "/v1/instances/"+instA, roTok, `{"name":"x"}`)
	zWant(t, h, http.StatusForbidden, http.MethodGet, "/v1/tokens/"+tokZUID, roTok, "")

	// An Admin token acts as an Admin on A, audited under its name with no user.
	zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances/"+instA+"/users", tok, zJSON("userZUID", otherZUID, "roleZUID", rolesA["seo"]))
	zWant(t, h, http.StatusOK, http.MethodPut, "/v1/instances/"+instA, tok, `{"name":"A2"}`)
	ev, err := h.Store.AuditEvents(context.Background(), "instance.member_set", 100)
	if err != nil {
		t.Fatal(err)
	}
	var byToken int
	for _, e := range ev {
		if e.ActorTokenName == "deploy-bot" {
			byToken++
			if e.ActorUserID != nil || e.Detail["token_zuid"] != tokZUID {
				t.Errorf("token audit row has a user or lacks the token: %+v", e)
			}
		}
	}
	if byToken != 1 {
		t.Fatalf("audit rows by the token: %d, want 1 (%+v)", byToken, ev)
	}

	// Listing and reading never show a value.
	list := zWant(t, h, http.StatusOK, http.MethodGet, "/v1/tokens", owner, "").([]any)
	if len(list) != 2 {
		t.Fatalf("tokens: %v", list)
	}
	zWant(t, h, http.StatusOK, http.MethodGet, "/v1/tokens", tok, "")
	if got := zWant(t, h, http.StatusOK, http.MethodGet, "/v1/tokens", contrib, "").([]any); len(got) != 0 {
		t.Fatalf("tokens a contributor sees: %v", got)
	}
	one := zObj(t, zWant(t, h, http.StatusOK, http.MethodGet, "/v1/tokens/"+tokZUID, owner, ""))
	if one["name"] != "deploy-bot" || one["lastUsedAt"] == nil {
		t.Fatalf("read token: %v", one)
	}
	for _, path := range []string{"/v1/tokens", "/v1/tokens/" + tokZUID} {
		_, raw := h.Do(t, http.MethodGet, path, map[string]string{"Authorization": owner}, "")
		if strings.Contains(string(raw), tok) || strings.Contains(string(raw), roTok) || strings.Contains(string(raw), `"token"`) {
			t.Fatalf("%s shows a token value: %s", path, raw)
		}
	}

	// Deleted: it stops at once.
	zWant(t, h, http.StatusOK, http.MethodDelete, "/v1/tokens/"+tokZUID, owner, "")
	zWant(t, h, http.StatusUnauthorized, http.MethodGet, "/verify", tok, "")
	zWant(t, h, http.StatusUnauthorized, http.MethodGet, "/v1/instances/"+instA, tok, "")
	zWant(t, h, http.StatusNotFound, http.MethodDelete, "/v1/tokens/"+tokZUID, owner, "")
	del, err := h.Store.AuditEvents(context.Background(), "access_token.delete", 10)
	if err != nil || len(del) != 1 || del[0].Detail["access_token_zuid"] != tokZUID {
		t.Fatalf("delete audit: %+v %v", del, err)
	}

	// Expired after 90 days (the owner's session is long gone by then too).
	zWant(t, h, http.StatusOK, http.MethodGet, "/verify", roTok, "")
	h.Clock.Advance(90*24*time.Hour + time.Second)
	zWant(t, h, http.StatusUnauthorized, http.MethodGet, "/verify", roTok, "")
	zWant(t, h, http.StatusUnauthorized, http.MethodGet, "/v1/instances", roTok, "")

	if logs := h.Logs.String(); strings.Contains(logs, tok) || strings.Contains(logs, roTok) {
		t.Fatal("a token value is in the server log")
	}
	if n := h.Counts(t)["api_tokens"]; n != 1 {
		t.Fatalf("access tokens left: %d, want 1", n)
	}
}
