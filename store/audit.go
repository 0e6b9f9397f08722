package store

import (
	"context"
	"fmt"
)

// RecordAudit appends an audit event. Call it with the transaction of the change it records.
func (s *Store) RecordAudit(ctx context.Context, e *AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if err := s.w(ctx).Create(e).Error; err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// AuditEvents lists the newest audit events first, optionally only one action.
func (s *Store) AuditEvents(ctx context.Context, action string, limit int) ([]AuditEvent, error) {
	q := s.r(ctx).Order("at DESC").Limit(limit)
	if action != "" {
		q = q.Where("action = ?", action)
	}
	var out []AuditEvent
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// Tables lists every table the store owns, for row accounting in tests and operations.
var Tables = []string{"users", "user_roles", "sessions", "refresh_tokens", "api_tokens", "signing_keys", "audit_events", "tickets", "mail_outbox", "session_tokens", "instances", "instance_roles", "instance_members"}

// RowCounts counts the rows of every table in Tables.
func (s *Store) RowCounts(ctx context.Context) (map[string]int64, error) {
	out := make(map[string]int64, len(Tables))
	for _, t := range Tables {
		var n int64
		if err := s.w(ctx).Table(t).Count(&n).Error; err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}
