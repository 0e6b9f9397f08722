package store_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey/latchkey/store"
)

// TestIsUnavailable: the errors real drivers return when the database cannot be reached are
// outages; what a query itself did wrong, or a caller that left, is not.
func TestIsUnavailable(t *testing.T) {
	ctx := context.Background()

	// A SQLite file that cannot be opened (its path is a directory).
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "latchkey.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, sqliteErr := store.Open(ctx, store.Options{DataDir: dir})
	if sqliteErr == nil {
		t.Fatal("opening a SQLite database whose file is a directory succeeded")
	}

	// A PostgreSQL port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, pgErr := store.Open(ctx, store.Options{URL: "postgres://nobody@" + addr + "/none?sslmode=disable"})
	if pgErr == nil {
		t.Fatal("opening PostgreSQL on a closed port succeeded")
	}

	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"sqlite-cannot-open", sqliteErr, true},
		{"postgres-refused", pgErr, true},
		{"bad-conn", fmt.Errorf("load user: %w", driver.ErrBadConn), true},
		{"deadline", fmt.Errorf("load user: %w", context.DeadlineExceeded), true},
		{"admin-shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"connection-failure", &pgconn.PgError{Code: "08006"}, true},
		{"too-many-connections", &pgconn.PgError{Code: "53300"}, true},
		{"unique-violation", &pgconn.PgError{Code: "23505"}, false},
		{"not-found", store.ErrNotFound, false},
		{"conflict", &store.ConflictError{Field: "email"}, false},
		{"caller-left", fmt.Errorf("load user: %w", context.Canceled), false},
		{"other", errors.New("something else"), false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		if got := store.IsUnavailable(c.err); got != c.want {
			t.Errorf("case=%s: IsUnavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
