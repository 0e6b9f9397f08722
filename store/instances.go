package store

import (
	"context"
	"fmt"

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
