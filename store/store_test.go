package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
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
	var all []int64
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		all = append(all, applied[i]...)
	}
	slices.Sort(all)
	known, err := stores[0].MigrationVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all, known) {
		t.Fatalf("migrations applied %v in all, want each of %v once", applied, known)
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

// legacyAddress is an account stored before the one address rule (store/email.go), when an
// address was keyed by strings.ToLower, and what the upgrade must make of it.
type legacyAddress struct {
	stored string // the address as the old code stored it
	want   string // the address afterwards; "" leaves it as stored
	// typed are what the owner types afterwards (lower case and composed, as the rule asks): each
	// passes the address check and finds the account.
	typed []string
	// isolated: the row's old key named another mailbox, or the address it would be rewritten to
	// is another row's. It then answers only for its stored address, which no dialect accepts any
	// more, and never for notFor, which (when free) a new account can then take.
	isolated bool
	why      string // look-alike or collision, as the audit log says
	notFor   string
	free     bool
}

var legacyAddresses = []legacyAddress{
	// Letters outside ASCII in upper case, title case or decomposed: the owner keeps the account,
	// under the address written as the rule writes it, and the key it always had.
	{stored: "Åsa@x.se", want: "åsa@x.se", typed: []string{"åsa@x.se", "åsa@X.SE"}},
	{stored: "ZOË@Example.org", want: "zoë@example.org", typed: []string{"zoë@example.org", "Zoë@Example.org"}},
	{stored: "Élodie@example.fr", want: "élodie@example.fr", typed: []string{"élodie@example.fr"}},
	{stored: "Zoe\u0308@example.net", want: "zoë@example.net", typed: []string{"zoë@example.net"}},
	{stored: "Bob@MÜLLER.DE", want: "bob@müller.de", typed: []string{"bob@müller.de", "Bob@müller.DE"}},
	{stored: "\u01c5ungla@example.com", want: "\u01c6ungla@example.com", typed: []string{"\u01c6ungla@example.com"}},
	{stored: "\u212Bngstr\u00f6m@example.se", want: "\u00e5ngstr\u00f6m@example.se", typed: []string{"\u00e5ngstr\u00f6m@example.se"}}, // the Ångström sign is Å
	// Already as the rule writes them: nothing changes.
	{stored: "Zoë@Müller.de", typed: []string{"zoë@müller.de", "Zoë@Müller.de"}},
	{stored: "Ada@Example.com", typed: []string{"ada@example.com"}},
	{stored: "plain@example.net", typed: []string{"plain@example.net"}},
	// Lower-casing made the key another mailbox's: İ and the Kelvin sign became ASCII letters, and
	// mail to the stored address went elsewhere (IDNA maps ｉｂｍ to ibm, ẞ to ss).
	{stored: "ceo@İbm.com", isolated: true, why: "look-alike", notFor: "ceo@ibm.com", free: true},
	{stored: "\u212Aate@ibm.com", isolated: true, why: "look-alike", notFor: "kate@ibm.com", free: true},
	{stored: "boss@ｉｂｍ.com", isolated: true, why: "look-alike", notFor: "boss@ibm.com", free: true},
	{stored: "hans@STRA\u1E9EE.de", isolated: true, why: "look-alike", notFor: "hans@straße.de", free: true},
	// Written as the rule writes them, these would be another row's address: ZOË@Example.org's,
	// which keeps it, and one that neither of the last two holds, so neither gets it.
	{stored: "Zoe\u0308@example.org", isolated: true, why: "collision", notFor: "zoë@example.org"},
	{stored: "Ze\u0301\u0323@example.org", isolated: true, why: "collision", notFor: "z\u1eb9\u0301@example.org", free: true},
	{stored: "Ze\u0323\u0301@example.org", isolated: true, why: "collision", notFor: "z\u1eb9\u0301@example.org", free: true},
}

// TestMigrationRekeysLookAlikes: accounts stored under the old key (full Unicode lower-casing)
// are brought under the one address rule. A row whose old key named another mailbox is isolated
// (ceo@İbm.com no longer answers for ceo@ibm.com, whose owner can then sign up), and so is one
// whose rewritten address would be another row's; every other row keeps working for its owner,
// who types the address lower case and composed, as the rule asks; the tickets pending for an
// address follow it; and the log names the rows changed by id, never by address. It runs on a
// database upgraded from before the first version of migration 7 and on one that ran it (it
// keyed every row with letters outside ASCII by its stored address, locking such owners out).
func TestMigrationRekeysLookAlikes(t *testing.T) {
	for _, sc := range []struct {
		name   string
		downTo int64
		oldKey func(stored string) string
	}{
		{"from-old-keys", 6, func(e string) string { return strings.ToLower(e) }},
		{"after-first-version-of-7", store.EmailKeysVersion - 1, store.NormalizeEmail},
	} {
		t.Run(sc.name, func(t *testing.T) {
			ctx := t.Context()
			clock := testdb.NewClock()
			var logs strings.Builder
			var logMu sync.Mutex
			st := testdb.Open(t, testdb.Options{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))})
			if err := st.MigrateDownTo(ctx, sc.downTo); err != nil {
				t.Fatalf("migrate down: %v", err)
			}
			ids := map[string]uuid.UUID{}
			for n, la := range legacyAddresses {
				u := &store.User{ID: uuid.New(), ZUID: fmt.Sprintf("5-legacy-%d", n), CreatedAt: clock.Now(), UpdatedAt: clock.Now(),
					Locale: "en", DefaultRole: "user", Metadata: store.JSONMap{}, Email: ptrTo(fmt.Sprintf("placeholder-%d@example.com", n))}
				if err := st.CreateUser(ctx, u, nil); err != nil {
					t.Fatalf("create user: %v", err)
				}
				if err := st.Exec(ctx, "UPDATE users SET email = ?, email_lower = ? WHERE id = ?", la.stored, sc.oldKey(la.stored), u.ID); err != nil {
					t.Fatalf("plant %q: %v", la.stored, err)
				}
				ids[la.stored] = u.ID
				ticket := &store.Ticket{ID: uuid.New(), Kind: store.TicketSignInOTP, UserID: u.ID, Email: la.stored, CreatedAt: clock.Now(),
					ExpiresAt: clock.Now().Add(time.Hour), CodeHash: []byte{byte(n)}}
				if err := st.CreateTicket(ctx, ticket); err != nil {
					t.Fatalf("create ticket: %v", err)
				}
				if err := st.Exec(ctx, "UPDATE tickets SET email_lower = ? WHERE id = ?", sc.oldKey(la.stored), ticket.ID); err != nil {
					t.Fatalf("plant ticket of %q: %v", la.stored, err)
				}
			}
			// A pending change of plain@example.net to a new address written in capitals.
			change := &store.Ticket{ID: uuid.New(), Kind: store.TicketEmailConfirmChange, UserID: ids["plain@example.net"],
				Email: "ÜNAL@example.org", CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour), TokenHash: []byte("change")}
			if err := st.CreateTicket(ctx, change); err != nil {
				t.Fatalf("create ticket: %v", err)
			}
			if err := st.Exec(ctx, "UPDATE tickets SET email_lower = ? WHERE id = ?", sc.oldKey(change.Email), change.ID); err != nil {
				t.Fatalf("plant change ticket: %v", err)
			}

			clock.Advance(time.Minute)
			upgradeAt := clock.Now()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate up: %v", err)
			}

			logMu.Lock()
			logged := logs.String()
			logMu.Unlock()
			for _, la := range legacyAddresses {
				id := ids[la.stored]
				want := la.stored
				if la.want != "" {
					want = la.want
				}
				u, err := st.UserByID(ctx, id)
				if err != nil {
					t.Fatalf("load %q: %v", la.stored, err)
				}
				if *u.Email != want || *u.EmailLower != store.NormalizeEmail(want) {
					t.Errorf("%q after the upgrade: stored %q keyed %q, want %q keyed %q", la.stored, *u.Email, *u.EmailLower, want, store.NormalizeEmail(want))
				}
				if listed := strings.Contains(logged, id.String()); listed != (la.want != "" || la.isolated) {
					t.Errorf("%q (id %s) listed in the log: %v, want %v", la.stored, id, listed, !listed)
				}
				evs, err := st.ListAudit(ctx, store.AuditFilter{TargetUserID: &id, Action: "user.email_migrated", Since: &upgradeAt, Limit: 5})
				wantEvs := 0
				if la.want != "" || la.isolated {
					wantEvs = 1
				}
				if err != nil || len(evs) != wantEvs {
					t.Errorf("audit events of %q's upgrade: %v, %v; want %d", la.stored, evs, err, wantEvs)
				} else if wantEvs == 1 {
					wantResult, wantOutcome := "rewritten", store.OutcomeSuccess
					if la.isolated {
						wantResult, wantOutcome = "isolated", store.OutcomeFailure
					}
					if ev := evs[0]; ev.Outcome != wantOutcome || ev.Detail["result"] != wantResult || (ev.Detail["reason"] != nil || la.why != "") && ev.Detail["reason"] != la.why {
						t.Errorf("audit event of %q's upgrade: %s %v; want %s, result %s, reason %q", la.stored, ev.Outcome, ev.Detail, wantOutcome, wantResult, la.why)
					}
				}
				if la.isolated {
					if err := store.CheckEmail(la.stored); err == nil {
						t.Errorf("CheckEmail(%q) accepts the isolated address", la.stored)
					}
					if u, err := st.UserByEmail(ctx, la.notFor); err == nil && u.ID == id {
						t.Errorf("UserByEmail(%q) after the upgrade = the row stored as %q", la.notFor, la.stored)
					} else if la.free && !errors.Is(err, store.ErrNotFound) {
						t.Errorf("UserByEmail(%q) after the upgrade = %v, %v; want it free", la.notFor, u, err)
					}
					pending, err := st.PendingCodeTickets(ctx, la.stored, store.TicketSignInOTP, 5)
					if err != nil || len(pending) != 1 || pending[0].UserID != id {
						t.Errorf("PendingCodeTickets(%q) after the upgrade = %v, %v; want its own", la.stored, pending, err)
					}
					continue
				}
				for _, typed := range la.typed {
					if err := store.CheckEmail(typed); err != nil {
						t.Errorf("CheckEmail(%q), as %q's owner types it: %v", typed, la.stored, err)
					}
					if u, err := st.UserByEmail(ctx, typed); err != nil || u.ID != id {
						t.Errorf("UserByEmail(%q) after the upgrade = %v, %v; want the row stored as %q", typed, u, err, la.stored)
					}
				}
				pending, err := st.PendingCodeTickets(ctx, la.typed[0], store.TicketSignInOTP, 5)
				if err != nil || len(pending) != 1 || pending[0].UserID != id || pending[0].Email != want {
					t.Errorf("PendingCodeTickets(%q) after the upgrade = %v, %v; want the planted one, mailed to %q", la.typed[0], pending, err, want)
				} else if err := st.MarkEmailVerified(ctx, id, pending[0].Email); err != nil {
					t.Errorf("verify %q with its pending ticket: %v", want, err)
				}
			}
			for _, la := range legacyAddresses {
				for _, a := range []string{la.stored, la.want} {
					for _, part := range []string{a, strings.SplitN(a, "@", 2)[0]} {
						if len(part) > 2 && strings.Contains(logged, part) {
							t.Errorf("the log names %q:\n%s", part, logged)
						}
					}
				}
			}
			if got, err := st.UsableTicket(ctx, change.TokenHash, store.TicketEmailConfirmChange); err != nil ||
				got.Email != "ünal@example.org" || got.EmailLower != "ünal@example.org" {
				t.Errorf("the pending change to %q after the upgrade: %+v, %v; want it to ünal@example.org", change.Email, got, err)
			}

			// The owners of the addresses the look-alikes answered for can now have accounts of
			// their own.
			created := map[string]bool{}
			for n, la := range legacyAddresses {
				if !la.free || created[la.notFor] {
					continue
				}
				created[la.notFor] = true
				real := &store.User{ID: uuid.New(), ZUID: fmt.Sprintf("5-real-%d", n), CreatedAt: clock.Now(), UpdatedAt: clock.Now(),
					Locale: "en", DefaultRole: "user", Metadata: store.JSONMap{}, Email: ptrTo(la.notFor)}
				if err := st.CreateUser(ctx, real, nil); err != nil {
					t.Errorf("create %q after the upgrade: %v", la.notFor, err)
				}
			}
		})
	}
}

// lockedWriter serialises writes to a builder the test reads.
type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func ptrTo[T any](v T) *T { return &v }
