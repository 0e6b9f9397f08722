package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/bench/load"
	"github.com/latchkey/latchkey/internal/proc"
)

// How the rows with a target are judged. A sign-in hashes once, so its rate is bounded by the
// raw hash rate times the ceiling: the share of the machine's CPU that PostgreSQL, the load
// generator and everything else left to Latchkey over the run, the most its ratio could have
// been had it done nothing but hash. On a 2-core machine shared by all three the ceiling read
// 0.83-0.95, so a fixed 0.90 of the raw rate was out of reach of any server in some runs; the
// targets are fractions of the ceiling instead. Refresh and GET /user on PostgreSQL are judged
// against the floor, as before.
const (
	judgedCeiling = "ceiling"
	judgedFloor   = "floor"
)

// judged tells how the row (db, scenario) is judged: judgedCeiling, judgedFloor, or "" when it
// has no target (it then runs once).
func judged(db, scenario string) string {
	switch {
	case scenario == "signin" || scenario == scenarioTOTP:
		// The two-step TOTP sign-in hashes once too (its password step); its second request
		// hashes nothing, so its rate has the same bound.
		return judgedCeiling
	case db == "postgres" && floorTarget(scenario):
		return judgedFloor
	}
	return ""
}

// rowTarget is how the row (db, scenario) is judged (see judged) and the ratio it must reach.
func rowTarget(db, scenario string) (how string, target float64) {
	how = judged(db, scenario)
	switch {
	case how == judgedCeiling:
		return how, targetSignInVsCeiling
	case how == judgedFloor && scenario == "refresh":
		return how, targetRefreshVsFloor
	case how == judgedFloor && scenario == "getuser":
		return how, targetGetUserVsFloor
	case how == judgedFloor && scenario == "verify":
		return how, targetVerifyVsFloor
	}
	return "", 0
}

// rowRun is one run of a row.
type rowRun struct {
	Res   *load.Result
	Usage *usageSplit // nil: not sampled
	// Yard is the row's yardstick around this run, raw hashes/s or floor req/s: the mean of the
	// measurements right before and right after it (0: not measured; the database's baseline
	// stands in).
	Yard float64
}

// measureRuns runs one n times. With yard, it measures the yardstick before the first run and
// after each, so each run has one right before and one right after it (n+1 measurements, not
// 2n), and gives each run their mean. The row then shows the run median picks: the report's
// medianRun, the run its verdict calls the median. An error of one ends the row; an error of yard
// leaves the yardstick of the runs beside it unmeasured.
//
// With segments above 1, each run is measured in that many segments, the yardstick measured
// after each of them too, and the segments make one run (mergeSegments): a run's yardstick is
// then measured every few seconds, within it, not only at its two ends. one is told which
// segment of its run it measures (0 for the first).
func (rw *row) measureRuns(n, segments int, one func(seg int) (rowRun, error), yard func() (float64, error), median func(row) int) error {
	y := yardstick{what: "around the row", measure: yard}
	y.start()
	segments = max(segments, 1)
	for range n {
		segs := make([]rowRun, 0, segments)
		for seg := range segments {
			run, err := one(seg)
			if err != nil {
				return err
			}
			run.Yard = y.next()
			segs = append(segs, run)
		}
		rw.Runs = append(rw.Runs, mergeSegments(segs))
	}
	rw.show(median(*rw))
	return nil
}

// mergeSegments makes one run of a run's segments: their requests over their windows added up,
// their usage over their windows together (mergeUsage), and as the run's yardstick the
// segments' own, each weighted by the capacity it stands for, its window times its ceiling. The
// run's ratio to its ceiling is then its requests over the sum of what each segment's yardstick
// and ceiling allowed in its window: a segment measured while the machine was slow is held to
// the rate measured next to it, not to the run's average. Without a ceiling the segments'
// yardsticks are weighted by their windows alone; one unmeasured leaves the run's unmeasured.
func mergeSegments(segs []rowRun) rowRun {
	if len(segs) == 1 {
		return segs[0]
	}
	out := rowRun{}
	res := make([]*load.Result, len(segs))
	usages := make([]*usageSplit, 0, len(segs))
	var capacity, weight float64
	measured := true
	for i, s := range segs {
		res[i] = s.Res
		w, c := s.Res.Elapsed.Seconds(), 1.0
		if s.Usage != nil {
			usages = append(usages, s.Usage)
			if s.Usage.Window > 0 {
				w = s.Usage.Window.Seconds()
			}
			c = s.Usage.Ceiling()
		}
		measured = measured && s.Yard > 0 && c > 0
		capacity += s.Yard * c * w
		weight += c * w
	}
	out.Res = load.Merge(res...)
	if len(usages) == len(segs) {
		out.Usage = mergeUsage(usages)
	}
	if measured && weight > 0 {
		out.Yard = capacity / weight
	}
	return out
}

// show makes run i the one the row's table cells show.
func (rw *row) show(i int) {
	m := rw.Runs[i]
	rw.Res, rw.Usage = m.Res, m.Usage
	if rw.VsHash {
		rw.Hash = m.Yard
	} else {
		rw.Floor = m.Yard
	}
}

// yardstick is what the runs of a row, or the floods, are held against, measured before the first
// and after each: run i's is the mean of the measurements right before and right after it.
type yardstick struct {
	what    string                  // where, for the progress line of a failed measurement
	measure func() (float64, error) // nil: not measured (0)
	before  float64                 // the last measurement (0: failed or none)
}

func (y *yardstick) take() float64 {
	if y.measure == nil {
		return 0
	}
	v, err := y.measure()
	if err != nil {
		progress("yardstick %s not measured (the database's baseline stands in): %v", y.what, err)
		return 0
	}
	return v
}

// start measures the yardstick before the first run.
func (y *yardstick) start() { y.before = y.take() }

// next measures the yardstick after a run and returns the run's: the mean of this measurement
// and the one before the run, or 0 when either failed.
func (y *yardstick) next() float64 {
	after := y.take()
	mean := 0.0
	if y.before > 0 && after > 0 {
		mean = (y.before + after) / 2
	}
	y.before = after
	return mean
}

// runs is the row's runs; a row measured without measureRuns is its one run.
func (rw *row) runs() []rowRun {
	if len(rw.Runs) > 0 {
		return rw.Runs
	}
	yard := rw.Floor
	if rw.VsHash {
		yard = rw.Hash
	}
	return []rowRun{{Res: rw.Res, Usage: rw.Usage, Yard: yard}}
}

// medianRun is the index of the run of rw its verdict calls the median (see medianOf), by the
// same figures; for a row without a target, or none of whose runs can be judged, the median by
// req/s.
func (r *report) medianRun(rw row) int {
	runs := rw.runs()
	if how, target := rowTarget(rw.DB, rw.Scenario); how != "" {
		var vs []runVerdict
		for _, run := range runs {
			vs = append(vs, r.judgeRun(rw, run, how, target))
		}
		if m := medianOf(vs); m >= 0 {
			return m
		}
	}
	return medianIndex(len(runs), func(i int) float64 { return runs[i].Res.RPS() })
}

// medianIndex is the index of the median of n values by key: the lower middle one of an even
// count.
func medianIndex(n int, key func(i int) float64) int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ka, kb := key(a), key(b)
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return idx[(n-1)/2]
}

// floodRun is one flood.
type floodRun struct {
	Result *floodResult // nil: it could not run (Err says why)
	Err    string
	Hash   float64 // raw hashes/s measured right before and right after it (mean; 0: not measured)
}

// rssIdleLimit is the target for what the floods leave of the server's memory: below it within
// -rss-wait (60 s) of the last flood's end. The best-known peers idle at 37-59 MiB after a load
// run; Latchkey stayed at 176-180 MiB once it had hashed.
const rssIdleLimit = 100 << 20

// rssWatch is what the floods left of the server's memory.
type rssWatch struct {
	Watched time.Duration // how long after the last flood's end it was watched
	After   int64         // VmRSS at the end of the watch
	Below   time.Duration // when VmRSS first read below rssIdleLimit after the flood's end (-1: never)
	Err     string        // why the watch broke off
}

// rssEvery is how often the server's RSS is read while it is watched.
const rssEvery = 100 * time.Millisecond

// watchRSS reads the server's VmRSS every rssEvery from now until wait after from (the last
// flood's end), and notes when it first fell below rssIdleLimit.
func watchRSS(ctx context.Context, srv *proc.Child, from time.Time, wait time.Duration) rssWatch {
	w := rssWatch{Below: -1}
	t := time.NewTicker(rssEvery)
	defer t.Stop()
	for {
		rss, err := srv.RSS()
		if err != nil {
			w.Err = err.Error()
			return w
		}
		now := time.Now()
		w.After, w.Watched = rss, now.Sub(from)
		if rss < rssIdleLimit && w.Below < 0 {
			w.Below = w.Watched
		}
		if w.Watched >= wait {
			return w
		}
		select {
		case <-ctx.Done():
			w.Err = "interrupted"
			return w
		case <-t.C:
		}
	}
}

// check is one line of the report's verdicts: PASS, FAIL, SKIP (not measured, Measured says
// why) or INFO (a figure without a target).
type check struct {
	Status    string
	Target    string // what is judged, and the threshold
	Measured  string // the median run's figure
	Yardstick string // what the figure is divided by or held against
	Ratio     string // the figure over the yardstick, and what it must be
	Runs      string // how many runs passed, and each run's ratio
	// Quiet marks a SKIP the run chose: a target it did not select (-db, -scenarios, -flood 0),
	// one of a database that was unreachable (the report's SKIPPED line says so), or one its
	// settings leave nothing to judge (-queue-timeout 0). Any other SKIP is a selected target
	// the run could not judge: a problem (see unjudged).
	Quiet bool
}

// Text is the check on one line.
func (c check) Text() string {
	parts := []string{c.Target}
	for _, p := range []string{c.Measured, c.Yardstick, c.Ratio, c.Runs} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; ")
}

// runVerdict is one run's verdict on one target.
type runVerdict struct {
	Skip      string // why this run cannot be judged ("" when it can)
	Quiet     bool   // the Skip is the run's choice (see check.Quiet)
	Pass      bool
	Figure    float64 // orders the runs, higher is better: the median run's cells are shown
	Short     string  // this run's ratio in the Runs column
	Measured  string
	Yardstick string
	Ratio     string
}

// medianOf is the index in runs of the median of those that could be judged, -1 when none could:
// ordered worst first (the failed runs, then by figure), the lower middle one. The median run
// therefore passes exactly when more than half of the judged runs pass, whatever their count (an
// even one when a run could not be judged): "most runs pass" and "the median decides" are one
// rule, a run with failed requests included.
func medianOf(runs []runVerdict) int {
	var judged []int
	for i, r := range runs {
		if r.Skip == "" {
			judged = append(judged, i)
		}
	}
	if len(judged) == 0 {
		return -1
	}
	slices.SortStableFunc(judged, func(a, b int) int {
		if pa, pb := runs[a].Pass, runs[b].Pass; pa != pb {
			if pa {
				return 1
			}
			return -1
		}
		return cmp.Compare(runs[a].Figure, runs[b].Figure)
	})
	return judged[(len(judged)-1)/2]
}

// verdict decides a target from its runs: PASS when the median run passes (see medianOf: the same
// as more than half of the runs that could be judged passing), FAIL otherwise, SKIP when none
// could be judged. The cells are the median run's.
func verdict(target string, runs []runVerdict) check {
	c := check{Target: target}
	mi := medianOf(runs)
	if mi < 0 {
		c.Status, c.Measured = "SKIP", "not measured"
		if len(runs) > 0 {
			c.Measured = runs[0].Skip
			c.Quiet = !slices.ContainsFunc(runs, func(r runVerdict) bool { return !r.Quiet })
		}
		return c
	}
	m := runs[mi]
	c.Measured, c.Yardstick, c.Ratio = m.Measured, m.Yardstick, m.Ratio
	passes, judged := 0, 0
	var shorts []string
	for _, r := range runs {
		if r.Skip == "" {
			judged++
		}
		switch {
		case r.Skip != "":
			shorts = append(shorts, "not judged")
		case r.Pass:
			passes++
			shorts = append(shorts, r.Short)
		default:
			shorts = append(shorts, r.Short+" ✗")
		}
	}
	c.Status = "FAIL"
	if m.Pass {
		c.Status = "PASS"
	}
	c.Runs = fmt.Sprintf("%d of %d pass: %s", passes, judged, strings.Join(shorts, ", "))
	return c
}

// checks judges the run against the targets.
func (r *report) checks() []check {
	var out []check
	o := r.Opts
	for _, c := range o.concs {
		out = append(out, r.rowCheck("postgres", "refresh", c))
	}
	for _, c := range o.concs {
		out = append(out, r.rowCheck("postgres", "getuser", c))
	}
	for _, c := range o.concs {
		out = append(out, r.rowCheck("postgres", "verify", c))
	}
	for _, db := range o.dbs {
		for _, c := range o.concs {
			out = append(out, r.rowCheck(db, "signin", c))
		}
	}
	for _, db := range o.dbs {
		for _, c := range o.concs {
			out = append(out, r.rowCheck(db, scenarioTOTP, c))
		}
	}
	// Issue 5: the figures without a target are INFO lines.
	for _, c := range r.Comparisons {
		if c.Base == nil || c.Alt == nil {
			continue
		}
		switch c.Kind {
		case kindRateLimits:
			out = append(out, check{Status: "INFO", Target: fmt.Sprintf("rate-limit overhead on %s %s at c=%d", c.DB, c.Scenario, c.Conc),
				Measured: fmt.Sprintf("%s req/s on", fmtRate(c.Alt.RPS())), Yardstick: fmt.Sprintf("%s req/s off", fmtRate(c.Base.RPS())),
				Ratio: fmt.Sprintf("%.3f (overhead %.1f %%)", c.ratio(), 100*(1-c.ratio()))})
		case kindInstances:
			out = append(out, check{Status: "INFO", Target: fmt.Sprintf("two instances vs one on %s %s at c=%d", c.DB, c.Scenario, c.Conc),
				Measured: fmt.Sprintf("%s req/s on two", fmtRate(c.Alt.RPS())), Yardstick: fmt.Sprintf("%s req/s on one", fmtRate(c.Base.RPS())),
				Ratio: fmt.Sprintf("%.3f", c.ratio())})
		}
	}
	for _, db := range o.dbs {
		out = append(out, r.floodChecks(db)...)
	}
	return out
}

// rowCheck judges one row with a target: each run's req/s over its yardstick (raw hashes/s times
// its ceiling, or the floor), against its target.
func (r *report) rowCheck(db, scenario string, conc int) check {
	how, target := rowTarget(db, scenario)
	yardName := "the floor"
	if how == judgedCeiling {
		yardName = "the ceiling"
	}
	name := fmt.Sprintf("%s on %s at c=%d: %s >= %.2f × %s", scenario, db, conc, scenarioLabel(scenario), target, yardName)
	rw := r.find(db, scenario, conc)
	if reason, quiet := r.missing(db, scenario, rw); reason != "" {
		return check{Status: "SKIP", Target: name, Measured: reason, Quiet: quiet}
	}
	var runs []runVerdict
	for _, run := range rw.runs() {
		runs = append(runs, r.judgeRun(*rw, run, how, target))
	}
	return verdict(name, runs)
}

// judgeRun is one run's verdict on its row's target.
func (r *report) judgeRun(rw row, run rowRun, how string, target float64) runVerdict {
	rps := run.Res.RPS()
	base, where := run.Yard, "measured around the run"
	if base == 0 {
		base, where = r.baselineFor(rw.DB).rate(rw.VsHash, rw.Conc), "measured just before "+rw.DB
	}
	var v runVerdict
	switch {
	case base == 0 && rw.VsHash && !r.Opts.want("hash"):
		return runVerdict{Skip: "hash not selected: no raw hash rate to judge against", Quiet: true}
	case base == 0 && !rw.VsHash && !r.Opts.want("floor"):
		return runVerdict{Skip: "floor not selected: no floor to judge against", Quiet: true}
	case base == 0 && rw.VsHash:
		return runVerdict{Skip: "raw hash rate not measured before " + rw.DB}
	case base == 0:
		return runVerdict{Skip: "floor not measured before " + rw.DB}
	case how == judgedCeiling:
		u := run.Usage
		if u == nil || u.CPUs <= 0 || u.Ceiling() <= 0 {
			return runVerdict{Skip: "no ceiling: the machine's CPU split was not sampled"}
		}
		raw := rps / base
		v.Figure = raw / u.Ceiling()
		v.Measured = fmt.Sprintf("%s req/s = %.3f × %.1f raw hashes/s %s", fmtRate(rps), raw, base, where)
		v.Yardstick = fmt.Sprintf("ceiling %.3f: the share of the CPU PostgreSQL, the load generator and the rest left to Latchkey", u.Ceiling())
	default:
		v.Figure = rps / base
		v.Measured = fmt.Sprintf("%s req/s", fmtRate(rps))
		v.Yardstick = fmt.Sprintf("floor %s req/s at c=%d %s", fmtRate(base), rw.Conc, where)
	}
	v.Short = fmt.Sprintf("%.3f", v.Figure)
	v.Ratio = fmt.Sprintf("%.3f (>= %.2f)", v.Figure, target)
	v.Pass = v.Figure >= target && run.Res.Errors == 0
	if n := run.Res.Errors; n > 0 {
		v.Ratio += fmt.Sprintf(", but %d requests failed", n)
	}
	return v
}

// floodChecks judges one database's floods: peak RSS, /healthz and refresh kept answering, fast
// 503s with Retry-After, and goodput against the ceiling (each by most of the floods); and what
// the floods left of the server's memory.
func (r *report) floodChecks(db string) []check {
	o := r.Opts
	names := []string{
		fmt.Sprintf("flood on %s: peak RSS under %d concurrent sign-ins < %s", db, o.flood, fmtMiB(floodRSSLimit)),
		fmt.Sprintf("flood on %s: GET /healthz kept answering (no error, none slower than %v)", db, floodHealthzMaxLatency),
		fmt.Sprintf("flood on %s: refresh kept answering (no error, p99 < %v)", db, floodRefreshMaxP99),
		fmt.Sprintf("flood on %s: sign-ins that cannot start hashing within the queue deadline get a fast 503 with Retry-After", db),
		fmt.Sprintf("flood on %s: sign-in goodput (first 90%% of clients) >= %.2f × the ceiling", db, floodGoodputTarget),
		fmt.Sprintf("Latchkey's RSS on %s below %s within %v of the last flood's end", db, fmtMiB(rssIdleLimit), o.rssWait),
	}
	skip := func(reason string, quiet bool) []check {
		out := make([]check, len(names))
		for i, t := range names {
			out[i] = check{Status: "SKIP", Target: t, Measured: reason, Quiet: quiet}
		}
		return out
	}
	d := r.db(db)
	switch {
	case !o.want("flood") || o.flood <= 0:
		return skip("flood not selected", true)
	case d != nil && d.Skipped != "":
		return skip(db+" skipped: "+firstLineOf(d.Skipped), true)
	case d == nil || len(d.Floods) == 0:
		reason := "not run"
		switch {
		case r.NoServer != "":
			reason = "no server binary"
		case d != nil && d.Failed != "":
			reason = "server phase failed: " + firstLineOf(d.Failed)
		}
		return skip(reason, false)
	}
	per := make([][]runVerdict, 5)
	for _, run := range d.Floods {
		for i, v := range r.floodRunVerdicts(d, run) {
			per[i] = append(per[i], v)
		}
	}
	var out []check
	for i := range per {
		out = append(out, verdict(names[i], per[i]))
	}
	return append(out, rssCheck(names[5], d, o.rssWait))
}

// floodRunVerdicts is one flood's verdicts on the five flood targets, in floodChecks' order.
func (r *report) floodRunVerdicts(d *dbRun, run floodRun) []runVerdict {
	o := r.Opts
	f := run.Result
	if f == nil {
		v := runVerdict{Skip: "not run: " + firstLineOf(run.Err)}
		return []runVerdict{v, v, v, v, v}
	}
	peak := runVerdict{Pass: f.PeakRSS < floodRSSLimit, Figure: -float64(f.PeakRSS), Short: fmtMiB(f.PeakRSS),
		Measured:  fmt.Sprintf("%s (%d signed in, %d gave up)", fmtMiB(f.PeakRSS), f.OK, f.Errors),
		Yardstick: fmtMiB(floodRSSLimit), Ratio: fmt.Sprintf("%.2f (< 1)", float64(f.PeakRSS)/floodRSSLimit)}
	if f.PeakRSS <= 0 { // its reading failed: nothing to judge, not a peak of nothing
		peak = runVerdict{Skip: "VmHWM not read: " + firstLineOf(run.Err)}
	}
	out := []runVerdict{
		peak,
		{Pass: f.healthzAnswered(), Figure: -f.Health.Latency.Max.Seconds(), Short: fmtDur(f.Health.Latency.Max),
			Measured:  fmt.Sprintf("%d answered, %d errors, max %s", f.Health.Latency.Count, f.Health.Errors, fmtDur(f.Health.Latency.Max)),
			Yardstick: fmt.Sprintf("%v, no error", floodHealthzMaxLatency), Ratio: fmt.Sprintf("%.2f (< 1)", f.Health.Latency.Max.Seconds()/floodHealthzMaxLatency.Seconds())},
		{Pass: f.refreshAnswered(), Figure: -f.Refresh.Latency.P99.Seconds(), Short: fmtDur(f.Refresh.Latency.P99),
			Measured:  fmt.Sprintf("%d answered, %d errors, p99 %s", f.Refresh.Latency.Count, f.Refresh.Errors, fmtDur(f.Refresh.Latency.P99)),
			Yardstick: fmt.Sprintf("%v, no error", floodRefreshMaxP99), Ratio: fmt.Sprintf("%.2f (< 1)", f.Refresh.Latency.P99.Seconds()/floodRefreshMaxP99.Seconds())},
	}
	switch {
	case o.queueTimeout <= 0:
		out = append(out, runVerdict{Skip: "-queue-timeout 0 (no deadline)", Quiet: true})
	case f.Refused == 0:
		out = append(out, runVerdict{Skip: "no sign-in was refused (the queue never outgrew the deadline)"})
	default:
		server := f.ServerRefusal.Quantile(0.99)
		ok := f.ServerRefusalErr == "" && f.ServerRefusal.Count() > 0 && server <= floodRefusalMaxP99
		ratio := "n/a"
		if f.ServerRefusalErr == "" && f.ServerRefusal.Count() > 0 {
			ratio = fmt.Sprintf("%.2f (<= 1)", server.Seconds()/floodRefusalMaxP99.Seconds())
		}
		out = append(out, runVerdict{Pass: ok && f.RefusedLate == 0 && f.NoRetryAfter == 0, Figure: -server.Seconds(),
			Short: fmt.Sprintf("p99 %s, %d late", fmtBound(f.ServerRefusal, server), f.RefusedLate),
			Measured: fmt.Sprintf("%d refused, %d after waiting out the deadline, %d without Retry-After; the server's own: %s; clients saw p99 %s (%s)",
				f.Refused, f.RefusedLate, f.NoRetryAfter, serverRefusalText(f), fmtDur(f.Refusal.P99), floorBurstText(d, o.flood)),
			Yardstick: fmt.Sprintf("the server's own p99 <= %v, none after waiting out the deadline, every one with Retry-After", floodRefusalMaxP99),
			Ratio:     ratio})
	}
	h, how := r.floodHash(d.Name, run)
	switch {
	case h == 0 && !o.want("hash"):
		out = append(out, runVerdict{Skip: "hash not selected: no raw hash rate to judge against", Quiet: true})
	case h == 0:
		out = append(out, runVerdict{Skip: "raw hash rate not measured before " + d.Name})
	case f.Goodput() > 0 && (f.UsageErr != "" || f.Usage.CPUs <= 0 || f.Usage.Ceiling() <= 0):
		out = append(out, runVerdict{Skip: "no ceiling: the machine's CPU split was not sampled: " + firstLineOf(f.UsageErr)})
	default:
		raw := f.Goodput() / h
		v := runVerdict{Figure: 0, Measured: fmt.Sprintf("%.1f sign-ins/s = %.3f × %.1f raw hashes/s %s (%d gave up)", f.Goodput(), raw, h, how, f.Errors)}
		if c := f.Usage.Ceiling(); c > 0 {
			v.Figure = raw / c
			v.Yardstick = fmt.Sprintf("ceiling %.3f: the share of the CPU PostgreSQL, the load generator and the rest left to Latchkey", c)
		} else {
			v.Yardstick = "no ceiling: fewer than 90% of the clients signed in"
		}
		v.Pass = v.Figure >= floodGoodputTarget && f.Errors == 0
		v.Short = fmt.Sprintf("%.3f", v.Figure)
		v.Ratio = fmt.Sprintf("%.3f (>= %.2f)", v.Figure, floodGoodputTarget)
		if f.Errors > 0 {
			v.Ratio += fmt.Sprintf(", but %d clients gave up", f.Errors)
		}
		out = append(out, v)
	}
	return out
}

// rssCheck judges what the floods left of the server's memory: its RSS at the end of a watch of
// wait. A watch that broke off or ended early is not judged: the RSS at the end of the wait is
// what the target is about, and a server that died reads as no memory at all.
func rssCheck(name string, d *dbRun, wait time.Duration) check {
	w := d.RSS
	c := check{Target: name, Yardstick: fmtMiB(rssIdleLimit), Runs: "one watch, after the last flood"}
	c.Measured = fmt.Sprintf("%s; at start %s, peak %s", rssAfterText(w), fmtMiB(d.RSSStart), fmtMiB(d.peakRSS()))
	switch {
	case w.Err != "":
		c.Status, c.Measured = "SKIP", fmt.Sprintf("not judged: the watch broke off after %v: %s", w.Watched.Round(time.Second), firstLineOf(w.Err))
		return c
	case w.After <= 0:
		c.Status, c.Measured = "SKIP", "not watched"
		return c
	case w.Watched < wait:
		c.Status, c.Measured = "SKIP", fmt.Sprintf("not judged: watched %v of %v", w.Watched.Round(time.Second), wait)
		return c
	case w.After < rssIdleLimit:
		c.Status = "PASS"
	default:
		c.Status = "FAIL"
	}
	c.Ratio = fmt.Sprintf("%.2f (< 1)", float64(w.After)/rssIdleLimit)
	return c
}

// unjudged are the checks of selected targets that could not be judged (SKIP, not Quiet): no
// ceiling because the CPU split was not sampled, a setup that failed, a yardstick not measured.
// Each is a problem of the run, as a harness failure is.
func (r *report) unjudged() []check {
	var out []check
	for _, c := range r.checks() {
		if c.Status == "SKIP" && !c.Quiet {
			out = append(out, c)
		}
	}
	return out
}

// tally counts the verdicts, for the line the harness prints on stderr at the end.
func (r *report) tally() string {
	n, quiet := map[string]int{}, 0
	for _, c := range r.checks() {
		n[c.Status]++
		if c.Status == "SKIP" && c.Quiet {
			quiet++
		}
	}
	return fmt.Sprintf("%d PASS, %d FAIL, %d SKIP (%d not selected or not applicable)", n["PASS"], n["FAIL"], n["SKIP"], quiet)
}
