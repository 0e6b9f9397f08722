// Package store keeps Latchkey's state in SQLite (the embedded default) or PostgreSQL through GORM.
// Nothing in it is HTTP-shaped: the server package translates between the wire and these types.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Dialects the store runs on.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Options says where the data lives and how the store behaves.
type Options struct {
	// URL is empty for SQLite in DataDir, or a postgres:// / postgresql:// URL.
	URL string
	// DataDir holds the SQLite file (latchkey.db) when URL is empty.
	DataDir string
	// Now is the clock every timestamp the store writes comes from. Default: time.Now.
	Now func() time.Time
	// Logger receives database errors and slow queries, never query parameters.
	Logger *slog.Logger
	// MaxOpenConns bounds PostgreSQL connections (default 20). SQLite always writes through one.
	MaxOpenConns int
	// MinConns is how many PostgreSQL connections are opened at start and kept open, idle or not
	// (default 0: opened as queries need them, closed after five idle minutes). SQLite ignores it.
	MinConns int
	// SlowQuery is the duration from which a query is logged at warn level (default 200ms).
	SlowQuery time.Duration
	// RevocationBound turns on the cache of live sessions (sessioncache.go) and is the longest
	// another instance may go on accepting a session after it was revoked here; 0 leaves the
	// cache off and every session check reads the database. Only a serving process wants it.
	RevocationBound time.Duration
	// SessionCacheEntries caps the sessions cached (default DefaultSessionCacheEntries).
	SessionCacheEntries int
	// ListenURL is where PostgreSQL's invalidation listener connects (default URL): a direct
	// connection to the primary, never a transaction-mode pooler nor a replica.
	ListenURL string
}

// Store is the handle every query starts from. Inside Tx it is bound to the transaction.
type Store struct {
	db      *gorm.DB // writes and transactions; for SQLite a pool of exactly one connection
	rdb     *gorm.DB // reads outside transactions; for SQLite a separate small pool
	dialect string
	now     func() time.Time
	closers []*sql.DB
	pg      *sql.DB   // PostgreSQL outside transactions: the hot paths use pgx's native interface
	hot     *hotPaths // PostgreSQL: batching of the hot statements
	keeper  *minConns // PostgreSQL: the connections kept open (nil: none)
	log     *slog.Logger

	cache     *sessionCache // nil: off
	cacheStop func()        // stops the cache's listener or poll
	// pending collects, inside a transaction, the cache keys its writes touched: they are
	// invalidated once the outermost transaction is over (nil outside transactions).
	pending *[]cacheKey
	// fillHook, when set (tests), runs between a cache fill's read and its insert.
	fillHook func()
}

// Open connects to the database that opts names. It does not migrate; call Migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 20
	}
	if opts.MinConns > opts.MaxOpenConns {
		return nil, fmt.Errorf("%d connections to keep open exceed the %d the pool may open", opts.MinConns, opts.MaxOpenConns)
	}
	if opts.SlowQuery <= 0 {
		opts.SlowQuery = 200 * time.Millisecond
	}
	// Every timestamp is UTC with microsecond precision: PostgreSQL keeps microseconds, and SQLite
	// compares the text form, which only orders correctly when all values share one zone.
	now := func() time.Time { return opts.Now().UTC().Truncate(time.Microsecond) }
	// GORM's statement cache re-prepares every statement inside each transaction (a round trip
	// each) on PostgreSQL, where pgx already caches prepared statements per connection; it pays
	// off only on SQLite, whose statements are parsed in-process.
	cfg := func(prepare bool) *gorm.Config {
		return &gorm.Config{
			NowFunc:                  now,
			Logger:                   newGormLogger(opts.Logger, opts.SlowQuery),
			SkipDefaultTransaction:   true, // our writes choose their transactions explicitly
			DisableAutomaticPing:     false,
			PrepareStmt:              prepare,
			DisableNestedTransaction: false,
		}
	}
	s := &Store{now: now, log: opts.Logger.With("component", "store")}
	var err error
	switch {
	case opts.URL == "":
		err = s.openSQLite(ctx, opts, cfg)
	case strings.HasPrefix(opts.URL, "postgres://"), strings.HasPrefix(opts.URL, "postgresql://"):
		err = s.openPostgres(ctx, opts, cfg)
	default:
		return nil, errors.New("database URL must start with postgres:// or postgresql://, or be empty for SQLite")
	}
	if err == nil {
		err = s.startSessionCache(opts)
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) openSQLite(ctx context.Context, opts Options, cfg func(bool) *gorm.Config) error {
	if opts.DataDir == "" {
		return errors.New("SQLite needs a data directory")
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(opts.DataDir, "latchkey.db")
	// busy_timeout first so that the pragmas after it wait instead of failing; WAL lets readers
	// run beside the one writer; NORMAL is durable across process crashes in WAL mode.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// No _time_format: its only value, "sqlite", is the driver's default write format anyway, and
	// glebarez/go-sqlite (v1.21.2) stops reading the DSN after it, which silently dropped _txlock.
	// Writers take the lock when they begin, so a transaction never has to upgrade a read lock
	// (which is where SQLite returns SQLITE_BUSY without waiting).
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()

	w, err := gorm.Open(sqlite.Open(dsn), cfg(true))
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wdb, err := w.DB()
	if err != nil {
		return err
	}
	s.closers = append(s.closers, wdb)
	wdb.SetMaxOpenConns(1) // SQLite has one writer; more connections would only queue on its lock
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)

	q.Add("_pragma", "query_only(ON)")
	r, err := gorm.Open(sqlite.Open("file:"+path+"?"+q.Encode()), cfg(true))
	if err != nil {
		return fmt.Errorf("open sqlite readers %s: %w", path, err)
	}
	rdb, err := r.DB()
	if err != nil {
		return err
	}
	s.closers = append(s.closers, rdb)
	rdb.SetMaxOpenConns(4)
	rdb.SetMaxIdleConns(4)
	rdb.SetConnMaxLifetime(0)

	s.db, s.rdb, s.dialect = w, r, SQLite
	return s.Ping(ctx)
}

func (s *Store) openPostgres(ctx context.Context, opts Options, cfg func(bool) *gorm.Config) error {
	// pgx hands out timestamptz values in the process's local zone; ask for UTC, as SQLite
	// returns them, so every time the store hands out is UTC whatever the host's zone.
	db, err := gorm.Open(postgres.New(postgres.Config{
		DSN:          withConnectTimeout(opts.URL),
		OptionOpenDB: []stdlib.OptionOpenDB{stdlib.OptionAfterConnect(scanTimesInUTC)},
	}), cfg(false))
	if err != nil {
		return fmt.Errorf("open postgres: %w", redactURLError(err, opts.URL))
	}
	sdb, err := db.DB()
	if err != nil {
		return err
	}
	s.closers = append(s.closers, sdb)
	sdb.SetMaxOpenConns(opts.MaxOpenConns)
	sdb.SetMaxIdleConns(opts.MaxOpenConns)
	sdb.SetConnMaxIdleTime(connMaxIdle)
	s.db, s.rdb, s.dialect, s.pg = db, db, Postgres, sdb
	s.startHotPaths(opts.MaxOpenConns)
	if err := s.Ping(ctx); err != nil {
		return err
	}
	s.keeper, err = startMinConns(ctx, sdb, opts.MinConns)
	return err
}

// defaultConnectTimeout bounds opening one PostgreSQL connection when the URL does not say
// (pgx waits as long as the caller's context otherwise, and background loops have none): a
// database host that went silent must not hold a pool refill for minutes.
const defaultConnectTimeout = "5"

// withConnectTimeout adds connect_timeout to a postgres:// URL that has none.
func withConnectTimeout(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // pgx reports the problem, with the password redacted
	}
	q := u.Query()
	if q.Has("connect_timeout") {
		return raw
	}
	q.Set("connect_timeout", defaultConnectTimeout)
	u.RawQuery = q.Encode()
	return u.String()
}

// scanTimesInUTC makes a new PostgreSQL connection scan timestamptz values in UTC. It serves
// GORM and the hot paths alike, which share the pool.
func scanTimesInUTC(_ context.Context, c *pgx.Conn) error {
	c.TypeMap().RegisterType(&pgtype.Type{
		Name: "timestamptz", OID: pgtype.TimestamptzOID, Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
	return nil
}

// redactURLError keeps a password in the database URL out of error messages.
func redactURLError(err error, raw string) error {
	u, perr := url.Parse(raw)
	if perr != nil || u.User == nil {
		return err
	}
	if p, ok := u.User.Password(); ok && p != "" {
		return errors.New(strings.ReplaceAll(err.Error(), p, "[redacted]"))
	}
	return err
}

// Dialect is SQLite or Postgres.
func (s *Store) Dialect() string { return s.dialect }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range s.closers {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("ping database: %w", err)
		}
	}
	return nil
}

// Close releases every connection.
func (s *Store) Close() error {
	if s.cacheStop != nil {
		s.cacheStop()
		s.cacheStop = nil
	}
	s.hot.close()
	s.hot = nil // Close may come twice (a test's own, then its cleanup's): stop the workers once
	s.keeper.close()
	s.keeper = nil
	var errs []error
	for _, db := range s.closers {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}

// Now is the store's clock, UTC and truncated to microseconds.
func (s *Store) Now() time.Time { return s.now() }

// with returns a Store bound to db for both reads and writes (a transaction) whose cache
// invalidations collect in pending.
func (s *Store) with(db *gorm.DB, pending *[]cacheKey) *Store {
	return &Store{db: db, rdb: db, dialect: s.dialect, now: s.now, log: s.log, cache: s.cache, pending: pending}
}

// Tx runs fn inside one transaction. fn must use tx, not the receiver: with SQLite's single
// writer connection, touching s inside fn waits forever for the connection tx holds.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	pending := s.pending
	var mine []cacheKey
	if pending == nil { // the outermost transaction
		pending = &mine
	}
	err := s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		return fn(s.with(db, pending))
	})
	if s.pending == nil && len(mine) > 0 {
		// After the commit, not before: a fill that read before it would otherwise insert
		// afterwards. (After a rollback it costs a few misses and nothing else.)
		s.cache.invalidate(mine...)
	}
	return err
}

// invalidate drops from this instance's session cache the sessions and users keys name: at
// once, or when the transaction s is bound to is over. Every store write that can end a session
// or change what LiveSessionUser returns calls it; other instances learn of the change from the
// database's triggers (migrations/*/00013_session_cache.sql).
func (s *Store) invalidate(keys ...cacheKey) {
	switch {
	case s.cache == nil:
	case s.pending != nil:
		*s.pending = append(*s.pending, keys...)
	default:
		s.cache.invalidate(keys...)
	}
}

// w starts a write (or a read that must see this transaction's writes) from ctx.
func (s *Store) w(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// r starts a read from ctx.
func (s *Store) r(ctx context.Context) *gorm.DB { return s.rdb.WithContext(ctx) }
