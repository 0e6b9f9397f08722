package server

import (
	"context"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// The Zesty Accounts handlers under /v1: translate, call the core in zesty_accounts_core.go,
// translate back. Every answer is a {code, message, data} envelope.

func zestyText(s string) *string { return &s }

func zestyInstance(i *store.Instance) gen.ZestyInstance {
	return gen.ZestyInstance{ID: i.ID, ZUID: i.ZUID, Name: i.Name, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt}
}

// zestyRole shapes a role; roles holds the instance's roles (for the ZUID of the system role a
// custom role is based on) and may be nil when r is a system role.
func zestyRole(inst *store.Instance, r *store.InstanceRole, roles []store.InstanceRole) gen.ZestyRole {
	base := r.ZUID
	if r.Custom {
		for _, o := range roles {
			if !o.Custom && o.SystemRole == r.SystemRole {
				base = o.ZUID
			}
		}
	}
	return gen.ZestyRole{ZUID: r.ZUID, InstanceZUID: inst.ZUID, Name: r.Name, Description: r.Description,
		SystemRole: gen.ZestySystemRole(r.SystemRole), SystemRoleZUID: base, Custom: r.Custom,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func zestyMember(inst *store.Instance, m store.Member, roles []store.InstanceRole) gen.ZestyMember {
	first, last := splitName(m.User.DisplayName)
	email := ""
	if m.User.Email != nil {
		email = *m.User.Email
	}
	role := zestyRole(inst, m.Role, roles)
	return gen.ZestyMember{ZUID: m.User.ZUID, Email: email, FirstName: first, LastName: last, Role: role, Roles: []gen.ZestyRole{role}}
}

func zestyTokenAnswer(v zestyTokenView) gen.ZestyToken {
	t := v.Token
	return gen.ZestyToken{ZUID: *t.ZUID, Name: t.Name, RoleZUID: v.RoleZUID, InstanceZUID: v.InstanceZUID,
		CreatedByUserZUID: v.CreatorZUID, CreatedAt: t.CreatedAt, Expiry: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
}

// ZestyListInstances implements GET /v1/instances (Zesty Accounts).
func (s *Server) ZestyListInstances(ctx context.Context, _ gen.ZestyListInstancesRequestObject) (gen.ZestyListInstancesResponseObject, error) {
	insts, err := s.listInstances(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]gen.ZestyInstance, len(insts))
	for i := range insts {
		out[i] = zestyInstance(&insts[i])
	}
	return gen.ZestyListInstances200JSONResponse{Code: gen.ZestyInstanceListCodeN200, Data: out}, nil
}

// ZestyCreateInstance implements POST /v1/instances (Zesty Accounts).
func (s *Server) ZestyCreateInstance(ctx context.Context, req gen.ZestyCreateInstanceRequestObject) (gen.ZestyCreateInstanceResponseObject, error) {
	inst, err := s.createInstance(ctx, req.Body.Name)
	if err != nil {
		return nil, err
	}
	return gen.ZestyCreateInstance201JSONResponse{Code: gen.ZestyInstanceResponseCodeN201, Message: zestyText("Instance created"), Data: zestyInstance(inst)}, nil
}

// ZestyGetInstance implements GET /v1/instances/{instanceZUID} (Zesty Accounts).
func (s *Server) ZestyGetInstance(ctx context.Context, req gen.ZestyGetInstanceRequestObject) (gen.ZestyGetInstanceResponseObject, error) {
	a, err := s.instanceAccess(ctx, s.store, req.InstanceZUID)
	if err != nil {
		return nil, err
	}
	return gen.ZestyGetInstance200JSONResponse{Code: gen.ZestyInstanceResponseCodeN200, Data: zestyInstance(a.Instance)}, nil
}

// ZestyUpdateInstance implements PUT /v1/instances/{instanceZUID} (Zesty Accounts).
func (s *Server) ZestyUpdateInstance(ctx context.Context, req gen.ZestyUpdateInstanceRequestObject) (gen.ZestyUpdateInstanceResponseObject, error) {
	inst, err := s.renameInstance(ctx, req.InstanceZUID, req.Body.Name)
	if err != nil {
		return nil, err
	}
	return gen.ZestyUpdateInstance200JSONResponse{Code: gen.ZestyInstanceResponseCodeN200, Message: zestyText("Instance renamed"), Data: zestyInstance(inst)}, nil
}

// ZestyDeleteInstance implements DELETE /v1/instances/{instanceZUID} (Zesty Accounts).
func (s *Server) ZestyDeleteInstance(ctx context.Context, req gen.ZestyDeleteInstanceRequestObject) (gen.ZestyDeleteInstanceResponseObject, error) {
	if err := s.deleteInstance(ctx, req.InstanceZUID); err != nil {
		return nil, err
	}
	return gen.ZestyDeleteInstance200JSONResponse{Code: gen.ZestyMessageCodeN200, Message: "Instance deleted"}, nil
}

// ZestyListInstanceRoles implements GET /v1/instances/{instanceZUID}/roles (Zesty Accounts).
func (s *Server) ZestyListInstanceRoles(ctx context.Context, req gen.ZestyListInstanceRolesRequestObject) (gen.ZestyListInstanceRolesResponseObject, error) {
	a, err := s.instanceAccess(ctx, s.store, req.InstanceZUID)
	if err != nil {
		return nil, err
	}
	roles, err := s.store.InstanceRoles(ctx, a.Instance.ID)
	if err != nil {
		return nil, err
	}
	out := make([]gen.ZestyRole, len(roles))
	for i := range roles {
		out[i] = zestyRole(a.Instance, &roles[i], roles)
	}
	return gen.ZestyListInstanceRoles200JSONResponse{Code: gen.ZestyRoleListCodeN200, Data: out}, nil
}

// zestyMembers lists an instance's members for any member of it.
func (s *Server) zestyMembers(ctx context.Context, instanceZUID string) ([]gen.ZestyMember, error) {
	a, err := s.instanceAccess(ctx, s.store, instanceZUID)
	if err != nil {
		return nil, err
	}
	ms, err := s.store.InstanceMembers(ctx, a.Instance.ID)
	if err != nil {
		return nil, err
	}
	roles, err := s.store.InstanceRoles(ctx, a.Instance.ID)
	if err != nil {
		return nil, err
	}
	out := make([]gen.ZestyMember, len(ms))
	for i, m := range ms {
		out[i] = zestyMember(a.Instance, m, roles)
	}
	return out, nil
}

// ZestyListInstanceUsers implements GET /v1/instances/{instanceZUID}/users (Zesty Accounts).
func (s *Server) ZestyListInstanceUsers(ctx context.Context, req gen.ZestyListInstanceUsersRequestObject) (gen.ZestyListInstanceUsersResponseObject, error) {
	out, err := s.zestyMembers(ctx, req.InstanceZUID)
	if err != nil {
		return nil, err
	}
	return gen.ZestyListInstanceUsers200JSONResponse{Code: gen.ZestyMemberListCodeN200, Data: out}, nil
}

// ZestyListInstanceUserRoles implements GET /v1/instances/{instanceZUID}/users/roles (Zesty
// Accounts), which the Zesty SDK's getInstanceUsers calls.
func (s *Server) ZestyListInstanceUserRoles(ctx context.Context, req gen.ZestyListInstanceUserRolesRequestObject) (gen.ZestyListInstanceUserRolesResponseObject, error) {
	out, err := s.zestyMembers(ctx, req.InstanceZUID)
	if err != nil {
		return nil, err
	}
	return gen.ZestyListInstanceUserRoles200JSONResponse{Code: gen.ZestyMemberListCodeN200, Data: out}, nil
}

// ZestySetInstanceUser implements POST /v1/instances/{instanceZUID}/users (Zesty Accounts).
func (s *Server) ZestySetInstanceUser(ctx context.Context, req gen.ZestySetInstanceUserRequestObject) (gen.ZestySetInstanceUserResponseObject, error) {
	in := zestyMemberInput{RoleZUID: req.Body.RoleZUID}
	if req.Body.Email != nil {
		in.Email = string(*req.Body.Email)
	}
	if req.Body.UserZUID != nil {
		in.UserZUID = *req.Body.UserZUID
	}
	m, added, err := s.setZestyMember(ctx, req.InstanceZUID, in)
	if err != nil {
		return nil, err
	}
	inst, err := s.store.InstanceByZUID(ctx, req.InstanceZUID)
	if err != nil {
		return nil, err
	}
	roles, err := s.store.InstanceRoles(ctx, inst.ID)
	if err != nil {
		return nil, err
	}
	data := zestyMember(inst, m, roles)
	if added {
		return gen.ZestySetInstanceUser201JSONResponse{Code: gen.ZestyMemberResponseCodeN201, Message: zestyText("User added"), Data: data}, nil
	}
	return gen.ZestySetInstanceUser200JSONResponse{Code: gen.ZestyMemberResponseCodeN200, Message: zestyText("Role changed"), Data: data}, nil
}

// ZestyRemoveInstanceUser implements DELETE /v1/instances/{instanceZUID}/users/{userZUID} (Zesty
// Accounts).
func (s *Server) ZestyRemoveInstanceUser(ctx context.Context, req gen.ZestyRemoveInstanceUserRequestObject) (gen.ZestyRemoveInstanceUserResponseObject, error) {
	if err := s.removeZestyMember(ctx, req.InstanceZUID, req.UserZUID); err != nil {
		return nil, err
	}
	return gen.ZestyRemoveInstanceUser200JSONResponse{Code: gen.ZestyMessageCodeN200, Message: "User removed"}, nil
}

// zestyRoleAnswer shapes a role with its instance's roles at hand.
func (s *Server) zestyRoleAnswer(ctx context.Context, r *store.InstanceRole) (gen.ZestyRole, error) {
	inst, err := s.store.InstanceByID(ctx, r.InstanceID)
	if err != nil {
		return gen.ZestyRole{}, err
	}
	roles, err := s.store.InstanceRoles(ctx, inst.ID)
	if err != nil {
		return gen.ZestyRole{}, err
	}
	return zestyRole(inst, r, roles), nil
}

// ZestyCreateRole implements POST /v1/roles (Zesty Accounts).
func (s *Server) ZestyCreateRole(ctx context.Context, req gen.ZestyCreateRoleRequestObject) (gen.ZestyCreateRoleResponseObject, error) {
	in := zestyRoleInput{InstanceZUID: req.Body.InstanceZUID, Name: req.Body.Name, SystemRoleZUID: req.Body.SystemRoleZUID}
	if req.Body.Description != nil {
		in.Description = *req.Body.Description
	}
	r, err := s.createZestyRole(ctx, in)
	if err != nil {
		return nil, err
	}
	data, err := s.zestyRoleAnswer(ctx, r)
	if err != nil {
		return nil, err
	}
	return gen.ZestyCreateRole201JSONResponse{Code: gen.ZestyRoleResponseCodeN201, Message: zestyText("Role created"), Data: data}, nil
}

// ZestyGetRole implements GET /v1/roles/{roleZUID} (Zesty Accounts).
func (s *Server) ZestyGetRole(ctx context.Context, req gen.ZestyGetRoleRequestObject) (gen.ZestyGetRoleResponseObject, error) {
	r, _, err := s.zestyRoleAccess(ctx, s.store, req.RoleZUID)
	if err != nil {
		return nil, err
	}
	data, err := s.zestyRoleAnswer(ctx, r)
	if err != nil {
		return nil, err
	}
	return gen.ZestyGetRole200JSONResponse{Code: gen.ZestyRoleResponseCodeN200, Data: data}, nil
}

// ZestyUpdateRole implements PUT /v1/roles/{roleZUID} (Zesty Accounts).
func (s *Server) ZestyUpdateRole(ctx context.Context, req gen.ZestyUpdateRoleRequestObject) (gen.ZestyUpdateRoleResponseObject, error) {
	r, err := s.updateZestyRole(ctx, req.RoleZUID, req.Body.Name, req.Body.Description)
	if err != nil {
		return nil, err
	}
	data, err := s.zestyRoleAnswer(ctx, r)
	if err != nil {
		return nil, err
	}
	return gen.ZestyUpdateRole200JSONResponse{Code: gen.ZestyRoleResponseCodeN200, Message: zestyText("Role updated"), Data: data}, nil
}

// ZestyDeleteRole implements DELETE /v1/roles/{roleZUID} (Zesty Accounts).
func (s *Server) ZestyDeleteRole(ctx context.Context, req gen.ZestyDeleteRoleRequestObject) (gen.ZestyDeleteRoleResponseObject, error) {
	if err := s.deleteZestyRole(ctx, req.RoleZUID); err != nil {
		return nil, err
	}
	return gen.ZestyDeleteRole200JSONResponse{Code: gen.ZestyMessageCodeN200, Message: "Role deleted"}, nil
}

// ZestyListTokens implements GET /v1/tokens (Zesty Accounts).
func (s *Server) ZestyListTokens(ctx context.Context, _ gen.ZestyListTokensRequestObject) (gen.ZestyListTokensResponseObject, error) {
	vs, err := s.listZestyTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]gen.ZestyToken, len(vs))
	for i, v := range vs {
		out[i] = zestyTokenAnswer(v)
	}
	return gen.ZestyListTokens200JSONResponse{Code: gen.ZestyTokenListCodeN200, Data: out}, nil
}

// ZestyCreateToken implements POST /v1/tokens (Zesty Accounts). The answer is the only place
// the token's value ever appears.
func (s *Server) ZestyCreateToken(ctx context.Context, req gen.ZestyCreateTokenRequestObject) (gen.ZestyCreateTokenResponseObject, error) {
	t, a, tok, err := s.createZestyToken(ctx, req.Body.Name, req.Body.RoleZUID)
	if err != nil {
		return nil, err
	}
	roleZUID := ""
	if r, err := s.store.InstanceRoleByID(ctx, *t.RoleID); err == nil {
		roleZUID = r.ZUID
	}
	return gen.ZestyCreateToken201JSONResponse{Code: gen.ZestyCreatedTokenResponseCodeN201,
		Message: zestyText("Access token created: store its value now, it is not shown again"),
		Data: gen.ZestyCreatedToken{ZUID: *t.ZUID, Name: t.Name, RoleZUID: roleZUID, InstanceZUID: a.Instance.ZUID,
			CreatedByUserZUID: a.p.User.ZUID, CreatedAt: t.CreatedAt, Expiry: t.ExpiresAt, Token: string(tok)}}, nil
}

// ZestyGetToken implements GET /v1/tokens/{tokenZUID} (Zesty Accounts).
func (s *Server) ZestyGetToken(ctx context.Context, req gen.ZestyGetTokenRequestObject) (gen.ZestyGetTokenResponseObject, error) {
	v, err := s.getZestyToken(ctx, req.TokenZUID)
	if err != nil {
		return nil, err
	}
	return gen.ZestyGetToken200JSONResponse{Code: gen.ZestyTokenResponseCodeN200, Data: zestyTokenAnswer(v)}, nil
}

// ZestyDeleteToken implements DELETE /v1/tokens/{tokenZUID} (Zesty Accounts).
func (s *Server) ZestyDeleteToken(ctx context.Context, req gen.ZestyDeleteTokenRequestObject) (gen.ZestyDeleteTokenResponseObject, error) {
	if err := s.deleteZestyToken(ctx, req.TokenZUID); err != nil {
		return nil, err
	}
	return gen.ZestyDeleteToken200JSONResponse{Code: gen.ZestyMessageCodeN200, Message: "Access token deleted"}, nil
}
