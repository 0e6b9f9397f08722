package store

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
)

// Tables lists every table the store owns, for row accounting in tests and operations
// (RowCounts, WatchWrites). It is read from the migrations themselves, so a table a migration
// adds is counted without anyone remembering to list it: a table missing here would make
// NoWrites blind to it. The store suite checks it against the tables of a migrated database on
// each backend, and TablesOf against both dialects' migrations.
var Tables = mustTables(TablesOf(migrations, "migrations/sqlite"))

func mustTables(tables []string, err error) []string {
	if err != nil {
		panic(err) // the migrations are embedded: this is a bug in them, found by every test run
	}
	return tables
}

var (
	sqlLineComment = regexp.MustCompile(`--[^\n]*`)
	createTable    = regexp.MustCompile(`(?i)^CREATE\s+(?:(?:UNLOGGED|TEMP|TEMPORARY)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"?(\w+)"?`)
	dropTable      = regexp.MustCompile(`(?i)^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?"?(\w+)"?`)
	renameTable    = regexp.MustCompile(`(?i)^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?"?(\w+)"?\s+RENAME\s+TO\s+"?(\w+)"?`)
)

// TablesOf lists the tables that the goose migrations in dir of fsys leave behind when applied
// in order: their Up sections' CREATE TABLE, less DROP TABLE, following ALTER TABLE ... RENAME
// TO. Tables come in the order they were created.
func TablesOf(fsys fs.FS, dir string) ([]string, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	version := func(name string) int64 {
		v, _ := strconv.ParseInt(strings.SplitN(path.Base(name), "_", 2)[0], 10, 64)
		return v
	}
	slices.SortFunc(files, func(a, b string) int { return int(version(a) - version(b)) })
	var tables []string
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		text := string(b)
		up := strings.Index(text, "-- +goose Up")
		if up < 0 {
			return nil, fmt.Errorf("tables of %s: no -- +goose Up", f)
		}
		text = text[up:]
		if down := strings.Index(text, "-- +goose Down"); down >= 0 {
			text = text[:down]
		}
		for stmt := range strings.SplitSeq(sqlLineComment.ReplaceAllString(text, ""), ";") {
			stmt = strings.TrimSpace(stmt)
			if m := createTable.FindStringSubmatch(stmt); m != nil {
				if slices.Contains(tables, m[1]) {
					return nil, fmt.Errorf("tables of %s: %s created twice", f, m[1])
				}
				tables = append(tables, m[1])
			} else if m := dropTable.FindStringSubmatch(stmt); m != nil {
				tables = slices.DeleteFunc(tables, func(t string) bool { return t == m[1] })
			} else if m := renameTable.FindStringSubmatch(stmt); m != nil {
				if i := slices.Index(tables, m[1]); i >= 0 {
					tables[i] = m[2]
				}
			}
		}
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("tables of %s: no CREATE TABLE found", dir)
	}
	return tables, nil
}

// SchemaTables lists the tables of the store's database (its schema, on PostgreSQL), sorted,
// leaving out the migrations' own bookkeeping and the write counter of WatchWrites: the tables
// that Tables must name.
func (s *Store) SchemaTables(ctx context.Context) ([]string, error) {
	q := `SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`
	if s.dialect == Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	var names []string
	if err := s.w(ctx).Raw(q).Scan(&names).Error; err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == goose.DefaultTablename || n == "watched_writes" })
	slices.Sort(names)
	return names, nil
}
