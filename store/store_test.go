package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/tcpproxy"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/storetest"
	"github.com/latchkey/latchkey/store/testdb"
)

// TestStore runs the store contract suite on the backend LATCHKEY_TEST_DB picks:
// db=sqlite (a temp file per case) or db=postgres (a fresh schema per case).
func TestStore(t *testing.T) {
	t.Run(testdb.String(), func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, now func() time.Time) *store.Store {
			return storetest.Open(t, storetest.Options{Now: now})
		})
	})
}

// TestCounter runs the rate-limit counter contract on the database's counter (the Redis one
// runs it in store/redisctr).
func TestCounter(t *testing.T) {
	t.Run(testdb.String(), func(t *testing.T) {
		storetest.RunCounter(t, func(t *testing.T) store.Counter { return storetest.Open(t, storetest.Options{}) })
	})
}

// TestSQLiteTxTakesWriteLockAtBegin checks that a transaction on SQLite holds the write lock from
// its BEGIN (BEGIN IMMEDIATE). Within one process the single writer connection serialises
// transactions anyway; this is about a second process on the same file, such as
// `latchkey keys rotate` beside a running server. A deferred transaction that has read and then
// writes after the other process committed fails at once with SQLITE_BUSY, busy_timeout or not;
// an immediate one makes the other process wait instead.
func TestSQLiteTxTakesWriteLockAtBegin(t *testing.T) {
	if testdb.Backend() != store.SQLite {
		t.Skip("SQLite only")
	}
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// The other process: a connection of its own that does not wait for locks.
	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "latchkey.db")+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatalf("open second connection: %v", err)
	}
	t.Cleanup(func() { _ = other.Close() })
	insert := func(ctx context.Context, kid string) error {
		_, err := other.ExecContext(ctx, `INSERT INTO signing_keys (kid, alg, private_key, created_at) VALUES (?, 'EdDSA', x'00', ?)`,
			kid, st.Now())
		return err
	}
	if err := insert(ctx, "before"); err != nil {
		t.Fatalf("second connection writes with no transaction open: %v", err)
	}
	err = st.Tx(ctx, func(tx *store.Store) error {
		if err := insert(ctx, "during"); err == nil {
			t.Errorf("second connection wrote while a store transaction was open: want SQLITE_BUSY (the transaction began deferred, not immediate)")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Tx: %v", err)
	}
	if err := insert(ctx, "after"); err != nil {
		t.Fatalf("second connection writes after the transaction: %v", err)
	}
}

// TestConcurrentMigrationsOnPostgres starts four instances on one empty schema at once, as a
// deployment's replicas do: every Migrate succeeds, exactly one applies the schema, and the others
// find it done.
func TestConcurrentMigrationsOnPostgres(t *testing.T) {
	if testdb.Backend() != store.Postgres {
		t.Skip("PostgreSQL only: SQLite has one process per file")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("lk_migrate_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, _ := url.Parse(testdb.PostgresURL())
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	const n = 4
	applied := make([][]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	stores := make([]*store.Store, n)
	for i := range n {
		st, err := store.Open(ctx, store.Options{URL: u.String(), MaxOpenConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = st
		t.Cleanup(func() { _ = st.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = st.Migrate(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	_, latest, err := stores[0].SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total != int(latest) {
		t.Fatalf("migrations applied %d times in all (%v), want each of the %d once", total, applied, latest)
	}
}

// TestSessionCheckSettlesOnGenericPlan runs the batched session check, the query behind every
// authenticated request, a dozen times on one connection as the store does (pgx prepares and
// caches it) and asks PostgreSQL how it planned them. After its first five executions a prepared
// statement keeps its generic plan only if that plan looks no dearer than the custom ones; when
// the query let each custom plan count the ids in its array, PostgreSQL planned every call anew,
// and planning cost twice the execution.
func TestSessionCheckSettlesOnGenericPlan(t *testing.T) {
	if testdb.Backend() != store.Postgres {
		t.Skip("PostgreSQL only: SQLite has no plan cache to settle")
	}
	ctx := context.Background()
	dbURL := testdb.PostgresSchema(t)
	st, err := store.Open(ctx, store.Options{URL: dbURL, MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	const runs = 12
	for i := range runs {
		ids := make([][16]byte, 1+i%3) // batches of 1-3 ids, as a lightly loaded server sends
		for j := range ids {
			ids[j][0], ids[j][1] = byte(i), byte(j)
		}
		rows, err := conn.Query(ctx, store.LiveSessionsSQL, ids, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	var generic, custom int64
	if err := conn.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement = $1`, store.LiveSessionsSQL).Scan(&generic, &custom); err != nil {
		t.Fatalf("reading the statement's plan counts: %v", err)
	}
	if custom > 5 || generic < runs-5 {
		t.Fatalf("%d executions: %d custom plans, %d generic; want at most 5 custom (PostgreSQL's "+
			"trial) and the rest generic", runs, custom, generic)
	}
}

// TestMinConnsKeptOpen: with MinConns, the PostgreSQL pool opens that many connections at start,
// before any query needs them, and once the pool has closed some (its idle timeout), a round of
// its keeper opens the missing ones. Without it the pool opens one (the start's ping) and grows
// only under queries.
func TestMinConnsKeptOpen(t *testing.T) {
	if testdb.Backend() != store.Postgres {
		t.Skip("PostgreSQL only: SQLite's connections are its own file handles")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testdb.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	dbURL := testdb.PostgresSchema(t)
	// open returns a store whose connections PostgreSQL lists under their own application name.
	open := func(minConns int) (*store.Store, string) {
		u, _ := url.Parse(dbURL)
		q := u.Query()
		app := fmt.Sprintf("lk_min_conns_%d_%d", minConns, time.Now().UnixNano())
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		st, err := store.Open(ctx, store.Options{URL: u.String(), MaxOpenConns: 8, MinConns: minConns})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st, app
	}
	backends := func(app string) int {
		t.Helper()
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if _, app := open(0); backends(app) > 1 {
		t.Errorf("MinConns 0: %d connections open at start, want at most the ping's one", backends(app))
	}
	st, app := open(3)
	if n := backends(app); n < 3 {
		t.Fatalf("MinConns 3: %d connections open at start, want 3", n)
	}

	// The pool closes its idle connections, as its idle timeout does after five unused minutes.
	st.CloseIdleConns()
	for end := time.Now().Add(10 * time.Second); backends(app) > 0; {
		if time.Now().After(end) {
			t.Fatalf("%d backends still there after the pool closed its idle connections", backends(app))
		}
		runtime.Gosched()
	}
	if err := st.KeepMinConns(ctx); err != nil {
		t.Fatalf("keeper round after the pool closed its connections: %v", err)
	}
	if n := backends(app); n < 3 {
		t.Fatalf("after a keeper round: %d connections open, want 3", n)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("the store after its connections were reopened: %v", err)
	}

	if _, err := store.Open(ctx, store.Options{URL: dbURL, MaxOpenConns: 2, MinConns: 3}); err == nil {
		t.Error("MinConns above MaxOpenConns accepted")
	}
}

// TestMinConnsKeeperStaysOutOfTheWay: the keeper never takes a connection that queries could use
// while the pool holds its minimum (with the whole pool kept open, one that did would make a
// flood's queries wait for its round), and closing the store ends a round under way at once
// rather than after it has given up on a database that went silent. A proxy between the store
// and PostgreSQL, stalled, stands for the silent database: any connection the keeper took or
// opened would hang there.
func TestMinConnsKeeperStaysOutOfTheWay(t *testing.T) {
	if testdb.Backend() != store.Postgres {
		t.Skip("PostgreSQL only: SQLite's connections are its own file handles")
	}
	ctx := context.Background()
	u, err := url.Parse(testdb.PostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := tcpproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	u.Host = proxy.Addr
	st, err := store.Open(ctx, store.Options{URL: u.String(), MaxOpenConns: 2, MinConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	proxy.Stall()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := st.KeepMinConns(rctx); err != nil {
		t.Errorf("a round with the pool at its minimum touched a connection (it hung on the stalled database): %v", err)
	}

	// The pool lost its connections; the next round opens new ones through the silent proxy.
	st.CloseIdleConns()
	st.KickMinConns()
	start := time.Now()
	if err := st.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close waited %v for the keeper's round against a silent database", d.Round(time.Millisecond))
	}
}

// TestMigrationRekeysLookAlikes: addresses stored under the old key (full Unicode lower-casing)
// whose key the one address rule computes differently are re-keyed by the migration, so a row
// stored as ceo@İbm.com no longer answers for ceo@ibm.com, whose owner can then sign up; every
// other row, ASCII or not, keeps its key, and the tickets pending for the look-alike follow it.
func TestMigrationRekeysLookAlikes(t *testing.T) {
	ctx := t.Context()
	clock := testdb.NewClock()
	st := testdb.Open(t, testdb.Options{Now: clock.Now})
	if err := st.MigrateDownTo(ctx, store.EmailKeysVersion-1); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	// Rows as the old code stored them: email as given, email_lower = strings.ToLower(email).
	legacy := map[string]string{
		"ceo@İbm.com":       "ceo@ibm.com",
		"\u212Aate@ibm.com": "kate@ibm.com",
		"ZOË@Example.org":   "zoë@example.org",
		"Ada@Example.com":   "ada@example.com",
		"Zoë@Müller.de":     "zoë@müller.de",
		"plain@example.net": "plain@example.net",
	}
	ids := map[string]uuid.UUID{}
	n := 0
	for email, oldKey := range legacy {
		n++
		u := &store.User{ID: uuid.New(), ZUID: fmt.Sprintf("5-legacy-%d", n), CreatedAt: clock.Now(), UpdatedAt: clock.Now(),
			Locale: "en", DefaultRole: "user", Metadata: store.JSONMap{}, Email: ptrTo(fmt.Sprintf("placeholder-%d@example.com", n))}
		if err := st.CreateUser(ctx, u, nil); err != nil {
			t.Fatalf("create user: %v", err)
		}
		if err := st.Exec(ctx, "UPDATE users SET email = ?, email_lower = ? WHERE id = ?", email, oldKey, u.ID); err != nil {
			t.Fatalf("plant %q: %v", email, err)
		}
		ids[email] = u.ID
		ticket := &store.Ticket{ID: uuid.New(), Kind: store.TicketSignInOTP, UserID: u.ID, Email: email, CreatedAt: clock.Now(),
			ExpiresAt: clock.Now().Add(time.Hour), CodeHash: []byte{byte(n)}}
		if err := st.CreateTicket(ctx, ticket); err != nil {
			t.Fatalf("create ticket: %v", err)
		}
		if err := st.Exec(ctx, "UPDATE tickets SET email_lower = ? WHERE id = ?", oldKey, ticket.ID); err != nil {
			t.Fatalf("plant ticket of %q: %v", email, err)
		}
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate up: %v", err)
	}

	for email, oldKey := range legacy {
		key := store.NormalizeEmail(email)
		u, err := st.UserByEmail(ctx, email)
		if err != nil || u.ID != ids[email] || *u.EmailLower != key || *u.Email != email {
			t.Errorf("UserByEmail(%q) after the migration = %v, %v; want the row stored as it, keyed %q", email, u, err, key)
		}
		if key != oldKey {
			if u, err := st.UserByEmail(ctx, oldKey); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("UserByEmail(%q) after the migration = %v, %v: the row stored as %q still answers for it", oldKey, u, err, email)
			}
		}
		pending, err := st.PendingCodeTickets(ctx, email, store.TicketSignInOTP, 5)
		if err != nil || len(pending) != 1 || pending[0].UserID != ids[email] {
			t.Errorf("PendingCodeTickets(%q) after the migration = %v, %v; want the planted one", email, pending, err)
		}
	}
	// The owner of the real address can now have an account of their own.
	real := &store.User{ID: uuid.New(), ZUID: "5-real", CreatedAt: clock.Now(), UpdatedAt: clock.Now(), Locale: "en",
		DefaultRole: "user", Metadata: store.JSONMap{}, Email: ptrTo("ceo@ibm.com")}
	if err := st.CreateUser(ctx, real, nil); err != nil {
		t.Fatalf("create ceo@ibm.com after the migration: %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }
