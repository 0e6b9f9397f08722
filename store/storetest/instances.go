package storetest

import (
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The contract of the tenancy tables (Zesty instances, their roles and members, and access tokens
// scoped to a role). Registered in contracts() as "contract=instances".

func instanceCases() []testCase {
	return []testCase{
		{"instance-every-column", instancesRoundTrip},
		{"instance-zuid-conflict", instancesZUIDConflict},
		{"instance-unknown", instancesUnknown},
		{"rename-instance", instancesRename},
		{"roles-ordered-system-then-custom", instancesRolesOrdered},
		{"role-name-conflict-per-instance", instancesRoleNameConflict},
		{"update-role", instancesUpdateRole},
		{"members-add-replace-remove", instancesMembers},
		{"count-other-active-owners", instancesCountOtherActiveOwners},
		{"instances-owned-only-by", instancesOwnedOnlyBy},
		{"lock-instance-by-zuid", instancesLock},
		{"lock-instances-owned-by", instancesLockOwnedBy},
		{"delete-role-in-use", instancesDeleteRoleInUse},
		{"delete-instance-takes-members-roles-tokens", instancesDeleteCascade},
		{"access-tokens-by-zuid-and-instance", instancesTokens},
		{"usable-zesty-token-with-creator-standing", instancesUsableZestyToken},
		{"usable-zesty-token-unusable", instancesUsableZestyTokenUnusable},
		{"active-member-role", instancesActiveMemberRole},
		{"user-by-zuid", instancesUserByZUID},
	}
}

// instance creates an instance with the six system roles, keyed by system role.
func (e *env) instance(name string) (*store.Instance, map[string]*store.InstanceRole) {
	e.t.Helper()
	now := e.now()
	n := e.next()
	inst := &store.Instance{ZUID: fmt.Sprintf("8-%06d", n), Name: name, CreatedAt: now, UpdatedAt: now}
	must(e.t, "CreateInstance", e.st.CreateInstance(e.ctx, inst))
	roles := map[string]*store.InstanceRole{}
	for _, sr := range []string{store.SystemRoleOwner, store.SystemRoleAdmin, store.SystemRoleDeveloper, store.SystemRoleSEO, store.SystemRolePublisher, store.SystemRoleContributor} {
		roles[sr] = e.role(inst.ID, sr, sr, false)
	}
	return inst, roles
}

func (e *env) role(instanceID int64, name, systemRole string, custom bool) *store.InstanceRole {
	e.t.Helper()
	now := e.now()
	r := &store.InstanceRole{ID: uuid.New(), ZUID: fmt.Sprintf("30-%06d", e.next()), InstanceID: instanceID, Name: name,
		SystemRole: systemRole, Custom: custom, CreatedAt: now, UpdatedAt: now}
	must(e.t, "CreateInstanceRole", e.st.CreateInstanceRole(e.ctx, r))
	return r
}

func (e *env) member(inst *store.Instance, u *store.User, r *store.InstanceRole) {
	e.t.Helper()
	must(e.t, "SetInstanceMember", e.st.SetInstanceMember(e.ctx, &store.InstanceMember{InstanceID: inst.ID, UserID: u.ID, RoleID: r.ID}))
}

func (e *env) zestyToken(r *store.InstanceRole, creator *store.User) *store.APIToken {
	e.t.Helper()
	zuid := fmt.Sprintf("42-%06d", e.next())
	return e.apiToken(func(t *store.APIToken) {
		t.Kind, t.UserID, t.RoleID, t.ZUID, t.CreatedBy = store.APITokenZesty, nil, &r.ID, &zuid, &creator.ID
	})
}

func instancesRoundTrip(t *testing.T, e *env) {
	u := e.user()
	now := e.now()
	in := &store.Instance{ZUID: "8-abc", Name: "Acme", CreatedBy: &u.ID, CreatedAt: now, UpdatedAt: now.Add(time.Second)}
	must(t, "CreateInstance", e.st.CreateInstance(e.ctx, in))
	if in.ID < 1 {
		t.Fatalf("ID not assigned: %d", in.ID)
	}
	second, _ := e.instance("second")
	if second.ID <= in.ID {
		t.Fatalf("IDs not increasing: %d then %d", in.ID, second.ID)
	}
	for _, got := range []*store.Instance{
		mustValue(e.st.InstanceByZUID(e.ctx, "8-abc"))(t, "InstanceByZUID"),
		mustValue(e.st.InstanceByID(e.ctx, in.ID))(t, "InstanceByID"),
	} {
		if got.ID != in.ID || got.ZUID != in.ZUID || got.Name != in.Name || got.CreatedBy == nil || *got.CreatedBy != u.ID ||
			!got.CreatedAt.Equal(in.CreatedAt) || !got.UpdatedAt.Equal(in.UpdatedAt) {
			t.Fatalf("instance read back %+v, wrote %+v", got, in)
		}
	}
}

func instancesZUIDConflict(t *testing.T, e *env) {
	inst, _ := e.instance("a")
	dup := &store.Instance{ZUID: inst.ZUID, Name: "b", CreatedAt: e.now(), UpdatedAt: e.now()}
	var ce *store.ConflictError
	if err := e.st.CreateInstance(e.ctx, dup); !errors.As(err, &ce) {
		t.Fatalf("duplicate ZUID: %v, want a ConflictError", err)
	}
}

func instancesUnknown(t *testing.T, e *env) {
	_, err := e.st.InstanceByZUID(e.ctx, "8-none")
	wantErr(t, "InstanceByZUID", err, store.ErrNotFound)
	_, err = e.st.InstanceByID(e.ctx, 999999)
	wantErr(t, "InstanceByID", err, store.ErrNotFound)
	wantErr(t, "RenameInstance", e.st.RenameInstance(e.ctx, 999999, "x"), store.ErrNotFound)
	wantErr(t, "DeleteInstance", e.st.DeleteInstance(e.ctx, 999999), store.ErrNotFound)
	_, err = e.st.InstanceRoleByZUID(e.ctx, "30-none")
	wantErr(t, "InstanceRoleByZUID", err, store.ErrNotFound)
	_, err = e.st.InstanceRoleByID(e.ctx, uuid.New())
	wantErr(t, "InstanceRoleByID", err, store.ErrNotFound)
	_, err = e.st.MemberRole(e.ctx, 999999, uuid.New())
	wantErr(t, "MemberRole", err, store.ErrNotFound)
	wantErr(t, "RemoveInstanceMember", e.st.RemoveInstanceMember(e.ctx, 999999, uuid.New()), store.ErrNotFound)
	wantErr(t, "DeleteInstanceRole", e.st.DeleteInstanceRole(e.ctx, uuid.New()), store.ErrNotFound)
	wantErr(t, "DeleteAPIToken", e.st.DeleteAPIToken(e.ctx, uuid.New()), store.ErrNotFound)
	_, err = e.st.ZestyTokenByZUID(e.ctx, "42-none")
	wantErr(t, "ZestyTokenByZUID", err, store.ErrNotFound)
}

func instancesRename(t *testing.T, e *env) {
	inst, _ := e.instance("old")
	e.clock.Advance(time.Minute)
	must(t, "RenameInstance", e.st.RenameInstance(e.ctx, inst.ID, "new"))
	got := mustValue(e.st.InstanceByID(e.ctx, inst.ID))(t, "InstanceByID")
	if got.Name != "new" || !got.UpdatedAt.Equal(e.now()) || !got.CreatedAt.Equal(inst.CreatedAt) {
		t.Fatalf("renamed: %+v", got)
	}
}

func instancesRolesOrdered(t *testing.T, e *env) {
	inst, roles := e.instance("a")
	other, _ := e.instance("b")
	e.role(inst.ID, "Zeta", store.SystemRoleSEO, true)
	e.role(inst.ID, "Alpha", store.SystemRoleAdmin, true)
	got := mustValue(e.st.InstanceRoles(e.ctx, inst.ID))(t, "InstanceRoles")
	want := []string{"owner", "admin", "developer", "seo", "publisher", "contributor", "Alpha", "Zeta"}
	if len(got) != len(want) {
		t.Fatalf("roles: %d, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.Name != want[i] || r.InstanceID != inst.ID {
			t.Fatalf("role %d = %s (instance %d), want %s", i, r.Name, r.InstanceID, want[i])
		}
	}
	sys := mustValue(e.st.SystemInstanceRole(e.ctx, inst.ID, store.SystemRoleSEO))(t, "SystemInstanceRole")
	if sys.ID != roles[store.SystemRoleSEO].ID || sys.Custom {
		t.Fatalf("system role: %+v", sys)
	}
	if _, err := e.st.SystemInstanceRole(e.ctx, other.ID+1000, store.SystemRoleSEO); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("system role of no instance: %v", err)
	}
	byZUID := mustValue(e.st.InstanceRoleByZUID(e.ctx, roles[store.SystemRoleOwner].ZUID))(t, "InstanceRoleByZUID")
	if byZUID.ID != roles[store.SystemRoleOwner].ID || byZUID.SystemRole != store.SystemRoleOwner {
		t.Fatalf("role by ZUID: %+v", byZUID)
	}
}

func instancesRoleNameConflict(t *testing.T, e *env) {
	inst, _ := e.instance("a")
	other, _ := e.instance("b")
	e.role(inst.ID, "Custom", store.SystemRoleSEO, true)
	e.role(other.ID, "Custom", store.SystemRoleSEO, true) // another instance: fine
	dup := &store.InstanceRole{ID: uuid.New(), ZUID: "30-dup", InstanceID: inst.ID, Name: "Custom", SystemRole: store.SystemRoleSEO, Custom: true}
	var ce *store.ConflictError
	if err := e.st.CreateInstanceRole(e.ctx, dup); !errors.As(err, &ce) {
		t.Fatalf("duplicate role name: %v, want a ConflictError", err)
	}
}

func instancesUpdateRole(t *testing.T, e *env) {
	inst, _ := e.instance("a")
	r := e.role(inst.ID, "Custom", store.SystemRoleSEO, true)
	e.role(inst.ID, "Taken", store.SystemRoleSEO, true)
	e.clock.Advance(time.Minute)
	r.Name, r.Description = "Renamed", "described"
	must(t, "UpdateInstanceRole", e.st.UpdateInstanceRole(e.ctx, r))
	got := mustValue(e.st.InstanceRoleByID(e.ctx, r.ID))(t, "InstanceRoleByID")
	if got.Name != "Renamed" || got.Description != "described" || !got.UpdatedAt.Equal(e.now()) || got.SystemRole != store.SystemRoleSEO {
		t.Fatalf("updated role: %+v", got)
	}
	r.Name = "Taken"
	var ce *store.ConflictError
	if err := e.st.UpdateInstanceRole(e.ctx, r); !errors.As(err, &ce) {
		t.Fatalf("rename to a taken name: %v", err)
	}
	wantErr(t, "UpdateInstanceRole unknown", e.st.UpdateInstanceRole(e.ctx, &store.InstanceRole{ID: uuid.New(), Name: "x"}), store.ErrNotFound)
}

func instancesMembers(t *testing.T, e *env) {
	inst, roles := e.instance("a")
	other, otherRoles := e.instance("b")
	u1, u2 := e.user(), e.user()
	e.member(inst, u1, roles[store.SystemRoleOwner])
	e.clock.Advance(time.Second)
	e.member(inst, u2, roles[store.SystemRoleContributor])
	e.member(other, u2, otherRoles[store.SystemRoleAdmin])
	e.member(inst, u2, roles[store.SystemRolePublisher]) // replaces
	if r := mustValue(e.st.MemberRole(e.ctx, inst.ID, u2.ID))(t, "MemberRole"); r.ID != roles[store.SystemRolePublisher].ID {
		t.Fatalf("member role after replace: %s", r.Name)
	}
	ms := mustValue(e.st.InstanceMembers(e.ctx, inst.ID))(t, "InstanceMembers")
	if len(ms) != 2 || ms[0].User.ID != u1.ID || ms[0].Role.SystemRole != store.SystemRoleOwner || ms[1].User.ID != u2.ID || ms[1].Role.SystemRole != store.SystemRolePublisher {
		t.Fatalf("members: %+v", ms)
	}
	insts := mustValue(e.st.InstancesOfUser(e.ctx, u2.ID))(t, "InstancesOfUser")
	if len(insts) != 2 || insts[0].ID != inst.ID || insts[1].ID != other.ID {
		t.Fatalf("instances of user: %+v", insts)
	}
	must(t, "RemoveInstanceMember", e.st.RemoveInstanceMember(e.ctx, inst.ID, u2.ID))
	if _, err := e.st.MemberRole(e.ctx, inst.ID, u2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removed member still has a role: %v", err)
	}
	if insts := mustValue(e.st.InstancesOfUser(e.ctx, u2.ID))(t, "InstancesOfUser"); len(insts) != 1 {
		t.Fatalf("instances after removal: %+v", insts)
	}
	if ms := mustValue(e.st.InstanceMembers(e.ctx, other.ID+1000))(t, "InstanceMembers"); len(ms) != 0 {
		t.Fatalf("members of no instance: %+v", ms)
	}
}

func instancesCountOtherActiveOwners(t *testing.T, e *env) {
	inst, roles := e.instance("a")
	other, otherRoles := e.instance("b")
	custom := e.role(inst.ID, "Co-owner", store.SystemRoleOwner, true)
	owner, coOwner, disabled := e.user(), e.user(), e.user()
	e.member(inst, owner, roles[store.SystemRoleOwner])
	e.member(inst, coOwner, custom)
	e.member(inst, disabled, roles[store.SystemRoleOwner])
	e.member(inst, e.user(), roles[store.SystemRoleAdmin])
	e.member(other, e.user(), otherRoles[store.SystemRoleOwner])
	must(t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, disabled.ID, true))
	for _, c := range []struct {
		name string
		user uuid.UUID
		want int64
	}{
		{"besides an owner", owner.ID, 1},       // the co-owner; the disabled one does not count
		{"besides the co-owner", coOwner.ID, 1}, // the owner
		{"besides the disabled one", disabled.ID, 2},
		{"besides a stranger", uuid.New(), 2},
	} {
		if n := mustValue(e.st.CountOtherActiveOwners(e.ctx, inst.ID, c.user))(t, "CountOtherActiveOwners"); n != c.want {
			t.Errorf("other active owners %s = %d, want %d", c.name, n, c.want)
		}
	}
}

func instancesOwnedOnlyBy(t *testing.T, e *env) {
	u, co, off := e.user(), e.user(), e.user()
	alone, aloneRoles := e.instance("alone")
	shared, sharedRoles := e.instance("shared")
	besideDisabled, bdRoles := e.instance("beside a disabled owner")
	custom, _ := e.instance("custom owner role")
	admin, adminRoles := e.instance("admin only")
	e.member(alone, u, aloneRoles[store.SystemRoleOwner])
	e.member(alone, co, aloneRoles[store.SystemRoleAdmin])
	e.member(shared, u, sharedRoles[store.SystemRoleOwner])
	e.member(shared, co, e.role(shared.ID, "Co-owner", store.SystemRoleOwner, true))
	e.member(besideDisabled, u, bdRoles[store.SystemRoleOwner])
	e.member(besideDisabled, off, bdRoles[store.SystemRoleOwner])
	e.member(custom, u, e.role(custom.ID, "Boss", store.SystemRoleOwner, true))
	e.member(admin, u, adminRoles[store.SystemRoleAdmin])
	must(t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, off.ID, true))
	got := mustValue(e.st.InstancesOwnedOnlyBy(e.ctx, u.ID))(t, "InstancesOwnedOnlyBy")
	var names []string
	for _, i := range got {
		names = append(names, i.Name)
	}
	if want := []string{"alone", "beside a disabled owner", "custom owner role"}; fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("InstancesOwnedOnlyBy = %q, want %q", names, want)
	}
	if none := mustValue(e.st.InstancesOwnedOnlyBy(e.ctx, co.ID))(t, "InstancesOwnedOnlyBy(co-owner)"); len(none) != 0 {
		t.Errorf("InstancesOwnedOnlyBy(co-owner of a shared instance) = %+v", none)
	}
}

func instancesLock(t *testing.T, e *env) {
	inst, _ := e.instance("a")
	must(t, "Tx", e.st.Tx(e.ctx, func(tx *store.Store) error {
		got, err := tx.LockInstanceByZUID(e.ctx, inst.ZUID)
		if err != nil {
			return err
		}
		if got.ID != inst.ID || got.Name != inst.Name {
			t.Errorf("LockInstanceByZUID = %+v, want %+v", got, inst)
		}
		_, err = tx.LockInstanceByZUID(e.ctx, "8-none")
		wantErr(t, "LockInstanceByZUID(unknown)", err, store.ErrNotFound)
		return nil
	}))
}

// instancesLockOwnedBy: the instances where the user's role grants Owner (a custom role based
// on Owner included), in id order; not those where the user holds a lesser role.
func instancesLockOwnedBy(t *testing.T, e *env) {
	u := e.user()
	first, firstRoles := e.instance("first")
	admin, adminRoles := e.instance("admin only")
	custom, _ := e.instance("custom owner role")
	e.instance("not a member")
	e.member(first, u, firstRoles[store.SystemRoleOwner])
	e.member(first, e.user(), firstRoles[store.SystemRoleOwner])
	e.member(admin, u, adminRoles[store.SystemRoleAdmin])
	e.member(custom, u, e.role(custom.ID, "Boss", store.SystemRoleOwner, true))
	must(t, "Tx", e.st.Tx(e.ctx, func(tx *store.Store) error {
		got, err := tx.LockInstancesOwnedBy(e.ctx, u.ID)
		if err != nil {
			return err
		}
		var names []string
		for _, i := range got {
			names = append(names, i.Name)
		}
		if want := []string{"first", "custom owner role"}; fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("LockInstancesOwnedBy = %q, want %q", names, want)
		}
		none, err := tx.LockInstancesOwnedBy(e.ctx, uuid.New())
		if err != nil || len(none) != 0 {
			t.Errorf("LockInstancesOwnedBy(stranger) = %+v, %v", none, err)
		}
		return nil
	}))
}

func instancesDeleteRoleInUse(t *testing.T, e *env) {
	inst, _ := e.instance("a")
	held, tokened, free := e.role(inst.ID, "held", store.SystemRoleSEO, true), e.role(inst.ID, "tokened", store.SystemRoleSEO, true), e.role(inst.ID, "free", store.SystemRoleSEO, true)
	u := e.user()
	e.member(inst, u, held)
	e.zestyToken(tokened, u)
	wantErr(t, "DeleteInstanceRole held", e.st.DeleteInstanceRole(e.ctx, held.ID), store.ErrInUse)
	wantErr(t, "DeleteInstanceRole tokened", e.st.DeleteInstanceRole(e.ctx, tokened.ID), store.ErrInUse)
	must(t, "DeleteInstanceRole free", e.st.DeleteInstanceRole(e.ctx, free.ID))
	if _, err := e.st.InstanceRoleByID(e.ctx, free.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted role still there: %v", err)
	}
}

func instancesDeleteCascade(t *testing.T, e *env) {
	inst, roles := e.instance("a")
	other, otherRoles := e.instance("b")
	u := e.user()
	e.member(inst, u, roles[store.SystemRoleOwner])
	e.member(other, u, otherRoles[store.SystemRoleOwner])
	e.zestyToken(roles[store.SystemRoleAdmin], u)
	kept := e.zestyToken(otherRoles[store.SystemRoleAdmin], u)
	before := e.rowCounts()
	must(t, "DeleteInstance", e.st.DeleteInstance(e.ctx, inst.ID))
	after := e.rowCounts()
	for table, gone := range map[string]int64{"instances": 1, "instance_roles": 6, "instance_members": 1, "api_tokens": 1, "users": 0} {
		if before[table]-after[table] != gone {
			t.Errorf("%s: %d rows went, want %d", table, before[table]-after[table], gone)
		}
	}
	if _, err := e.st.ZestyTokenByZUID(e.ctx, *kept.ZUID); err != nil {
		t.Fatalf("the other instance's token went: %v", err)
	}
}

func instancesTokens(t *testing.T, e *env) {
	inst, roles := e.instance("a")
	other, otherRoles := e.instance("b")
	u := e.user()
	t1 := e.zestyToken(roles[store.SystemRoleAdmin], u)
	e.clock.Advance(time.Second)
	t2 := e.zestyToken(roles[store.SystemRoleSEO], u)
	t3 := e.zestyToken(otherRoles[store.SystemRoleAdmin], u)
	e.apiToken() // a PAT: never listed
	got := mustValue(e.st.ZestyTokenByZUID(e.ctx, *t1.ZUID))(t, "ZestyTokenByZUID")
	if got.ID != t1.ID || got.RoleID == nil || *got.RoleID != roles[store.SystemRoleAdmin].ID || got.CreatedBy == nil || *got.CreatedBy != u.ID || got.UserID != nil {
		t.Fatalf("token by ZUID: %+v", got)
	}
	list := mustValue(e.st.ZestyTokensOfInstances(e.ctx, []int64{inst.ID}))(t, "ZestyTokensOfInstances")
	if len(list) != 2 || list[0].ID != t1.ID || list[1].ID != t2.ID {
		t.Fatalf("tokens of instance: %+v", list)
	}
	if all := mustValue(e.st.ZestyTokensOfInstances(e.ctx, []int64{inst.ID, other.ID}))(t, "ZestyTokensOfInstances"); len(all) != 3 {
		t.Fatalf("tokens of both: %d", len(all))
	}
	if none := mustValue(e.st.ZestyTokensOfInstances(e.ctx, nil))(t, "ZestyTokensOfInstances"); len(none) != 0 {
		t.Fatalf("tokens of no instance: %+v", none)
	}
	if _, err := e.st.UsableAPIToken(e.ctx, store.APITokenZesty, t3.TokenHash); err != nil {
		t.Fatalf("usable token: %v", err)
	}
	must(t, "DeleteAPIToken", e.st.DeleteAPIToken(e.ctx, t3.ID))
	if _, err := e.st.UsableAPIToken(e.ctx, store.APITokenZesty, t3.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted token usable: %v", err)
	}
}

func instancesUsableZestyToken(t *testing.T, e *env) {
	inst, roles := e.instance("a")
	other, otherRoles := e.instance("b")
	creator := e.user()
	e.member(inst, creator, roles[store.SystemRoleAdmin])
	e.member(other, creator, otherRoles[store.SystemRoleOwner]) // standing elsewhere does not count
	tok := e.zestyToken(roles[store.SystemRoleAdmin], creator)
	use := func(step, wantCreatorRole string) {
		t.Helper()
		e.clock.Advance(time.Minute)
		got := mustValue(e.st.UsableZestyToken(e.ctx, tok.TokenHash))(t, "UsableZestyToken "+step)
		want := *tok
		want.CreatedAt, want.LastUsedAt = e.t0, ptr(e.now())
		wantEqual(t, "UsableZestyToken token "+step, &got.Token, &want)
		wantEqual(t, "UsableZestyToken role "+step, &got.Role, roles[store.SystemRoleAdmin])
		if got.CreatorRole != wantCreatorRole {
			t.Errorf("UsableZestyToken %s: creator role %q, want %q", step, got.CreatorRole, wantCreatorRole)
		}
		if stored := mustValue(e.st.ZestyTokenByZUID(e.ctx, *tok.ZUID))(t, "ZestyTokenByZUID"); stored.LastUsedAt == nil || !stored.LastUsedAt.Equal(e.now()) {
			t.Errorf("UsableZestyToken %s: last use stored %v, want %v", step, stored.LastUsedAt, e.now())
		}
	}
	use("member", store.SystemRoleAdmin)
	e.member(inst, creator, roles[store.SystemRoleDeveloper])
	use("demoted", store.SystemRoleDeveloper)
	custom := e.role(inst.ID, "Co-owner", store.SystemRoleOwner, true)
	e.member(inst, creator, custom)
	use("custom role", store.SystemRoleOwner)
	must(t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, creator.ID, true))
	use("disabled", "")
	must(t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, creator.ID, false))
	use("enabled again", store.SystemRoleOwner)
	must(t, "RemoveInstanceMember", e.st.RemoveInstanceMember(e.ctx, inst.ID, creator.ID))
	use("removed", "")
	e.member(inst, creator, roles[store.SystemRoleSEO])
	use("back", store.SystemRoleSEO)
	must(t, "DeleteUser", e.st.DeleteUser(e.ctx, creator.ID))
	use("deleted", "")
	orphan := e.apiToken(func(t *store.APIToken) { // a token with no recorded creator
		zuid := fmt.Sprintf("42-%06d", e.next())
		t.Kind, t.UserID, t.RoleID, t.ZUID, t.CreatedBy = store.APITokenZesty, nil, &roles[store.SystemRoleAdmin].ID, &zuid, nil
	})
	got := mustValue(e.st.UsableZestyToken(e.ctx, orphan.TokenHash))(t, "UsableZestyToken without creator")
	if got.CreatorRole != "" || got.Token.CreatedBy != nil {
		t.Errorf("token without a creator: %+v", got)
	}
}

func instancesUsableZestyTokenUnusable(t *testing.T, e *env) {
	inst, roles := e.instance("a")
	creator := e.user()
	e.member(inst, creator, roles[store.SystemRoleOwner])
	revoked := e.zestyToken(roles[store.SystemRoleAdmin], creator)
	if ok, _, err := e.st.RevokeUserAPIToken(e.ctx, creator.ID, revoked.ID); err != nil || !ok {
		t.Fatalf("RevokeUserAPIToken = %v, %v", ok, err)
	}
	expired := e.apiToken(func(t *store.APIToken) {
		zuid := fmt.Sprintf("42-%06d", e.next())
		t.Kind, t.UserID, t.RoleID, t.ZUID, t.CreatedBy = store.APITokenZesty, nil, &roles[store.SystemRoleAdmin].ID, &zuid, &creator.ID
		t.ExpiresAt = e.now()
	})
	pat := e.apiToken()
	before := e.rowCounts()
	for name, hash := range map[string][]byte{
		"revoked": revoked.TokenHash, "expiring now": expired.TokenHash, "a PAT": pat.TokenHash,
		"unknown": randomBytes(32), "empty": {},
	} {
		got, err := e.st.UsableZestyToken(e.ctx, hash)
		wantErr(t, "UsableZestyToken("+name+")", err, store.ErrNotFound)
		if got != nil {
			t.Errorf("UsableZestyToken(%s) = %+v, want nil", name, got)
		}
	}
	if after := e.rowCounts(); !maps.Equal(after, before) {
		t.Errorf("row counts after refusals %v, before %v", after, before)
	}
}

func instancesActiveMemberRole(t *testing.T, e *env) {
	inst, roles := e.instance("a")
	other, _ := e.instance("b")
	u := e.user()
	e.member(inst, u, roles[store.SystemRoleAdmin])
	got := mustValue(e.st.ActiveMemberRole(e.ctx, inst.ID, u.ID))(t, "ActiveMemberRole")
	wantEqual(t, "ActiveMemberRole", got, roles[store.SystemRoleAdmin])
	_, err := e.st.ActiveMemberRole(e.ctx, other.ID, u.ID)
	wantErr(t, "ActiveMemberRole(other instance)", err, store.ErrNotFound)
	_, err = e.st.ActiveMemberRole(e.ctx, inst.ID, uuid.New())
	wantErr(t, "ActiveMemberRole(stranger)", err, store.ErrNotFound)
	must(t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, u.ID, true))
	_, err = e.st.ActiveMemberRole(e.ctx, inst.ID, u.ID)
	wantErr(t, "ActiveMemberRole(disabled)", err, store.ErrNotFound)
}

func instancesUserByZUID(t *testing.T, e *env) {
	u := e.user()
	got := mustValue(e.st.UserByZUID(e.ctx, u.ZUID))(t, "UserByZUID")
	if got.ID != u.ID {
		t.Fatalf("user by ZUID: %+v", got)
	}
	_, err := e.st.UserByZUID(e.ctx, "5-none")
	wantErr(t, "UserByZUID", err, store.ErrNotFound)
}
