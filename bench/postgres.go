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

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
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
