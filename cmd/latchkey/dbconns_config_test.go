package main

import (
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
