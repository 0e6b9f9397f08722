package store

import (
	"context"
	"fmt"
)

// SigningKeys lists up to limit signing keys, newest first. The newest signs; the ones after it
// still verify tokens they signed.
func (s *Store) SigningKeys(ctx context.Context, limit int) ([]SigningKey, error) {
	var keys []SigningKey
	if err := s.r(ctx).Order("created_at DESC, kid DESC").Limit(limit).Find(&keys).Error; err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return keys, nil
}

// CreateSigningKey stores a new signing key; it becomes the newest.
func (s *Store) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	if err := translate(s.w(ctx).Create(k).Error); err != nil {
		return fmt.Errorf("insert signing key: %w", err)
	}
	return nil
}
