package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// The Zesty Accounts core: instances, their roles and members, and role-scoped access tokens.
// A caller is a user (through a session token) or an access token, which acts as its role on its
// role's instance and on nothing else.

// ZUID prefixes of the Zesty Accounts entities (users are zuidUser).
const (
	zuidInstance = "8"
	zuidRole     = "30"
	zuidToken    = "42" // access tokens: Zesty publishes no prefix for them, so we picked one
)

// zestyTokenPrefix starts every access token's value, so that authentication knows which table
// to look in without trying both: it says what the string is, not whose or what it grants.
const zestyTokenPrefix = "zat_"

// Audit actions of the Zesty Accounts dialect.
const (
	auditInstanceCreate = "instance.create"
	auditInstanceRename = "instance.rename"
	auditInstanceDelete = "instance.delete"
	auditMemberSet      = "instance.member_set"
	auditMemberRemove   = "instance.member_remove"
	auditRoleCreate     = "instance_role.create"
	auditRoleUpdate     = "instance_role.update"
	auditRoleDelete     = "instance_role.delete"
	auditZestyTokenMint = "access_token.create"
	auditZestyTokenDrop = "access_token.delete"
)

// zestyAccessToken is the principal of a request authenticated by a Zesty access token. A token
// lends its creator's standing: it acts only while the creator is an enabled member of the
// instance with at least the token's role. When that stops (the creator is removed, demoted,
// disabled or deleted), the token is lapsed: it is answered as a stranger to every instance, as
// the creator now is (or could now be), until the standing comes back. The Owners and Admins of
// the instance still see and delete it.
type zestyAccessToken struct {
	ID        uuid.UUID
	ZUID      string
	Name      string
	Role      *store.InstanceRole
	CreatedBy *uuid.UUID
	Lapsed    bool
}

// lendsStanding reports whether a creator holding creatorRole (a system role; "" for none) on the
// token's instance stands behind a token acting as role.
func lendsStanding(creatorRole string, role *store.InstanceRole) bool {
	return creatorRole != "" && rolePower(&store.InstanceRole{SystemRole: creatorRole}) >= rolePower(role)
}

// zestySystemRoles are the built-in roles every instance has, from most to least powerful.
var zestySystemRoles = []struct{ key, name string }{
	{store.SystemRoleOwner, "Owner"},
	{store.SystemRoleAdmin, "Admin"},
	{store.SystemRoleDeveloper, "Developer"},
	{store.SystemRoleSEO, "SEO"},
	{store.SystemRolePublisher, "Publisher"},
	{store.SystemRoleContributor, "Contributor"},
}

// rolePower ranks what a role grants: a custom role grants what its system role grants.
func rolePower(r *store.InstanceRole) int {
	for i, sr := range zestySystemRoles {
		if sr.key == r.SystemRole {
			return len(zestySystemRoles) - i
		}
	}
	return 0
}

var (
	powerOwner = rolePower(&store.InstanceRole{SystemRole: store.SystemRoleOwner})
	powerAdmin = rolePower(&store.InstanceRole{SystemRole: store.SystemRoleAdmin})
)

// zestyGrant is what a caller may do on one instance: the instance and the role the caller acts as.
type zestyGrant struct {
	p        *principal
	Instance *store.Instance
	Role     *store.InstanceRole
}

// can reports whether the caller's role grants at least the power of min.
func (a *zestyGrant) can(min int) bool { return rolePower(a.Role) >= min }

// require answers 403 unless the caller's role grants at least min.
func (a *zestyGrant) require(min int) error {
	if !a.can(min) {
		return &Error{Code: CodeForbidden, Err: fmt.Errorf("role %s on instance %s is not enough", a.Role.ZUID, a.Instance.ZUID)}
	}
	return nil
}

// event is an audit event for an action the caller takes on the instance: actions with an access
// token are recorded under its name with no user; a user's, with the user as actor.
func (a *zestyGrant) event(action string, target uuid.UUID, detail store.JSONMap) auditEvent {
	if detail == nil {
		detail = store.JSONMap{}
	}
	detail["instance_zuid"] = a.Instance.ZUID
	return zestyActorEvent(a.p, action, target, detail)
}

func zestyActorEvent(p *principal, action string, target uuid.UUID, detail store.JSONMap) auditEvent {
	ev := auditEvent{Action: action, User: target, Detail: detail}
	if p.Token != nil {
		ev.TokenName = p.Token.Name
		detail["token_zuid"] = p.Token.ZUID
		return ev
	}
	ev.Actor, ev.Session = p.User.ID, p.SessionID
	return ev
}

// requireUserSession refuses an access token where only a user may act (creating instances and tokens).
func requireUserSession(p *principal) error {
	if p == nil || p.User == nil {
		return &Error{Code: CodeUserRequired}
	}
	return nil
}

// instanceAccess loads an instance and the role the caller acts as there. An instance the caller
// is not a member of (or, for an access token, not its own) is answered as not found, so its
// existence is not revealed.
func (s *Server) instanceAccess(ctx context.Context, st *store.Store, instanceZUID string) (*zestyGrant, error) {
	return s.instanceAccessLoad(ctx, st, instanceZUID, st.InstanceByZUID)
}

// memberAccess is instanceAccess for a change of membership, in tx: it locks the instance first,
// so that the caller's role, the member's and the Owners counted are all read after any other
// change of membership of the instance has committed. Without the lock, two Owners demoting
// each other at once each counted two Owners under read committed, and both went through.
func (s *Server) memberAccess(ctx context.Context, tx *store.Store, instanceZUID string) (*zestyGrant, error) {
	a, err := s.instanceAccessLoad(ctx, tx, instanceZUID, tx.LockInstanceByZUID)
	if err != nil {
		return nil, err
	}
	// A token's creator may have lost their standing since the token was authenticated: ask
	// again under the lock, so that a token cannot re-add a creator removed a moment ago.
	if t := a.p.Token; t != nil {
		r, err := tx.ActiveMemberRole(ctx, a.Instance.ID, *t.CreatedBy)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("load access token creator's role: %w", err)
		}
		if err != nil || !lendsStanding(r.SystemRole, t.Role) {
			return nil, &Error{Code: CodeNotFound, Err: errors.New("access token's creator no longer stands behind it")}
		}
	}
	return a, nil
}

func (s *Server) instanceAccessLoad(ctx context.Context, st *store.Store, instanceZUID string,
	load func(context.Context, string) (*store.Instance, error)) (*zestyGrant, error) {
	p := principalFrom(ctx)
	inst, err := load(ctx, instanceZUID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: CodeNotFound}
	}
	if err != nil {
		return nil, fmt.Errorf("load instance: %w", err)
	}
	return s.accessTo(ctx, st, p, inst)
}

func (s *Server) accessTo(ctx context.Context, st *store.Store, p *principal, inst *store.Instance) (*zestyGrant, error) {
	if p.Token != nil {
		if p.Token.Role.InstanceID != inst.ID {
			return nil, &Error{Code: CodeNotFound, Err: errors.New("access token of another instance")}
		}
		if p.Token.Lapsed {
			return nil, &Error{Code: CodeNotFound, Err: errors.New("access token's creator no longer stands behind it")}
		}
		return &zestyGrant{p: p, Instance: inst, Role: p.Token.Role}, nil
	}
	role, err := st.MemberRole(ctx, inst.ID, p.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: CodeNotFound, Err: errors.New("not a member")}
	}
	if err != nil {
		return nil, fmt.Errorf("load member role: %w", err)
	}
	return &zestyGrant{p: p, Instance: inst, Role: role}, nil
}

// zestyRoleAccess loads a role and the caller's access to its instance.
func (s *Server) zestyRoleAccess(ctx context.Context, st *store.Store, roleZUID string) (*store.InstanceRole, *zestyGrant, error) {
	r, err := st.InstanceRoleByZUID(ctx, roleZUID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, &Error{Code: CodeNotFound}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load role: %w", err)
	}
	inst, err := st.InstanceByID(ctx, r.InstanceID)
	if err != nil {
		return nil, nil, fmt.Errorf("load role's instance: %w", err)
	}
	a, err := s.accessTo(ctx, st, principalFrom(ctx), inst)
	if err != nil {
		return nil, nil, err
	}
	return r, a, nil
}

// createInstance creates an instance with its system roles and makes the caller its Owner.
func (s *Server) createInstance(ctx context.Context, name string) (*store.Instance, error) {
	p := principalFrom(ctx)
	if err := requireUserSession(p); err != nil {
		return nil, err
	}
	now := s.now()
	inst := &store.Instance{ZUID: newZUID(zuidInstance), Name: name, CreatedBy: &p.User.ID, CreatedAt: now, UpdatedAt: now}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateInstance(ctx, inst); err != nil {
			return err
		}
		var owner uuid.UUID
		for _, sr := range zestySystemRoles {
			r := &store.InstanceRole{ID: uuid.New(), ZUID: newZUID(zuidRole), InstanceID: inst.ID, Name: sr.name,
				SystemRole: sr.key, CreatedAt: now, UpdatedAt: now}
			if err := tx.CreateInstanceRole(ctx, r); err != nil {
				return err
			}
			if sr.key == store.SystemRoleOwner {
				owner = r.ID
			}
		}
		if err := tx.SetInstanceMember(ctx, &store.InstanceMember{InstanceID: inst.ID, UserID: p.User.ID, RoleID: owner, CreatedAt: now}); err != nil {
			return err
		}
		a := &zestyGrant{p: p, Instance: inst}
		return s.record(ctx, tx, a.event(auditInstanceCreate, uuid.Nil, nil))
	})
	if err != nil {
		return nil, err
	}
	return inst, nil
}

// listInstances lists what the caller can act on: a user's instances, or a token's one.
func (s *Server) listInstances(ctx context.Context) ([]store.Instance, error) {
	p := principalFrom(ctx)
	if p.Token != nil {
		if p.Token.Lapsed {
			return nil, nil
		}
		inst, err := s.store.InstanceByID(ctx, p.Token.Role.InstanceID)
		if err != nil {
			return nil, fmt.Errorf("load token's instance: %w", err)
		}
		return []store.Instance{*inst}, nil
	}
	return s.store.InstancesOfUser(ctx, p.User.ID)
}

// renameInstance renames an instance (Owner or Admin).
func (s *Server) renameInstance(ctx context.Context, instanceZUID, name string) (*store.Instance, error) {
	var inst *store.Instance
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		a, err := s.instanceAccess(ctx, tx, instanceZUID)
		if err != nil {
			return err
		}
		if err := a.require(powerAdmin); err != nil {
			return err
		}
		if err := tx.RenameInstance(ctx, a.Instance.ID, name); err != nil {
			return err
		}
		if inst, err = tx.InstanceByID(ctx, a.Instance.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, a.event(auditInstanceRename, uuid.Nil, nil))
	})
	return inst, err
}

// deleteInstance deletes an instance (Owner only), its roles, memberships and access tokens.
func (s *Server) deleteInstance(ctx context.Context, instanceZUID string) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		a, err := s.instanceAccess(ctx, tx, instanceZUID)
		if err != nil {
			return err
		}
		if err := a.require(powerOwner); err != nil {
			return err
		}
		if err := tx.DeleteInstance(ctx, a.Instance.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, a.event(auditInstanceDelete, uuid.Nil, nil))
	})
}

// zestyMemberInput names a user by address or ZUID (exactly one) and the role to give them.
type zestyMemberInput struct {
	Email, UserZUID, RoleZUID string
}

// reasonMemberByAddress is why conceal mode refuses to add a member by address.
const reasonMemberByAddress = "this server does not tell which addresses have accounts, so members are added by userZUID only"

// setZestyMember adds a user to an instance or changes their role. Only an Owner may grant an Owner
// role or change an Owner's role, and the last Owner keeps theirs. It reports whether the user
// was added.
func (s *Server) setZestyMember(ctx context.Context, instanceZUID string, in zestyMemberInput) (store.Member, bool, error) {
	if (in.Email == "") == (in.UserZUID == "") {
		return store.Member{}, false, &Error{Code: CodeInvalidRequest,
			Fields: []FieldError{{Field: "/email", Reason: "give exactly one of email and userZUID"}}}
	}
	if in.Email != "" && s.cfg.ConcealErrors {
		// Any user may create an instance and add members to it: by address, the answer would
		// tell them which addresses have accounts. So, for every address alike and before any
		// lookup, members are named by ZUID only (a user reads theirs from GET /verify).
		return store.Member{}, false, &Error{Code: CodeInvalidRequest,
			Fields: []FieldError{{Field: "/email", Reason: reasonMemberByAddress}}}
	}
	var m store.Member
	var added bool
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		a, err := s.memberAccess(ctx, tx, instanceZUID)
		if err != nil {
			return err
		}
		if err := a.require(powerAdmin); err != nil {
			return err
		}
		role, err := tx.InstanceRoleByZUID(ctx, in.RoleZUID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && role.InstanceID != a.Instance.ID) {
			return &Error{Code: CodeNotFound, Err: errors.New("no such role on the instance")}
		}
		if err != nil {
			return err
		}
		var u *store.User
		if in.Email != "" {
			u, err = tx.UserByEmail(ctx, in.Email)
		} else {
			u, err = tx.UserByZUID(ctx, in.UserZUID)
		}
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Code: CodeNotFound, Err: errors.New("no such user")}
		}
		if err != nil {
			return err
		}
		current, err := tx.MemberRole(ctx, a.Instance.ID, u.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			added = true
		case err != nil:
			return err
		}
		if rolePower(role) >= powerOwner || (!added && rolePower(current) >= powerOwner) {
			if err := a.require(powerOwner); err != nil {
				return err
			}
		}
		if !added && rolePower(current) >= powerOwner && rolePower(role) < powerOwner {
			if err := lastOwnerGuard(ctx, tx, a.Instance.ID, u.ID); err != nil {
				return err
			}
		}
		if err := tx.SetInstanceMember(ctx, &store.InstanceMember{InstanceID: a.Instance.ID, UserID: u.ID, RoleID: role.ID}); err != nil {
			return err
		}
		m = store.Member{User: u, Role: role}
		return s.record(ctx, tx, a.event(auditMemberSet, u.ID, store.JSONMap{"role_zuid": role.ZUID, "added": added}))
	})
	return m, added, err
}

// lastOwnerGuard refuses to take ownership away from userID unless another Owner, whose account
// is not disabled, stays to run the instance. It holds only under memberAccess's lock.
func lastOwnerGuard(ctx context.Context, tx *store.Store, instanceID int64, userID uuid.UUID) error {
	n, err := tx.CountOtherActiveOwners(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	if n < 1 {
		return &Error{Code: CodeConflict, Err: errors.New("the last owner cannot be removed or demoted")}
	}
	return nil
}

// removeZestyMember takes a user off an instance, with setZestyMember's rules about Owners.
func (s *Server) removeZestyMember(ctx context.Context, instanceZUID, userZUID string) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		a, err := s.memberAccess(ctx, tx, instanceZUID)
		if err != nil {
			return err
		}
		if err := a.require(powerAdmin); err != nil {
			return err
		}
		u, err := tx.UserByZUID(ctx, userZUID)
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Code: CodeNotFound, Err: errors.New("no such user")}
		}
		if err != nil {
			return err
		}
		current, err := tx.MemberRole(ctx, a.Instance.ID, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Code: CodeNotFound, Err: errors.New("not a member")}
		}
		if err != nil {
			return err
		}
		if rolePower(current) >= powerOwner {
			if err := a.require(powerOwner); err != nil {
				return err
			}
			if err := lastOwnerGuard(ctx, tx, a.Instance.ID, u.ID); err != nil {
				return err
			}
		}
		if err := tx.RemoveInstanceMember(ctx, a.Instance.ID, u.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, a.event(auditMemberRemove, u.ID, store.JSONMap{"role_zuid": current.ZUID}))
	})
}

// zestyRoleInput is a custom role to create.
type zestyRoleInput struct {
	InstanceZUID, Name, SystemRoleZUID, Description string
}

// createZestyRole creates a custom role (Owner or Admin; based on Owner: Owner only).
func (s *Server) createZestyRole(ctx context.Context, in zestyRoleInput) (*store.InstanceRole, error) {
	var r *store.InstanceRole
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		a, err := s.instanceAccess(ctx, tx, in.InstanceZUID)
		if err != nil {
			return err
		}
		if err := a.require(powerAdmin); err != nil {
			return err
		}
		base, err := tx.InstanceRoleByZUID(ctx, in.SystemRoleZUID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (base.InstanceID != a.Instance.ID || base.Custom)) {
			return &Error{Code: CodeNotFound, Err: errors.New("no such system role on the instance")}
		}
		if err != nil {
			return err
		}
		if err := a.require(rolePower(base)); err != nil {
			return err
		}
		now := s.now()
		r = &store.InstanceRole{ID: uuid.New(), ZUID: newZUID(zuidRole), InstanceID: a.Instance.ID, Name: in.Name,
			SystemRole: base.SystemRole, Custom: true, Description: in.Description, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateInstanceRole(ctx, r); err != nil {
			return zestyConflict(err, "a role of that name exists on the instance")
		}
		return s.record(ctx, tx, a.event(auditRoleCreate, uuid.Nil, store.JSONMap{"role_zuid": r.ZUID}))
	})
	return r, err
}

// updateZestyRole renames or describes a custom role.
func (s *Server) updateZestyRole(ctx context.Context, roleZUID string, name, description *string) (*store.InstanceRole, error) {
	var r *store.InstanceRole
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		var a *zestyGrant
		var err error
		if r, a, err = s.zestyRoleAccess(ctx, tx, roleZUID); err != nil {
			return err
		}
		if err := a.require(max(powerAdmin, rolePower(r))); err != nil {
			return err
		}
		if !r.Custom {
			return &Error{Code: CodeForbidden, Err: errors.New("system roles are read-only")}
		}
		if name != nil {
			r.Name = *name
		}
		if description != nil {
			r.Description = *description
		}
		if err := tx.UpdateInstanceRole(ctx, r); err != nil {
			return zestyConflict(err, "a role of that name exists on the instance")
		}
		return s.record(ctx, tx, a.event(auditRoleUpdate, uuid.Nil, store.JSONMap{"role_zuid": r.ZUID}))
	})
	return r, err
}

// deleteZestyRole deletes a custom role nobody holds.
func (s *Server) deleteZestyRole(ctx context.Context, roleZUID string) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		r, a, err := s.zestyRoleAccess(ctx, tx, roleZUID)
		if err != nil {
			return err
		}
		if err := a.require(max(powerAdmin, rolePower(r))); err != nil {
			return err
		}
		if !r.Custom {
			return &Error{Code: CodeForbidden, Err: errors.New("system roles are read-only")}
		}
		err = tx.DeleteInstanceRole(ctx, r.ID)
		if errors.Is(err, store.ErrInUse) {
			return &Error{Code: CodeConflict, Err: errors.New("members or access tokens hold the role")}
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, a.event(auditRoleDelete, uuid.Nil, store.JSONMap{"role_zuid": r.ZUID}))
	})
}

// zestyConflict turns a unique-key collision into a 409.
func zestyConflict(err error, why string) error {
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return &Error{Code: CodeConflict, Err: fmt.Errorf("%s: %w", why, err)}
	}
	return err
}

// newZestyAccessToken returns a fresh access token value: the prefix and 256 random bits.
func newZestyAccessToken() (secret, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return secret(zestyTokenPrefix + hex.EncodeToString(b[:])), nil
}

// createZestyToken mints an access token for a role. Only a user who is Owner or Admin of the
// role's instance may; the value is returned once and only its hash is kept.
func (s *Server) createZestyToken(ctx context.Context, name, roleZUID string) (*store.APIToken, *zestyGrant, secret, error) {
	p := principalFrom(ctx)
	if err := requireUserSession(p); err != nil {
		return nil, nil, "", err
	}
	tok, err := newZestyAccessToken()
	if err != nil {
		return nil, nil, "", err
	}
	var t *store.APIToken
	var a *zestyGrant
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		var r *store.InstanceRole
		var err error
		if r, a, err = s.zestyRoleAccess(ctx, tx, roleZUID); err != nil {
			return err
		}
		// A token as powerful as an Owner is minted by an Owner only.
		if err := a.require(max(powerAdmin, rolePower(r))); err != nil {
			return err
		}
		now := s.now()
		zuid := newZUID(zuidToken)
		t = &store.APIToken{ID: uuid.New(), Kind: store.APITokenZesty, Name: name, TokenHash: hashSecret(tok),
			Metadata: store.JSONMap{}, CreatedAt: now, ExpiresAt: now.Add(s.cfg.ZestyAccessTokenTTL),
			ZUID: &zuid, RoleID: &r.ID, CreatedBy: &p.User.ID}
		if err := tx.CreateAPIToken(ctx, t); err != nil {
			return err
		}
		return s.record(ctx, tx, a.event(auditZestyTokenMint, uuid.Nil, store.JSONMap{"access_token_zuid": zuid, "name": name, "role_zuid": r.ZUID}))
	})
	if err != nil {
		return nil, nil, "", err
	}
	return t, a, tok, nil
}

// zestyTokenView is an access token with the ZUIDs its answer names.
type zestyTokenView struct {
	Token        *store.APIToken
	RoleZUID     string
	InstanceZUID string
	CreatorZUID  string
}

// listZestyTokens lists the tokens of every instance where the caller is Owner or Admin.
func (s *Server) listZestyTokens(ctx context.Context) ([]zestyTokenView, error) {
	p := principalFrom(ctx)
	var ids []int64
	if p.Token != nil {
		if !p.Token.Lapsed && rolePower(p.Token.Role) >= powerAdmin {
			ids = append(ids, p.Token.Role.InstanceID)
		}
	} else {
		insts, err := s.store.InstancesOfUser(ctx, p.User.ID)
		if err != nil {
			return nil, err
		}
		for i := range insts {
			a, err := s.accessTo(ctx, s.store, p, &insts[i])
			if err != nil {
				return nil, err
			}
			if a.can(powerAdmin) {
				ids = append(ids, insts[i].ID)
			}
		}
	}
	toks, err := s.store.ZestyTokensOfInstances(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]zestyTokenView, 0, len(toks))
	for i := range toks {
		v, err := s.zestyTokenView(ctx, s.store, &toks[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// zestyTokenAccess loads a token and the caller's access to its instance, which must be Owner or
// Admin.
func (s *Server) zestyTokenAccess(ctx context.Context, st *store.Store, tokenZUID string) (*store.APIToken, *zestyGrant, error) {
	t, err := st.ZestyTokenByZUID(ctx, tokenZUID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.RoleID == nil) {
		return nil, nil, &Error{Code: CodeNotFound}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load access token: %w", err)
	}
	r, err := st.InstanceRoleByID(ctx, *t.RoleID)
	if err != nil {
		return nil, nil, fmt.Errorf("load access token's role: %w", err)
	}
	_, a, err := s.zestyRoleAccess(ctx, st, r.ZUID)
	if err != nil {
		return nil, nil, err
	}
	if err := a.require(powerAdmin); err != nil {
		return nil, nil, err
	}
	return t, a, nil
}

// getZestyToken reads one access token (without its value).
func (s *Server) getZestyToken(ctx context.Context, tokenZUID string) (zestyTokenView, error) {
	t, _, err := s.zestyTokenAccess(ctx, s.store, tokenZUID)
	if err != nil {
		return zestyTokenView{}, err
	}
	return s.zestyTokenView(ctx, s.store, t)
}

// deleteZestyToken revokes an access token by deleting it; it stops working at once.
func (s *Server) deleteZestyToken(ctx context.Context, tokenZUID string) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		t, a, err := s.zestyTokenAccess(ctx, tx, tokenZUID)
		if err != nil {
			return err
		}
		if err := tx.DeleteAPIToken(ctx, t.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, a.event(auditZestyTokenDrop, uuid.Nil, store.JSONMap{"access_token_zuid": *t.ZUID, "name": t.Name}))
	})
}

func (s *Server) zestyTokenView(ctx context.Context, st *store.Store, t *store.APIToken) (zestyTokenView, error) {
	v := zestyTokenView{Token: t}
	r, err := st.InstanceRoleByID(ctx, *t.RoleID)
	if err != nil {
		return v, fmt.Errorf("load access token's role: %w", err)
	}
	inst, err := st.InstanceByID(ctx, r.InstanceID)
	if err != nil {
		return v, fmt.Errorf("load access token's instance: %w", err)
	}
	v.RoleZUID, v.InstanceZUID = r.ZUID, inst.ZUID
	if t.CreatedBy != nil {
		u, err := st.UserByID(ctx, *t.CreatedBy)
		switch {
		case err == nil:
			v.CreatorZUID = u.ZUID
		case !errors.Is(err, store.ErrNotFound):
			return v, fmt.Errorf("load access token's creator: %w", err)
		}
	}
	return v, nil
}

// authenticateZestyAccessToken accepts a live access token: known, unexpired, of a role that
// still exists. Deleting the token or its role stops it at once (nothing is cached). Its
// creator's standing comes with it from the same query; a token without it authenticates, but
// lapsed (see zestyAccessToken).
func (s *Server) authenticateZestyAccessToken(ctx context.Context, raw string) (*principal, error) {
	use, err := s.store.UsableZestyToken(ctx, hashSecret(secret(raw)))
	if errors.Is(err, store.ErrNotFound) || (err == nil && use.Token.ZUID == nil) {
		return nil, &Error{Code: CodeUnauthenticated, Err: errors.New("unknown, expired or revoked access token, or its role is gone")}
	}
	if err != nil {
		return nil, &Error{Code: CodeInternal, Err: err}
	}
	t := use.Token
	return &principal{Token: &zestyAccessToken{ID: t.ID, ZUID: *t.ZUID, Name: t.Name, Role: &use.Role,
		CreatedBy: t.CreatedBy, Lapsed: t.CreatedBy == nil || !lendsStanding(use.CreatorRole, &use.Role)}}, nil
}

// isZestyAccessToken tells an access token from a session token by its prefix.
func isZestyAccessToken(raw string) bool { return strings.HasPrefix(raw, zestyTokenPrefix) }
