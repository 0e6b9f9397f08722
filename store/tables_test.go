package store

import (
	"slices"
	"testing"
	"testing/fstest"
)

// TestTablesOfBothDialects: both dialects' migrations leave the same tables, and Tables is them.
func TestTablesOfBothDialects(t *testing.T) {
	sqlite, err := TablesOf(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	postgres, err := TablesOf(migrations, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sqlite, postgres) {
		t.Errorf("the SQLite migrations leave tables %v, the PostgreSQL ones %v", sqlite, postgres)
	}
	if !slices.Equal(Tables, sqlite) {
		t.Errorf("Tables = %v, want %v", Tables, sqlite)
	}
	for _, want := range []string{"users", "lockouts", "rate_limits"} {
		if !slices.Contains(Tables, want) {
			t.Errorf("Tables = %v, missing %s", Tables, want)
		}
	}
}

// TestTablesOf: Up sections only, in version order, with drops and renames applied.
func TestTablesOf(t *testing.T) {
	fsys := fstest.MapFS{
		"m/00010_later.sql": {Data: []byte(`-- +goose Up
ALTER TABLE b RENAME TO bee;
DROP TABLE IF EXISTS c;
-- +goose Down
CREATE TABLE never (x int);`)},
		"m/00002_first.sql": {Data: []byte(`-- a comment: CREATE TABLE not_a_table (x int);
-- +goose Up
CREATE TABLE a (x int); create unlogged table IF NOT EXISTS "b" (x int);
CREATE TABLE c (x int); -- CREATE TABLE commented (x int);
CREATE INDEX a_x ON a (x);
-- +goose Down
DROP TABLE a;`)},
	}
	got, err := TablesOf(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "bee"}; !slices.Equal(got, want) {
		t.Errorf("TablesOf = %v, want %v", got, want)
	}
	if _, err := TablesOf(fstest.MapFS{"m/00001_x.sql": {Data: []byte("-- +goose Up\nSELECT 1;")}}, "m"); err == nil {
		t.Error("TablesOf of migrations without a table: no error")
	}
}
