package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The admin API's core: who may call it, and the user changes it makes. Every change and its
// audit event are written in one transaction; disabling a user, deleting one, changing their
// roles and setting their password end every session of theirs in that same transaction, and
// since every authenticated endpoint of every dialect checks the session, each of their tokens
// (Nhost refresh and access tokens, WME refresh tokens, Zesty session tokens) stops at once.

// Audit actions of the admin API.
const (
	auditAdminUserCreate     = "admin.user_create"
	auditAdminUserUpdate     = "admin.user_update"
	auditAdminUserDisable    = "admin.user_disable"
	auditAdminUserEnable     = "admin.user_enable"
	auditAdminUserDelete     = "admin.user_delete"
	auditAdminPasswordSet    = "admin.password_set"
	auditAdminSessionRevoke  = "admin.session_revoke"
	auditAdminSessionsRevoke = "admin.sessions_revoke"
	auditAdminTokenRevoke    = "admin.token_revoke"
)

// Actor names recorded for admin actions done without a user.
const (
	adminSecretActor = "admin-secret" // the admin secret authenticated the request
	adminCLIActor    = "latchkey-cli" // the command line (`latchkey user create`)
)

// authenticateAdminSecret checks the X-Admin-Secret header against the configured secret. Both
// sides are hashed first, so the comparison takes the same time whatever the lengths. With no
// secret configured it always fails (the admin role still authorises).
func (s *Server) authenticateAdminSecret(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	got := in.RequestValidationInput.Request.Header.Get("X-Admin-Secret")
	if s.cfg.AdminSecret == "" || got == "" {
		return &Error{Code: CodeUnauthenticated}
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.AdminSecret))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return &Error{Code: CodeUnauthenticated, Err: errors.New("wrong admin secret")}
	}
	stateFrom(ctx).admin = true
	return nil
}

// adminCaller is who performs an admin action: the admin secret, the command line, or a user
// holding the admin role.
type adminCaller struct {
	user      uuid.UUID
	tokenName string
}

// event is the audit event of an admin action on target.
func (c adminCaller) event(action string, target uuid.UUID, detail store.JSONMap) auditEvent {
	return auditEvent{Action: action, User: target, Actor: c.user, TokenName: c.tokenName, Detail: detail}
}

// admin returns the caller of an admin operation: the validator has already accepted the admin
// secret or an access token; a token's user must also hold the admin role.
func (s *Server) admin(ctx context.Context) (adminCaller, error) {
	st := stateFrom(ctx)
	if st.admin {
		return adminCaller{tokenName: adminSecretActor}, nil
	}
	p := st.principal
	if p == nil {
		return adminCaller{}, &Error{Code: CodeUnauthenticated}
	}
	if !slices.Contains(p.User.Roles, s.cfg.AdminRole) {
		return adminCaller{}, &Error{Code: CodeForbidden, Err: fmt.Errorf("user %s lacks role %q", p.User.ID, s.cfg.AdminRole)}
	}
	return adminCaller{user: p.User.ID}, nil
}

// fieldError is an invalid request about one field.
func fieldError(field, reason string) *Error {
	return &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: field, Reason: reason}}}
}

// CreateUserInput is a user an administrator creates. Nil fields take the server's sign-up
// defaults.
type CreateUserInput struct {
	Email         string
	Username      *string
	DisplayName   *string
	Locale        *string
	Metadata      map[string]any
	DefaultRole   *string
	Roles         []string // nil: the default allowed roles
	EmailVerified bool
	Password      *string
	// TemporaryPassword: the user must choose a new password before getting a session. Without
	// Password one is generated and returned once.
	TemporaryPassword bool
}

// CreatedUser is a new user and, when one was generated, its temporary password (shown once).
type CreatedUser struct {
	User              *store.User
	TemporaryPassword string
}

// CreateUser creates a user as the command line does (`latchkey user create`); the admin API's
// POST /v1/admin/users runs the same code.
func (s *Server) CreateUser(ctx context.Context, in CreateUserInput) (*CreatedUser, error) {
	return s.createUser(ctx, adminCaller{tokenName: adminCLIActor}, in)
}

func (s *Server) createUser(ctx context.Context, by adminCaller, in CreateUserInput) (*CreatedUser, error) {
	if err := validateEmail(in.Email); err != nil {
		return nil, fieldError("/email", err.Error())
	}
	roles := slices.Clone(s.cfg.DefaultAllowedRoles)
	if in.Roles != nil {
		if len(in.Roles) == 0 {
			return nil, fieldError("/roles", "at least one role is required")
		}
		roles = in.Roles
	}
	roles = uniqueSorted(roles)
	defaultRole := s.cfg.DefaultRole
	switch {
	case in.DefaultRole != nil:
		defaultRole = *in.DefaultRole
		if !slices.Contains(roles, defaultRole) {
			return nil, fieldError("/defaultRole", "must be one of the user's roles")
		}
	case !slices.Contains(roles, defaultRole):
		defaultRole = roles[0] // the configured default is not granted: the first granted role
	}
	p := profile{DisplayName: in.Email, Locale: s.cfg.DefaultLocale, Metadata: store.JSONMap(in.Metadata),
		DefaultRole: defaultRole, Roles: roles}
	if p.Metadata == nil {
		p.Metadata = store.JSONMap{}
	}
	if in.DisplayName != nil {
		p.DisplayName = *in.DisplayName
	}
	if in.Locale != nil {
		if !slices.Contains(s.cfg.AllowedLocales, *in.Locale) {
			return nil, fieldError("/locale", "is not an allowed locale")
		}
		p.Locale = *in.Locale
	}
	var password secret
	generated := false
	switch {
	case in.Password != nil:
		password = secret(*in.Password)
		if err := s.checkNewPassword(ctx, password); err != nil {
			return nil, s.passwordFieldError(err, "/password", 0)
		}
	case in.TemporaryPassword:
		var err error
		if password, err = s.generatePassword(); err != nil {
			return nil, err
		}
		generated = true
	}
	u := s.newUser(p)
	email := in.Email
	u.Email, u.Username, u.EmailVerified = &email, in.Username, in.EmailVerified
	u.NewPasswordRequired = in.TemporaryPassword && password != ""
	if password != "" {
		hash, err := s.passwords.Hash(ctx, string(password))
		if err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
		u.PasswordHash = &hash
	}
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateUser(ctx, u, p.Roles); err != nil {
			return err
		}
		return s.record(ctx, tx, by.event(auditAdminUserCreate, u.ID, store.JSONMap{
			"roles": p.Roles, "temporary_password": u.NewPasswordRequired, "password": u.PasswordHash != nil,
		}))
	})
	if err != nil {
		return nil, conflictError(err)
	}
	u.Roles = p.Roles
	out := &CreatedUser{User: u}
	if generated {
		out.TemporaryPassword = string(password)
	}
	return out, nil
}

// conflictError turns a taken address or username into the admin API's 409 naming the field.
func conflictError(err error) error {
	var ce *store.ConflictError
	if errors.As(err, &ce) && (ce.Field == "email" || ce.Field == "username") {
		return &Error{Code: CodeConflict, Fields: []FieldError{{Field: ce.Field, Reason: "already in use"}}, Err: err}
	}
	return err
}

// passwordAlphabet is what generated passwords are made of: letters and digits, nothing a
// shell or a form would mangle.
const passwordAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

// generatePassword returns a random password of at least 20 characters (over 110 bits), longer
// when the policy asks for more.
func (s *Server) generatePassword() (secret, error) {
	n := max(20, s.cfg.PasswordMinLength, s.cfg.PasswordMinBytes) // ASCII: a character is a byte
	b := make([]byte, n)
	limit := big.NewInt(int64(len(passwordAlphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		b[i] = passwordAlphabet[k.Int64()]
	}
	return secret(b), nil
}

// adminUser loads a user with roles for an admin operation; an unknown one is not-found.
func adminUser(ctx context.Context, st *store.Store, id uuid.UUID) (*store.User, error) {
	u, err := st.UserWithRoles(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: CodeNotFound, Err: err}
	}
	return u, err
}

// userUpdate is an administrator's change of a user's profile and roles; nil fields stay.
type userUpdate struct {
	store.UserUpdate
	DefaultRole *string
	Roles       *[]string
}

// updateUser applies upd. A change of roles or of the default role ends every session of the
// user, so no token keeps the old roles.
func (s *Server) updateUser(ctx context.Context, by adminCaller, id uuid.UUID, upd userUpdate) (*store.User, error) {
	if upd.Locale != nil && !slices.Contains(s.cfg.AllowedLocales, *upd.Locale) {
		return nil, fieldError("/locale", "is not an allowed locale")
	}
	var out *store.User
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		u, err := adminUser(ctx, tx, id)
		if err != nil {
			return err
		}
		roles, defaultRole := u.Roles, u.DefaultRole
		if upd.Roles != nil {
			if len(*upd.Roles) == 0 {
				return fieldError("/roles", "at least one role is required")
			}
			roles = uniqueSorted(*upd.Roles)
		}
		if upd.DefaultRole != nil {
			defaultRole = *upd.DefaultRole
		}
		if !slices.Contains(roles, defaultRole) {
			return fieldError("/defaultRole", "must be one of the user's roles")
		}
		if err := tx.UpdateUser(ctx, id, upd.UserUpdate); err != nil {
			return err
		}
		detail := store.JSONMap{}
		if !slices.Equal(roles, u.Roles) || defaultRole != u.DefaultRole {
			if err := tx.SetUserRoles(ctx, id, defaultRole, roles); err != nil {
				return err
			}
			n, err := tx.RevokeUserSessions(ctx, id, uuid.Nil, "admin-roles-change")
			if err != nil {
				return err
			}
			detail["roles"], detail["default_role"], detail["sessions_ended"] = roles, defaultRole, n
		}
		if err := s.record(ctx, tx, by.event(auditAdminUserUpdate, id, detail)); err != nil {
			return err
		}
		out, err = tx.UserWithRoles(ctx, id)
		return err
	})
	return out, err
}

// setDisabled disables (ending every session) or enables a user.
func (s *Server) setDisabled(ctx context.Context, by adminCaller, id uuid.UUID, disabled bool) (*store.User, error) {
	var out *store.User
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := adminUser(ctx, tx, id); err != nil {
			return err
		}
		action, detail := auditAdminUserEnable, store.JSONMap{}
		if disabled {
			if err := noteOwnerlessInstances(ctx, tx, id, detail); err != nil {
				return err
			}
		}
		if err := tx.SetUserDisabled(ctx, id, disabled); err != nil {
			return err
		}
		if disabled {
			// Personal access tokens stay: a disabled user's are refused at sign-in
			// (loadUsableUser), and work again if the user is enabled again.
			n, err := tx.RevokeUserSessions(ctx, id, uuid.Nil, "admin-disable")
			if err != nil {
				return err
			}
			action, detail["sessions_ended"] = auditAdminUserDisable, n
		}
		if err := s.record(ctx, tx, by.event(action, id, detail)); err != nil {
			return err
		}
		var err error
		out, err = tx.UserWithRoles(ctx, id)
		return err
	})
	return out, err
}

// deleteUser deletes a user; the cascade takes their sessions and tokens with them.
func (s *Server) deleteUser(ctx context.Context, by adminCaller, id uuid.UUID) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		u, err := adminUser(ctx, tx, id)
		if err != nil {
			return err
		}
		detail := store.JSONMap{}
		if err := noteOwnerlessInstances(ctx, tx, id, detail); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, id); err != nil {
			return err
		}
		if u.Email != nil {
			detail["email"] = *u.Email
		}
		return s.record(ctx, tx, by.event(auditAdminUserDelete, id, detail))
	})
}

// noteOwnerlessInstances puts into detail the ZUIDs of the Zesty instances that the user is
// the last enabled Owner of, which deleting or disabling them leaves with no Owner who can act.
// The administrator may do that (a departed or compromised Owner must be removable, and refusing
// would leave no way out: only an Owner grants Owner); the audit log says where it happened.
//
// It first locks the instances the user owns, as a change of their membership does, and must
// run before tx changes the user: an Owner demoting themselves at the same moment then either
// commits first (and is counted here) or waits and finds the user gone or disabled (and is
// refused as the last Owner). Without the lock each counted the other as an Owner who stays.
func noteOwnerlessInstances(ctx context.Context, tx *store.Store, userID uuid.UUID, detail store.JSONMap) error {
	if owned, err := tx.LockInstancesOwnedBy(ctx, userID); err != nil || len(owned) == 0 {
		return err
	}
	insts, err := tx.InstancesOwnedOnlyBy(ctx, userID)
	if err != nil || len(insts) == 0 {
		return err
	}
	zuids := make([]string, len(insts))
	for i := range insts {
		zuids[i] = insts[i].ZUID
	}
	detail["instances_left_without_owner"] = zuids
	return nil
}

// setPassword gives a user a new password (generated when password is nil, and then returned),
// ends every session of theirs and, unless configured otherwise, revokes their API tokens (an
// administrator sets a password for someone who lost theirs, or lost control of the account);
// temporary makes them choose another before any new session.
func (s *Server) setPassword(ctx context.Context, by adminCaller, id uuid.UUID, password *string, temporary bool) (*store.User, secret, error) {
	var pw secret
	generated := password == nil
	if generated {
		var err error
		if pw, err = s.generatePassword(); err != nil {
			return nil, "", err
		}
	} else {
		pw = secret(*password)
		if err := s.checkNewPassword(ctx, pw); err != nil {
			return nil, "", s.passwordFieldError(err, "/password", 0)
		}
	}
	if _, err := adminUser(ctx, s.store, id); err != nil { // before the costly hash
		return nil, "", err
	}
	hash, err := s.passwords.Hash(ctx, string(pw))
	if err != nil {
		return nil, "", fmt.Errorf("hash password: %w", err)
	}
	var out *store.User
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.SetPasswordHash(ctx, id, hash); err != nil { // also clears the flag
			if errors.Is(err, store.ErrNotFound) {
				return &Error{Code: CodeNotFound, Err: err}
			}
			return err
		}
		if temporary {
			if err := tx.SetNewPasswordRequired(ctx, id, true); err != nil {
				return err
			}
		}
		n, err := tx.RevokeUserSessions(ctx, id, uuid.Nil, "admin-password-set")
		if err != nil {
			return err
		}
		detail := store.JSONMap{"temporary": temporary, "generated": generated, "sessions_ended": n}
		if err := s.revokeOnRecovery(ctx, tx, id, detail); err != nil {
			return err
		}
		if err := s.record(ctx, tx, by.event(auditAdminPasswordSet, id, detail)); err != nil {
			return err
		}
		out, err = tx.UserWithRoles(ctx, id)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	if !generated {
		pw = ""
	}
	return out, pw, nil
}

// revokeSessions ends one session of a user (sid set) or all of them.
func (s *Server) revokeSessions(ctx context.Context, by adminCaller, id uuid.UUID, sid *uuid.UUID) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := adminUser(ctx, tx, id); err != nil {
			return err
		}
		if sid == nil {
			n, err := tx.RevokeUserSessions(ctx, id, uuid.Nil, "admin-revoke")
			if err != nil {
				return err
			}
			return s.record(ctx, tx, by.event(auditAdminSessionsRevoke, id, store.JSONMap{"sessions_ended": n}))
		}
		ended, err := tx.RevokeUserSession(ctx, id, *sid, "admin-revoke")
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Code: CodeNotFound, Err: err}
		}
		if err != nil || !ended {
			return err // ending an ended session changes nothing and records nothing
		}
		ev := by.event(auditAdminSessionRevoke, id, nil)
		ev.Session = *sid
		return s.record(ctx, tx, ev)
	})
}

// revokeToken revokes an API token the user owns or created, and ends the sessions opened with it.
func (s *Server) revokeToken(ctx context.Context, by adminCaller, id, tokenID uuid.UUID) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := adminUser(ctx, tx, id); err != nil {
			return err
		}
		revoked, ended, err := tx.RevokeUserAPIToken(ctx, id, tokenID)
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Code: CodeNotFound, Err: err}
		}
		if err != nil || !revoked {
			return err
		}
		return s.record(ctx, tx, by.event(auditAdminTokenRevoke, id, store.JSONMap{"token_id": tokenID.String(), "sessions_ended": ended}))
	})
}
