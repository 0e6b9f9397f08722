package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchDatabase is the PostgreSQL database the harness drops and recreates
// for every run. It is left in place afterwards so it can be inspected.
const benchDatabase = "latchkey_bench"

// freshPostgres connects to adminURL, drops and recreates benchDatabase, and
// returns adminURL with its database switched to benchDatabase. Any error
// means PostgreSQL cannot be benchmarked on this run.
func freshPostgres(ctx context.Context, adminURL string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("-postgres-url must be a postgres:// URL, got %q", adminURL)
	}

	// DROP DATABASE checkpoints; on a machine busy with other work that has taken 40s.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", redact(u), err)
	}
	defer conn.Close(context.Background())

	// WITH (FORCE) (PostgreSQL 13+) ends sessions a previous, interrupted
	// run may have left open.
	for _, sql := range []string{
		"DROP DATABASE IF EXISTS " + benchDatabase + " WITH (FORCE)",
		"CREATE DATABASE " + benchDatabase,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return "", fmt.Errorf("%s: %w", sql, err)
		}
	}

	u.Path = "/" + benchDatabase
	return u.String(), nil
}

// redact prints a URL without its password.
func redact(u *url.URL) string { return u.Redacted() }

// settlePostgres lets the database finish the background work the previous measurement's
// writes left behind, so the next figure measures its own scenario: a CHECKPOINT, then a wait
// (up to 30s) until no autovacuum worker runs on the bench database. Errors are reported, not
// fatal: an unsettled database only makes the next figure pessimistic.
func settlePostgres(ctx context.Context, dbURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'autovacuum worker' AND datname = current_database()`).Scan(&n); err != nil {
			return fmt.Errorf("autovacuum check: %w", err)
		}
		if n == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond) // waiting on another process, not timing a result
	}
	return nil
}
