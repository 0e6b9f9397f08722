package main

import (
	"math"
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
	checkSays(t, r, "refresh on postgres", "vs 25000 floor req/s at c=16 measured just before postgres")
	checkSays(t, r, "signin on sqlite", "vs 90.0 raw hashes/s measured just before sqlite")

	// A row measured between two hash-rate measurements is judged against their mean instead,
	// and says so.
	r.Rows[1].Hash = 80
	if v, base, _, _ := r.ratio(r.Rows[1]); base != 80 || v != 0.9 {
		t.Errorf("bracketed row: ratio %v against %v, want 0.9 against 80", v, base)
	}
	checkSays(t, r, "signin on postgres", "vs 80.0 raw hashes/s measured around the row = 0.900")

	// So is a floor-target row measured between two floor measurements.
	r.Rows[2].Floor = 20000
	if v, base, _, _ := r.ratio(r.Rows[2]); base != 20000 || v != 0.25 {
		t.Errorf("bracketed refresh row: ratio %v against %v, want 0.25 against 20000", v, base)
	}
	checkSays(t, r, "refresh on postgres", "vs 20000 floor req/s at c=16 measured around the row = 0.250")

	// A database without baselines has no ratio.
	if _, _, _, ok := r.ratio(row{DB: "other", Scenario: "refresh", Conc: 16, Res: rps(16, 1)}); ok {
		t.Error("ratio without a baseline for the row's database: ok = true")
	}
}

// checkSays fails unless r has a check whose text starts with prefix, and every such check says want.
func checkSays(t *testing.T, r *report, prefix, want string) {
	t.Helper()
	found := false
	for _, c := range r.checks() {
		if strings.HasPrefix(c.Text, prefix) {
			found = true
			if !strings.Contains(c.Text, want) {
				t.Errorf("%s check does not say %q: %s", prefix, want, c.Text)
			}
		}
	}
	if !found {
		t.Errorf("no %s check", prefix)
	}
}

// -repeat reports the run with the median req/s, latencies and all.
func TestMedianRun(t *testing.T) {
	runs := []*load.Result{rps(16, 30), rps(16, 10), rps(16, 20)}
	runs[2].Latency.P99 = 7 * time.Millisecond
	if m := medianRun(runs); m.OK != 20 || m.Latency.P99 != 7*time.Millisecond {
		t.Errorf("median of 30, 10, 20 req/s = %d req/s, p99 %v", m.OK, m.Latency.P99)
	}
	if m := medianRun(runs[:2]); m.OK != 10 {
		t.Errorf("median of two = %d req/s, want the lower", m.OK)
	}
}

// Goodput counts the sign-ins until 90% of the clients were served, and the flood's verdicts
// follow the targets.
func TestFloodGoodputAndChecks(t *testing.T) {
	f := &floodResult{Fired: 1000, OK: 1000, Elapsed: 20 * time.Second, Refused: 3000,
		ServedN: 900, Served: 15 * time.Second,
		Refusal:       load.Summary{Count: 3000, P99: 20 * time.Millisecond},
		ServerRefusal: refusalHist(2900, 100, 0), // 99% within 25 ms
		Health:        probeResult{Latency: load.Summary{Count: 100, Max: 50 * time.Millisecond}},
		Refresh:       probeResult{Latency: load.Summary{Count: 100, P99: 80 * time.Millisecond}},
		PeakRSS:       200 << 20}
	if g := f.Goodput(); g != 60 {
		t.Fatalf("goodput = %v, want 900 / 15s = 60", g)
	}
	r := &report{
		Opts:      &options{concs: []int{16}, dbs: []string{"postgres"}, scenarios: map[string]bool{"flood": true}, flood: 1000, queueTimeout: 3 * time.Second},
		Baselines: []*baseline{{DB: "postgres", Floor: map[int]*load.Result{}, Hash: &hashResult{Hashes: 64, Elapsed: time.Second}}},
		DBs:       []*dbRun{{Name: "postgres", Flood: f}},
	}
	verdicts := func() string {
		var out []string
		for _, c := range r.floodChecks("postgres") {
			out = append(out, c.Status)
		}
		return strings.Join(out, " ")
	}
	if v := verdicts(); v != "PASS PASS PASS PASS PASS" {
		t.Errorf("a good flood: %s", v) // goodput 60 / 64 = 0.94
	}
	// The clients' view of the 503s includes the machine taking in a burst of connections; the
	// server's own time is judged.
	f.Refusal.P99 = 2 * time.Second
	if v := verdicts(); v != "PASS PASS PASS PASS PASS" {
		t.Errorf("503s slow to reach the clients, fast in the server: %s", v)
	}
	f.RefusedLate = 1
	if v := verdicts(); v != "PASS PASS PASS FAIL PASS" {
		t.Errorf("a 503 after waiting out the deadline: %s", v)
	}
	f.RefusedLate, f.ServerRefusalErr = 0, "GET /metrics: 500"
	if v := verdicts(); v != "PASS PASS PASS FAIL PASS" {
		t.Errorf("server's refusal times not read: %s", v)
	}
	f.ServerRefusalErr = ""
	f.ServerRefusal, f.Served, f.Refresh.Errors = refusalHist(2900, 0, 100), 18*time.Second, 1
	if v := verdicts(); v != "PASS PASS FAIL FAIL FAIL" {
		t.Errorf("slow 503s in the server, goodput 0.83, a refresh error: %s", v)
	}
	f.Refused = 0 // nothing refused: the 503 check has nothing to judge
	if v := verdicts(); v != "PASS PASS FAIL SKIP FAIL" || f.Goodput() != 50 {
		t.Errorf("no refusals: %s, goodput %v", v, f.Goodput())
	}
	f.Served = 0 // fewer than 90% signed in: no goodput
	if v := verdicts(); v != "PASS PASS FAIL SKIP FAIL" || f.Goodput() != 0 {
		t.Errorf("most clients unserved: %s, goodput %v", v, f.Goodput())
	}

	// The hash rate measured around the flood is its yardstick when there is one.
	f.Served, f.Refusal.P99, f.Refresh.Errors, f.Refused = 15*time.Second, 20*time.Millisecond, 0, 3000
	f.ServerRefusal = refusalHist(3000, 0, 0)
	r.DBs[0].FloodHash = 50
	checks := r.floodChecks("postgres")
	if last := checks[len(checks)-1]; last.Status != "PASS" || !strings.Contains(last.Text, "vs 50.0 raw hashes/s measured around the flood = 1.200") {
		t.Errorf("flood against its own bracket: %s %s", last.Status, last.Text)
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
