// Package testdb opens throwaway, migrated stores for tests on the backend LATCHKEY_TEST_DB
// picks, and provides a clock tests move by hand.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/store"
)

// Backend is the database the tests run on: LATCHKEY_TEST_DB=sqlite (default) or postgres.
func Backend() string {
	if os.Getenv("LATCHKEY_TEST_DB") == "postgres" {
		return store.Postgres
	}
	return store.SQLite
}

// PostgresURL is the server tests use: LATCHKEY_TEST_POSTGRES_URL, or the local one.
func PostgresURL() string {
	if u := os.Getenv("LATCHKEY_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var (
	pgOnce sync.Once
	pgErr  error
)

// requirePostgres skips the test when PostgreSQL is unreachable, or fails it when
// LATCHKEY_TEST_REQUIRE_POSTGRES=1 (CI), so a missing database is never a silent pass there.
func requirePostgres(t testing.TB) {
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, PostgresURL())
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		pgErr = err
	})
	if pgErr == nil {
		return
	}
	if os.Getenv("LATCHKEY_TEST_REQUIRE_POSTGRES") == "1" {
		t.Fatalf("PostgreSQL at %s is required (LATCHKEY_TEST_REQUIRE_POSTGRES=1) but unreachable: %v", redacted(), pgErr)
	}
	t.Skipf("SKIPPED: PostgreSQL at %s unreachable: %v", redacted(), pgErr)
}

func redacted() string {
	u, err := url.Parse(PostgresURL())
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Options tunes a test store.
type Options struct {
	Now func() time.Time
	// Logger receives what the store logs (nothing by default): for tests of what a migration
	// reports.
	Logger *slog.Logger
	// RevocationBound turns the session cache on (store.Options.RevocationBound). Default: off,
	// or LATCHKEY_TEST_REVOCATION_BOUND (say 250ms) to run a whole suite with the cache on.
	RevocationBound time.Duration
	// ListenURL is store.Options.ListenURL.
	ListenURL string
}

// revocationBound is o's bound, else the environment's.
func (o Options) revocationBound() time.Duration {
	if o.RevocationBound != 0 {
		return o.RevocationBound
	}
	d, _ := time.ParseDuration(os.Getenv("LATCHKEY_TEST_REVOCATION_BOUND"))
	return d
}

// Open returns a migrated, empty store on the chosen backend, closed and removed at cleanup:
// a SQLite file in a temp directory (a file, not :memory:, so WAL and the single writer are what
// production runs), or a fresh PostgreSQL schema, dropped afterwards.
func Open(t testing.TB, o Options) *store.Store {
	t.Helper()
	return OpenMany(t, 1, o)[0]
}

// OpenMany returns n stores on one migrated, empty database, as n instances (or processes) of one
// deployment have: each its own connections, and its own session cache when o turns it on.
func OpenMany(t testing.TB, n int, o Options) []*store.Store {
	t.Helper()
	ctx := context.Background()
	opts := store.Options{Now: o.Now, Logger: o.Logger, RevocationBound: o.revocationBound(), ListenURL: o.ListenURL}
	if Backend() == store.Postgres {
		opts.MaxOpenConns = 8
		if o.Logger != nil {
			opts.URL = PostgresSchema(t) // a new schema, so that the migrations' own reports are logged
		} else {
			opts.URL = migratedSchema(t)
		}
	} else {
		opts.DataDir = t.TempDir()
	}
	var out []*store.Store
	for i := range n {
		st, err := store.Open(ctx, opts)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if i == 0 {
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
		}
		out = append(out, st)
	}
	return out
}

// PostgresSchema creates an empty PostgreSQL schema, dropped at cleanup, and returns a URL whose
// search_path is that schema: for tests that hand a database to a server process of their own.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	requirePostgres(t)
	schema := "lk_test_" + randomHex(6)
	conn, err := pgx.Connect(ctx, PostgresURL())
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		conn.Close(ctx)
		t.Fatalf("create schema: %v", err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), PostgresURL())
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schemaURL(t, schema)
}

// schemaURL is the test server's URL with schema as its search_path.
func schemaURL(t testing.TB, schema string) string {
	t.Helper()
	u := withSearchPath(PostgresURL(), schema)
	if u == "" {
		t.Fatalf("unparsable PostgreSQL URL %s", redacted())
	}
	return u
}

// withSearchPath returns base with schema as its search_path, and, unless base sets options,
// synchronous_commit off: a test's commits need not wait for the disk (its database is thrown
// away). "" if base does not parse.
func withSearchPath(base, schema string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("search_path", schema)
	if q.Get("options") == "" {
		q.Set("options", "-csynchronous_commit=off")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Clock is a clock tests move by hand instead of sleeping.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at the current time.
func NewClock() *Clock { return &Clock{t: time.Now().UTC()} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// String names the backend for subtest names: db=sqlite or db=postgres.
func String() string { return fmt.Sprintf("db=%s", Backend()) }
