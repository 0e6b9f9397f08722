package store

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Migrate brings the schema to the newest version. On PostgreSQL it holds an advisory lock for
// the duration, so instances that start together migrate once and the others wait.
func (s *Store) Migrate(ctx context.Context) (applied []int64, err error) {
	p, err := s.migrator(ctx)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// SchemaVersion reports the applied and the newest known schema version.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := s.migrator(ctx)
	if err != nil {
		return 0, 0, err
	}
	if current, err = p.GetDBVersion(ctx); err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

func (s *Store) migrator(ctx context.Context) (*goose.Provider, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	var (
		dialect goose.Dialect
		opts    []goose.ProviderOption
	)
	switch s.dialect {
	case Postgres:
		dialect = goose.DialectPostgres
		// The lock guards one schema's migrations: instances of one schema take turns, while
		// stores of other schemas on the same server (a test per schema, say) need not wait for
		// them, which with goose's one server-wide lock id and 5-second retries they did.
		var schema string
		if err := sqlDB.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return nil, fmt.Errorf("read current schema: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte(schema))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(lock.DefaultLockID^int64(h.Sum64())),
			// Replicas waiting for another's migration check every second (goose's shortest
			// period, default 5s) for up to five minutes.
			lock.WithLockTimeout(1, 300),
		)
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		dialect = goose.DialectSQLite3
	}
	sub, err := fs.Sub(migrations, "migrations/"+s.dialect)
	if err != nil {
		return nil, err
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(s.emailKeysMigration()))
	return goose.NewProvider(dialect, sqlDB, sub, opts...)
}
