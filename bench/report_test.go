package main

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/bench/load"
	"github.com/latchkey/latchkey/server"
)

// rps returns a result of n requests in one second.
func rps(conc int, n int64) *load.Result {
	return &load.Result{Concurrency: conc, OK: n, Elapsed: time.Second}
}

// ceilingUsage is a usage split whose ceiling is c: the rest of a 2-CPU machine took 2(1-c) CPUs.
func ceilingUsage(c float64) *usageSplit {
	return &usageSplit{CPUs: 2, Server: 2 * c, Postgres: 2 * (1 - c)}
}

// A row is judged against the baselines measured just before its own database, not against
// another database's, and a sign-in against the ceiling of its run.
func TestRatioUsesOwnDatabaseBaseline(t *testing.T) {
	r := &report{
		Opts: &options{concs: []int{16}, dbs: []string{"sqlite", "postgres"}, scenarios: map[string]bool{"refresh": true, "signin": true}},
		Baselines: []*baseline{
			{DB: "sqlite", Floor: map[int]*load.Result{16: rps(16, 20000)}, Hash: &hashResult{Hashes: 90, Elapsed: time.Second}},
			{DB: "postgres", Floor: map[int]*load.Result{16: rps(16, 25000)}, Hash: &hashResult{Hashes: 72, Elapsed: time.Second}},
		},
		Rows: []row{
			{DB: "sqlite", Scenario: "signin", VsHash: true, Conc: 16, Res: rps(16, 81), Usage: ceilingUsage(0.95)},
			{DB: "postgres", Scenario: "signin", VsHash: true, Conc: 16, Res: rps(16, 72), Usage: ceilingUsage(0.8)},
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

	// The checks name the yardstick they used, and judge sign-in against the ceiling:
	// 81 / 90 = 0.900 of the raw rate, 0.947 of the ceiling 0.95.
	checkSays(t, r, "refresh on postgres", "PASS", "floor 25000 req/s at c=16 measured just before postgres", "0.200 (>= 0.12)")
	checkSays(t, r, "signin on sqlite", "PASS", "81.0 req/s = 0.900 × 90.0 raw hashes/s measured just before sqlite", "ceiling 0.950", "0.947 (>= 0.90)")

	// A row measured between two hash-rate measurements is judged against their mean instead,
	// and says so: 72 / 80 = 0.900 of the raw rate, below 0.90 of the ceiling 1.0.
	r.Rows[1].Hash, r.Rows[1].Usage = 80, ceilingUsage(1)
	if v, base, _, _ := r.ratio(r.Rows[1]); base != 80 || v != 0.9 {
		t.Errorf("bracketed row: ratio %v against %v, want 0.9 against 80", v, base)
	}
	checkSays(t, r, "signin on postgres", "PASS", "0.900 × 80.0 raw hashes/s measured around the run", "ceiling 1.000", "0.900 (>= 0.90)")
	r.Rows[1].Res = rps(16, 71)
	checkSays(t, r, "signin on postgres", "FAIL", "0.887 (>= 0.90)")
	r.Rows[1].Usage = nil // no CPU split: no ceiling to judge against
	checkSays(t, r, "signin on postgres", "SKIP", "no ceiling")

	// So is a floor-target row measured between two floor measurements.
	r.Rows[2].Floor = 20000
	if v, base, _, _ := r.ratio(r.Rows[2]); base != 20000 || v != 0.25 {
		t.Errorf("bracketed refresh row: ratio %v against %v, want 0.25 against 20000", v, base)
	}
	checkSays(t, r, "refresh on postgres", "PASS", "floor 20000 req/s at c=16 measured around the run", "0.250 (>= 0.12)")

	// A database without baselines has no ratio.
	if _, _, _, ok := r.ratio(row{DB: "other", Scenario: "refresh", Conc: 16, Res: rps(16, 1)}); ok {
		t.Error("ratio without a baseline for the row's database: ok = true")
	}
}

// checkSays fails unless r has a check whose target starts with prefix, and every such check has
// status and says each of want.
func checkSays(t *testing.T, r *report, prefix, status string, want ...string) {
	t.Helper()
	found := false
	for _, c := range r.checks() {
		if strings.HasPrefix(c.Target, prefix) {
			found = true
			if c.Status != status {
				t.Errorf("%s check: %s, want %s: %s", prefix, c.Status, status, c.Text())
			}
			for _, w := range want {
				if !strings.Contains(c.Text(), w) {
					t.Errorf("%s check does not say %q: %s", prefix, w, c.Text())
				}
			}
		}
	}
	if !found {
		t.Errorf("no %s check", prefix)
	}
}

// yardsInOrder is a yardstick that gives yards one after another, noting each call in calls.
func yardsInOrder(calls *[]string, yards []float64) func() (float64, error) {
	return func() (float64, error) {
		*calls = append(*calls, "yard")
		return yards[strings.Count(strings.Join(*calls, " "), "yard")-1], nil
	}
}

// A judged row runs -repeat times, each run between two measurements of its yardstick (one shared
// with the next run), and shows its median run.
func TestMeasureRunsInterleavesYardstick(t *testing.T) {
	yards := []float64{100, 80, 120, 60}
	rates := []int64{45, 60, 30} // over yardsticks 90, 100, 90: 0.5, 0.6, 0.333
	var calls []string
	rw := row{DB: "postgres", Scenario: "signin", VsHash: true, Conc: 16}
	err := rw.measureRuns(3, 1, func(int) (rowRun, error) {
		calls = append(calls, "run")
		return rowRun{Res: rps(16, rates[len(rw.Runs)])}, nil
	}, yardsInOrder(&calls, yards), (&report{Opts: &options{}}).medianRun)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(calls, " "); got != "yard run yard run yard run yard" {
		t.Errorf("order: %s", got)
	}
	for i, want := range []float64{90, 100, 90} {
		if rw.Runs[i].Yard != want {
			t.Errorf("run %d: yardstick %v, want %v", i, rw.Runs[i].Yard, want)
		}
	}
	if rw.Res.OK != 45 || rw.Hash != 90 {
		t.Errorf("median run: %d req/s against %v, want 45 against 90 (0.5 of 0.333, 0.5, 0.6)", rw.Res.OK, rw.Hash)
	}
	if i := medianIndex(2, func(i int) float64 { return []float64{3, 1}[i] }); i != 1 {
		t.Errorf("median of two = index %d, want the lower (1)", i)
	}
}

// A run measured in segments has the yardstick measured between its segments too, and is judged
// against what each segment's own yardstick and ceiling allowed in its window: a segment run
// while the machine was slow is held to the rate measured next to it.
func TestMeasureRunsInSegments(t *testing.T) {
	yards := []float64{100, 100, 60, 60, 100} // segment yardsticks: 100, 80, 60, 80
	ceilings := []float64{1, 0.5, 1, 1}
	oks := []int64{90, 36, 54, 72} // 0.9 of each segment's capacity (100, 40, 60, 80 per second)
	var calls []string
	var segs []int
	n := 0
	rw := row{DB: "sqlite", Scenario: "signin", VsHash: true, Conc: 16}
	err := rw.measureRuns(2, 2, func(seg int) (rowRun, error) {
		calls = append(calls, "seg")
		segs = append(segs, seg)
		u := ceilingUsage(ceilings[n])
		u.Window, u.Hashes, u.Held, u.Busy = time.Second, float64(oks[n]), 20*time.Millisecond, 0.5+0.1*float64(n)
		run := rowRun{Res: rps(16, oks[n]), Usage: u}
		n++
		return run, nil
	}, yardsInOrder(&calls, yards), (&report{Opts: &options{}}).medianRun)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(calls, " "); got != "yard seg yard seg yard seg yard seg yard" {
		t.Errorf("order: %s", got)
	}
	if fmt.Sprint(segs) != "[0 1 0 1]" {
		t.Errorf("segments told: %v", segs)
	}
	if len(rw.Runs) != 2 {
		t.Fatalf("%d runs, want 2", len(rw.Runs))
	}
	r := &report{Opts: &options{}}
	for i, run := range rw.Runs {
		if run.Res.OK != oks[2*i]+oks[2*i+1] || run.Res.Elapsed != 2*time.Second {
			t.Errorf("run %d: %d requests in %v, want %d in 2s", i, run.Res.OK, run.Res.Elapsed, oks[2*i]+oks[2*i+1])
		}
		v := r.judgeRun(rw, run, judgedCeiling, 0.9)
		if math.Abs(v.Figure-0.9) > 1e-9 || !v.Pass {
			t.Errorf("run %d: ratio %v (pass %v), want 0.9 of what its segments allowed", i, v.Figure, v.Pass)
		}
	}
	u := rw.Runs[0].Usage
	if u.Window != 2*time.Second || u.Hashes != 126 || math.Abs(u.Ceiling()-0.75) > 1e-9 || math.Abs(u.Busy-0.55) > 1e-9 {
		t.Errorf("merged usage: %+v (ceiling %v)", *u, u.Ceiling())
	}
	// A segment whose yardstick was not measured leaves its run's unmeasured: the baseline stands in.
	if got := mergeSegments([]rowRun{{Res: rps(16, 1), Yard: 100}, {Res: rps(16, 1)}}); got.Yard != 0 {
		t.Errorf("yardstick with an unmeasured segment: %v, want 0", got.Yard)
	}
}

// The table shows the run the verdict calls the median, by the verdict's own figure: a run whose
// yardstick was not measured around it is judged against its database's baseline, and sorts
// among the others by that ratio, not by its bare req/s.
func TestTableShowsTheVerdictsMedianRun(t *testing.T) {
	r := &report{
		Opts:      &options{concs: []int{16}, dbs: []string{"sqlite"}, scenarios: map[string]bool{"signin": true, "hash": true}, repeat: 3},
		Baselines: []*baseline{{DB: "sqlite", Floor: map[int]*load.Result{}, Hash: &hashResult{Hashes: 90, Elapsed: time.Second}}},
	}
	// The second yardstick measurement fails: the first two runs have none of their own.
	yards := []float64{90, 0, 90, 110}
	rates := []int64{81, 72, 95} // over 90 (the baseline), 90 (the baseline), 100: 0.9, 0.8, 0.95
	calls := 0
	rw := row{DB: "sqlite", Scenario: "signin", VsHash: true, Conc: 16}
	err := rw.measureRuns(3, 1, func(int) (rowRun, error) {
		return rowRun{Res: rps(16, rates[len(rw.Runs)]), Usage: ceilingUsage(1)}, nil
	}, func() (float64, error) {
		calls++
		if yards[calls-1] == 0 {
			return 0, errors.New("the hash measurement failed")
		}
		return yards[calls-1], nil
	}, r.medianRun)
	if err != nil {
		t.Fatal(err)
	}
	r.Rows = []row{rw}
	checkSays(t, r, "signin on sqlite", "PASS", "81.0 req/s = 0.900 × 90.0 raw hashes/s measured just before sqlite", "2 of 3 pass: 0.900, 0.800 ✗, 0.950")
	var b strings.Builder
	r.write(&b)
	if !strings.Contains(b.String(), "| sqlite | signin | 16 | 81.0 |") {
		t.Errorf("the table does not show the verdict's median run (81 req/s):\n%s", b.String())
	}
}

// Most runs must pass; the cells are the median run's; runs that cannot be judged do not count.
func TestVerdictOfRuns(t *testing.T) {
	run := func(f float64) runVerdict {
		return runVerdict{Pass: f >= 0.9, Figure: f, Short: fmt.Sprintf("%.2f", f), Ratio: fmt.Sprintf("%.2f", f)}
	}
	for _, c := range []struct {
		runs         []runVerdict
		status, cell string
		runsText     string
	}{
		{[]runVerdict{run(0.95), run(0.85), run(0.91)}, "PASS", "0.91", "2 of 3 pass: 0.95, 0.85 ✗, 0.91"},
		{[]runVerdict{run(0.95), run(0.85), run(0.89)}, "FAIL", "0.89", "1 of 3 pass: 0.95, 0.85 ✗, 0.89 ✗"},
		{[]runVerdict{run(0.95), {Skip: "no ceiling"}, run(0.85)}, "FAIL", "0.85", "1 of 2 pass: 0.95, not judged, 0.85 ✗"},
		{[]runVerdict{{Skip: "no ceiling"}}, "SKIP", "", ""},
	} {
		got := verdict("t", c.runs)
		if got.Status != c.status || got.Ratio != c.cell || got.Runs != c.runsText {
			t.Errorf("%+v: %s %q %q, want %s %q %q", c.runs, got.Status, got.Ratio, got.Runs, c.status, c.cell, c.runsText)
		}
	}
}

// The median run decides, and it is the run that more than half pass against: with an even count
// of judged runs (one could not be judged) the worse of the two middle ones, whichever way the
// figure runs (a peak RSS is better lower), and a run with failed requests counts as failed
// whatever its figure.
func TestMedianRunDecides(t *testing.T) {
	flood := func(peak int64) floodRun {
		return floodRun{Result: &floodResult{Fired: 10, OK: 10, PeakRSS: peak,
			Health: probeResult{Latency: load.Summary{Count: 1}}, Refresh: probeResult{Latency: load.Summary{Count: 1}}}}
	}
	r := &report{
		Opts: &options{concs: []int{16}, dbs: []string{"sqlite"}, scenarios: map[string]bool{"flood": true, "signin": true}, flood: 10, rssWait: time.Minute},
		DBs: []*dbRun{{Name: "sqlite", Floods: []floodRun{flood(100 << 20), {Err: "flood setup: 500"}, flood(350 << 20)},
			RSS: rssWatch{Watched: time.Minute, After: 50 << 20}}},
		Baselines: []*baseline{{DB: "sqlite", Floor: map[int]*load.Result{}, Hash: &hashResult{Hashes: 100, Elapsed: time.Second}}},
	}
	checkSays(t, r, "flood on sqlite: peak RSS", "FAIL", "350.0 MiB (10 signed in", "1 of 2 pass: 100.0 MiB, not judged, 350.0 MiB ✗")

	// Sign-in: the fastest run had a failed request; the median is then the slowest passing one.
	bad := rps(16, 99)
	bad.Errors = 1
	r.Rows = []row{{DB: "sqlite", Scenario: "signin", VsHash: true, Conc: 16, Res: rps(16, 95), Runs: []rowRun{
		{Res: rps(16, 95), Usage: ceilingUsage(1), Yard: 100},
		{Res: bad, Usage: ceilingUsage(1), Yard: 100},
		{Res: rps(16, 92), Usage: ceilingUsage(1), Yard: 100},
	}}}
	checkSays(t, r, "signin on sqlite", "PASS", "92.0 req/s", "2 of 3 pass: 0.950, 0.990 ✗, 0.920")
	if m := r.medianRun(r.Rows[0]); m != 2 {
		t.Errorf("the table's median run is %d, want the verdict's (2)", m)
	}
}

// Goodput counts the sign-ins until 90% of the clients were served and is judged against the
// ceiling; the flood's verdicts follow the targets, and most floods decide.
func TestFloodGoodputAndChecks(t *testing.T) {
	f := &floodResult{Fired: 1000, OK: 1000, Elapsed: 20 * time.Second, Refused: 3000,
		ServedN: 900, Served: 15 * time.Second,
		Refusal:       load.Summary{Count: 3000, P99: 20 * time.Millisecond},
		ServerRefusal: refusalHist(2900, 100, 0), // 99% within 25 ms
		Health:        probeResult{Latency: load.Summary{Count: 100, Max: 50 * time.Millisecond}},
		Refresh:       probeResult{Latency: load.Summary{Count: 100, P99: 80 * time.Millisecond}},
		Usage:         *ceilingUsage(0.98),
		PeakRSS:       200 << 20}
	if g := f.Goodput(); g != 60 {
		t.Fatalf("goodput = %v, want 900 / 15s = 60", g)
	}
	r := &report{
		Opts:      &options{concs: []int{16}, dbs: []string{"postgres"}, scenarios: map[string]bool{"flood": true}, flood: 1000, queueTimeout: 3 * time.Second, rssWait: time.Minute},
		Baselines: []*baseline{{DB: "postgres", Floor: map[int]*load.Result{}, Hash: &hashResult{Hashes: 64, Elapsed: time.Second}}},
		DBs: []*dbRun{{Name: "postgres", Floods: []floodRun{{Result: f}}, RSSStart: 60 << 20,
			RSS: rssWatch{Watched: time.Minute, After: 45 << 20, Below: 8 * time.Second}}},
	}
	verdicts := func() string {
		var out []string
		for _, c := range r.floodChecks("postgres") {
			out = append(out, c.Status)
		}
		return strings.Join(out, " ")
	}
	if v := verdicts(); v != "PASS PASS PASS PASS PASS PASS" {
		t.Errorf("a good flood: %s", v) // goodput 60 / 64 = 0.9375 raw, 0.957 of the ceiling 0.98
	}
	// The clients' view of the 503s includes the machine taking in a burst of connections; the
	// server's own time is judged.
	f.Refusal.P99 = 2 * time.Second
	if v := verdicts(); v != "PASS PASS PASS PASS PASS PASS" {
		t.Errorf("503s slow to reach the clients, fast in the server: %s", v)
	}
	f.RefusedLate = 1
	if v := verdicts(); v != "PASS PASS PASS FAIL PASS PASS" {
		t.Errorf("a 503 after waiting out the deadline: %s", v)
	}
	f.RefusedLate, f.ServerRefusalErr = 0, "GET /metrics: 500"
	if v := verdicts(); v != "PASS PASS PASS FAIL PASS PASS" {
		t.Errorf("server's refusal times not read: %s", v)
	}
	f.ServerRefusalErr = ""
	// A ceiling of 0.8 leaves the same goodput 1.17 of it; a raw ratio of 0.94 against a ceiling
	// of 1.0 would not pass 0.90 of the raw rate itself were the rate lower: 45 / 64 = 0.70.
	f.Usage = *ceilingUsage(0.8)
	checkSays(t, r, "flood on postgres: sign-in goodput", "PASS", "60.0 sign-ins/s = 0.938 × 64.0 raw hashes/s measured just before postgres", "ceiling 0.800", "1.172 (>= 0.90)")
	f.ServerRefusal, f.Served, f.Refresh.Errors, f.Usage = refusalHist(2900, 0, 100), 18*time.Second, 1, *ceilingUsage(0.98)
	if v := verdicts(); v != "PASS PASS FAIL FAIL FAIL PASS" {
		t.Errorf("slow 503s in the server, goodput 0.80 of the ceiling, a refresh error: %s", v)
	}
	f.Refused = 0 // nothing refused: the 503 check has nothing to judge
	if v := verdicts(); v != "PASS PASS FAIL SKIP FAIL PASS" || f.Goodput() != 50 {
		t.Errorf("no refusals: %s, goodput %v", v, f.Goodput())
	}
	f.Served, f.Usage, f.UsageErr = 0, usageSplit{}, "too few clients signed in" // fewer than 90% signed in: no goodput
	if v := verdicts(); v != "PASS PASS FAIL SKIP FAIL PASS" || f.Goodput() != 0 {
		t.Errorf("most clients unserved: %s, goodput %v", v, f.Goodput())
	}

	// The hash rate measured around the flood is its yardstick when there is one.
	f.Served, f.Refusal.P99, f.Refresh.Errors, f.Refused, f.Usage, f.UsageErr = 15*time.Second, 20*time.Millisecond, 0, 3000, *ceilingUsage(1), ""
	f.ServerRefusal = refusalHist(3000, 0, 0)
	r.DBs[0].Floods[0].Hash = 50
	checkSays(t, r, "flood on postgres: sign-in goodput", "PASS", "60.0 sign-ins/s = 1.200 × 50.0 raw hashes/s measured around the flood", "1.200 (>= 0.90)")

	// Two more floods: most decide, the median's figures are shown.
	bad := *f
	bad.Served = 30 * time.Second // 30 sign-ins/s: 0.6 of the ceiling
	r.DBs[0].Floods = append(r.DBs[0].Floods, floodRun{Result: &bad, Hash: 50}, floodRun{Result: &bad, Hash: 50})
	checkSays(t, r, "flood on postgres: sign-in goodput", "FAIL", "1 of 3 pass: 1.200, 0.600 ✗, 0.600 ✗")
	r.DBs[0].Floods[2].Result = f
	checkSays(t, r, "flood on postgres: sign-in goodput", "PASS", "2 of 3 pass: 1.200, 0.600 ✗, 1.200")

	// What the floods left of the memory: below 100 MiB by the end of the watch.
	checkSays(t, r, "Latchkey's RSS on postgres", "PASS", "**45.0 MiB** 1m0s after the last flood's end (below 100.0 MiB 8s after", "at start 60.0 MiB, peak 200.0 MiB", "0.45 (< 1)")
	r.DBs[0].RSS = rssWatch{Watched: time.Minute, After: 177 << 20, Below: -1}
	checkSays(t, r, "Latchkey's RSS on postgres", "FAIL", "177.0 MiB", "never below 100.0 MiB")
}

// The memory verdicts need their readings: a watch that broke off, or ended before -rss-wait,
// says nothing of the RSS at the end of the wait, and a flood whose VmHWM could not be read has
// no peak to judge; neither passes.
func TestRSSVerdictsNeedTheirReadings(t *testing.T) {
	f := &floodResult{Fired: 10, OK: 10, Health: probeResult{Latency: load.Summary{Count: 1}}, Refresh: probeResult{Latency: load.Summary{Count: 1}},
		PeakRSS: 200 << 20}
	r := &report{
		Opts: &options{concs: []int{16}, dbs: []string{"sqlite"}, scenarios: map[string]bool{"flood": true}, flood: 10, rssWait: time.Minute},
		DBs:  []*dbRun{{Name: "sqlite", Floods: []floodRun{{Result: f}}, RSS: rssWatch{Watched: time.Minute, After: 45 << 20, Below: time.Second}}},
	}
	checkSays(t, r, "Latchkey's RSS on sqlite", "PASS", "0.45 (< 1)")
	r.DBs[0].RSS = rssWatch{Watched: 20 * time.Second, After: 45 << 20, Below: time.Second, Err: "open /proc/42/status: no such file or directory"}
	checkSays(t, r, "Latchkey's RSS on sqlite", "SKIP", "the watch broke off after 20s", "no such file")
	r.DBs[0].RSS = rssWatch{Watched: 30 * time.Second, After: 45 << 20, Below: time.Second}
	checkSays(t, r, "Latchkey's RSS on sqlite", "SKIP", "watched 30s of 1m0s")

	checkSays(t, r, "flood on sqlite: peak RSS", "PASS", "200.0 MiB")
	f.PeakRSS = 0
	r.DBs[0].Floods[0].Err = "flood: reading the server's VmHWM: open /proc/42/status: no such file or directory"
	checkSays(t, r, "flood on sqlite: peak RSS", "SKIP", "VmHWM not read")
}

// A selected target that could not be judged (no ceiling, a failed setup, a missing yardstick) is
// a problem: the report says so at the top and the exit status is 1. Targets the run did not
// select (-db, -scenarios, -flood 0) and those of a database that was unreachable stay quiet
// SKIPs.
func TestUnjudgedTargetIsAProblem(t *testing.T) {
	good := []rowRun{{Res: rps(16, 85), Usage: ceilingUsage(0.95), Yard: 90}}
	r := &report{
		Opts:      &options{concs: []int{16}, dbs: []string{"sqlite", "postgres"}, scenarios: map[string]bool{"signin": true}, repeat: 1},
		Baselines: []*baseline{{DB: "sqlite", Floor: map[int]*load.Result{}, Hash: &hashResult{Hashes: 90, Elapsed: time.Second}}},
		Rows:      []row{{DB: "sqlite", Scenario: "signin", VsHash: true, Conc: 16, Res: rps(16, 85), Runs: good}},
		DBs:       []*dbRun{{Name: "sqlite"}, {Name: "postgres", Skipped: "connection refused"}},
	}
	// Sign-in on SQLite passes; refresh and GET /user were not selected, PostgreSQL was
	// unreachable (its loud SKIPPED line stands), the flood was not selected.
	checkSays(t, r, "signin on sqlite", "PASS")
	checkSays(t, r, "signin on postgres", "SKIP", "postgres skipped")
	checkSays(t, r, "refresh on postgres", "SKIP", "refresh not selected")
	if r.failed() {
		t.Errorf("a run whose unselected targets are SKIP failed: %v", r.unjudged())
	}

	// The CPU split was not sampled: no ceiling to judge sign-in against.
	r.Rows[0].Runs = []rowRun{{Res: rps(16, 85), Yard: 90}}
	checkSays(t, r, "signin on sqlite", "SKIP", "no ceiling")
	if !r.failed() {
		t.Error("a selected target left unjudged (no ceiling) did not fail the run")
	}
	var b strings.Builder
	r.write(&b)
	if !strings.Contains(b.String(), "**PROBLEM: 1 selected target not judged") {
		t.Errorf("the report does not say a selected target went unjudged:\n%s", b.String())
	}

	// No yardstick: a problem when the raw hash rate was selected and not measured, quiet when
	// the run left it out (-scenarios without hash).
	r.Rows[0].Runs, r.Baselines[0].Hash = []rowRun{{Res: rps(16, 85), Usage: ceilingUsage(0.95)}}, nil
	checkSays(t, r, "signin on sqlite", "SKIP", "hash not selected")
	if r.failed() {
		t.Errorf("a run without the hash phase failed for lack of its yardstick: %v", r.unjudged())
	}
	r.Opts.scenarios["hash"] = true
	checkSays(t, r, "signin on sqlite", "SKIP", "raw hash rate not measured before sqlite")
	if !r.failed() {
		t.Error("a selected target left unjudged (its yardstick not measured) did not fail the run")
	}
	r.Baselines[0].Hash = &hashResult{Hashes: 90, Elapsed: time.Second}

	// Setup failed: the row did not run.
	r.Rows[0] = row{DB: "sqlite", Scenario: "signin", VsHash: true, Conc: 16, Err: "setup: sign-up answered 500"}
	checkSays(t, r, "signin on sqlite", "SKIP", "not run: setup")
	if !r.failed() {
		t.Error("a selected target left unjudged (setup failed) did not fail the run")
	}

	// A flood selected: its 503 target is not judged with -queue-timeout 0 (the run chose no
	// deadline), but is a problem when the flood refused nobody.
	r.Rows[0] = row{DB: "sqlite", Scenario: "signin", VsHash: true, Conc: 16, Res: rps(16, 85), Runs: good}
	r.Opts.scenarios["flood"], r.Opts.flood, r.Opts.rssWait, r.Opts.queueTimeout = true, 10, time.Minute, 3*time.Second
	f := &floodResult{Fired: 10, OK: 10, ServedN: 9, Served: 100 * time.Millisecond, Usage: *ceilingUsage(1), PeakRSS: 100 << 20,
		Health: probeResult{Latency: load.Summary{Count: 1}}, Refresh: probeResult{Latency: load.Summary{Count: 1}}}
	r.DBs[0].Floods = []floodRun{{Result: f}}
	r.DBs[0].RSS = rssWatch{Watched: time.Minute, After: 50 << 20, Below: time.Second}
	checkSays(t, r, "flood on sqlite: sign-ins that cannot start", "SKIP", "no sign-in was refused")
	if !r.failed() {
		t.Error("a flood that refused nobody left its 503 target unjudged without failing the run")
	}
	r.Opts.queueTimeout = 0
	checkSays(t, r, "flood on sqlite: sign-ins that cannot start", "SKIP", "-queue-timeout 0")
	if r.failed() {
		t.Errorf("-queue-timeout 0 left the 503 target unjudged, which the run chose: %v", r.unjudged())
	}
	if got := r.tally(); got != "6 PASS, 0 FAIL, 13 SKIP (13 not selected or not applicable)" { // verify on PostgreSQL, signin-totp on both among them
		t.Errorf("tally: %s", got)
	}
}

// The report's verdict table shows, for each verdict, its ratio, its yardstick and PASS or FAIL.
func TestReportShowsVerdicts(t *testing.T) {
	r := &report{
		Opts:      &options{concs: []int{16}, dbs: []string{"sqlite"}, scenarios: map[string]bool{"signin": true}, repeat: 3},
		Baselines: []*baseline{{DB: "sqlite", Floor: map[int]*load.Result{}, Hash: &hashResult{Hashes: 90, Elapsed: time.Second}}},
		Rows: []row{{DB: "sqlite", Scenario: "signin", VsHash: true, Conc: 16, Res: rps(16, 81), Runs: []rowRun{
			{Res: rps(16, 81), Usage: ceilingUsage(0.95), Yard: 90},
			{Res: rps(16, 70), Usage: ceilingUsage(0.95), Yard: 90},
			{Res: rps(16, 84), Usage: ceilingUsage(0.95), Yard: 90},
		}}},
	}
	var b strings.Builder
	r.write(&b)
	out := b.String()
	for _, want := range []string{
		"| verdict | target | measured (median run) | yardstick | ratio | runs |",
		"| **PASS** | signin on sqlite at c=16: signin req/s >= 0.90 × the ceiling | 81.0 req/s = 0.900 × 90.0 raw hashes/s measured around the run | ceiling 0.950",
		"| 0.947 (>= 0.90) | 2 of 3 pass: 0.947, 0.819 ✗, 0.982 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// The report's header lists the settings the servers ran with that differ from the defaults, from
// the same list the harness starts them with.
func TestReportHeaderListsServerSettings(t *testing.T) {
	o := &options{dbs: []string{"sqlite", "postgres"}, scenarios: map[string]bool{}, queueTimeout: server.DefaultHashQueueTimeout, minConns: 20, repeat: 3}
	header := func() string {
		var b strings.Builder
		(&report{Opts: o}).write(&b)
		head, _, _ := strings.Cut(b.String(), "## Target checks")
		return head
	}
	h := header()
	for _, want := range []string{"LATCHKEY_RATE_LIMITS=false", "LATCHKEY_METRICS_ADDR=off", "LATCHKEY_METRICS_TOKEN", "LATCHKEY_LOG_LEVEL=warn",
		"on postgres: `LATCHKEY_DB_MIN_CONNS=20`"} {
		if !strings.Contains(h, want) {
			t.Errorf("the header does not list %s:\n%s", want, h)
		}
	}
	if strings.Contains(h, "HASH_QUEUE_TIMEOUT") || strings.Contains(h, benchMetricsToken) {
		t.Errorf("the header lists the default queue timeout or the metrics token itself:\n%s", h)
	}
	o.queueTimeout, o.minConns = 5*time.Second, 0
	if h := header(); !strings.Contains(h, "LATCHKEY_HASH_QUEUE_TIMEOUT=5s") || strings.Contains(h, "DB_MIN_CONNS") {
		t.Errorf("-queue-timeout 5s -db-min-conns 0:\n%s", h)
	}

	// The servers get what the header says.
	o.minConns = 20
	for db, want := range map[string]bool{"sqlite": false, "postgres": true} {
		env := strings.Join(serverEnv(o, db), " ")
		if strings.Contains(env, "LATCHKEY_DB_MIN_CONNS=20") != want || !strings.Contains(env, "LATCHKEY_RATE_LIMITS=false") ||
			!strings.Contains(env, "LATCHKEY_HASH_QUEUE_TIMEOUT=5s") {
			t.Errorf("%s server's environment: %s", db, env)
		}
	}
}

// refusalHist is a server refusal histogram with fast answers within 1 ms, mid ones within 25 ms
// and slow ones within 250 ms, as GET /metrics gives it (cumulative, +Inf last).
func refusalHist(fast, mid, slow uint64) serverHist {
	bounds := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, math.Inf(1)}
	h := serverHist{Bounds: bounds, Counts: make([]uint64, len(bounds))}
	for i, b := range bounds {
		h.Counts[i] = fast
		if b >= .025 {
			h.Counts[i] += mid
		}
		if b >= .25 {
			h.Counts[i] += slow
		}
	}
	return h
}

// The server's histogram is read as the bucket bound that holds a quantile, and a flood's own
// observations are what it adds to the histogram as read before it.
func TestServerHist(t *testing.T) {
	h := refusalHist(90, 9, 1)
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, time.Millisecond}, {0.9, time.Millisecond}, {0.91, 25 * time.Millisecond}, {0.99, 25 * time.Millisecond}, {1, 250 * time.Millisecond}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("quantile %v = %v, want %v", c.q, got, c.want)
		}
	}
	if got := (serverHist{}).Quantile(0.99); got != 0 {
		t.Errorf("quantile of an empty histogram = %v", got)
	}
	past := refusalHist(0, 0, 0)
	past.Counts[len(past.Counts)-1] = 5 // five beyond the last bucket
	if got := past.Quantile(0.99); got != time.Duration(math.MaxInt64) || fmtBound(past, got) != "> 10.00 s" {
		t.Errorf("past the last bucket: %v %q", got, fmtBound(past, got))
	}
	d := refusalHist(190, 9, 1).since(refusalHist(100, 0, 0))
	if d.Count() != 100 || d.Quantile(0.99) != 25*time.Millisecond {
		t.Errorf("since: %d observations, p99 %v", d.Count(), d.Quantile(0.99))
	}
}
