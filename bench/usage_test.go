package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/bench/load"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// A split is the difference of two samples over the time between them: the slots' busy share,
// the time a hash held its slot, the CPU each took, and the ceiling the others left.
func TestUsageSplit(t *testing.T) {
	a := usageSample{At: time.Second, Hashes: 10, SlotSeconds: 1, Slots: 2,
		CPU: cpuTimes{Busy: 100, Idle: 50, Server: 60, Postgres: 10, Bench: 5}}
	b := usageSample{At: 3 * time.Second, Hashes: 110, SlotSeconds: 4.6, Slots: 2,
		CPU: cpuTimes{Busy: 103.8, Idle: 50.2, Server: 63.2, Postgres: 10.2, Bench: 5.2}}
	u := a.split(b)
	if u.Window != 2*time.Second || u.Hashes != 100 || !near(u.Busy, 0.9) || u.Held != 36*time.Millisecond {
		t.Errorf("split: window %v, hashes %v, busy %v, held %v; want 2s, 100, 0.9, 36ms", u.Window, u.Hashes, u.Busy, u.Held)
	}
	if !near(u.CPUs, 2) || !near(u.Server, 1.6) || !near(u.Postgres, 0.1) || !near(u.Bench, 0.1) || !near(u.Other, 0.1) || !near(u.Idle, 0.1) {
		t.Errorf("split CPU: %+v", u)
	}
	// The others took 0.3 of 2 CPUs: 0.85 of the machine was left.
	if !near(u.Ceiling(), 0.85) {
		t.Errorf("ceiling %v, want 0.85", u.Ceiling())
	}
	if (usageSplit{}).Ceiling() != 0 {
		t.Error("the ceiling of an empty split is not 0")
	}
}

// /proc/<pid>/stat: comm may hold spaces and parentheses; utime and stime are counted after it.
func TestParseProcStat(t *testing.T) {
	line := "4242 (post (gres) x) S 1 4242 4242 0 -1 4194560 6080 0 0 0 250 130 0 0 20 0 1 0 1433 223490048 5881 18446744073709551615\n"
	secs, comm, err := parseProcStat([]byte(line))
	if err != nil || !near(secs, 3.8) || comm != "post (gres) x" {
		t.Errorf("parseProcStat: %v %q %v; want 3.8 %q", secs, comm, err, "post (gres) x")
	}
	for _, bad := range []string{"", "4242 postgres S 1", "4242 (postgres) S 1 2 3", "4242 (p) S 1 4242 4242 0 -1 4194560 6080 0 0 0 x 130 0"} {
		if _, _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
	// And this process's own, read for real.
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		if _, comm, err := processCPU("self"); err != nil || comm == "" {
			t.Errorf("processCPU(self): %q %v", comm, err)
		}
		c, err := readCPUTimes(os.Getpid())
		// Server and Bench are this process read twice, a moment apart: equal but for the CPU time
		// spent between the two reads.
		if err != nil || c.Busy <= 0 || math.Abs(c.Server-c.Bench) > 0.5 {
			t.Errorf("readCPUTimes(self): %+v %v", c, err)
		}
	}
}

// The report shows where the hash-judged rows' and the flood's time went, and the checks name
// the ceiling.
func TestReportUsage(t *testing.T) {
	u := &usageSplit{Window: 10 * time.Second, Slots: 2, Hashes: 700, Busy: 0.97, Held: 29 * time.Millisecond,
		CPUs: 2, Server: 1.81, Postgres: 0.09, Bench: 0.07, Other: 0.03}
	r := &report{
		Opts:      &options{concs: []int{16}, dbs: []string{"postgres"}, scenarios: map[string]bool{"signin": true}},
		Baselines: []*baseline{{DB: "postgres", Hash: &hashResult{Hashes: 80, Elapsed: time.Second}}},
		Rows:      []row{{DB: "postgres", Scenario: "signin", VsHash: true, Conc: 16, Res: rps(16, 70), Usage: u}},
	}
	var sb strings.Builder
	r.writeUsage(&sb)
	if !strings.Contains(sb.String(), "| postgres | signin | 16 | 0.875 | 0.905 | 2 | 97% | 29.00 ms |") {
		t.Errorf("usage table:\n%s", sb.String())
	}
	checkSays(t, r, "signin on postgres", "PASS", "= 0.875 × 80.0 raw hashes/s", "ceiling 0.905", "0.967 (>= 0.90)") // 0.875 / 0.905

	// A row without usage prints no table.
	r.Rows[0].Usage = nil
	sb.Reset()
	if r.writeUsage(&sb); sb.Len() != 0 {
		t.Errorf("usage table without usage:\n%s", sb.String())
	}

	// A floor-judged row gets the CPU split and Latchkey's and PostgreSQL's CPU per request: 0.9
	// CPUs over 6000 requests a second is 150 µs each, 0.5 CPUs 83 µs. Hash rows are not in that
	// table.
	r.Opts.scenarios["getuser"] = true
	r.Baselines[0].Floor = map[int]*load.Result{16: rps(16, 20000)}
	r.Rows = append(r.Rows, row{DB: "postgres", Scenario: "getuser", Conc: 16, Res: rps(16, 6000),
		Usage: &usageSplit{Window: 10 * time.Second, CPUs: 2, Server: 0.9, Postgres: 0.5, Bench: 0.5, Other: 0.05, Idle: 0.05}})
	sb.Reset()
	r.writeFloorUsage(&sb)
	if out := sb.String(); !strings.Contains(out, "| postgres | getuser | 16 | 0.300 | 0.90 | 150 µs | 0.50 | 83 µs | 0.50 | 0.05 | 0.05 |") ||
		strings.Contains(out, "signin") {
		t.Errorf("floor usage table:\n%s", out)
	}
}
