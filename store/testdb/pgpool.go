package testdb

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latchkey/latchkey/store"
)

// Migrated PostgreSQL schemas are reused within a test process. Creating and migrating one costs
// about 0.4 s of DDL (two dozen tables, their indexes and triggers), paid by most of the several
// hundred tests of a run on PostgreSQL; emptying one (a TRUNCATE of every table) costs about a
// quarter of that. A test's schema is emptied when the test ends (every table truncated, the rows
// the migrations seeded put back) and handed to the next test, unless the test changed the schema
// itself (a migration down, a trigger dropped): then its catalog no longer matches the
// fingerprint taken after migrating, and it is dropped instead.
//
// Pooled schemas are named after their process's owner key, a PostgreSQL advisory lock held by one
// connection for the process's life. A process starting drops the pooled schemas whose owner lock
// is free: those a finished (or killed) test process left behind. The last process of a run leaves
// its schemas until the next run.
type schemaPool struct {
	once  sync.Once
	err   error
	db    *pgxpool.Pool
	owner int64     // the advisory lock key
	lock  *pgx.Conn // holds the owner lock; never closed

	mu   sync.Mutex
	free []*pooledSchema
}

// pooledSchema is a migrated schema of the pool.
type pooledSchema struct {
	name   string
	print  string            // catalog fingerprint right after migrating
	tables []string          // every table but goose's, schema-qualified
	seeds  map[string]string // table → the rows (JSON) the migrations left in it
}

const poolPrefix = "lk_pool_"

var pgPool schemaPool

func (p *schemaPool) start(ctx context.Context) error {
	p.once.Do(func() {
		var b [8]byte
		_, _ = rand.Read(b[:])
		p.owner = int64(binary.BigEndian.Uint64(b[:]) >> 1)
		if p.lock, p.err = pgx.Connect(ctx, PostgresURL()); p.err != nil {
			return
		}
		if _, p.err = p.lock.Exec(ctx, "SELECT pg_advisory_lock($1)", p.owner); p.err != nil {
			return
		}
		if p.db, p.err = pgxpool.New(ctx, PostgresURL()); p.err != nil {
			return
		}
		p.err = p.dropOrphans(ctx)
	})
	return p.err
}

// dropOrphans drops the pooled schemas of processes that have ended.
func (p *schemaPool) dropOrphans(ctx context.Context) error {
	rows, err := p.db.Query(ctx, "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", poolPrefix+"%")
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		key, ok := strings.CutPrefix(name, poolPrefix)
		if i := strings.IndexByte(key, '_'); ok && i > 0 {
			key = key[:i]
		}
		owner, err := strconv.ParseInt(key, 16, 64)
		if err != nil || owner == p.owner {
			continue
		}
		var free bool
		if err := p.lock.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", owner).Scan(&free); err != nil {
			return err
		}
		if !free {
			continue // its process is running
		}
		_, err = p.lock.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		if _, unlockErr := p.lock.Exec(ctx, "SELECT pg_advisory_unlock($1)", owner); err == nil {
			err = unlockErr
		}
		if err != nil {
			return fmt.Errorf("drop %s: %w", name, err)
		}
	}
	return nil
}

// migratedSchema returns a URL whose search_path is an empty, migrated schema of the pool, taken
// back (emptied) or dropped at t's cleanup.
func migratedSchema(t testing.TB) string {
	t.Helper()
	requirePostgres(t)
	ctx := context.Background()
	if err := pgPool.start(ctx); err != nil {
		t.Fatalf("schema pool: %v", err)
	}
	pgPool.mu.Lock()
	var ps *pooledSchema
	if n := len(pgPool.free); n > 0 {
		ps, pgPool.free = pgPool.free[n-1], pgPool.free[:n-1]
	}
	pgPool.mu.Unlock()
	if ps == nil {
		var err error
		if ps, err = pgPool.create(ctx); err != nil {
			t.Fatalf("schema pool: %v", err)
		}
	}
	t.Cleanup(func() {
		if err := pgPool.giveBack(context.Background(), ps); err != nil {
			t.Errorf("schema pool: %v", err)
		}
	})
	return schemaURL(t, ps.name)
}

// create makes, migrates and describes a new schema of the pool.
func (p *schemaPool) create(ctx context.Context) (*pooledSchema, error) {
	ps := &pooledSchema{name: fmt.Sprintf("%s%x_%s", poolPrefix, p.owner, randomHex(4)), seeds: map[string]string{}}
	if _, err := p.db.Exec(ctx, "CREATE SCHEMA "+ps.name); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, store.Options{URL: withSearchPath(PostgresURL(), ps.name), MaxOpenConns: 2})
	if err != nil {
		return nil, err
	}
	_, err = st.Migrate(ctx)
	_ = st.Close()
	if err != nil {
		return nil, err
	}
	rows, err := p.db.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename <> 'goose_db_version'
		ORDER BY tablename`, ps.name)
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, table := range tables {
		q := pgx.Identifier{ps.name, table}.Sanitize()
		ps.tables = append(ps.tables, q)
		var seed *string
		if err := p.db.QueryRow(ctx, "SELECT json_agg(t)::text FROM "+q+" t").Scan(&seed); err != nil {
			return nil, err
		}
		if seed != nil {
			ps.seeds[q] = *seed
		}
	}
	if ps.print, err = p.fingerprint(ctx, ps.name); err != nil {
		return nil, err
	}
	return ps, nil
}

// giveBack empties ps and returns it to the pool, or drops it when its catalog has changed.
func (p *schemaPool) giveBack(ctx context.Context, ps *pooledSchema) error {
	print, err := p.fingerprint(ctx, ps.name)
	if err != nil {
		return err
	}
	if print != ps.print {
		_, err := p.db.Exec(ctx, "DROP SCHEMA "+ps.name+" CASCADE")
		return err
	}
	err = pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(ps.tables, ", ")+" RESTART IDENTITY"); err != nil {
			return err
		}
		for table, rows := range ps.seeds {
			if _, err := tx.Exec(ctx, "INSERT INTO "+table+" SELECT * FROM json_populate_recordset(NULL::"+table+", $1::json)", rows); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.free = append(p.free, ps)
	p.mu.Unlock()
	return nil
}

// fingerprint digests what a test could change of a schema's definition: its relations, columns,
// defaults, constraints, indexes, triggers (and whether they are enabled) and functions.
func (p *schemaPool) fingerprint(ctx context.Context, schema string) (string, error) {
	var print string
	err := p.db.QueryRow(ctx, `
		WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = $1)
		SELECT md5(coalesce(string_agg(x, E'\n' ORDER BY x), '')) FROM (
			SELECT 'rel ' || c.relname || ' ' || c.relkind::text AS x FROM pg_class c, ns WHERE c.relnamespace = ns.oid
			UNION ALL
			SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' ||
				a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
			FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON c.relnamespace = ns.oid
			LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			WHERE a.attnum > 0 AND NOT a.attisdropped
			UNION ALL
			SELECT 'con ' || conname || ' ' || pg_get_constraintdef(k.oid) FROM pg_constraint k, ns WHERE k.connamespace = ns.oid
			UNION ALL
			SELECT 'idx ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
				JOIN ns ON c.relnamespace = ns.oid
			UNION ALL
			SELECT 'trg ' || t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
				JOIN ns ON c.relnamespace = ns.oid WHERE NOT t.tgisinternal
			UNION ALL
			SELECT 'fn ' || f.proname || ' ' || md5(f.prosrc) FROM pg_proc f, ns WHERE f.pronamespace = ns.oid
		) s`, schema).Scan(&print)
	return print, err
}
