package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Writes are counted for tests that must prove a rejected request wrote nothing: not only no new
// or deleted row, which row counts show, but no updated one either. WatchWrites puts triggers on
// every table in Tables that count each row inserted, updated or deleted; Writes reads the
// counts. Updates of the columns in watchSkips are not counted.
//
// On SQLite the table and triggers are TEMP objects of the one write connection (every write goes
// through it), so the database file's schema is untouched; were that connection ever replaced,
// Writes would fail rather than count nothing. On PostgreSQL they live in the store's schema,
// and each write appends a row to watched_writes, so concurrent writers never wait on a counter.

// watchSkips are the columns whose updates WatchWrites does not count: a credential's use (its
// last-use time, and a session token's sliding expiry), which authenticating a request records
// whatever the request then turns out to be; and the outbox deliverer's tries, outcome and the
// bodies it clears once a message is settled, which it writes on its own schedule.
var watchSkips = map[string][]string{
	"api_tokens":            {"last_used_at"},
	"session_tokens":        {"last_used_at", "expires_at"},
	"session_cache_changes": {"n"}, // SQLite's count of changes the session cache must see, bumped by triggers
	"mail_outbox":           {"attempts", "next_attempt_at", "last_error", "sent_at", "failed_at", "text_body", "html_body"},
}

// WatchWrites starts counting the rows written to every table in Tables. Calling it again keeps
// the counts. For tests.
func (s *Store) WatchWrites(ctx context.Context) error {
	stmts, err := s.watchStatements(ctx)
	if err != nil {
		return err
	}
	for _, q := range stmts {
		if err := s.w(ctx).Exec(q).Error; err != nil {
			return fmt.Errorf("watch writes: %w", err)
		}
	}
	return nil
}

// Writes returns, for every table in Tables, the rows written to it since WatchWrites.
func (s *Store) Writes(ctx context.Context) (map[string]int64, error) {
	q := "SELECT tbl, n FROM temp.watched_writes"
	if s.dialect == Postgres {
		q = "SELECT tbl, count(*) FROM watched_writes GROUP BY tbl"
	}
	rows, err := s.w(ctx).Raw(q).Rows()
	if err != nil {
		return nil, fmt.Errorf("read watched writes: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int64, len(Tables))
	for _, t := range Tables {
		out[t] = 0
	}
	for rows.Next() {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			return nil, fmt.Errorf("read watched writes: %w", err)
		}
		out[t] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read watched writes: %w", err)
	}
	return out, nil
}

// watchStatements is WatchWrites' DDL for the store's database, one statement each.
func (s *Store) watchStatements(ctx context.Context) ([]string, error) {
	var stmts []string
	schema := ""
	if s.dialect == Postgres {
		if err := s.w(ctx).Raw("SELECT current_schema()").Row().Scan(&schema); err != nil {
			return nil, fmt.Errorf("watch writes: %w", err)
		}
		log := `"` + schema + `".watched_writes`
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+log+" (tbl text NOT NULL)",
			`CREATE OR REPLACE FUNCTION "`+schema+`".watch_write() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN INSERT INTO `+log+` (tbl) VALUES (TG_TABLE_NAME); RETURN NULL; END $$`)
	} else {
		stmts = append(stmts, "CREATE TEMP TABLE IF NOT EXISTS watched_writes (tbl TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0)")
	}
	for _, t := range Tables {
		update, err := s.updateOf(ctx, t)
		if err != nil {
			return nil, err
		}
		if s.dialect == Postgres {
			stmts = append(stmts, "CREATE OR REPLACE TRIGGER watch_writes AFTER INSERT OR DELETE OR "+update+
				" ON "+t+` FOR EACH ROW EXECUTE FUNCTION "`+schema+`".watch_write()`)
			continue
		}
		count := " ON main." + t + " BEGIN UPDATE temp.watched_writes SET n = n + 1 WHERE tbl = '" + t + "'; END"
		stmts = append(stmts,
			"INSERT OR IGNORE INTO temp.watched_writes (tbl) VALUES ('"+t+"')",
			"CREATE TEMP TRIGGER IF NOT EXISTS watch_"+t+"_insert AFTER INSERT"+count,
			"CREATE TEMP TRIGGER IF NOT EXISTS watch_"+t+"_delete AFTER DELETE"+count,
			"CREATE TEMP TRIGGER IF NOT EXISTS watch_"+t+"_update AFTER "+update+count)
	}
	return stmts, nil
}

// updateOf is the UPDATE event of table t's trigger: any update, or with watchSkips, updates of
// the other columns.
func (s *Store) updateOf(ctx context.Context, t string) (string, error) {
	skip := watchSkips[t]
	if len(skip) == 0 {
		return "UPDATE", nil
	}
	cols, err := s.w(ctx).Migrator().ColumnTypes(t)
	if err != nil {
		return "", fmt.Errorf("watch writes: columns of %s: %w", t, err)
	}
	var names []string
	for _, c := range cols {
		if !slices.Contains(skip, c.Name()) {
			names = append(names, c.Name())
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("watch writes: no columns of %s left to watch", t)
	}
	return "UPDATE OF " + strings.Join(names, ", "), nil
}
