package server_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", to plant a trigger in the store's file
	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// TestRightCodeSurvivesFailedCleanup: a right code is spent (and its session opened) before the
// count of guesses at the account is forgotten. When forgetting fails, the code is gone all the
// same: answering 500 would leave the client with neither the session nor a code to try again.
// The answer is the spend's, and the failure is logged. The failure is planted as a trigger that
// refuses to delete guess counts, on either database.
func TestRightCodeSurvivesFailedCleanup(t *testing.T) {
	ctx := context.Background()
	clock := testdb.NewClock()
	var (
		opts  store.Options
		plant func(stmts ...string)
	)
	if testdb.Backend() == store.Postgres {
		opts.URL = testdb.PostgresSchema(t)
		plant = func(stmts ...string) {
			conn, err := pgx.Connect(ctx, opts.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			for _, s := range stmts {
				if _, err := conn.Exec(ctx, s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
		}
	} else {
		opts.DataDir = t.TempDir()
		plant = func(stmts ...string) {
			db, err := sql.Open("sqlite", filepath.Join(opts.DataDir, "latchkey.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, s := range stmts {
				if _, err := db.ExecContext(ctx, s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
		}
	}
	opts.Now = clock.Now
	st, err := store.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := servertest.StartOn(t, st, clock)
	const email = "cleanup@example.com"
	signUp(t, h, email, "correct-horse-battery")
	if testdb.Backend() == store.Postgres {
		plant(`CREATE FUNCTION refuse_guess_clear() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'planted: guess counts cannot be deleted'; END $$`,
			`CREATE TRIGGER refuse_guess_clear BEFORE DELETE ON lockouts FOR EACH ROW
			WHEN (OLD.key LIKE 'code:%') EXECUTE FUNCTION refuse_guess_clear()`)
	} else {
		plant(`CREATE TRIGGER refuse_guess_clear BEFORE DELETE ON lockouts WHEN OLD.key LIKE 'code:%'
			BEGIN SELECT RAISE(ABORT, 'planted: guess counts cannot be deleted'); END`)
	}

	code := askOTP(t, h, email)
	a := verifyOTP(t, h, email, code)
	if a.status != http.StatusOK || a.body["session"] == nil {
		t.Fatalf("the right code, with the guess count impossible to forget: %d %s, want 200 with a session", a.status, a.raw)
	}
	if logs := h.Logs.String(); !strings.Contains(logs, "planted: guess counts cannot be deleted") {
		t.Errorf("the failed cleanup was not logged:\n%s", logs)
	}
	// The code was spent: it does not sign in twice.
	if a := verifyOTP(t, h, email, code); a.status != http.StatusUnauthorized {
		t.Errorf("the right code again: %d %s, want 401", a.status, a.raw)
	}
}
