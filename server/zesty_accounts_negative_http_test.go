package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server/servertest"
)

// The negative scenarios of the Zesty Accounts operations under /v1, on the machinery of
// TestZestyNegative: every row is refused with a Zesty envelope and writes nothing, unless it is
// one of the accepted rows that show the same request goes through with the right caller.

var (
	zForbidden    = zErr{http.StatusForbidden, "Your role does not allow this", "forbidden"}
	zUserRequired = zErr{http.StatusForbidden, "This needs a user session: an access token cannot do it", "user-required"}
	zNotFound     = zErr{http.StatusNotFound, "Not found", "not-found"}
	zConflict     = zErr{http.StatusConflict, "The change conflicts with the current state", "conflict"}
)

// fxAccounts: {{email}} (fxZestyUser, {{zesty}}) owns instance {{inst}}, whose roles are
// {{rOwner}} … {{rContributor}} plus the custom {{rCustom}}; {{userZUID}} is the owner's ZUID;
// {{tokAdmin}} and {{tokContrib}} are access tokens of the Admin and Contributor roles
// ({{tokAdminZUID}}); {{inst2}} is a second instance of the owner with roles {{r2Admin}}.
func fxAccounts(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	fxZestyUser(t, h, f)
	owner := f.get(t, "zesty")
	f.set("userZUID", zObj(t, zWant(t, h, http.StatusOK, http.MethodGet, "/verify", owner, ""))["ZUID"].(string), false)
	inst := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", owner, `{"name":"Neg"}`))["ZUID"].(string)
	f.set("inst", inst, false)
	roles := zRoleZUIDs(t, h, owner, inst)
	for k, v := range roles {
		f.set("r"+strings.ToUpper(k[:1])+k[1:], v, false)
	}
	custom := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/roles", owner,
		zJSON("instanceZUID", inst, "name", "Custom", "systemRoleZUID", roles["seo"])))
	f.set("rCustom", custom["ZUID"].(string), false)
	for _, r := range []struct{ name, role string }{{"tokAdmin", "admin"}, {"tokContrib", "contributor"}} {
		tok := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/tokens", owner, zJSON("name", r.name, "roleZUID", roles[r.role])))
		f.set(r.name, tok["token"].(string), true)
		f.set(r.name+"ZUID", tok["ZUID"].(string), false)
	}
	inst2 := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", owner, `{"name":"Neg2"}`))["ZUID"].(string)
	f.set("inst2", inst2, false)
	f.set("r2Admin", zRoleZUIDs(t, h, owner, inst2)["admin"], false)
}

// fxAccountsContrib adds {{takenEmail}} to {{inst}} as a Contributor: {{contrib}} is its Zesty
// session token, {{contribZUID}} its ZUID.
func fxAccountsContrib(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	signUp(t, h, f.get(t, "takenEmail"), pwOther)
	f.secrets = append(f.secrets, pwOther)
	tok := zestyLoginAs(t, h, f.get(t, "takenEmail"), pwOther)
	f.set("contrib", tok, true)
	f.set("contribZUID", zObj(t, zWant(t, h, http.StatusOK, http.MethodGet, "/verify", tok, ""))["ZUID"].(string), false)
	zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances/"+f.get(t, "inst")+"/users", f.get(t, "zesty"),
		zJSON("userZUID", f.get(t, "contribZUID"), "roleZUID", f.get(t, "rContributor")))
}

// fxAccountsStranger signs up {{newEmail}}, a member of nothing: {{stranger}}.
func fxAccountsStranger(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	signUp(t, h, f.get(t, "newEmail"), pwOther)
	f.secrets = append(f.secrets, pwOther)
	f.set("stranger", zestyLoginAs(t, h, f.get(t, "newEmail"), pwOther), true)
}

// zaAs is a row sent with the given Authorization value.
func zaAs(c negCase, auth string) negCase {
	c.headers = negHeaders("Authorization", auth)
	return c
}

// zaRefused is a refusal with the given caller and body.
func zaRefused(name string, e zErr, auth, body string) negCase {
	c := zaAs(zRow(name, e), auth)
	c.body = body
	return c
}

// zaOK is an accepted request (which may write).
func zaOK(name string, status int, auth, body string) negCase {
	return negCase{name: name, headers: negHeaders("Authorization", auth), body: body, wantStatus: status}
}

// zaAuthCases are the credentials every Zesty Accounts operation refuses with 401.
func zaAuthCases(base negSetup, body string) []negCase {
	rows := []negCase{
		zaRefused("no-authorization", zSession, "", body),
		zaRefused("garbage-bearer", zSession, "Bearer not-a-token", body),
		zaRefused("unknown-session-token", zSession, "Bearer 6a1f9c5e-0d0b-4c57-9d1e-3b1e6f0c2a11", body),
		zaRefused("unknown-access-token", zSession, "Bearer zat_"+strings.Repeat("ab", 32), body),
		zaRefused("access-token-truncated", zSession, "Bearer zat_", body),
		zaRefused("nhost-access-token", zSession, "Bearer {{nhostAccess}}", body),
	}
	rows[0].headers = nil
	expired := zaRefused("session-expired", zSession, "{{zesty}}", body)
	expired.setup = fxSteps(base, fxAdvance(31*time.Minute))
	tokExpired := zaRefused("access-token-expired", zSession, "{{tokAdmin}}", body)
	tokExpired.setup = fxSteps(base, fxAdvance(90*24*time.Hour+time.Minute))
	return append(rows, expired, tokExpired)
}

// zaBodyCases are the media-type, size and shape refusals of a JSON operation; kv is a valid
// body's fields.
func zaBodyCases(kv ...string) []negCase {
	out := append(zMediaCases([]zEnc{zJSONEnc}, kv...), zShapeCases([]zEnc{zJSONEnc})...)
	for i := range out {
		if out[i].headers == nil {
			out[i].headers = map[string]string{}
		}
		out[i].headers["Authorization"] = "{{zesty}}"
	}
	return out
}

// zaInvalid is a body the contract refuses, sent by the owner.
func zaInvalid(name, body string) negCase { return zaRefused(name, zInvalid, "{{zesty}}", body) }

// zaMethods: methods a path does not take are 405.
func zaMethods(path string, methods ...string) []negCase {
	var out []negCase
	for _, m := range methods {
		c := zaAs(zRow("method-"+strings.ToLower(m), zMethod), "{{zesty}}")
		c.method, c.path = m, path
		out = append(out, c)
	}
	return out
}

func zaOp(method, path string, setup negSetup, cases ...[]negCase) []negCase {
	return zForOp(method, path, setup, cases...)
}

func TestZestyAccountsNegative(t *testing.T) {
	contrib := fxSteps(fxAccounts, fxAccountsContrib)
	stranger := fxSteps(fxAccounts, fxAccountsStranger)
	withSetup := func(c negCase, s negSetup) negCase { c.setup = s; return c }
	instBody := wmeJSON("name", "Renamed")

	runNegativeTable(t, []negOp{
		{"zestyListInstances", zaOp(http.MethodGet, "/v1/instances", fxAccounts, zaAuthCases(fxAccounts, ""),
			zaMethods("/v1/instances", http.MethodPut, http.MethodDelete, http.MethodPatch),
			negRows(zaOK("owner", http.StatusOK, "{{zesty}}", ""), zaOK("token", http.StatusOK, "Bearer {{tokContrib}}", "")))},
		{"zestyCreateInstance", zaOp(http.MethodPost, "/v1/instances", fxAccounts, zaAuthCases(fxAccounts, instBody), zaBodyCases("name", "New"),
			negRows(
				zaInvalid("no-name", `{}`), zaInvalid("name-empty", wmeJSON("name", "")),
				zaInvalid("name-number", `{"name":42}`), zaInvalid("name-null", `{"name":null}`),
				zaInvalid("name-over-maximum", wmeJSON("name", strings.Repeat("n", 201))),
				zaInvalid("unknown-field", wmeJSON("name", "x", "ecoZUID", "1")),
				zaRefused("access-token", zUserRequired, "Bearer {{tokAdmin}}", instBody),
				zaOK("owner", http.StatusCreated, "{{zesty}}", instBody),
			))},
		{"zestyGetInstance", zaOp(http.MethodGet, "/v1/instances/{{inst}}", fxAccounts, zaAuthCases(fxAccounts, ""),
			zaMethods("/v1/instances/{{inst}}", http.MethodPost, http.MethodPatch),
			negRows(
				withSetup(zaRefused("stranger", zNotFound, "{{stranger}}", ""), stranger),
				zaAs(func() negCase { c := zRow("unknown-instance", zNotFound); c.path = "/v1/instances/8-00"; return c }(), "{{zesty}}"),
				zaAs(func() negCase {
					c := zRow("zuid-over-maximum", zInvalid)
					c.path = "/v1/instances/" + strings.Repeat("8", 65)
					return c
				}(), "{{zesty}}"),
				zaAs(func() negCase {
					c := zRow("token-of-other-instance", zNotFound)
					c.path = "/v1/instances/{{inst2}}"
					return c
				}(), "{{tokAdmin}}"),
				zaOK("owner", http.StatusOK, "{{zesty}}", ""), zaOK("contrib-token", http.StatusOK, "{{tokContrib}}", ""),
			))},
		{"zestyUpdateInstance", zaOp(http.MethodPut, "/v1/instances/{{inst}}", fxAccounts, zaAuthCases(fxAccounts, instBody), zaBodyCases("name", "New"),
			negRows(
				zaInvalid("no-name", `{}`), zaInvalid("name-empty", wmeJSON("name", "")), zaInvalid("name-array", `{"name":["a"]}`),
				zaInvalid("unknown-field", wmeJSON("name", "x", "ID", "3")),
				withSetup(zaRefused("contributor", zForbidden, "{{contrib}}", instBody), contrib),
				zaRefused("contributor-token", zForbidden, "{{tokContrib}}", instBody),
				withSetup(zaRefused("stranger", zNotFound, "{{stranger}}", instBody), stranger),
				zaOK("admin-token", http.StatusOK, "{{tokAdmin}}", instBody),
			))},
		{"zestyDeleteInstance", zaOp(http.MethodDelete, "/v1/instances/{{inst}}", fxAccounts, zaAuthCases(fxAccounts, ""),
			negRows(
				zaRefused("admin-token", zForbidden, "{{tokAdmin}}", ""),
				withSetup(zaRefused("contributor", zForbidden, "{{contrib}}", ""), contrib),
				withSetup(zaRefused("stranger", zNotFound, "{{stranger}}", ""), stranger),
				zaOK("owner", http.StatusOK, "{{zesty}}", ""),
			))},
		{"zestyListInstanceRoles", zaOp(http.MethodGet, "/v1/instances/{{inst}}/roles", fxAccounts, zaAuthCases(fxAccounts, ""),
			zaMethods("/v1/instances/{{inst}}/roles", http.MethodPost, http.MethodDelete),
			negRows(
				withSetup(zaRefused("stranger", zNotFound, "{{stranger}}", ""), stranger),
				zaOK("contrib-token", http.StatusOK, "{{tokContrib}}", ""),
			))},
		{"zestyListInstanceUsers", zaOp(http.MethodGet, "/v1/instances/{{inst}}/users", fxAccounts, zaAuthCases(fxAccounts, ""),
			zaMethods("/v1/instances/{{inst}}/users", http.MethodPut, http.MethodDelete),
			negRows(
				withSetup(zaRefused("stranger", zNotFound, "{{stranger}}", ""), stranger),
				withSetup(zaOK("contributor", http.StatusOK, "{{contrib}}", ""), contrib),
			))},
		{"zestyListInstanceUserRoles", zaOp(http.MethodGet, "/v1/instances/{{inst}}/users/roles", fxAccounts, zaAuthCases(fxAccounts, ""),
			negRows(
				withSetup(zaRefused("stranger", zNotFound, "{{stranger}}", ""), stranger),
				zaOK("owner", http.StatusOK, "{{zesty}}", ""),
			))},
		{"zestySetInstanceUser", zaOp(http.MethodPost, "/v1/instances/{{inst}}/users", stranger,
			zaAuthCases(stranger, wmeJSON("email", "{{newEmail}}", "roleZUID", "{{rSeo}}")),
			zaBodyCases("email", "{{newEmail}}", "roleZUID", "{{rSeo}}"),
			negRows(
				zaInvalid("no-role", wmeJSON("email", "{{newEmail}}")),
				zaInvalid("email-not-an-address", wmeJSON("email", "nope", "roleZUID", "{{rSeo}}")),
				zaInvalid("role-number", `{"email":"{{newEmail}}","roleZUID":7}`),
				zaInvalid("unknown-field", wmeJSON("email", "{{newEmail}}", "roleZUID", "{{rSeo}}", "role", "admin")),
				zaInvalid("neither-email-nor-zuid", wmeJSON("roleZUID", "{{rSeo}}")),
				zaInvalid("both-email-and-zuid", wmeJSON("email", "{{newEmail}}", "userZUID", "{{userZUID}}", "roleZUID", "{{rSeo}}")),
				zaRefused("unknown-user", zNotFound, "{{zesty}}", wmeJSON("email", "nobody@example.com", "roleZUID", "{{rSeo}}")),
				zaRefused("role-of-other-instance", zNotFound, "{{zesty}}", wmeJSON("email", "{{newEmail}}", "roleZUID", "{{r2Admin}}")),
				zaRefused("contributor-token", zForbidden, "{{tokContrib}}", wmeJSON("email", "{{newEmail}}", "roleZUID", "{{rSeo}}")),
				zaRefused("admin-token-grants-owner", zForbidden, "{{tokAdmin}}", wmeJSON("email", "{{newEmail}}", "roleZUID", "{{rOwner}}")),
				zaRefused("last-owner-demoted", zConflict, "{{zesty}}", wmeJSON("userZUID", "{{userZUID}}", "roleZUID", "{{rAdmin}}")),
				zaRefused("stranger", zNotFound, "{{stranger}}", wmeJSON("email", "{{newEmail}}", "roleZUID", "{{rOwner}}")),
				zaOK("admin-token-adds", http.StatusCreated, "{{tokAdmin}}", wmeJSON("email", "{{newEmail}}", "roleZUID", "{{rCustom}}")),
			))},
		{"zestyRemoveInstanceUser", zaOp(http.MethodDelete, "/v1/instances/{{inst}}/users/{{contribZUID}}", contrib, zaAuthCases(contrib, ""),
			negRows(
				zaRefused("contributor-removes-self", zForbidden, "{{contrib}}", ""),
				zaRefused("contributor-token", zForbidden, "{{tokContrib}}", ""),
				func() negCase {
					c := zaRefused("last-owner", zConflict, "{{zesty}}", "")
					c.path = "/v1/instances/{{inst}}/users/{{userZUID}}"
					return c
				}(),
				func() negCase {
					c := zaRefused("admin-token-removes-owner", zForbidden, "{{tokAdmin}}", "")
					c.path = "/v1/instances/{{inst}}/users/{{userZUID}}"
					return c
				}(),
				func() negCase {
					c := zaRefused("unknown-user", zNotFound, "{{zesty}}", "")
					c.path = "/v1/instances/{{inst}}/users/5-00"
					return c
				}(),
				zaOK("admin-token", http.StatusOK, "{{tokAdmin}}", ""),
			))},
		{"zestyCreateRole", zaOp(http.MethodPost, "/v1/roles", contrib,
			zaAuthCases(contrib, wmeJSON("instanceZUID", "{{inst}}", "name", "New", "systemRoleZUID", "{{rSeo}}")),
			zaBodyCases("instanceZUID", "{{inst}}", "name", "New", "systemRoleZUID", "{{rSeo}}"),
			negRows(
				zaInvalid("no-name", wmeJSON("instanceZUID", "{{inst}}", "systemRoleZUID", "{{rSeo}}")),
				zaInvalid("no-instance", wmeJSON("name", "New", "systemRoleZUID", "{{rSeo}}")),
				zaInvalid("no-system-role", wmeJSON("instanceZUID", "{{inst}}", "name", "New")),
				zaInvalid("description-number", `{"instanceZUID":"{{inst}}","name":"New","systemRoleZUID":"{{rSeo}}","description":1}`),
				zaInvalid("unknown-field", wmeJSON("instanceZUID", "{{inst}}", "name", "New", "systemRoleZUID", "{{rSeo}}", "custom", "true")),
				zaRefused("name-taken", zConflict, "{{zesty}}", wmeJSON("instanceZUID", "{{inst}}", "name", "Custom", "systemRoleZUID", "{{rSeo}}")),
				zaRefused("system-name-taken", zConflict, "{{zesty}}", wmeJSON("instanceZUID", "{{inst}}", "name", "Owner", "systemRoleZUID", "{{rSeo}}")),
				zaRefused("based-on-custom", zNotFound, "{{zesty}}", wmeJSON("instanceZUID", "{{inst}}", "name", "New", "systemRoleZUID", "{{rCustom}}")),
				zaRefused("based-on-other-instance", zNotFound, "{{zesty}}", wmeJSON("instanceZUID", "{{inst}}", "name", "New", "systemRoleZUID", "{{r2Admin}}")),
				zaRefused("contributor", zForbidden, "{{contrib}}", wmeJSON("instanceZUID", "{{inst}}", "name", "New", "systemRoleZUID", "{{rSeo}}")),
				zaRefused("admin-token-owner-based", zForbidden, "{{tokAdmin}}", wmeJSON("instanceZUID", "{{inst}}", "name", "New", "systemRoleZUID", "{{rOwner}}")),
				zaRefused("token-on-other-instance", zNotFound, "{{tokAdmin}}", wmeJSON("instanceZUID", "{{inst2}}", "name", "New", "systemRoleZUID", "{{r2Admin}}")),
				zaOK("admin-token", http.StatusCreated, "{{tokAdmin}}", wmeJSON("instanceZUID", "{{inst}}", "name", "New", "systemRoleZUID", "{{rSeo}}")),
			))},
		{"zestyGetRole", zaOp(http.MethodGet, "/v1/roles/{{rCustom}}", fxAccounts, zaAuthCases(fxAccounts, ""),
			zaMethods("/v1/roles/{{rCustom}}", http.MethodPost, http.MethodPatch),
			negRows(
				withSetup(zaRefused("stranger", zNotFound, "{{stranger}}", ""), stranger),
				func() negCase {
					c := zaRefused("role-of-other-instance-by-token", zNotFound, "{{tokContrib}}", "")
					c.path = "/v1/roles/{{r2Admin}}"
					return c
				}(),
				zaOK("contrib-token", http.StatusOK, "{{tokContrib}}", ""),
			))},
		{"zestyUpdateRole", zaOp(http.MethodPut, "/v1/roles/{{rCustom}}", fxAccounts, zaAuthCases(fxAccounts, wmeJSON("name", "Renamed")),
			zaBodyCases("name", "Renamed"),
			negRows(
				zaInvalid("no-fields", `{}`), zaInvalid("name-empty", wmeJSON("name", "")),
				zaInvalid("unknown-field", wmeJSON("name", "x", "systemRole", "owner")),
				zaRefused("name-taken", zConflict, "{{zesty}}", wmeJSON("name", "Admin")),
				func() negCase {
					c := zaRefused("system-role", zForbidden, "{{zesty}}", wmeJSON("name", "Boss"))
					c.path = "/v1/roles/{{rOwner}}"
					return c
				}(),
				zaRefused("contributor-token", zForbidden, "{{tokContrib}}", wmeJSON("name", "Mine")),
				zaOK("admin-token", http.StatusOK, "{{tokAdmin}}", wmeJSON("description", "updated")),
			))},
		{"zestyDeleteRole", zaOp(http.MethodDelete, "/v1/roles/{{rCustom}}", fxAccounts, zaAuthCases(fxAccounts, ""),
			negRows(
				func() negCase {
					c := zaRefused("system-role", zForbidden, "{{zesty}}", "")
					c.path = "/v1/roles/{{rSeo}}"
					return c
				}(),
				withSetup(zaRefused("held-by-a-token", zConflict, "{{zesty}}", ""), fxSteps(fxAccounts, func(t *testing.T, h *servertest.Harness, f *negFixture) {
					t.Helper()
					zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/tokens", f.get(t, "zesty"), zJSON("name", "custom", "roleZUID", f.get(t, "rCustom")))
				})),
				withSetup(zaRefused("held-by-a-member", zConflict, "{{zesty}}", ""), fxSteps(fxAccounts, func(t *testing.T, h *servertest.Harness, f *negFixture) {
					t.Helper()
					fxAccountsContrib(t, h, f)
					zWant(t, h, http.StatusOK, http.MethodPost, "/v1/instances/"+f.get(t, "inst")+"/users", f.get(t, "zesty"),
						zJSON("userZUID", f.get(t, "contribZUID"), "roleZUID", f.get(t, "rCustom")))
				})),
				zaRefused("contributor-token", zForbidden, "{{tokContrib}}", ""),
				zaOK("admin-token", http.StatusOK, "{{tokAdmin}}", ""),
			))},
		{"zestyListTokens", zaOp(http.MethodGet, "/v1/tokens", fxAccounts, zaAuthCases(fxAccounts, ""),
			zaMethods("/v1/tokens", http.MethodPut, http.MethodDelete),
			negRows(zaOK("owner", http.StatusOK, "{{zesty}}", ""), zaOK("contrib-token-sees-none", http.StatusOK, "{{tokContrib}}", "")))},
		{"zestyCreateToken", zaOp(http.MethodPost, "/v1/tokens", contrib,
			zaAuthCases(contrib, wmeJSON("name", "ci", "roleZUID", "{{rSeo}}")),
			zaBodyCases("name", "ci", "roleZUID", "{{rSeo}}"),
			negRows(
				zaInvalid("no-name", wmeJSON("roleZUID", "{{rSeo}}")), zaInvalid("no-role", wmeJSON("name", "ci")),
				zaInvalid("name-empty", wmeJSON("name", "", "roleZUID", "{{rSeo}}")),
				zaInvalid("name-number", `{"name":1,"roleZUID":"{{rSeo}}"}`),
				zaInvalid("unknown-field", wmeJSON("name", "ci", "roleZUID", "{{rSeo}}", "expiry", "2099-01-01T00:00:00Z")),
				zaRefused("contributor", zForbidden, "{{contrib}}", wmeJSON("name", "ci", "roleZUID", "{{rContributor}}")),
				zaRefused("admin-token", zUserRequired, "{{tokAdmin}}", wmeJSON("name", "ci", "roleZUID", "{{rSeo}}")),
				zaRefused("unknown-role", zNotFound, "{{zesty}}", wmeJSON("name", "ci", "roleZUID", "30-00")),
				zaRefused("contributor-role-of-other-instance", zNotFound, "{{contrib}}", wmeJSON("name", "ci", "roleZUID", "{{r2Admin}}")),
				zaOK("owner", http.StatusCreated, "{{zesty}}", wmeJSON("name", "ci", "roleZUID", "{{rSeo}}")),
			))},
		{"zestyGetToken", zaOp(http.MethodGet, "/v1/tokens/{{tokAdminZUID}}", contrib, zaAuthCases(contrib, ""),
			zaMethods("/v1/tokens/{{tokAdminZUID}}", http.MethodPost, http.MethodPut),
			negRows(
				zaRefused("contributor", zForbidden, "{{contrib}}", ""),
				zaRefused("contributor-token", zForbidden, "{{tokContrib}}", ""),
				func() negCase {
					c := zaRefused("unknown-token", zNotFound, "{{zesty}}", "")
					c.path = "/v1/tokens/42-00"
					return c
				}(),
				zaOK("owner", http.StatusOK, "{{zesty}}", ""),
				zaOK("itself", http.StatusOK, "{{tokAdmin}}", ""),
			))},
		{"zestyDeleteToken", zaOp(http.MethodDelete, "/v1/tokens/{{tokAdminZUID}}", contrib, zaAuthCases(contrib, ""),
			negRows(
				zaRefused("contributor", zForbidden, "{{contrib}}", ""),
				zaRefused("contributor-token", zForbidden, "{{tokContrib}}", ""),
				func() negCase {
					c := zaOK("owner", http.StatusOK, "{{zesty}}", "")
					c.check = func(t *testing.T, h *servertest.Harness, f *negFixture, _ []byte) {
						t.Helper()
						zWant(t, h, http.StatusUnauthorized, http.MethodGet, "/verify", f.get(t, "tokAdmin"), "")
					}
					return c
				}(),
			))},
		{"zestyLogoutWithAccessToken", zaOp(http.MethodDelete, "/logout", fxAccounts,
			negRows(zaRefused("access-token", zUserRequired, "{{tokAdmin}}", "")))},
	})
}
