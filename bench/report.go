package main

import (
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/bench/load"
	"github.com/latchkey/latchkey/server"
)

// row is one (database, scenario, concurrency) measurement.
type row struct {
	DB       string
	Scenario string
	VsHash   bool // ratio against raw hashes/s rather than the floor
	Conc     int
	Res      *load.Result // nil when the scenario could not run
	RSS      int64        // largest server VmRSS sampled during the row
	Err      string       // why the scenario could not run
	Hash     float64      // judged VsHash rows: raw hashes/s measured right before and after the median run (mean; 0: not measured)
	Floor    float64      // judged floor rows: floor req/s at Conc measured right before and after the median run (mean; 0: not measured)
	Usage    *usageSplit  // rows with targets: the hashing slots and the machine's CPU over the measurement window (nil: not sampled)
	// Runs are the row's runs (-repeat of them for a judged row, else one); Res, Usage and Hash
	// or Floor are the median run's.
	Runs []rowRun
}

// dbRun is what happened to one database.
type dbRun struct {
	Name     string
	Skipped  string // why the database was not benchmarked (PostgreSQL unreachable)
	Failed   string // why the server phase broke off
	HWMAfter []namedBytes
	PeakRSS  int64 // VmHWM after the last scenario, before the flood
	RSSStart int64 // VmRSS as the server was ready
	Floods   []floodRun
	RSS      rssWatch // after the last flood
	// FloodFloor: the floor answering the flood's burst of new connections, just before the
	// flood (Count 0: not measured; FloodFloorErr says why when it failed).
	FloodFloor    load.Summary
	FloodFloorErr string
}

// baseline is the floor and the raw hash rate measured just before one
// database's server was started and its scenarios run (or once, when no
// database runs). Rows are judged against their own database's baseline: on a
// shared machine whose speed drifts over minutes, a baseline from the start of
// the run would put that drift into the late rows' ratios.
type baseline struct {
	DB       string               // the database whose scenarios followed; "" when none ran
	Floor    map[int]*load.Result // by concurrency
	FloorErr string
	Hash     *hashResult
	HashErr  string
}

// label names the baseline in the report: its database, or "—" when no
// database ran.
func (b *baseline) label() string {
	if b.DB == "" {
		return "—"
	}
	return b.DB
}

// rate is the baseline a row is divided by: raw hashes/s when vsHash, else
// the floor's req/s at conc. It is 0 when that was not measured.
func (b *baseline) rate(vsHash bool, conc int) float64 {
	switch {
	case b == nil:
		return 0
	case vsHash:
		return b.Hash.Rate()
	case b.Floor[conc] == nil:
		return 0
	default:
		return b.Floor[conc].RPS()
	}
}

type namedBytes struct {
	Name  string
	Bytes int64
}

// The kinds of comparison: the same scenario on the main server (Base) and on another process
// on the same database (Alt), measured in turns (base, alt, alt, base, each half the duration).
const (
	kindRateLimits = "rate limits" // Base: limits off; Alt: limits on, allowances too large to refuse
	kindInstances  = "instances"   // Base: one instance; Alt: workers round-robin over two
)

// comparison is one (kind, database, scenario, concurrency) pair of measurements.
type comparison struct {
	Kind      string
	DB        string
	Scenario  string
	Conc      int
	Base, Alt *load.Result
	Err       string // why it could not be measured
}

// ratio is Alt's req/s over Base's, or 0 when either is missing.
func (c *comparison) ratio() float64 {
	if c.Base == nil || c.Alt == nil || c.Base.RPS() == 0 {
		return 0
	}
	return c.Alt.RPS() / c.Base.RPS()
}

// report is everything one run measured.
type report struct {
	Started time.Time
	Opts    *options
	Machine string
	// Baselines are in the order measured: one per database that ran, or
	// one for the whole run when none did.
	Baselines   []*baseline
	FloorRSS    int64 // the floor server's VmHWM over the whole run
	Rows        []row
	Comparisons []comparison
	DBs         []*dbRun
	// Problems are failures of the harness itself (the floor would not
	// build, no server binary); with a dbRun's Failed they make the exit
	// status non-zero.
	Problems []string
	NoServer string // why no Latchkey server could be run at all
}

// failed reports whether the harness could not do all of its job: a problem, a database whose
// server phase failed, or a selected target it could not judge.
func (r *report) failed() bool {
	if len(r.Problems) > 0 || len(r.unjudged()) > 0 {
		return true
	}
	return slices.ContainsFunc(r.DBs, func(d *dbRun) bool { return d.Failed != "" })
}

// writeLoud prints a bold one-line notice, with any further lines of msg
// (such as a server's log tail) in a code block under it.
func writeLoud(w io.Writer, what, msg string) {
	head, rest, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	fmt.Fprintf(w, "**%s: %s**\n\n", what, mdCell(head))
	if rest = strings.TrimRight(rest, "\n "); rest != "" {
		fmt.Fprintf(w, "```\n%s\n```\n\n", rest)
	}
}

// The targets from the issue, as ratios measured in one run.
const (
	targetRefreshVsFloor = 0.12 // refresh req/s over floor req/s, PostgreSQL
	targetGetUserVsFloor = 0.45 // GET /user req/s over floor req/s, PostgreSQL (issue 21: was 0.33 before the session cache)
	targetVerifyVsFloor  = 0.45 // POST /v1/token/verify req/s over floor req/s, PostgreSQL (issue 21)
	// sign-in req/s over raw argon2id hashes/s times the run's ceiling (see judged)
	targetSignInVsCeiling = 0.90
)

// baselineFor returns the baseline measured just before db's scenarios, or
// nil.
func (r *report) baselineFor(db string) *baseline {
	for _, b := range r.Baselines {
		if b.DB == db {
			return b
		}
	}
	return nil
}

// ratio returns a row's throughput as a fraction of its own database's
// baseline, that baseline's rate and name ("floor" or "hash"), or ok=false
// when the baseline was not measured.
func (r *report) ratio(rw row) (v, base float64, of string, ok bool) {
	if rw.Res == nil {
		return 0, 0, "", false
	}
	of = "floor"
	if rw.VsHash {
		of = "hash"
	}
	base = r.baselineFor(rw.DB).rate(rw.VsHash, rw.Conc)
	if rw.VsHash && rw.Hash > 0 {
		base = rw.Hash // the bracket, nearer in time than the database's baseline
	}
	if !rw.VsHash && rw.Floor > 0 {
		base = rw.Floor // likewise
	}
	if base == 0 {
		return 0, 0, of, false
	}
	return rw.Res.RPS() / base, base, of, true
}

// perDB reports whether the baselines were measured per database (rather
// than once, with no database run).
func (r *report) perDB() bool {
	return slices.ContainsFunc(r.Baselines, func(b *baseline) bool { return b.DB != "" })
}

// find returns the row for (db, scenario, conc), or nil.
func (r *report) find(db, scenario string, conc int) *row {
	for i := range r.Rows {
		rw := &r.Rows[i]
		if rw.DB == db && rw.Scenario == scenario && rw.Conc == conc {
			return rw
		}
	}
	return nil
}

// write prints the report as markdown.
func (r *report) write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	o := r.Opts

	p("# Latchkey benchmark\n\n")
	p("%s. %s. Each figure: %v warm-up, then %v measured, closed loop; rows with a target and the flood %d times, the median deciding. Run id %s. "+
		"Before each PostgreSQL figure the database is settled (CHECKPOINT, autovacuum finished), "+
		"so a figure does not include the previous scenario's background work. %s\n\n",
		r.Started.Format("2006-01-02 15:04 MST"), r.Machine, o.warmup, o.duration, o.repeat, o.runID, r.baselineSentence())
	if set := r.settingsText(); set != "" {
		p("Server settings that differ from the defaults: %s.\n\n", set)
	}
	for _, pr := range r.Problems {
		writeLoud(w, "PROBLEM", pr)
	}
	if n := len(r.unjudged()); n > 0 {
		what := fmt.Sprintf("%d selected targets", n)
		if n == 1 {
			what = "1 selected target"
		}
		writeLoud(w, "PROBLEM", what+" not judged: SKIP in Target checks, with why")
	}
	for _, d := range r.DBs {
		if d.Skipped != "" {
			writeLoud(w, "SKIPPED "+d.Name, d.Skipped)
		}
		if d.Failed != "" {
			writeLoud(w, "FAILED "+d.Name, d.Failed)
		}
	}

	// The main table.
	if len(r.Rows) > 0 {
		p("## Latchkey\n\n")
		p("| db | scenario | conc | req/s | p50 | p95 | p99 | max | errors | RSS max | ratio |\n")
		p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, rw := range r.Rows {
			if rw.Res == nil {
				p("| %s | %s | %d | — | — | — | — | — | — | — | not run: %s |\n",
					rw.DB, rw.Scenario, rw.Conc, mdCell(firstLineOf(rw.Err)))
				continue
			}
			res := rw.Res
			ratio := "n/a"
			if v, _, of, ok := r.ratio(rw); ok {
				ratio = fmt.Sprintf("%.3f × %s", v, of)
			}
			p("| %s | %s | %d | %s | %s | %s | %s | %s | %d | %s | %s |\n",
				rw.DB, rw.Scenario, rw.Conc, fmtRate(res.RPS()),
				fmtDur(res.Latency.P50), fmtDur(res.Latency.P95), fmtDur(res.Latency.P99), fmtDur(res.Latency.Max),
				res.Errors, fmtMiB(rw.RSS), ratio)
		}
		p("\nreq/s counts successful requests only; latencies are of successful requests. "+
			"RSS max is the server's largest VmRSS sampled every 50 ms during the row. "+
			"Rows with a target (signin, signin-totp; refresh, getuser and verify on PostgreSQL) ran -repeat times, each run between two measurements of "+
			"its yardstick (raw argon2id hashes/s, or the floor at the row's concurrency; a sign-in run in %d segments of its window, "+
			"the raw rate measured for %s between them too), and show their median run (see Target "+
			"checks for every run); the others ran once. Ratios: the judged rows against the yardstick measured right before and "+
			"right after their median run (the mean of the two, or for a sign-in run its segments' weighted as Target checks says; "+
			"the machine's speed drifts within minutes); signup and the other "+
			"dialects' logins (wme-login, zesty-login, az-signin) against raw argon2id hashes/s, and the other HTTP scenarios against "+
			"the floor at the same concurrency, measured just before the row's database (see Baselines).\n\n", ceilingSegments, fmtDur(segmentBracket))
	}

	r.writeUsage(w)
	r.writeFloorUsage(w)
	r.writeBaselines(w)

	// Peak RSS per database.
	var peaks []*dbRun
	for _, d := range r.DBs {
		if len(d.HWMAfter) > 0 {
			peaks = append(peaks, d)
		}
	}
	if len(peaks) > 0 {
		p("## Server peak RSS (VmHWM)\n\n")
		for _, d := range peaks {
			var steps []string
			for _, s := range d.HWMAfter {
				steps = append(steps, fmt.Sprintf("%s %s", s.Name, fmtMiB(s.Bytes)))
			}
			p("- %s: **%s** over the scenarios (after each: %s)\n", d.Name, fmtMiB(d.PeakRSS), strings.Join(steps, ", "))
		}
		p("\n")
	}
	r.writeRSS(w)

	r.writeComparisons(w)

	// Floods.
	var floods []*dbRun
	for _, d := range r.DBs {
		if len(d.Floods) > 0 {
			floods = append(floods, d)
		}
	}
	if len(floods) > 0 {
		p("## Flood: %d concurrent sign-ins, one user, one connection each\n\n", o.flood)
		p("Every client signs in until it succeeds: answered 503, it waits what Retry-After says "+
			"(plus up to 1 s of jitter, the header being whole seconds) and tries again. The server's hashing-queue "+
			"deadline is %v. Goodput is sign-ins per second from firing until 90%% of the clients had signed in, "+
			"while most of the flood was pending and demand exceeded what the hash slots could do; the last tenth, when "+
			"few clients remain and the rate measures their waits, is left out. Each database has %d floods, each "+
			"between two measurements of the raw hash rate; most of them must pass each target.\n\n", o.queueTimeout, o.repeat)
		for _, d := range floods {
			for i, run := range d.Floods {
				r.writeFlood(w, d, i, run)
			}
		}
		p("\n")
	}

	// Error reasons.
	var withErrs []row
	for _, rw := range r.Rows {
		if rw.Res != nil && rw.Res.Errors > 0 {
			withErrs = append(withErrs, rw)
		}
	}
	if len(withErrs) > 0 {
		p("## Errors\n\n")
		for _, rw := range withErrs {
			writeErrors(w, "", fmt.Sprintf("%s %s c=%d", rw.DB, rw.Scenario, rw.Conc), rw.Res.ErrorLog)
		}
		p("\n")
	}

	// Target checks.
	p("## Target checks\n\n")
	p("Each verdict: the figure of the median run, its yardstick, the ratio and what it must be, and how many of the runs " +
		"passed (each run's ratio; ✗ marks a failed run). The median run decides: more than half must pass. Sign-in and flood goodput are judged against " +
		"the ceiling: raw hashes/s measured right before and right after the run (a sign-in run: each of its segments), times the " +
		"share of the CPU PostgreSQL, the load generator and everything else left to Latchkey during it; a sign-in run's ratio is its " +
		"sign-ins over the sum of what each segment's own raw rate and ceiling allowed in its window.\n\n")
	p("| verdict | target | measured (median run) | yardstick | ratio | runs |\n")
	p("|---|---|---|---|---|---|\n")
	for _, c := range r.checks() {
		status := c.Status
		if status == "PASS" || status == "FAIL" {
			status = "**" + status + "**"
		}
		p("| %s | %s | %s | %s | %s | %s |\n", status, mdCell(c.Target), mdCell(c.Measured), mdCell(c.Yardstick), mdCell(c.Ratio), mdCell(c.Runs))
	}
}

// settingsText lists the settings the servers ran with that differ from the defaults (see
// serverSettings), those of one database after it; "" when no database ran.
func (r *report) settingsText() string {
	o := r.Opts
	if len(o.dbs) == 0 {
		return ""
	}
	var all []string
	per := map[string][]string{}
	for _, s := range serverSettings(o) {
		if s.isDefault || s.db != "" && !slices.Contains(o.dbs, s.db) {
			continue
		}
		v := s.value
		if s.shown != "" {
			v = s.shown
		}
		if s.db == "" {
			all = append(all, "`"+s.env+"="+v+"`")
		} else {
			per[s.db] = append(per[s.db], "`"+s.env+"="+v+"`")
		}
	}
	text := strings.Join(all, ", ")
	for _, db := range o.dbs {
		if len(per[db]) > 0 {
			text += "; on " + db + ": " + strings.Join(per[db], ", ")
		}
	}
	return text
}

// writeFlood prints one flood run of a database.
func (r *report) writeFlood(w io.Writer, d *dbRun, i int, run floodRun) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	o := r.Opts
	f := run.Result
	if f == nil {
		p("- %s, flood %d of %d: not run: %s\n", d.Name, i+1, len(d.Floods), firstLineOf(run.Err))
		return
	}
	p("- %s, flood %d of %d: %d clients, %d signed in, %d gave up%s, %d requests in %v (%.1f sign-ins/s overall)\n",
		d.Name, i+1, len(d.Floods), f.Fired, f.OK, f.Errors, fmtStatuses(f.Statuses), f.Attempts, f.Elapsed.Round(time.Millisecond), f.Rate())
	p("  - goodput: **%.1f sign-ins/s** (the first %d in %v)%s\n",
		f.Goodput(), f.ServedN, f.Served.Round(time.Millisecond), r.goodputRatio(d.Name, run))
	for _, line := range r.usageLines(d.Name, run) {
		p("    - %s\n", line)
	}
	p("  - 503s: **%d**, the last %v after firing; %d of them only after waiting out the deadline; Retry-After p50 %s, max %s; %d without Retry-After\n",
		f.Refused, f.LastRefusal.Round(time.Millisecond), f.RefusedLate, fmtDur(f.RetryAfter.P50), fmtDur(f.RetryAfter.Max), f.NoRetryAfter)
	p("    - the server's own time to answer them: %s\n", serverRefusalText(f))
	p("    - as the clients saw them: p50 %s, p99 **%s**, max %s; %s\n",
		fmtDur(f.Refusal.P50), fmtDur(f.Refusal.P99), fmtDur(f.Refusal.Max), floorBurstText(d, o.flood))
	p("  - successful sign-in requests: p50 %s, p99 %s, max %s; time from firing to signed in: p50 %s, p99 %s, max %s\n",
		fmtDur(f.SignIn.P50), fmtDur(f.SignIn.P99), fmtDur(f.SignIn.Max), fmtDur(f.Settled.P50), fmtDur(f.Settled.P99), fmtDur(f.Settled.Max))
	p("  - GET /healthz during the flood (a call, then a %s pause): %d answered, %d errors; p50 %s, p99 %s, max %s\n",
		fmtDur(f.ProbeEvery), f.Health.Latency.Count, f.Health.Errors, fmtDur(f.Health.Latency.P50), fmtDur(f.Health.Latency.P99), fmtDur(f.Health.Latency.Max))
	p("  - POST /v1/token (chained refresh, paced likewise) during the flood: %d answered, %d errors; p50 %s, p99 %s, max %s\n",
		f.Refresh.Latency.Count, f.Refresh.Errors, fmtDur(f.Refresh.Latency.P50), fmtDur(f.Refresh.Latency.P99), fmtDur(f.Refresh.Latency.Max))
	how := "VmHWM, reset just before the flood"
	if !f.PeakRSSExact {
		how = "VmHWM since the server started: could not reset it, so this includes the scenarios"
	}
	p("  - server peak RSS: **%s** (%s); largest sampled VmRSS %s\n", fmtMiB(f.PeakRSS), how, fmtMiB(f.SampledRSS))
	writeErrors(w, "    ", "sign-in errors", f.ErrorLog)
	writeErrors(w, "    ", "/healthz errors", f.Health.Log)
	writeErrors(w, "    ", "refresh errors", f.Refresh.Log)
	if run.Err != "" {
		p("  - note: %s\n", firstLineOf(run.Err))
	}
}

// peakRSS is the largest resident set the server had: over the scenarios and over each flood.
func (d *dbRun) peakRSS() int64 {
	peak := d.PeakRSS
	for _, f := range d.Floods {
		if f.Result != nil {
			peak = max(peak, f.Result.PeakRSS)
		}
	}
	return peak
}

// writeRSS prints each database's server RSS at start, at its peak, and after the floods.
func (r *report) writeRSS(w io.Writer) {
	var lines []string
	for _, d := range r.DBs {
		if d.RSSStart == 0 && len(d.Floods) == 0 {
			continue
		}
		line := fmt.Sprintf("- %s: at start %s, peak %s", d.Name, fmtMiB(d.RSSStart), fmtMiB(d.peakRSS()))
		if len(d.Floods) > 0 {
			line += ", " + rssAfterText(d.RSS)
		}
		lines = append(lines, line+"\n")
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "## Server RSS: at start, peak, after the floods\n\nVmRSS as the server was ready; the largest VmHWM over the scenarios and each flood; "+
		"VmRSS read every %v after the last flood's end, for %v.\n\n%s\n", rssEvery, r.Opts.rssWait, strings.Join(lines, ""))
}

// rssAfterText is what the floods left of the server's memory, in words.
func rssAfterText(w rssWatch) string {
	below := "never below " + fmtMiB(rssIdleLimit)
	if w.Below >= 0 {
		below = fmt.Sprintf("below %s %v after the flood's end", fmtMiB(rssIdleLimit), w.Below.Round(100*time.Millisecond))
	}
	text := fmt.Sprintf("**%s** %v after the last flood's end (%s)", fmtMiB(w.After), w.Watched.Round(time.Second), below)
	if w.Err != "" {
		text += "; the watch broke off: " + firstLineOf(w.Err)
	}
	return text
}

// baselineSentence tells the reader which baselines the ratios use.
func (r *report) baselineSentence() string {
	if !r.perDB() {
		return "No database ran, so the baselines (floor, raw argon2id hash rate) were measured once."
	}
	return "Ratios use the floor and the raw argon2id hash rate measured right before and right after each run of a row " +
		"judged against them by a target (and each flood), and otherwise, or when that failed, the ones measured just before " +
		"each database's scenarios: the machine's speed drifts within minutes."
}

// writeBaselines prints the floor and the raw hash rate of each baseline,
// with a column naming the database it was measured before.
func (r *report) writeBaselines(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	var floors, hashes, notes []string
	goroutines := 0
	for _, b := range r.Baselines {
		for _, c := range slices.Sorted(maps.Keys(b.Floor)) {
			f := b.Floor[c]
			floors = append(floors, fmt.Sprintf("| %s | %d | %s | %s | %s | %s | %s | %d |\n", b.label(), c, fmtRate(f.RPS()),
				fmtDur(f.Latency.P50), fmtDur(f.Latency.P95), fmtDur(f.Latency.P99), fmtDur(f.Latency.Max), f.Errors))
		}
		if h := b.Hash; h != nil {
			goroutines = h.Goroutines
			hashes = append(hashes, fmt.Sprintf("| %s | **%.1f** | %d | %v | %s | %.1f |\n",
				b.label(), h.Rate(), h.Hashes, h.Elapsed.Round(time.Millisecond), fmtDur(h.Mean), h.DefaultGC))
		}
		if b.FloorErr != "" {
			notes = append(notes, fmt.Sprintf("- floor (%s): not measured: %s\n", b.label(), oneLine(b.FloorErr)))
		}
		if b.HashErr != "" {
			notes = append(notes, fmt.Sprintf("- raw argon2id hashes/s (%s): not measured: %s\n", b.label(), oneLine(b.HashErr)))
		}
	}
	if len(floors)+len(hashes)+len(notes) == 0 {
		return
	}

	p("## Baselines\n\n")
	if r.perDB() {
		p("Measured just before each database's server was started and its scenarios run (column db); " +
			"each row above is judged against its own database's baselines.\n\n")
	}
	if len(floors) > 0 {
		p("Floor: Echo hello-world `GET /healthz`, one server process for the whole run.\n\n")
		p("| db | conc | req/s | p50 | p95 | p99 | max | errors |\n")
		p("|---|--:|--:|--:|--:|--:|--:|--:|\n")
		p("%s", strings.Join(floors, ""))
		p("\nFloor server peak RSS (VmHWM, whole run): %s.\n\n", fmtMiB(r.FloorRSS))
	}
	if len(hashes) > 0 {
		p("Raw argon2id (golang.org/x/crypto/argon2, m=%d KiB, t=%d, p=%d, salt %d B, key %d B) on %d goroutines in parallel, "+
			"each allocating its block memory afresh as the server's hashes do, with the server's garbage collector settings "+
			"(GOGC %d): the yardstick of the sign-in ratios. The last column is the same with Go's default "+
			"settings (GOGC 100, no limit), for reference.\n\n",
			passwordParams.Memory, passwordParams.Iterations, passwordParams.Parallelism,
			passwordParams.SaltLength, passwordParams.KeyLength, goroutines, server.GCPercent)
		p("| db | hashes/s | hashes | window | per hash | default GC hashes/s |\n")
		p("|---|--:|--:|--:|--:|--:|\n")
		p("%s\n", strings.Join(hashes, ""))
	}
	if len(notes) > 0 {
		p("%s\n", strings.Join(notes, ""))
	}
}

// floodHash is the raw hash rate a flood is judged against: the one measured around it, else the
// database's baseline; and how it was measured.
func (r *report) floodHash(db string, run floodRun) (float64, string) {
	if run.Hash > 0 {
		return run.Hash, "measured around the flood"
	}
	return r.baselineFor(db).rate(true, 0), "measured just before " + db
}

// goodputRatio is " = 0.NNN × raw hashes/s (…)" for a flood's goodput, or "" without a baseline.
func (r *report) goodputRatio(db string, run floodRun) string {
	h, how := r.floodHash(db, run)
	if h == 0 {
		return ""
	}
	return fmt.Sprintf(" = **%.3f** × %.1f raw hashes/s %s", run.Result.Goodput()/h, h, how)
}

// usageLines is where a flood's goodput went: the hashing slots' busy share and the time a
// hash held its slot against the raw measurement's time per hash (goodput over the raw rate is
// their product, with as many slots as the raw measurement had goroutines), and the machine's CPU
// split over the same window.
func (r *report) usageLines(db string, run floodRun) []string {
	f := run.Result
	if f.UsageErr != "" {
		return []string{"where the time went: not measured: " + firstLineOf(f.UsageErr)}
	}
	u := f.Usage
	if u.Slots == 0 || u.Hashes == 0 {
		return nil
	}
	slots := fmt.Sprintf("the %d hashing slots were held %.0f%% of the time, and a hash held its slot %s on average", u.Slots, 100*u.Busy, fmtDur(u.Held))
	if h, _ := r.floodHash(db, run); h > 0 {
		g := runtime.GOMAXPROCS(0) // the raw rate's goroutines
		raw := time.Duration(float64(g) / h * float64(time.Second))
		slots += fmt.Sprintf(" against %s per hash in the raw measurement (%d at once): goodput/raw ≈ %.2f busy × %d/%d slots × %s/%s = %.3f",
			fmtDur(raw), g, u.Busy, u.Slots, g, fmtDur(raw), fmtDur(u.Held), u.Busy*float64(u.Slots)/float64(g)*raw.Seconds()/u.Held.Seconds())
	}
	return []string{
		fmt.Sprintf("from firing until the first %d had signed in (%v sampled): %s", f.ServedN, u.Window.Round(10*time.Millisecond), slots),
		fmt.Sprintf("the machine's %.1f CPUs over that time, in CPUs: Latchkey %.2f, PostgreSQL %.2f, this load generator %.2f, everything else %.2f, idle %.2f; "+
			"the others left Latchkey %.3f of the machine, the most goodput/raw could have been had it done nothing but hash at the raw rate",
			u.CPUs, u.Server, u.Postgres, u.Bench, u.Other, u.Idle, u.Ceiling()),
	}
}

// writeUsage prints where the time of the rows judged against the hash rate went: each such
// request hashes once, so its ratio is the hashing slots' busy share times the raw time of one
// hash over the time a hash held its slot in the server (times slots over the raw measurement's
// goroutines). Idle slots are the server not feeding its hashes; a longer hold is the hashes
// running slower, on a CPU shared with the rest, which the CPU columns apportion.
func (r *report) writeUsage(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	var rows []row
	for _, rw := range r.Rows {
		if rw.VsHash && rw.Res != nil && rw.Usage != nil && rw.Usage.Hashes > 0 {
			rows = append(rows, rw)
		}
	}
	if len(rows) == 0 {
		return
	}
	p("## Where the hash-judged rows' time went\n\n")
	p("Over each row's measurement window, from the server's `latchkey_password_hashes_total` and "+
		"`latchkey_password_hash_slot_seconds_total` and from /proc: ratio ≈ busy × slots/%d × raw/held. "+
		"CPU columns are in CPUs (of the machine's %d). ceiling: the share of the machine PostgreSQL, the load generator and everything else "+
		"left to Latchkey, the most its ratio could have been had it done nothing but hash at the raw rate.\n\n", runtime.GOMAXPROCS(0), runtime.GOMAXPROCS(0))
	p("| db | scenario | conc | ratio | ceiling | slots | busy | held | raw | Latchkey | PostgreSQL | load generator | other | idle |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, rw := range rows {
		u := rw.Usage
		ratio, raw := "n/a", "n/a"
		if v, base, _, ok := r.ratio(rw); ok {
			ratio = fmt.Sprintf("%.3f", v)
			raw = fmtDur(time.Duration(float64(runtime.GOMAXPROCS(0)) / base * float64(time.Second)))
		}
		p("| %s | %s | %d | %s | %.3f | %d | %.0f%% | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
			rw.DB, rw.Scenario, rw.Conc, ratio, u.Ceiling(), u.Slots, 100*u.Busy, fmtDur(u.Held), raw,
			u.Server, u.Postgres, u.Bench, u.Other, u.Idle)
	}
	p("\nbusy: share of the window the slots were held; held: mean time one hash held its slot; raw: time per hash " +
		"in the raw measurement the row is judged against (goroutines over hashes/s).\n\n")
}

// writeFloorUsage prints the machine's CPU split over the rows judged against the floor (refresh,
// GET /user, token verify): whose CPU the requests took, and Latchkey's and PostgreSQL's CPU time
// per request (issue 21: with the session cache, GET /user and verify should cost PostgreSQL
// next to nothing).
func (r *report) writeFloorUsage(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	var rows []row
	for _, rw := range r.Rows {
		if !rw.VsHash && rw.Res != nil && rw.Usage != nil && rw.Usage.CPUs > 0 {
			rows = append(rows, rw)
		}
	}
	if len(rows) == 0 {
		return
	}
	p("## Where the floor-judged rows' CPU went\n\n")
	p("Over each row's measurement window, from /proc, in CPUs (of the machine's %d); per request: Latchkey's (PostgreSQL's) CPU time over its successful requests.\n\n",
		runtime.GOMAXPROCS(0))
	p("| db | scenario | conc | ratio | Latchkey | per request | PostgreSQL | PostgreSQL per request | load generator | other | idle |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, rw := range rows {
		u := rw.Usage
		ratio := "n/a"
		if v, _, _, ok := r.ratio(rw); ok {
			ratio = fmt.Sprintf("%.3f", v)
		}
		per, pgPer := "n/a", "n/a"
		if rps := rw.Res.RPS(); rps > 0 {
			per = fmtDur(time.Duration(u.Server / rps * float64(time.Second)))
			pgPer = fmtDur(time.Duration(u.Postgres / rps * float64(time.Second)))
		}
		p("| %s | %s | %d | %s | %.2f | %s | %.2f | %s | %.2f | %.2f | %.2f |\n",
			rw.DB, rw.Scenario, rw.Conc, ratio, u.Server, per, u.Postgres, pgPer, u.Bench, u.Other, u.Idle)
	}
	p("\n")
}

// writeComparisons prints the rate-limit and two-instance comparisons.
func (r *report) writeComparisons(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	for _, k := range []struct{ kind, title, base, alt, note string }{
		{kindRateLimits, "Rate limits on vs off", "off", "on",
			"The same database, two server processes measured in turns (base, alt, alt, base, half the duration each; " +
				"each figure is its two halves together): base with `LATCHKEY_RATE_LIMITS=false`, " +
				"then one with every limit on and allowances too large to refuse (`LATCHKEY_RATE_LIMIT_<GROUP>=1000000000/1m`), " +
				"so the difference is the counting (and a sign-in's lockout bookkeeping). Overhead = 1 − on/off."},
		{kindInstances, "Two instances vs one (PostgreSQL)", "1 instance", "2 instances",
			"Two server processes on one database, measured in turns like the rate limits: base sends every worker to one, then workers " +
				"alternate between the two (worker i to instance i mod 2). Both share this machine's CPUs, so the ratio shows " +
				"what a second instance costs or gains here, not what it gains on its own machine."},
	} {
		var list []comparison
		for _, c := range r.Comparisons {
			if c.Kind == k.kind {
				list = append(list, c)
			}
		}
		if len(list) == 0 {
			continue
		}
		p("## %s\n\n%s\n\n", k.title, k.note)
		p("| db | scenario | conc | %s req/s | %s req/s | ratio | %s p99 | %s p99 | errors |\n", k.base, k.alt, k.base, k.alt)
		p("|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, c := range list {
			if c.Base == nil || c.Alt == nil {
				p("| %s | %s | %d | — | — | — | — | — | not run: %s |\n", c.DB, c.Scenario, c.Conc, mdCell(firstLineOf(c.Err)))
				continue
			}
			ratio := fmt.Sprintf("%.3f", c.ratio())
			if k.kind == kindRateLimits {
				ratio += fmt.Sprintf(" (overhead %.1f %%)", 100*(1-c.ratio()))
			}
			p("| %s | %s | %d | %s | %s | %s | %s | %s | %d + %d |\n", c.DB, c.Scenario, c.Conc,
				fmtRate(c.Base.RPS()), fmtRate(c.Alt.RPS()), ratio, fmtDur(c.Base.Latency.P99), fmtDur(c.Alt.Latency.P99),
				c.Base.Errors, c.Alt.Errors)
		}
		p("\n")
		for _, c := range list {
			if c.Base != nil && c.Base.Errors > 0 {
				writeErrors(w, "", fmt.Sprintf("%s %s %s c=%d (%s)", c.DB, k.title, c.Scenario, c.Conc, k.base), c.Base.ErrorLog)
			}
			if c.Alt != nil && c.Alt.Errors > 0 {
				writeErrors(w, "", fmt.Sprintf("%s %s %s c=%d (%s)", c.DB, k.title, c.Scenario, c.Conc, k.alt), c.Alt.ErrorLog)
			}
		}
	}
}

// missing says why a check's row has no measurement, or "" when it has one; quiet when that was
// the run's choice (see check.Quiet).
func (r *report) missing(db, scenario string, rw *row) (reason string, quiet bool) {
	o := r.Opts
	switch {
	case !slices.Contains(o.dbs, db):
		return db + " not selected", true
	case !o.want(scenario):
		return scenario + " not selected", true
	}
	if r.NoServer != "" {
		return "no server binary", false
	}
	if d := r.db(db); d != nil && d.Skipped != "" {
		return db + " skipped", true
	}
	if d := r.db(db); d != nil && d.Failed != "" && (rw == nil || rw.Res == nil) {
		return "server phase failed: " + firstLineOf(d.Failed), false
	}
	if rw == nil {
		return "not measured", false
	}
	if rw.Res == nil {
		return "not run: " + firstLineOf(rw.Err), false
	}
	return "", false
}

// db returns the run of the named database, or nil.
func (r *report) db(name string) *dbRun {
	for _, d := range r.DBs {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// scenarioLabel names a scenario's throughput in a check.
func scenarioLabel(s string) string {
	switch s {
	case "getuser":
		return "GET /user req/s"
	case scenarioTOTP:
		return "two-step TOTP sign-ins/s"
	default:
		return s + " req/s"
	}
}

func writeErrors(w io.Writer, indent, what string, log []load.ErrorCount) {
	if len(log) == 0 {
		return
	}
	fmt.Fprintf(w, "%s- %s:\n", indent, what)
	for _, e := range log {
		fmt.Fprintf(w, "%s  - %d × `%s`\n", indent, e.Count, strings.ReplaceAll(e.Msg, "`", "'"))
	}
}

func fmtStatuses(m map[int]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(m)) {
		name := fmt.Sprint(s)
		if s == 0 {
			name = "no reply"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, m[s]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// fmtDur prints a latency in the unit that suits it.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

func fmtRate(v float64) string {
	if v < 100 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtMiB(b int64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// oneLine folds a multi-line message (pgx's, say) onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// serverRefusalText is the server's own time to answer a flood's 503s, from its histogram.
func serverRefusalText(f *floodResult) string {
	h := f.ServerRefusal
	switch {
	case f.ServerRefusalErr != "":
		return "not measured: " + firstLineOf(f.ServerRefusalErr)
	case h.Count() == 0:
		return "no 503 in its histogram"
	}
	return fmt.Sprintf("%d answers, p50 %s, p99 **%s** (bucket bounds of %s)",
		h.Count(), fmtBound(h, h.Quantile(0.5)), fmtBound(h, h.Quantile(0.99)), refusalMetric)
}

// floorBurstText compares the clients' view of the 503s with the floor answering the same burst.
func floorBurstText(d *dbRun, n int) string {
	switch {
	case d.FloodFloorErr != "":
		return "the floor's burst failed: " + firstLineOf(d.FloodFloorErr)
	case d.FloodFloor.Count == 0:
		return "the floor's burst not measured"
	}
	return fmt.Sprintf("the floor, hello world, answered the same %d new connections at once in p50 %s, p99 %s",
		n, fmtDur(d.FloodFloor.P50), fmtDur(d.FloodFloor.P99))
}
