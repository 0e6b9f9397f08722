// Command bench is the engine of `make bench`: it measures a built Latchkey
// server against a floor (a hello-world Echo server, bench/floor) and against
// the raw argon2id hash rate of the same machine, on SQLite and PostgreSQL,
// and prints a markdown report with PASS/FAIL lines for the targets.
//
//	go build -o bin/latchkey ./cmd/latchkey && go run ./bench
//
// Progress goes to stderr, the report to stdout. The exit status is 0 when a
// report was produced and every selected target judged, PASS or FAIL; 1 when
// the harness could not do its job (no server binary, a server that would not
// start, the floor would not build) or left a selected target unjudged
// (SKIP); 2 for bad flags; 130 when interrupted. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // served only with -pprof
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/bench/load"
	"github.com/latchkey/latchkey/internal/proc"
	"github.com/latchkey/latchkey/server"
)

// requestTimeout bounds one request of a scenario. Sign-in at high
// concurrency queues behind the hash pool, so it is generous.
const requestTimeout = time.Minute

// allScenarios are the names -scenarios accepts, in the order they run.
var allScenarios = []string{"floor", "hash", "healthz", "signup", "signin", "signin-totp", "getuser", "verify",
	"refresh", "wme-login", "wme-refresh", "zesty-login", "zesty-verify", "az-signin", "ratelimits", "instances", "flood"}

// The issue-5 comparisons: rate limits on vs off, and two instances vs one (PostgreSQL).
var (
	rateLimitScenarios = []string{"signin", "refresh"}
	instanceScenarios  = []string{"refresh", "getuser", "verify", "signin"}
)

// options are the parsed flags.
type options struct {
	server       string
	floorBin     string
	duration     time.Duration
	warmup       time.Duration
	hashDuration time.Duration
	readyTimeout time.Duration
	concs        []int
	extraConcs   []int // the issue-5 parts: other dialects, rate limits, instances
	repeat       int   // runs of each judged row and of the flood
	queueTimeout time.Duration
	minConns     int           // the server's --db-min-conns on PostgreSQL
	revBound     string        // the server's LATCHKEY_REVOCATION_BOUND ("": its default)
	rssWait      time.Duration // how long the server's RSS is watched after the last flood
	totpUsers    int           // users of the signin-totp scenario (0: from the raw hash rate)
	dbs          []string
	pgURL        string
	scenarios    map[string]bool
	flood        int
	floodProbe   time.Duration
	pprofAddr    string
	runID        string
}

// want reports whether a scenario (or phase: floor, hash, flood) was selected.
func (o *options) want(name string) bool { return o.scenarios[name] }

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.pprofAddr != "" {
		go func() { fmt.Fprintln(os.Stderr, "bench: pprof:", http.ListenAndServe(o.pprofAddr, nil)) }()
	}

	rep := run(ctx, o)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		os.Exit(130)
	}
	rep.write(os.Stdout)
	fmt.Fprintln(os.Stderr, "\nbench: target checks: "+rep.tally())
	if rep.failed() {
		fmt.Fprintln(os.Stderr, "bench: the harness could not do all of its job (see PROBLEM / FAILED above)")
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	defPG := os.Getenv("LATCHKEY_BENCH_POSTGRES_URL")
	if defPG == "" {
		defPG = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	o := &options{}
	fs.StringVar(&o.server, "server", "bin/latchkey", "path to the built latchkey binary")
	fs.StringVar(&o.floorBin, "floor-bin", "", "path to a built floor server (default: go build ./bench/floor)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per scenario and concurrency (each run of a judged row)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each measurement")
	fs.DurationVar(&o.hashDuration, "hash-duration", 5*time.Second, "how long to measure raw argon2id hashes/s")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 60*time.Second, "how long to wait for the server's GET /readyz")
	concs := fs.String("concurrency", "16,64", "comma-separated worker counts")
	extraConcs := fs.String("extra-concurrency", "16", "worker counts of the other dialects' scenarios and of the rate-limit and two-instance comparisons")
	fs.IntVar(&o.repeat, "repeat", 3, "runs of each row with a target and of the flood; the median run decides, so more than half must pass; the other rows run once")
	fs.DurationVar(&o.queueTimeout, "queue-timeout", 3*time.Second, "the server's --hash-queue-timeout for the whole run (the flood's 503s come from it)")
	dbs := fs.String("db", "sqlite,postgres", `comma-separated databases: sqlite, postgres ("" or "none": floor and hash only)`)
	fs.StringVar(&o.pgURL, "postgres-url", defPG, "PostgreSQL admin URL; the harness (re)creates database "+benchDatabase+" there (env LATCHKEY_BENCH_POSTGRES_URL)")
	scen := fs.String("scenarios", "all", "comma-separated subset of: "+strings.Join(allScenarios, ","))
	fs.IntVar(&o.flood, "flood", 1000, "concurrent sign-ins in the flood (0: no flood)")
	fs.DurationVar(&o.floodProbe, "flood-probe-every", 5*time.Millisecond, "the flood's /healthz and refresh probers' pause between calls")
	fs.StringVar(&o.revBound, "revocation-bound", "", "the server's LATCHKEY_REVOCATION_BOUND (empty: its default, 250ms; 0: no session cache, "+
		"every authenticated request asks the database, as before issue 21)")
	fs.IntVar(&o.minConns, "db-min-conns", 20, "the server's --db-min-conns on PostgreSQL: connections opened at start and kept open, so the flood's burst does not wait while the pool grows (0: the server's default)")
	fs.DurationVar(&o.rssWait, "rss-wait", 60*time.Second, "how long the server's RSS is watched after the last flood; the target is below 100 MiB by then")
	fs.IntVar(&o.totpUsers, "totp-users", 0, "users with TOTP active that signin-totp signs in, each at most once per 30-second step "+
		"(0: a step's worth of sign-ins at the raw hash rate measured before the database, ×1.2)")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve the harness's own net/http/pprof on this address, to profile the load generator (empty: off)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.duration <= 0 || o.warmup < 0 {
		return nil, errors.New("-duration must be positive and -warmup not negative")
	}

	if o.repeat < 1 || o.queueTimeout < 0 || o.minConns < 0 || o.rssWait < 0 || o.totpUsers < 0 {
		return nil, errors.New("-repeat must be at least 1, and -queue-timeout, -db-min-conns, -rss-wait and -totp-users not negative")
	}
	for _, l := range []struct {
		flag string
		in   *string
		out  *[]int
	}{{"-concurrency", concs, &o.concs}, {"-extra-concurrency", extraConcs, &o.extraConcs}} {
		for f := range strings.SplitSeq(*l.in, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%s: %q is not a positive number", l.flag, f)
			}
			*l.out = append(*l.out, n)
		}
	}

	if d := strings.TrimSpace(*dbs); d != "" && d != "none" {
		for f := range strings.SplitSeq(d, ",") {
			f = strings.TrimSpace(f)
			if f != "sqlite" && f != "postgres" {
				return nil, fmt.Errorf("-db: unknown database %q (want sqlite or postgres)", f)
			}
			if !slices.Contains(o.dbs, f) {
				o.dbs = append(o.dbs, f)
			}
		}
	}

	o.scenarios = map[string]bool{}
	for f := range strings.SplitSeq(*scen, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "all":
			for _, s := range allScenarios {
				o.scenarios[s] = true
			}
		case slices.Contains(allScenarios, f):
			o.scenarios[f] = true
		default:
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (want some of %s)", f, strings.Join(allScenarios, ","))
		}
	}

	// Distinguishes this run's e-mail addresses from any earlier run's.
	o.runID = strconv.FormatInt(time.Now().UnixMilli(), 36)
	return o, nil
}

// run does everything and returns the report; it never exits.
func run(ctx context.Context, o *options) *report {
	rep := &report{Started: time.Now(), Opts: o, Machine: machine()}
	tmp, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		rep.Problems = append(rep.Problems, "temp dir: "+err.Error())
		return rep
	}
	defer os.RemoveAll(tmp)

	// The floor server runs from here to the end of the run: each
	// database's baselines are measured on the same process.
	fl := startFloor(ctx, o, tmp, rep)
	defer fl.stop(rep)

	bin := ""
	if len(o.dbs) > 0 {
		if bin, err = serverBinary(o.server); err != nil {
			progress("%v", err)
			rep.Problems = append(rep.Problems, err.Error())
			rep.NoServer = err.Error()
		}
	}
	if bin == "" {
		// No database runs: the baselines once, as the whole report.
		measureBaseline(ctx, o, fl, "", rep)
		return rep
	}

	// Latchkey on each database, each after its own baselines.
	for _, db := range o.dbs {
		if ctx.Err() != nil {
			break
		}
		benchDB(ctx, o, tmp, bin, db, fl, rep)
	}
	return rep
}

// serverBinary checks that the Latchkey binary exists and is executable, and
// returns its absolute path.
func serverBinary(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %s does not exist; build it first with `go build -o bin/latchkey ./cmd/latchkey` (make bench does), or pass -server; the Latchkey phase is skipped", errMissingBinary, path)
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return "", fmt.Errorf("%w: %s is not an executable file; the Latchkey phase is skipped", errMissingBinary, path)
	}
	return abs, nil
}

// floorServer is the hello-world Echo server the floor is measured on. It is
// started once and kept running, idle between measurements, for the whole
// run, so the floors measured before each database come from one process and
// differ only by the machine's speed at the time.
type floorServer struct {
	srv *proc.Child
	api *api
	err error // why there is no server to measure; nil when srv runs
}

// startFloor builds (unless -floor-bin) and starts the floor server, or
// returns nil when the floor was not selected. A failure is recorded as a
// problem once here; each baseline then says its floor was not measured.
func startFloor(ctx context.Context, o *options, tmp string, rep *report) *floorServer {
	if !o.want("floor") {
		return nil
	}
	srv, base, err := launchFloor(ctx, o, tmp)
	if err != nil {
		rep.Problems = append(rep.Problems, "floor: "+err.Error())
		progress("floor FAILED: %v", err)
		return &floorServer{err: err}
	}
	return &floorServer{srv: srv, api: &api{base: base}}
}

// launchFloor builds the floor if needed, starts it on a free port and waits
// until it answers; it returns the running child and its base URL.
func launchFloor(ctx context.Context, o *options, tmp string) (*proc.Child, string, error) {
	bin := o.floorBin
	if bin == "" {
		bin = filepath.Join(tmp, "floor")
		progress("building the floor server")
		gobin, err := exec.LookPath("go")
		if err != nil {
			return nil, "", fmt.Errorf("go is not in PATH to build the floor (or pass -floor-bin): %w", err)
		}
		cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "github.com/latchkey/latchkey/bench/floor")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("go build ./bench/floor (run from inside the repository): %v\n%s", err, out)
		}
	}
	port, err := proc.FreePort()
	if err != nil {
		return nil, "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	srv, err := proc.Start("floor", filepath.Join(tmp, "floor.log"), os.Environ(), bin, "-addr", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, "", err
	}
	if err := srv.WaitReady(ctx, base+"/healthz", 10*time.Second); err != nil {
		_ = srv.Stop()
		return nil, "", err
	}
	return srv, base, nil
}

// measure drives GET /healthz on the floor at each concurrency, exactly as
// Latchkey's healthz scenario is driven, into b.
func (fl *floorServer) measure(ctx context.Context, o *options, b *baseline) error {
	if fl.err != nil {
		return fmt.Errorf("no floor server: %w", fl.err)
	}
	if fl.srv.Exited() {
		return fmt.Errorf("the floor server exited (%v); last lines of its log:\n%s", fl.srv.Err(), fl.srv.LogTail(20))
	}
	for _, c := range o.concs {
		res, err := fl.drive(ctx, o, c)
		if err != nil {
			return err
		}
		b.Floor[c] = res
		progressRow("floor", "healthz", res)
	}
	return nil
}

// drive measures GET /healthz on the floor at concurrency c, as Latchkey's scenarios are driven.
func (fl *floorServer) drive(ctx context.Context, o *options, c int) (*load.Result, error) {
	return measure(ctx, o, "floor healthz", c, func(cl *http.Client) load.NewWorkerFunc {
		return func(context.Context, int) (load.Worker, error) {
			return load.WorkerFunc(func(ctx context.Context) error { return fl.api.healthz(ctx, cl) }), nil
		}
	})
}

// floorTarget tells the scenarios whose target is a ratio to the floor.
func floorTarget(scenario string) bool {
	return scenario == "refresh" || scenario == "getuser" || scenario == "verify"
}

// side measures the floor at concurrency c for bracketDuration: one side of the yardstick of a
// row with a floor target, measured between its runs (see measureRuns), nearer in time than the
// database's baseline (the machine's speed drifts within minutes).
func (fl *floorServer) side(ctx context.Context, o *options, c int) (float64, error) {
	if fl.srv.Exited() {
		return 0, fmt.Errorf("the floor server exited (%v)", fl.srv.Err())
	}
	short := *o
	short.warmup, short.duration = min(o.warmup, 500*time.Millisecond), bracketDuration
	res, err := fl.drive(ctx, &short, c)
	if err != nil {
		return 0, err
	}
	progress("    floor at c=%d: %s req/s", c, fmtRate(res.RPS()))
	return res.RPS(), nil
}

// stop records the floor server's peak RSS over the whole run and stops it.
func (fl *floorServer) stop(rep *report) {
	if fl == nil || fl.srv == nil {
		return
	}
	rep.FloorRSS, _ = fl.srv.PeakRSS()
	if err := fl.srv.Stop(); err != nil {
		rep.Problems = append(rep.Problems, "floor: "+err.Error())
	}
}

// measureBaseline measures the floor at each concurrency (if selected) and the
// raw hash rate (if selected) just before db's server starts, "" when no
// database runs, and adds them to the report. A shared machine's speed drifts
// by 10-25% over minutes, so a row's ratio is only fair against baselines
// measured next to it rather than once at the start of the run.
func measureBaseline(ctx context.Context, o *options, fl *floorServer, db string, rep *report) {
	b := &baseline{DB: db, Floor: map[int]*load.Result{}}
	rep.Baselines = append(rep.Baselines, b)
	if db != "" {
		progress("%s: baselines, just before its server starts", db)
	}

	if fl != nil && ctx.Err() == nil {
		if err := fl.measure(ctx, o, b); err != nil {
			b.FloorErr = err.Error()
			progress("floor (%s) FAILED: %v", b.label(), err)
			if fl.err == nil { // a start failure is already a problem
				rep.Problems = append(rep.Problems, "floor ("+b.label()+"): "+err.Error())
			}
		}
	}

	// Raw argon2id hashes/s, with nothing else running.
	if o.want("hash") && ctx.Err() == nil {
		progress("raw argon2id hashes/s: %d goroutines for %v", runtime.GOMAXPROCS(0), o.hashDuration)
		h, err := measureHashRate(ctx, o.hashDuration)
		if err != nil {
			b.HashErr = err.Error()
			rep.Problems = append(rep.Problems, "hash ("+b.label()+"): "+err.Error())
		} else {
			b.Hash = h
			progress("  %.1f hashes/s (%s per hash); with Go's default GC settings: %.1f hashes/s", h.Rate(), fmtDur(h.Mean), h.DefaultGC)
		}
	}
}

// benchDB benchmarks Latchkey on one database: fresh database, baselines,
// server child, scenarios at each concurrency, flood, stop.
func benchDB(ctx context.Context, o *options, tmp, bin, db string, fl *floorServer, rep *report) {
	d := &dbRun{Name: db}
	rep.DBs = append(rep.DBs, d)
	fail := func(format string, args ...any) {
		d.Failed = fmt.Sprintf(format, args...)
		progress("%s FAILED: %s", db, d.Failed)
	}

	dataDir := filepath.Join(tmp, db+"-data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		fail("%v", err)
		return
	}
	port, err := proc.FreePort()
	if err != nil {
		fail("%v", err)
		return
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	dbURL := "" // PostgreSQL only: settled between measurements
	// The server's command line: see bench/README.md.
	args := []string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", dataDir}
	if db == "postgres" {
		url, err := freshPostgres(ctx, o.pgURL)
		if err != nil {
			d.Skipped = oneLine(err.Error())
			progress("")
			progress("!!!!!!!! SKIPPED postgres: %v", err)
			progress("!!!!!!!! (set -postgres-url or LATCHKEY_BENCH_POSTGRES_URL to a reachable server)")
			progress("")
			return
		}
		args = append(args, "--database-url", url)
		dbURL = url
	}

	// After the database is known to be reachable (a skipped one needs no
	// baselines), before anything of Latchkey's runs.
	measureBaseline(ctx, o, fl, db, rep)
	if ctx.Err() != nil {
		return
	}

	srv, err := startLatchkey(ctx, o, tmp, bin, db, db, args, "")
	if err != nil {
		fail("%v", err)
		return
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			progress("%s: %v", db, err)
		}
	}()
	if d.RSSStart, err = srv.RSS(); err != nil {
		progress("%s: RSS at start: %v", db, err)
	}

	a := &api{base: base, run: o.runID + "-" + db}
	settle := func(what string) {
		if dbURL != "" {
			if err := settlePostgres(ctx, dbURL); err != nil {
				progress("%s: settling before %s: %v", db, what, err)
			}
		}
	}

	// Setup: every worker of the widest run gets its own user.
	var users []*benchUser
	var setupErr error
	widest := slices.Max(append(slices.Clone(o.concs), o.extraConcs...))
	needUsers := o.want("ratelimits") || o.want("instances") ||
		slices.ContainsFunc(append(slices.Clone(scenarios), dialectScenarios...), func(s scenario) bool { return s.needUsers && o.want(s.name) })
	if needUsers {
		cl := load.NewClient(8, requestTimeout)
		users, setupErr = setupUsers(ctx, a, cl, widest)
		cl.CloseIdleConnections()
		if setupErr != nil {
			progress("%s: %v", db, setupErr)
		}
	}
	// The TOTP users, when signin-totp runs: their own accounts, so the other scenarios' users
	// keep signing in with the password alone.
	var totpUsers []*totpUser
	var totpErr error
	if o.want(scenarioTOTP) {
		n := o.totpUsers
		if n == 0 {
			var raw float64
			if b := rep.baselineFor(db); b != nil && b.Hash != nil {
				raw = b.Hash.Rate()
			}
			n = totpPoolSize(raw, slices.Max(o.concs), totpPoolFallback)
		}
		progress("%s: signing up %d users with TOTP active (signin-totp)", db, n)
		cl := load.NewClient(8, requestTimeout)
		totpUsers, totpErr = setupTOTPUsers(ctx, a, cl, n)
		cl.CloseIdleConnections()
		if totpErr != nil {
			progress("%s: %v", db, totpErr)
		}
	}

	// hashSide measures the raw hash rate for d, the server idle: one side of the yardstick of a
	// sign-in run's segment (segmentBracket) or of a flood (bracketDuration).
	hashSide := func(d time.Duration) (float64, error) {
		h, err := measureHash(ctx, d, false)
		if err != nil {
			return 0, err
		}
		progress("    raw hash rate: %.1f hashes/s", h.Rate())
		return h.Rate(), nil
	}

	// runRows measures each selected scenario of list at each concurrency into the main table.
	runRows := func(list []scenario, concs []int) bool {
		for _, sc := range list {
			if !o.want(sc.name) {
				continue
			}
			for _, c := range concs {
				if ctx.Err() != nil {
					return false
				}
				rw := row{DB: db, Scenario: sc.name, VsHash: sc.vsHash, Conc: c}
				if sc.needUsers && setupErr != nil {
					rw.Err = setupErr.Error()
					rep.Rows = append(rep.Rows, rw)
					continue
				}
				if sc.needTOTP && totpErr != nil {
					rw.Err = totpErr.Error()
					rep.Rows = append(rep.Rows, rw)
					continue
				}
				srv.ResetSampled()
				// The hashing slots' and the machine's usage, for the rows with targets: for those
				// judged against the hash rate it tells idle slots from slower hashes, for those
				// judged against the floor whose CPU the requests took.
				var sample func() (usageSample, error)
				if sc.vsHash || floorTarget(sc.name) {
					sample = func() (usageSample, error) { return sampleUsage(ctx, a, srv.Pid()) }
				}
				segments := 1
				if judged(db, sc.name) == judgedCeiling {
					segments = ceilingSegments
				}
				one := func(seg int) (rowRun, error) {
					settle(sc.name)
					res, u, err := measureUsage(ctx, segmentOptions(o, seg, segments), db+" "+sc.name, c, func(cl *http.Client) load.NewWorkerFunc {
						if sc.needTOTP {
							return totpWorker(a, cl, totpUsers)
						}
						return sc.worker(a, cl, users)
					}, sample)
					return rowRun{Res: res, Usage: u}, err
				}
				// A judged row runs -repeat times, each run between two measurements of its
				// yardstick, each on a settled database, so the row's own background work does not
				// slow the yardstick after it. A sign-in run is measured in ceilingSegments
				// segments, with the raw hash rate measured between them too.
				var yard func() (float64, error)
				switch judged(db, sc.name) {
				case judgedCeiling:
					if o.want("hash") {
						yard = func() (float64, error) { settle(sc.name + " (raw hash rate)"); return hashSide(segmentBracket) }
					}
				case judgedFloor:
					if fl != nil && fl.err == nil {
						yard = func() (float64, error) { settle(sc.name + " (floor)"); return fl.side(ctx, o, c) }
					}
				}
				runs := 1
				if judged(db, sc.name) != "" {
					runs = o.repeat
				}
				err := rw.measureRuns(runs, segments, one, yard, rep.medianRun)
				res := rw.Res
				rw.RSS = srv.SampledMax()
				if err != nil {
					rw.Res, rw.Err = nil, err.Error()
					progress("%s %s c=%d: not run: %v", db, sc.name, c, err)
				} else {
					progressRow(db, sc.name, res)
				}
				rep.Rows = append(rep.Rows, rw)
				if srv.Exited() {
					fail("the server exited during %s c=%d (%v); last lines of its log:\n%s", sc.name, c, srv.Err(), srv.LogTail(20))
					return false
				}
			}
			if hwm, err := srv.PeakRSS(); err == nil {
				d.HWMAfter = append(d.HWMAfter, namedBytes{sc.name, hwm})
				d.PeakRSS = hwm
			}
		}
		return true
	}
	if !runRows(scenarios, o.concs) || !runRows(dialectScenarios, o.extraConcs) {
		return
	}

	// compare measures scenario name on the main server (limits off, one instance) and on alt
	// (another process on the same database), in turns at each concurrency, so the machine's
	// drift does not enter the ratio.
	compare := func(kind, altName string, names []string, extraEnv []string, altAPIs func(alt *api) []*api) {
		if setupErr != nil {
			rep.Comparisons = append(rep.Comparisons, comparison{Kind: kind, DB: db, Err: setupErr.Error()})
			return
		}
		port, err := proc.FreePort()
		if err != nil {
			rep.Comparisons = append(rep.Comparisons, comparison{Kind: kind, DB: db, Err: err.Error()})
			return
		}
		altArgs := slices.Clone(args)
		altArgs[2] = fmt.Sprintf("127.0.0.1:%d", port) // after "serve", "--addr"
		alt, err := startLatchkey(ctx, o, tmp, bin, db, db+"-"+altName, altArgs, fmt.Sprintf("http://127.0.0.1:%d", port), extraEnv...)
		if err != nil {
			rep.Comparisons = append(rep.Comparisons, comparison{Kind: kind, DB: db, Err: err.Error()})
			return
		}
		defer func() {
			if err := alt.Stop(); err != nil {
				progress("%s %s: %v", db, altName, err)
			}
		}()
		altAPI := &api{base: fmt.Sprintf("http://127.0.0.1:%d", port), run: a.run}
		for _, name := range names {
			sc := scenarioNamed(name)
			for _, c := range o.extraConcs {
				if ctx.Err() != nil {
					return
				}
				cm := comparison{Kind: kind, DB: db, Scenario: name, Conc: c}
				// In turns, base, alt, alt, base, each for half the duration, each on a settled
				// database: a drift of the machine's speed that is steady over the four cancels
				// out between the two sides instead of landing on the second.
				half := *o
				half.duration = o.duration / 2
				base := func() (*load.Result, error) {
					settle(name)
					return measure(ctx, &half, db+" "+name+" "+kind+" base", c, func(cl *http.Client) load.NewWorkerFunc {
						return sc.worker(a, cl, users)
					})
				}
				other := func() (*load.Result, error) {
					settle(name)
					return measure(ctx, &half, db+" "+name+" "+kind, c, func(cl *http.Client) load.NewWorkerFunc {
						return roundRobin(sc, altAPIs(altAPI), cl, users)
					})
				}
				var turns [4]*load.Result
				for i, turn := range []func() (*load.Result, error){base, other, other, base} {
					if turns[i], err = turn(); err != nil {
						break
					}
				}
				if err != nil {
					cm.Err = err.Error()
					progress("%s %s %s c=%d: not run: %v", db, kind, name, c, err)
				} else {
					cm.Base, cm.Alt = load.Merge(turns[0], turns[3]), load.Merge(turns[1], turns[2])
					progressRow(db, name+" ("+kind+": base)", cm.Base)
					progressRow(db, name+" ("+kind+")", cm.Alt)
				}
				rep.Comparisons = append(rep.Comparisons, cm)
				if srv.Exited() || alt.Exited() {
					fail("a server exited during the %s comparison (%v %v); last lines of the logs:\n%s\n%s",
						kind, srv.Err(), alt.Err(), srv.LogTail(10), alt.LogTail(10))
					return
				}
			}
		}
	}
	if o.want("ratelimits") && ctx.Err() == nil {
		// The same server with every limit on, allowances too large to refuse anything: what is
		// measured is the counting itself (and the lockout bookkeeping of a sign-in).
		env := []string{"LATCHKEY_RATE_LIMITS=true"}
		for _, g := range server.LimitGroups {
			env = append(env, "LATCHKEY_RATE_LIMIT_"+strings.ToUpper(g)+"=1000000000/1m")
		}
		progress("%s: rate limits off (base) vs on, in turns", db)
		compare(kindRateLimits, "limits", rateLimitScenarios, env, func(alt *api) []*api { return []*api{alt} })
	}
	if o.want("instances") && db == "postgres" && ctx.Err() == nil {
		progress("%s: one instance (base) vs two, in turns", db)
		compare(kindInstances, "second", instanceScenarios, nil, func(alt *api) []*api { return []*api{a, alt} })
	}

	if o.want("flood") && o.flood > 0 && ctx.Err() == nil {
		progress("%s: flood of %d concurrent sign-ins (hash queue deadline %v)", db, o.flood, o.queueTimeout)
		if fl != nil && fl.srv != nil {
			// The same burst of new connections at the floor, idle: the yardstick of the 503s.
			if b, err := floorBurst(ctx, fl.api, o.flood); err != nil {
				d.FloodFloorErr = err.Error()
				progress("  floor burst: %v", err)
			} else {
				d.FloodFloor = b
				progress("  floor, %d new connections at once: p50 %s, p99 %s", o.flood, fmtDur(b.P50), fmtDur(b.P99))
			}
		}
		// -repeat floods, each between two measurements of the raw hash rate (the server idle), so
		// each is judged against the rate measured right before and right after it, as the runs
		// of a sign-in row are.
		y := yardstick{what: "around the flood"}
		if o.want("hash") {
			y.measure = func() (float64, error) { return hashSide(bracketDuration) }
		}
		y.start()
		var ended time.Time
		for i := range o.repeat {
			if ctx.Err() != nil {
				return
			}
			progress("  flood %d of %d", i+1, o.repeat)
			f, err := runFlood(ctx, a, srv, o.flood, o.queueTimeout, o.floodProbe)
			ended = time.Now()
			run := floodRun{Result: f}
			if err != nil {
				run.Err = err.Error()
				progress("%s flood: %v", db, err)
			}
			if f != nil {
				progress("  %d ok, %d errors, %d fast 503s (p99 %s) in %v; goodput %.1f sign-ins/s; peak RSS %s; /healthz max %s; refresh p99 %s",
					f.OK, f.Errors, f.Refused, fmtDur(f.Refusal.P99), f.Elapsed.Round(time.Millisecond), f.Goodput(),
					fmtMiB(f.PeakRSS), fmtDur(f.Health.Latency.Max), fmtDur(f.Refresh.Latency.P99))
			}
			if srv.Exited() {
				d.Floods = append(d.Floods, run)
				fail("the server exited during the flood (%v); last lines of its log:\n%s", srv.Err(), srv.LogTail(20))
				return
			}
			run.Hash = y.next()
			d.Floods = append(d.Floods, run)
		}
		// What the floods leave of the server's memory: watched from the last flood's end.
		d.RSS = watchRSS(ctx, srv, ended, o.rssWait)
		progress("  RSS %s after the flood: %s", o.rssWait, fmtMiB(d.RSS.After))
	}
}

// serverSetting is one setting the harness gives the servers it starts, in their environment.
type serverSetting struct {
	env, value string
	db         string // only on this database ("": every server)
	isDefault  bool   // the server's default, set to be sure: the report's header leaves it out
	shown      string // what the header shows for the value ("": the value)
}

// serverSettings are the settings every server of the run gets beyond the address, data directory
// and database URL (its command line) and the harness's own environment: rate limits off (every
// scenario comes from one address against a handful of accounts, which the limits exist to stop;
// the figures are the server's own throughput), the run's hashing-queue deadline, metrics read on
// the API port with the harness's token (servers started side by side would collide on the
// metrics listener's one default address, so it is off), and on PostgreSQL the connections kept
// open. The report's header lists those that differ from the defaults.
func serverSettings(o *options) []serverSetting {
	out := []serverSetting{
		{env: "LATCHKEY_LOG_LEVEL", value: "warn"},
		{env: "LATCHKEY_RATE_LIMITS", value: "false"},
		{env: "LATCHKEY_HASH_QUEUE_TIMEOUT", value: o.queueTimeout.String(), isDefault: o.queueTimeout == server.DefaultHashQueueTimeout},
		{env: "LATCHKEY_METRICS_ADDR", value: "off"},
		{env: "LATCHKEY_METRICS_TOKEN", value: benchMetricsToken, shown: "(the harness's)"},
		// The second factor on, for signin-totp's users; it changes nothing for a user without
		// TOTP (every other scenario's). PostgreSQL needs the secrets key set.
		{env: "LATCHKEY_MFA_ENABLED", value: "true"},
		{env: "LATCHKEY_SECRETS_KEY", value: benchSecretsKey, shown: "(the harness's)"},
	}
	if o.revBound != "" {
		out = append(out, serverSetting{env: "LATCHKEY_REVOCATION_BOUND", value: o.revBound})
	}
	if o.minConns > 0 {
		out = append(out, serverSetting{env: "LATCHKEY_DB_MIN_CONNS", value: strconv.Itoa(o.minConns), db: "postgres"})
	}
	return out
}

// serverEnv is the environment serverSettings gives a server on db, as NAME=value.
func serverEnv(o *options, db string) []string {
	var env []string
	for _, s := range serverSettings(o) {
		if s.db == "" || s.db == db {
			env = append(env, s.env+"="+s.value)
		}
	}
	return env
}

// startLatchkey starts a Latchkey server child on db with args and waits until it is ready; base
// is its URL ("" to read it from args' --addr). The database is chosen by the flags alone: the
// server also reads DATABASE_URL(_FILE), which would turn the SQLite run into another PostgreSQL
// run, so those are not passed on, nor the harness's own secrets-key files (the servers get the
// harness's key, benchSecretsKey). Its settings are serverEnv's, then extraEnv's (the
// comparisons turn rate limits on).
func startLatchkey(ctx context.Context, o *options, tmp, bin, db, name string, args []string, base string, extraEnv ...string) (*proc.Child, error) {
	if base == "" {
		base = "http://" + args[2]
	}
	progress("%s: starting %s %s", name, bin, strings.Join(args, " "))
	env := proc.Env([]string{"DATABASE_URL", "DATABASE_URL_FILE", "LATCHKEY_SECRETS_KEY_FILE", "LATCHKEY_SECRETS_OLD_KEY", "LATCHKEY_SECRETS_OLD_KEY_FILE"},
		append(serverEnv(o, db), extraEnv...)...)
	srv, err := proc.Start("latchkey ("+name+")", filepath.Join(tmp, name+"-server.log"), env, bin, args...)
	if err != nil {
		return nil, err
	}
	if err := srv.WaitReady(ctx, base+"/readyz", o.readyTimeout); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return srv, nil
}

// measure runs one scenario at one concurrency with a fresh keep-alive client.
func measure(ctx context.Context, o *options, name string, conc int, mk func(*http.Client) load.NewWorkerFunc) (*load.Result, error) {
	res, _, err := measureUsage(ctx, o, name, conc, mk, nil)
	return res, err
}

// measureUsage is measure, and when sample is set, the usage over the run's window: a sample as
// it opens and one as it closes. An error of sample is the usage's (nil), not the run's.
func measureUsage(ctx context.Context, o *options, name string, conc int, mk func(*http.Client) load.NewWorkerFunc,
	sample func() (usageSample, error)) (*load.Result, *usageSplit, error) {
	cl := load.NewClient(conc, requestTimeout)
	defer cl.CloseIdleConnections()
	cfg := load.Config{Name: name, Concurrency: conc, Warmup: o.warmup, Duration: o.duration}
	var opened, closed usageSample
	var errs [2]error
	if sample != nil {
		start := time.Now()
		cfg.Window = func(open bool) {
			if open {
				opened, errs[0] = sample()
				opened.At = time.Since(start)
			} else {
				closed, errs[1] = sample()
				closed.At = time.Since(start)
			}
		}
	}
	res, err := load.Run(ctx, cfg, mk(cl))
	if err != nil {
		return nil, nil, err
	}
	if sample == nil {
		return res, nil, nil
	}
	if err := errors.Join(errs[:]...); err != nil {
		progress("%s: usage not sampled: %v", name, err)
		return res, nil, nil
	}
	u := opened.split(closed)
	return res, &u, nil
}

// progress prints a line to stderr (stdout is kept for the report).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func progressRow(db, scenario string, r *load.Result) {
	progress("  %-8s %-8s c=%-3d %9s req/s  p50 %-10s p99 %-10s errors %d",
		db, scenario, r.Concurrency, fmtRate(r.RPS()), fmtDur(r.Latency.P50), fmtDur(r.Latency.P99), r.Errors)
}

// machine describes the machine in one line for the report's header.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d), %s %s/%s",
		model, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// errMissingBinary marks a server binary that does not exist.
var errMissingBinary = errors.New("server binary missing")
