package store

import (
	"context"
	"fmt"
	"strings"
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

// RowCounts counts the rows of every table in Tables, in one statement: the SQLite driver parses
// a statement anew on every run, and one per table was most of some tests' time.
func (s *Store) RowCounts(ctx context.Context) (map[string]int64, error) {
	counts := make([]int64, len(Tables))
	dest := make([]any, len(Tables))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := s.w(ctx).Raw(rowCountsSQL).Row().Scan(dest...); err != nil {
		return nil, fmt.Errorf("count rows: %w", err)
	}
	out := make(map[string]int64, len(Tables))
	for i, t := range Tables {
		out[t] = counts[i]
	}
	return out, nil
}

// rowCountsSQL is SELECT (SELECT count(*) FROM users), ... over Tables.
var rowCountsSQL = func() string {
	parts := make([]string, len(Tables))
	for i, t := range Tables {
		parts[i] = "(SELECT count(*) FROM " + t + ")"
	}
	return "SELECT " + strings.Join(parts, ", ")
}()
