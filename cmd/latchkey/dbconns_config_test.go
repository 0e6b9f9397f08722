package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestDBMinConnsConfig: the PostgreSQL connections kept open default to none, are read from the
// environment or the flag and reach the store, and may be neither negative nor more than the
// pool may open.
func TestDBMinConnsConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"default", nil, nil, 0},
		{"env", map[string]string{"LATCHKEY_DB_MIN_CONNS": "4"}, nil, 4},
		{"flag", nil, []string{"--db-min-conns", "20"}, 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, cfg, err := parseServe(t, c.env, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.storeOptions(nil).MinConns; got != c.want {
				t.Errorf("MinConns %d, want %d", got, c.want)
			}
		})
	}
	for _, env := range []map[string]string{
		{"LATCHKEY_DB_MIN_CONNS": "-1"},
		{"LATCHKEY_DB_MIN_CONNS": "21"},
		{"LATCHKEY_DB_MIN_CONNS": "5", "LATCHKEY_DB_MAX_CONNS": "4"},
	} {
		if _, _, err := parseServe(t, env); err == nil || !strings.Contains(err.Error(), "db-min-conns") {
			t.Errorf("%v: %v, want an error naming db-min-conns", env, err)
		}
	}
}

// TestDBMinConnsServeOnly: the connections kept open are the server's. The commands that open the
// database for one job (migrate, keys rotate, user create, mail outbox) neither read
// LATCHKEY_DB_MIN_CONNS, which a deployment sets for all of them alike, nor open that many
// connections: a value serve would refuse leaves them working, and the reference lists the
// setting as read by serve alone.
func TestDBMinConnsServeOnly(t *testing.T) {
	t.Setenv("LATCHKEY_DB_MIN_CONNS", "21") // more than db-max-conns: serve refuses it
	dir := t.TempDir()
	ctx := context.Background()
	for _, args := range [][]string{
		{"migrate"},
		{"keys", "rotate"},
		{"user", "create", "--email", "min-conns@example.com", "--temporary-password"},
		{"mail", "outbox"},
	} {
		full := append(append([]string{"latchkey"}, args...), "--data-dir", dir, "--log-level", "error")
		if err := run(ctx, full, io.Discard, io.Discard); err != nil {
			t.Errorf("%s with LATCHKEY_DB_MIN_CONNS=21: %v", strings.Join(args, " "), err)
		}
	}
	if _, _, err := parseServe(t, nil); err == nil || !strings.Contains(err.Error(), "db-min-conns") {
		t.Errorf("serve with LATCHKEY_DB_MIN_CONNS=21: %v, want an error naming db-min-conns", err)
	}

	doc, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	_, commands, _ := strings.Cut(string(doc), "\n## Commands\n")
	if strings.Count(commands, "--db-min-conns") != strings.Count(commands, "every setting of `serve` but `--db-min-conns`") {
		t.Errorf("the reference lists --db-min-conns as read by a command other than serve:\n%s", commands)
	}
}
