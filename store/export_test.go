package store

import "context"

// LiveSessionsSQL lets the external tests plan the batched session check as the store runs it.
const LiveSessionsSQL = liveSessionsSQL

// KeepMinConns runs one round of the keeper of the connections kept open, as its ticker does.
func (s *Store) KeepMinConns(ctx context.Context) error { return s.keeper.keep(ctx) }

// KickMinConns makes the keeper run a round now, in its own goroutine as its ticker does; it
// returns as the round begins.
func (s *Store) KickMinConns() { s.keeper.kick <- struct{}{} }

// CloseIdleConns closes the PostgreSQL pool's idle connections, as its idle timeout does.
func (s *Store) CloseIdleConns() {
	n := s.pg.Stats().MaxOpenConnections
	s.pg.SetMaxIdleConns(0)
	s.pg.SetMaxIdleConns(n)
}

// EmailKeysVersion is the migration that brings addresses stored under the old lower-casing
// under the one address rule.
const EmailKeysVersion = emailKeysVersion

// MigrateDownTo rolls the schema back to version, for tests of data migrations.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := s.migrator(ctx)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// Exec runs one raw statement on the write connection, for tests that plant rows the store's
// own methods would never write.
func (s *Store) Exec(ctx context.Context, sql string, args ...any) error {
	return s.w(ctx).Exec(sql, args...).Error
}

// MigrationVersions lists the versions of every migration the store knows, in order.
func (s *Store) MigrationVersions(ctx context.Context) ([]int64, error) {
	p, err := s.migrator(ctx)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, src := range p.ListSources() {
		out = append(out, src.Version)
	}
	return out, nil
}

// SetFillHook makes every fill of s's session cache call hook between its database read and its
// insert: for tests of a revocation that commits in between.
func (s *Store) SetFillHook(hook func()) { s.fillHook = hook }
