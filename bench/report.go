package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/bench/load"
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
}

// dbRun is what happened to one database.
type dbRun struct {
	Name     string
	Skipped  string // why the database was not benchmarked (PostgreSQL unreachable)
	Failed   string // why the server phase broke off
	HWMAfter []namedBytes
	PeakRSS  int64 // VmHWM after the last scenario, before the flood
	Flood    *floodResult
	FloodErr string
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

// report is everything one run measured.
type report struct {
	Started time.Time
	Opts    *options
	Machine string
	// Baselines are in the order measured: one per database that ran, or
	// one for the whole run when none did.
	Baselines []*baseline
	FloorRSS  int64 // the floor server's VmHWM over the whole run
	Rows      []row
	DBs       []*dbRun
	// Problems are failures of the harness itself (the floor would not
	// build, no server binary); with a dbRun's Failed they make the exit
	// status non-zero.
	Problems []string
	NoServer string // why no Latchkey server could be run at all
}

// failed reports whether the harness could not do all of its job.
func (r *report) failed() bool {
	if len(r.Problems) > 0 {
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
	targetGetUserVsFloor = 0.33 // GET /user req/s over floor req/s, PostgreSQL
	targetSignInVsHash   = 0.90 // sign-in req/s over raw argon2id hashes/s
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
	p("%s. %s. Each figure: %v warm-up, then %v measured, closed loop. Run id %s. "+
		"Before each PostgreSQL figure the database is settled (CHECKPOINT, autovacuum finished), "+
		"so a figure does not include the previous scenario's background work. %s\n\n",
		r.Started.Format("2006-01-02 15:04 MST"), r.Machine, o.warmup, o.duration, o.runID, r.baselineSentence())
	for _, pr := range r.Problems {
		writeLoud(w, "PROBLEM", pr)
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
		p("\nreq/s counts successful requests only; latencies are of successful requests. " +
			"RSS max is the server's largest VmRSS sampled every 50 ms during the row. " +
			"Ratios: HTTP scenarios against the floor at the same concurrency, signup and signin against raw argon2id hashes/s, " +
			"both measured just before the row's database (see Baselines).\n\n")
	}

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

	// Floods.
	var floods []*dbRun
	for _, d := range r.DBs {
		if d.Flood != nil || d.FloodErr != "" {
			floods = append(floods, d)
		}
	}
	if len(floods) > 0 {
		p("## Flood: %d concurrent sign-ins, one user, one connection each\n\n", o.flood)
		for _, d := range floods {
			if d.Flood == nil {
				p("- %s: not run: %s\n", d.Name, firstLineOf(d.FloodErr))
				continue
			}
			f := d.Flood
			p("- %s: %d fired, %d ok, %d errors%s in %v: **%.1f sign-ins/s**; sign-in p50 %s, p99 %s, max %s\n",
				d.Name, f.Fired, f.OK, f.Errors, fmtStatuses(f.Statuses), f.Elapsed.Round(time.Millisecond),
				f.Rate(), fmtDur(f.SignIn.P50), fmtDur(f.SignIn.P99), fmtDur(f.SignIn.Max))
			p("  - GET /healthz during the flood: %d answered, %d errors; p50 %s, p99 %s, max %s\n",
				f.Health.Count, f.HealthErrors, fmtDur(f.Health.P50), fmtDur(f.Health.P99), fmtDur(f.Health.Max))
			how := "VmHWM, reset just before the flood"
			if !f.PeakRSSExact {
				how = "VmHWM since the server started: could not reset it, so this includes the scenarios"
			}
			p("  - server peak RSS: **%s** (%s); largest sampled VmRSS %s\n", fmtMiB(f.PeakRSS), how, fmtMiB(f.SampledRSS))
			writeErrors(w, "    ", "sign-in errors", f.ErrorLog)
			writeErrors(w, "    ", "/healthz errors", f.HealthLog)
			if d.FloodErr != "" {
				p("  - note: %s\n", firstLineOf(d.FloodErr))
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
	for _, c := range r.checks() {
		p("- %s %s\n", c.Status, c.Text)
	}
}

// baselineSentence tells the reader which baselines the ratios use.
func (r *report) baselineSentence() string {
	if !r.perDB() {
		return "No database ran, so the baselines (floor, raw argon2id hash rate) were measured once."
	}
	return "Ratios use the baselines (floor, raw argon2id hash rate) measured just before each database's scenarios, " +
		"not once at the start, so the machine's speed drifting during the run does not enter them."
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
			hashes = append(hashes, fmt.Sprintf("| %s | **%.1f** | %d | %v | %s |\n",
				b.label(), h.Rate(), h.Hashes, h.Elapsed.Round(time.Millisecond), fmtDur(h.Mean)))
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
		p("Raw argon2id (m=%d KiB, t=%d, p=%d, salt %d B, key %d B) on %d goroutines in parallel.\n\n",
			passwordParams.Memory, passwordParams.Iterations, passwordParams.Parallelism,
			passwordParams.SaltLength, passwordParams.KeyLength, goroutines)
		p("| db | hashes/s | hashes | window | per hash |\n")
		p("|---|--:|--:|--:|--:|\n")
		p("%s\n", strings.Join(hashes, ""))
	}
	if len(notes) > 0 {
		p("%s\n", strings.Join(notes, ""))
	}
}

// check is one target verdict: PASS, FAIL or SKIP (not measured).
type check struct {
	Status string
	Text   string
}

// checks judges the run against the targets.
func (r *report) checks() []check {
	var out []check
	o := r.Opts

	// ratioCheck compares a row against target × its baseline.
	ratioCheck := func(db, scenario string, conc int, target float64, label string) check {
		text := fmt.Sprintf("%s on %s at c=%d: %s >= %.2f × %s", scenario, db, conc, scenarioLabel(scenario), target, label)
		rw := r.find(db, scenario, conc)
		if reason := r.missing(db, scenario, rw); reason != "" {
			return check{"SKIP", text + ": " + reason}
		}
		v, base, of, ok := r.ratio(*rw)
		if !ok {
			return check{"SKIP", text + ": " + of + " not measured before " + db}
		}
		// Name the baseline: which one, and that it is this database's own.
		used := "raw hashes/s"
		if of == "floor" {
			used = fmt.Sprintf("floor req/s at c=%d", conc)
		}
		detail := fmt.Sprintf("%s req/s vs %s %s measured just before %s = %.3f", fmtRate(rw.Res.RPS()), fmtRate(base), used, db, v)
		switch {
		case rw.Res.Errors > 0:
			return check{"FAIL", fmt.Sprintf("%s: %s, but %d requests failed", text, detail, rw.Res.Errors)}
		case v >= target:
			return check{"PASS", text + ": " + detail}
		default:
			return check{"FAIL", text + ": " + detail}
		}
	}

	for _, c := range o.concs {
		out = append(out, ratioCheck("postgres", "refresh", c, targetRefreshVsFloor, "floor"))
	}
	for _, c := range o.concs {
		out = append(out, ratioCheck("postgres", "getuser", c, targetGetUserVsFloor, "floor"))
	}
	for _, db := range o.dbs {
		for _, c := range o.concs {
			out = append(out, ratioCheck(db, "signin", c, targetSignInVsHash, "raw hashes/s"))
		}
	}
	for _, db := range o.dbs {
		text := fmt.Sprintf("flood on %s: peak RSS under %d concurrent sign-ins < %s", db, o.flood, fmtMiB(floodRSSLimit))
		text2 := fmt.Sprintf("flood on %s: GET /healthz kept answering (no error, none slower than %v)", db, floodHealthzMaxLatency)
		d := r.db(db)
		switch {
		case !o.want("flood") || o.flood <= 0:
			out = append(out, check{"SKIP", text + ": flood not selected"}, check{"SKIP", text2 + ": flood not selected"})
			continue
		case d == nil || d.Flood == nil:
			reason := "not run"
			if r.NoServer != "" {
				reason = "no server binary"
			}
			if d != nil {
				reason = firstLineOf(d.Skipped + d.Failed + d.FloodErr)
			}
			out = append(out, check{"SKIP", text + ": " + reason}, check{"SKIP", text2 + ": " + reason})
			continue
		}
		f := d.Flood
		status := "PASS"
		if f.PeakRSS >= floodRSSLimit {
			status = "FAIL"
		}
		out = append(out, check{status, fmt.Sprintf("%s: %s (%d ok, %d errors)", text, fmtMiB(f.PeakRSS), f.OK, f.Errors)})
		status = "PASS"
		if !f.healthzAnswered() {
			status = "FAIL"
		}
		out = append(out, check{status, fmt.Sprintf("%s: %d answered, %d errors, max %s", text2, f.Health.Count, f.HealthErrors, fmtDur(f.Health.Max))})
	}
	return out
}

// missing says why a check's row has no measurement, or "" when it has one.
func (r *report) missing(db, scenario string, rw *row) string {
	o := r.Opts
	switch {
	case !slices.Contains(o.dbs, db):
		return db + " not selected"
	case !o.want(scenario):
		return scenario + " not selected"
	}
	if r.NoServer != "" {
		return "no server binary"
	}
	if d := r.db(db); d != nil && d.Skipped != "" {
		return db + " skipped"
	}
	if d := r.db(db); d != nil && d.Failed != "" && (rw == nil || rw.Res == nil) {
		return "server phase failed: " + firstLineOf(d.Failed)
	}
	if rw == nil {
		return "not measured"
	}
	if rw.Res == nil {
		return "not run: " + firstLineOf(rw.Err)
	}
	return ""
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
