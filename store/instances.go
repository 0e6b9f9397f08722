package store

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"
)

// CreateInstance stores an instance; its numeric ID is assigned by the database.
func (s *Store) CreateInstance(ctx context.Context, i *Instance) error {
	if err := translate(s.w(ctx).Create(i).Error); err != nil {
		return fmt.Errorf("insert instance: %w", err)
	}
	return nil
}

// CreateInstanceRole stores a role of an instance.
func (s *Store) CreateInstanceRole(ctx context.Context, r *InstanceRole) error {
	if err := translate(s.w(ctx).Create(r).Error); err != nil {
		return fmt.Errorf("insert instance role: %w", err)
	}
	return nil
}

// SetInstanceMember gives a user a role on an instance, replacing the role they had there.
func (s *Store) SetInstanceMember(ctx context.Context, m *InstanceMember) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.now()
	}
	err := s.w(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "instance_id"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"role_id"}),
	}).Create(m).Error
	if err := translate(err); err != nil {
		return fmt.Errorf("set instance member: %w", err)
	}
	return nil
}

// ErrInUse: the row is still referenced (a role that members or access tokens hold).
var ErrInUse = errors.New("in use")

// Member is one member of an instance: the user and the role they hold there.
type Member struct {
	User *User
	Role *InstanceRole
}

// InstanceByZUID loads an instance.
func (s *Store) InstanceByZUID(ctx context.Context, zuid string) (*Instance, error) {
	var i Instance
	if err := s.w(ctx).Where("zuid = ?", zuid).Take(&i).Error; err != nil {
		return nil, translate(err)
	}
	return &i, nil
}

// LockInstanceByZUID loads an instance and locks its row until the transaction ends (PostgreSQL's
// SELECT ... FOR NO KEY UPDATE): a transaction that changes the instance's membership under this
// lock reads the members only after every other such transaction has committed, so a rule about
// the members (at least one Owner remains) checked under it holds when it commits. SQLite has no
// row locks and needs none: its one writer runs write transactions one at a time. Outside a
// transaction the lock ends with the statement.
func (s *Store) LockInstanceByZUID(ctx context.Context, zuid string) (*Instance, error) {
	var i Instance
	err := s.w(ctx).Clauses(instanceLock).Where("zuid = ?", zuid).Take(&i).Error
	if err != nil {
		return nil, translate(err)
	}
	return &i, nil
}

// LockInstancesOwnedBy takes LockInstanceByZUID's lock on every instance where the user holds a
// role that grants Owner, in the order of their ids (so that two such transactions cannot each
// wait for the other), and returns them: a change to the user's account made under these locks
// is ordered with every change of those instances' membership.
func (s *Store) LockInstancesOwnedBy(ctx context.Context, userID uuid.UUID) ([]Instance, error) {
	var out []Instance
	err := s.w(ctx).Clauses(instanceLock).
		Where("id IN (?)", s.w(ctx).Model(&InstanceMember{}).Select("instance_members.instance_id").
			Joins("JOIN instance_roles r ON r.id = instance_members.role_id").
			Where("instance_members.user_id = ? AND r.system_role = ?", userID, SystemRoleOwner)).
		Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("lock the instances a user owns: %w", err)
	}
	return out, nil
}

// instanceLock is the row lock on instances. NO KEY UPDATE is enough to order changes of
// membership with one another, and unlike UPDATE it lets rows that reference the instance be
// inserted meanwhile (their foreign key check takes KEY SHARE). SQLite's dialect drops it.
var instanceLock = clause.Locking{Strength: "NO KEY UPDATE"}

// InstanceByID loads an instance.
func (s *Store) InstanceByID(ctx context.Context, id int64) (*Instance, error) {
	var i Instance
	if err := s.w(ctx).Where("id = ?", id).Take(&i).Error; err != nil {
		return nil, translate(err)
	}
	return &i, nil
}

// InstancesOfUser lists the instances a user is a member of, oldest first.
func (s *Store) InstancesOfUser(ctx context.Context, userID uuid.UUID) ([]Instance, error) {
	var out []Instance
	err := s.w(ctx).Where("id IN (?)", s.w(ctx).Model(&InstanceMember{}).Select("instance_id").Where("user_id = ?", userID)).
		Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list instances of user: %w", err)
	}
	return out, nil
}

// RenameInstance sets an instance's name.
func (s *Store) RenameInstance(ctx context.Context, id int64, name string) error {
	res := s.w(ctx).Model(&Instance{}).Where("id = ?", id).Updates(map[string]any{"name": name, "updated_at": s.now()})
	if res.Error != nil {
		return fmt.Errorf("rename instance: %w", res.Error)
	}
	return notFoundIfNone(res)
}

// DeleteInstance deletes an instance with its members, roles and the access tokens of its roles.
func (s *Store) DeleteInstance(ctx context.Context, id int64) error {
	defer s.invalidate(everyKey)
	// Members first: their role reference is RESTRICT, which PostgreSQL checks at once.
	if err := s.w(ctx).Where("instance_id = ?", id).Delete(&InstanceMember{}).Error; err != nil {
		return fmt.Errorf("delete instance members: %w", err)
	}
	roles := s.w(ctx).Model(&InstanceRole{}).Select("id").Where("instance_id = ?", id)
	if err := s.w(ctx).Where("role_id IN (?)", roles).Delete(&APIToken{}).Error; err != nil {
		return fmt.Errorf("delete instance tokens: %w", err)
	}
	if err := s.w(ctx).Where("instance_id = ?", id).Delete(&InstanceRole{}).Error; err != nil {
		return fmt.Errorf("delete instance roles: %w", err)
	}
	res := s.w(ctx).Where("id = ?", id).Delete(&Instance{})
	if res.Error != nil {
		return fmt.Errorf("delete instance: %w", res.Error)
	}
	return notFoundIfNone(res)
}

// InstanceRoles lists the roles of an instance: system roles from most to least powerful, then
// custom roles by name.
func (s *Store) InstanceRoles(ctx context.Context, instanceID int64) ([]InstanceRole, error) {
	var out []InstanceRole
	if err := s.w(ctx).Where("instance_id = ?", instanceID).Order("custom, name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list instance roles: %w", err)
	}
	rank := map[string]int{SystemRoleOwner: 0, SystemRoleAdmin: 1, SystemRoleDeveloper: 2, SystemRoleSEO: 3, SystemRolePublisher: 4, SystemRoleContributor: 5}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Custom || out[j].Custom {
			return !out[i].Custom && out[j].Custom
		}
		return rank[out[i].SystemRole] < rank[out[j].SystemRole]
	})
	return out, nil
}

// InstanceRoleByZUID loads a role.
func (s *Store) InstanceRoleByZUID(ctx context.Context, zuid string) (*InstanceRole, error) {
	var r InstanceRole
	if err := s.w(ctx).Where("zuid = ?", zuid).Take(&r).Error; err != nil {
		return nil, translate(err)
	}
	return &r, nil
}

// InstanceRoleByID loads a role.
func (s *Store) InstanceRoleByID(ctx context.Context, id uuid.UUID) (*InstanceRole, error) {
	var r InstanceRole
	if err := s.w(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, translate(err)
	}
	return &r, nil
}

// SystemInstanceRole loads the built-in role of an instance that is systemRole.
func (s *Store) SystemInstanceRole(ctx context.Context, instanceID int64, systemRole string) (*InstanceRole, error) {
	var r InstanceRole
	err := s.w(ctx).Where("instance_id = ? AND system_role = ? AND custom = ?", instanceID, systemRole, false).Take(&r).Error
	if err != nil {
		return nil, translate(err)
	}
	return &r, nil
}

// UpdateInstanceRole sets a role's name and description.
func (s *Store) UpdateInstanceRole(ctx context.Context, r *InstanceRole) error {
	r.UpdatedAt = s.now()
	res := s.w(ctx).Model(&InstanceRole{}).Where("id = ?", r.ID).
		Updates(map[string]any{"name": r.Name, "description": r.Description, "updated_at": r.UpdatedAt})
	if err := translate(res.Error); err != nil {
		return fmt.Errorf("update instance role: %w", err)
	}
	return notFoundIfNone(res)
}

// DeleteInstanceRole deletes a role that no member and no access token holds; otherwise
// ErrInUse.
func (s *Store) DeleteInstanceRole(ctx context.Context, id uuid.UUID) error {
	defer s.invalidate(everyKey)
	var n int64
	if err := s.w(ctx).Model(&InstanceMember{}).Where("role_id = ?", id).Count(&n).Error; err != nil {
		return fmt.Errorf("count role members: %w", err)
	}
	if n == 0 {
		if err := s.w(ctx).Model(&APIToken{}).Where("role_id = ?", id).Count(&n).Error; err != nil {
			return fmt.Errorf("count role tokens: %w", err)
		}
	}
	if n > 0 {
		return ErrInUse
	}
	res := s.w(ctx).Where("id = ?", id).Delete(&InstanceRole{})
	if res.Error != nil {
		return fmt.Errorf("delete instance role: %w", res.Error)
	}
	return notFoundIfNone(res)
}

// MemberRole loads the role a user holds on an instance; ErrNotFound when they are not a member.
func (s *Store) MemberRole(ctx context.Context, instanceID int64, userID uuid.UUID) (*InstanceRole, error) {
	var r InstanceRole
	err := s.w(ctx).Where("id = (?)", s.w(ctx).Model(&InstanceMember{}).Select("role_id").
		Where("instance_id = ? AND user_id = ?", instanceID, userID)).Take(&r).Error
	if err != nil {
		return nil, translate(err)
	}
	return &r, nil
}

// InstanceMembers lists the members of an instance with their roles, by when they joined.
func (s *Store) InstanceMembers(ctx context.Context, instanceID int64) ([]Member, error) {
	var ms []InstanceMember
	if err := s.w(ctx).Where("instance_id = ?", instanceID).Order("created_at, user_id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("list instance members: %w", err)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	userIDs, roleIDs := make([]uuid.UUID, len(ms)), make([]uuid.UUID, len(ms))
	for i, m := range ms {
		userIDs[i], roleIDs[i] = m.UserID, m.RoleID
	}
	var users []User
	if err := s.w(ctx).Where("id IN ?", userIDs).Find(&users).Error; err != nil {
		return nil, fmt.Errorf("load members: %w", err)
	}
	var roles []InstanceRole
	if err := s.w(ctx).Where("id IN ?", roleIDs).Find(&roles).Error; err != nil {
		return nil, fmt.Errorf("load member roles: %w", err)
	}
	byUser, byRole := map[uuid.UUID]*User{}, map[uuid.UUID]*InstanceRole{}
	for i := range users {
		byUser[users[i].ID] = &users[i]
	}
	for i := range roles {
		byRole[roles[i].ID] = &roles[i]
	}
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		if u, r := byUser[m.UserID], byRole[m.RoleID]; u != nil && r != nil {
			out = append(out, Member{User: u, Role: r})
		}
	}
	return out, nil
}

// RemoveInstanceMember takes a user off an instance.
func (s *Store) RemoveInstanceMember(ctx context.Context, instanceID int64, userID uuid.UUID) error {
	res := s.w(ctx).Where("instance_id = ? AND user_id = ?", instanceID, userID).Delete(&InstanceMember{})
	if res.Error != nil {
		return fmt.Errorf("remove instance member: %w", res.Error)
	}
	return notFoundIfNone(res)
}

// activeMemberships joins each membership (aliased m) to its member's account (u), kept only
// while enabled, and to the role held (r): the one statement of "an enabled member holding a
// role", which a Zesty access token's creator must be to stand behind the token, and each Owner
// who can run an instance is.
func activeMemberships(m, u, r string) string {
	return `instance_members ` + m + ` JOIN users ` + u + ` ON ` + u + `.id = ` + m + `.user_id AND NOT ` + u + `.disabled
	JOIN instance_roles ` + r + ` ON ` + r + `.id = ` + m + `.role_id`
}

// otherActiveOwnersSQL selects, for the instance whose id is the SQL expression instance, its
// enabled members other than the user given as the one parameter whose role grants Owner.
func otherActiveOwnersSQL(instance string) string {
	return `SELECT 1 FROM ` + activeMemberships("om", "ou", "orl") + `
	WHERE om.instance_id = ` + instance + ` AND om.user_id <> ? AND orl.system_role = '` + SystemRoleOwner + `'`
}

// CountOtherActiveOwners counts the members of an instance, other than userID, whose role grants
// Owner and whose account is not disabled: the Owners who would be left to run the instance if
// userID stopped being one.
func (s *Store) CountOtherActiveOwners(ctx context.Context, instanceID int64, userID uuid.UUID) (int64, error) {
	var n int64
	err := s.w(ctx).Raw(`SELECT count(*) FROM (`+otherActiveOwnersSQL("?")+`) o`, instanceID, userID).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count other active instance owners: %w", err)
	}
	return n, nil
}

// InstancesOwnedOnlyBy lists, by ID, the instances where userID is an Owner and no other member
// whose account is enabled is one: the instances that deleting or disabling the user leaves
// without an Owner who can act.
func (s *Store) InstancesOwnedOnlyBy(ctx context.Context, userID uuid.UUID) ([]Instance, error) {
	var out []Instance
	err := s.w(ctx).Raw(`SELECT i.* FROM instances i
JOIN instance_members m ON m.instance_id = i.id AND m.user_id = ?
JOIN instance_roles r ON r.id = m.role_id AND r.system_role = ?
WHERE NOT EXISTS (`+otherActiveOwnersSQL("i.id")+`)
ORDER BY i.id`, userID, SystemRoleOwner, userID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list instances owned only by a user: %w", err)
	}
	return out, nil
}

// UserByZUID loads a user by ZUID.
func (s *Store) UserByZUID(ctx context.Context, zuid string) (*User, error) {
	var u User
	if err := s.w(ctx).Where("zuid = ?", zuid).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// ZestyTokenByZUID loads a Zesty access token that is not revoked (Zesty's own revocation
// deletes it; a revoked one, ended by its creator's account recovery or an administrator, is
// gone for the Zesty dialect too), expired or not.
func (s *Store) ZestyTokenByZUID(ctx context.Context, zuid string) (*APIToken, error) {
	var t APIToken
	if err := s.w(ctx).Where("zuid = ? AND kind = ? AND revoked_at IS NULL", zuid, APITokenZesty).Take(&t).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// ZestyTokenUse is a live Zesty access token as authentication needs it: the token, the role it
// acts as, and the system role its creator holds on that role's instance.
type ZestyTokenUse struct {
	Token APIToken
	Role  InstanceRole
	// CreatorRole is the system role (what it grants) of the role the token's creator holds on
	// the instance; "" when the creator is not a member there, is disabled or no longer exists.
	CreatorRole string
}

// zestyTokenUseSQL reads a live access token, its role and its creator's standing (the role the
// creator holds as an enabled member of the instance, as ActiveMemberRole reads it) in one
// statement: authentication pays no extra round trip for the creator. On PostgreSQL the
// subquery costs what the LEFT JOINs it replaced did: one index probe per table.
var zestyTokenUseSQL = `SELECT t.id, t.kind, t.user_id, t.name, t.token_hash, t.metadata, t.created_at, t.expires_at,
	t.last_used_at, t.revoked_at, t.zuid, t.role_id, t.created_by,
	r.zuid AS r_zuid, r.instance_id AS r_instance_id, r.name AS r_name, r.system_role AS r_system_role,
	r.custom AS r_custom, r.description AS r_description, r.created_at AS r_created_at, r.updated_at AS r_updated_at,
	(SELECT cr.system_role FROM ` + activeMemberships("m", "u", "cr") + `
		WHERE m.instance_id = r.instance_id AND m.user_id = t.created_by) AS creator_role
FROM api_tokens t
JOIN instance_roles r ON r.id = t.role_id
WHERE t.token_hash = ? AND t.kind = ? AND t.revoked_at IS NULL AND t.expires_at > ?`

// zestyTokenUseRow is one row of zestyTokenUseSQL.
type zestyTokenUseRow struct {
	APIToken
	R           InstanceRole `gorm:"embedded;embeddedPrefix:r_"`
	CreatorRole *string
}

// UsableZestyToken loads a Zesty access token that is neither revoked nor expired and whose role
// still exists, with its role and its creator's standing, and records its use. Anything else is
// ErrNotFound.
func (s *Store) UsableZestyToken(ctx context.Context, hash []byte) (*ZestyTokenUse, error) {
	now := s.now()
	var rows []zestyTokenUseRow
	if err := s.w(ctx).Raw(zestyTokenUseSQL, hash, APITokenZesty, now).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("load access token: %w", err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	row := rows[0]
	use := &ZestyTokenUse{Token: row.APIToken, Role: row.R}
	use.Role.ID = *row.RoleID
	if row.CreatorRole != nil {
		use.CreatorRole = *row.CreatorRole
	}
	if err := s.recordTokenUse(ctx, &use.Token, now); err != nil {
		return nil, err
	}
	return use, nil
}

// ActiveMemberRole loads the role an enabled user holds on an instance; ErrNotFound when they
// are not a member or are disabled.
func (s *Store) ActiveMemberRole(ctx context.Context, instanceID int64, userID uuid.UUID) (*InstanceRole, error) {
	var rs []InstanceRole
	err := s.w(ctx).Raw(`SELECT r.* FROM `+activeMemberships("m", "u", "r")+` WHERE m.instance_id = ? AND m.user_id = ?`,
		instanceID, userID).Scan(&rs).Error
	if err != nil {
		return nil, fmt.Errorf("load active member role: %w", err)
	}
	if len(rs) == 0 {
		return nil, ErrNotFound
	}
	return &rs[0], nil
}

// ZestyTokensOfInstances lists the Zesty access tokens whose roles belong to the instances, oldest
// first, leaving out revoked ones (see ZestyTokenByZUID).
func (s *Store) ZestyTokensOfInstances(ctx context.Context, instanceIDs []int64) ([]APIToken, error) {
	if len(instanceIDs) == 0 {
		return nil, nil
	}
	var out []APIToken
	err := s.w(ctx).Where("kind = ? AND revoked_at IS NULL AND role_id IN (?)", APITokenZesty,
		s.w(ctx).Model(&InstanceRole{}).Select("id").Where("instance_id IN ?", instanceIDs)).
		Order("created_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list access tokens: %w", err)
	}
	return out, nil
}

// DeleteAPIToken deletes an API token: it stops working at once.
func (s *Store) DeleteAPIToken(ctx context.Context, id uuid.UUID) error {
	defer s.invalidate(everyKey)
	res := s.w(ctx).Where("id = ?", id).Delete(&APIToken{})
	if res.Error != nil {
		return fmt.Errorf("delete api token: %w", res.Error)
	}
	return notFoundIfNone(res)
}
