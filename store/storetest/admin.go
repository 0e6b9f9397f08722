package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The contract of the admin API's queries (store/admin.go). Registered in contracts() as
// "contract=admin".

func adminCases() []testCase {
	return []testCase{
		{"list-users-filters-order-paging", adminListUsers},
		{"update-user-some-fields", adminUpdateUser},
		{"update-unknown-user", adminUpdateUnknown},
		{"delete-user-cascades-keeps-audit", adminDeleteUser},
		{"user-sessions-live-first", adminUserSessions},
		{"revoke-user-session", adminRevokeUserSession},
		{"user-api-tokens-owned-or-created", adminUserAPITokens},
		{"list-audit-filters-and-cursor", adminListAudit},
	}
}

func listEmails(t *testing.T, e *env, f store.UserFilter) ([]string, int64) {
	t.Helper()
	users, total, err := e.st.ListUsers(e.ctx, f)
	must(t, "ListUsers", err)
	var out []string
	for _, u := range users {
		out = append(out, *u.Email)
	}
	return out, total
}

func adminListUsers(t *testing.T, e *env) {
	a := e.newUser(func(u *store.User) { u.Email = ptr("Alice_1@Example.com") })
	must(t, "CreateUser", e.st.CreateUser(e.ctx, a, []string{"user", "admin"}))
	e.clock.Advance(time.Second)
	e.user(func(u *store.User) { u.Email = ptr("bob@example.org"); u.Disabled = true })
	e.clock.Advance(time.Second)
	e.user(func(u *store.User) { u.Email = ptr("alice1@example.net") })
	for name, tc := range map[string]struct {
		f     store.UserFilter
		want  []string
		total int64
	}{
		"all":                 {store.UserFilter{Limit: 10}, []string{"Alice_1@Example.com", "bob@example.org", "alice1@example.net"}, 3},
		"email-case":          {store.UserFilter{Limit: 10, EmailContains: "ALICE"}, []string{"Alice_1@Example.com", "alice1@example.net"}, 2},
		"underscore-literal":  {store.UserFilter{Limit: 10, EmailContains: "e_1"}, []string{"Alice_1@Example.com"}, 1},
		"percent-literal":     {store.UserFilter{Limit: 10, EmailContains: "%"}, nil, 0},
		"role":                {store.UserFilter{Limit: 10, Role: "admin"}, []string{"Alice_1@Example.com"}, 1},
		"disabled":            {store.UserFilter{Limit: 10, Disabled: ptr(true)}, []string{"bob@example.org"}, 1},
		"enabled":             {store.UserFilter{Limit: 10, Disabled: ptr(false)}, []string{"Alice_1@Example.com", "alice1@example.net"}, 2},
		"page":                {store.UserFilter{Limit: 1, Offset: 1}, []string{"bob@example.org"}, 3},
		"page-past-the-end":   {store.UserFilter{Limit: 5, Offset: 5}, nil, 3},
		"role-and-email-miss": {store.UserFilter{Limit: 10, Role: "admin", EmailContains: "bob"}, nil, 0},
	} {
		got, total := listEmails(t, e, tc.f)
		if !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("%s: %v (total %d), want %v (total %d)", name, got, total, tc.want, tc.total)
		}
	}
	users, _, err := e.st.ListUsers(e.ctx, store.UserFilter{Limit: 1})
	must(t, "ListUsers", err)
	if len(users) != 1 || !slices.Equal(users[0].Roles, []string{"admin", "user"}) {
		t.Errorf("roles of listed users: %+v", users)
	}
}

func adminUpdateUser(t *testing.T, e *env) {
	u := e.user(func(u *store.User) { u.DisplayName = "Old"; u.Metadata = store.JSONMap{"a": "b"} })
	e.clock.Advance(time.Minute)
	must(t, "UpdateUser", e.st.UpdateUser(e.ctx, u.ID, store.UserUpdate{DisplayName: ptr("New"), EmailVerified: ptr(true)}))
	got := e.userByID(u.ID)
	if got.DisplayName != "New" || !got.EmailVerified || got.Metadata["a"] != "b" || got.Locale != "en" || !got.UpdatedAt.Equal(e.now()) {
		t.Errorf("after update: %+v", got)
	}
	must(t, "UpdateUser", e.st.UpdateUser(e.ctx, u.ID, store.UserUpdate{Metadata: store.JSONMap{"c": 1.0}, Locale: ptr("fr")}))
	got = e.userByID(u.ID)
	if got.DisplayName != "New" || got.Metadata["c"] != 1.0 || got.Metadata["a"] != nil || got.Locale != "fr" {
		t.Errorf("after second update: %+v", got)
	}
	withRoles, err := e.st.UserWithRoles(e.ctx, u.ID)
	if err != nil || !slices.Equal(withRoles.Roles, []string{"user"}) {
		t.Errorf("UserWithRoles: %v %+v", err, withRoles)
	}
	if _, err := e.st.UserWithRoles(e.ctx, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserWithRoles of an unknown user: %v", err)
	}
}

func adminUpdateUnknown(t *testing.T, e *env) {
	wantErr(t, "UpdateUser", e.st.UpdateUser(e.ctx, uuid.New(), store.UserUpdate{DisplayName: ptr("x")}), store.ErrNotFound)
	wantErr(t, "DeleteUser", e.st.DeleteUser(e.ctx, uuid.New()), store.ErrNotFound)
}

func adminDeleteUser(t *testing.T, e *env) {
	u := e.user()
	other := e.user()
	s := e.session(u.ID, time.Hour)
	e.refreshToken(s.ID, true, time.Hour)
	e.apiToken(func(a *store.APIToken) { a.UserID = &u.ID })
	must(t, "RecordAudit", e.st.RecordAudit(e.ctx, &store.AuditEvent{ID: uuid.New(), Action: "x", Outcome: store.OutcomeSuccess, TargetUserID: &u.ID}))
	before := e.rowCounts()
	must(t, "DeleteUser", e.st.DeleteUser(e.ctx, u.ID))
	after := e.rowCounts()
	for table, gone := range map[string]int64{"users": 1, "user_roles": 1, "sessions": 1, "refresh_tokens": 1, "api_tokens": 1, "audit_events": 0} {
		if before[table]-after[table] != gone {
			t.Errorf("%s: %d → %d, want %d fewer", table, before[table], after[table], gone)
		}
	}
	if _, err := e.st.UserByID(e.ctx, other.ID); err != nil {
		t.Errorf("the other user went too: %v", err)
	}
}

func adminUserSessions(t *testing.T, e *env) {
	u := e.user()
	old := e.session(u.ID, time.Hour)
	e.clock.Advance(time.Second)
	revoked := e.session(u.ID, time.Hour)
	e.clock.Advance(time.Second)
	expired := e.session(u.ID, time.Minute)
	e.clock.Advance(time.Second)
	newest := e.session(u.ID, time.Hour)
	e.session(e.user().ID, time.Hour)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, revoked.ID, "test"))
	e.clock.Advance(2 * time.Minute)
	got, err := e.st.UserSessions(e.ctx, u.ID)
	must(t, "UserSessions", err)
	var ids []uuid.UUID
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	if want := []uuid.UUID{newest.ID, old.ID, expired.ID, revoked.ID}; !slices.Equal(ids, want) {
		t.Errorf("UserSessions order %v, want %v", ids, want)
	}
}

func adminRevokeUserSession(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	other := e.session(e.user().ID, time.Hour)
	ended, err := e.st.RevokeUserSession(e.ctx, u.ID, s.ID, "admin")
	if err != nil || !ended || e.sessionByID(s.ID).RevokedAt == nil {
		t.Errorf("revoke: %v %v", ended, err)
	}
	ended, err = e.st.RevokeUserSession(e.ctx, u.ID, s.ID, "admin")
	if err != nil || ended {
		t.Errorf("revoke again: %v %v, want false nil", ended, err)
	}
	_, err = e.st.RevokeUserSession(e.ctx, u.ID, other.ID, "admin")
	wantErr(t, "RevokeUserSession of another user's session", err, store.ErrNotFound)
	if e.sessionByID(other.ID).RevokedAt != nil {
		t.Error("another user's session ended")
	}
}

func adminUserAPITokens(t *testing.T, e *env) {
	u := e.user()
	owned := e.apiToken(func(a *store.APIToken) { a.UserID = &u.ID })
	e.clock.Advance(time.Second)
	created := e.apiToken(func(a *store.APIToken) { a.Kind = store.APITokenZesty; a.UserID = nil; a.CreatedBy = &u.ID })
	foreign := e.apiToken()
	got, err := e.st.UserAPITokens(e.ctx, u.ID)
	must(t, "UserAPITokens", err)
	if len(got) != 2 || got[0].ID != created.ID || got[1].ID != owned.ID {
		t.Errorf("UserAPITokens = %+v", got)
	}
	for _, id := range []uuid.UUID{owned.ID, created.ID} {
		revoked, _, err := e.st.RevokeUserAPIToken(e.ctx, u.ID, id)
		if err != nil || !revoked {
			t.Errorf("revoke %s: %v %v", id, revoked, err)
		}
		revoked, _, err = e.st.RevokeUserAPIToken(e.ctx, u.ID, id)
		if err != nil || revoked {
			t.Errorf("revoke %s again: %v %v", id, revoked, err)
		}
	}
	_, _, err = e.st.RevokeUserAPIToken(e.ctx, u.ID, foreign.ID)
	wantErr(t, "RevokeUserAPIToken of a foreign token", err, store.ErrNotFound)
	if _, err := e.st.UsableAPIToken(e.ctx, store.APITokenPAT, foreign.TokenHash); err != nil {
		t.Errorf("the foreign token stopped working: %v", err)
	}
	if _, err := e.st.UsableAPIToken(e.ctx, store.APITokenPAT, owned.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the revoked token works: %v", err)
	}
}

func adminListAudit(t *testing.T, e *env) {
	a, b := uuid.New(), uuid.New()
	rec := func(action string, actor *uuid.UUID, token string, target *uuid.UUID) *store.AuditEvent {
		ev := &store.AuditEvent{ID: uuid.New(), Action: action, Outcome: store.OutcomeSuccess, ActorUserID: actor, ActorTokenName: token, TargetUserID: target}
		must(t, "RecordAudit", e.st.RecordAudit(e.ctx, ev))
		return ev
	}
	e1 := rec("one", &a, "", &b)
	e.clock.Advance(time.Second)
	mid := e.now()
	e2 := rec("two", nil, "admin-secret", &a)
	e3 := rec("two", &b, "", &b) // same instant as e2: ordered by id
	e.clock.Advance(time.Second)
	e4 := rec("three", &a, "", nil)
	ids := func(f store.AuditFilter) []uuid.UUID {
		if f.Limit == 0 {
			f.Limit = 10
		}
		evs, err := e.st.ListAudit(e.ctx, f)
		must(t, "ListAudit", err)
		var out []uuid.UUID
		for _, ev := range evs {
			out = append(out, ev.ID)
		}
		return out
	}
	sameInstant := []uuid.UUID{e2.ID, e3.ID}
	slices.SortFunc(sameInstant, func(x, y uuid.UUID) int { return -slices.Compare(x[:], y[:]) })
	all := append(append([]uuid.UUID{e4.ID}, sameInstant...), e1.ID)
	after := e4.At.Add(time.Microsecond)
	for name, tc := range map[string]struct {
		f    store.AuditFilter
		want []uuid.UUID
	}{
		"all-newest-first": {store.AuditFilter{}, all},
		"actor":            {store.AuditFilter{ActorUserID: &a}, []uuid.UUID{e4.ID, e1.ID}},
		"token-name":       {store.AuditFilter{ActorTokenName: "admin-secret"}, []uuid.UUID{e2.ID}},
		"target":           {store.AuditFilter{TargetUserID: &b}, []uuid.UUID{e3.ID, e1.ID}},
		"action":           {store.AuditFilter{Action: "two"}, sameInstant},
		"since-inclusive":  {store.AuditFilter{Since: &mid}, all[:3]},
		"until-exclusive":  {store.AuditFilter{Until: &mid}, []uuid.UUID{e1.ID}},
		"since-after-all":  {store.AuditFilter{Since: &after}, nil},
		"limit":            {store.AuditFilter{Limit: 2}, all[:2]},
		"after-cursor":     {store.AuditFilter{After: &store.AuditCursor{At: mid, ID: sameInstant[0]}}, all[2:]},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
