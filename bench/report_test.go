package main

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/bench/load"
)

// rps returns a result of n requests in one second.
func rps(conc int, n int64) *load.Result {
	return &load.Result{Concurrency: conc, OK: n, Elapsed: time.Second}
}

// A row is judged against the baselines measured just before its own
// database, not against another database's.
func TestRatioUsesOwnDatabaseBaseline(t *testing.T) {
	r := &report{
		Opts: &options{concs: []int{16}, dbs: []string{"sqlite", "postgres"}, scenarios: map[string]bool{"refresh": true, "signin": true}},
		Baselines: []*baseline{
			{DB: "sqlite", Floor: map[int]*load.Result{16: rps(16, 20000)}, Hash: &hashResult{Hashes: 90, Elapsed: time.Second}},
			{DB: "postgres", Floor: map[int]*load.Result{16: rps(16, 25000)}, Hash: &hashResult{Hashes: 72, Elapsed: time.Second}},
		},
		Rows: []row{
			{DB: "sqlite", Scenario: "signin", VsHash: true, Conc: 16, Res: rps(16, 81)},
			{DB: "postgres", Scenario: "signin", VsHash: true, Conc: 16, Res: rps(16, 72)},
			{DB: "postgres", Scenario: "refresh", Conc: 16, Res: rps(16, 5000)},
		},
	}
	want := []struct {
		v, base float64
		of      string
	}{{0.9, 90, "hash"}, {1, 72, "hash"}, {0.2, 25000, "floor"}}
	for i, rw := range r.Rows {
		v, base, of, ok := r.ratio(rw)
		if !ok || of != want[i].of || base != want[i].base || v < want[i].v-1e-9 || v > want[i].v+1e-9 {
			t.Errorf("%s %s: ratio = %v, %v, %q, %v; want %v, %v, %q", rw.DB, rw.Scenario, v, base, of, ok, want[i].v, want[i].base, want[i].of)
		}
	}

	// The check lines name the baseline they used.
	for _, c := range r.checks() {
		if strings.HasPrefix(c.Text, "refresh on postgres") && !strings.Contains(c.Text, "vs 25000 floor req/s at c=16 measured just before postgres") {
			t.Errorf("refresh check does not name its baseline: %s", c.Text)
		}
		if strings.HasPrefix(c.Text, "signin on sqlite") && !strings.Contains(c.Text, "vs 90.0 raw hashes/s measured just before sqlite") {
			t.Errorf("sqlite signin check does not name its baseline: %s", c.Text)
		}
	}

	// A database without baselines has no ratio.
	if _, _, _, ok := r.ratio(row{DB: "other", Scenario: "refresh", Conc: 16, Res: rps(16, 1)}); ok {
		t.Error("ratio without a baseline for the row's database: ok = true")
	}
}
