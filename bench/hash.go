package main

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/latchkey/latchkey/bench/load"
	"github.com/latchkey/latchkey/server"
)

// passwordParams are the argon2id parameters Latchkey hashes passwords with. The raw hashes/s
// figure that sign-in is judged against is measured with the server's own values, so the two
// cannot drift apart.
var passwordParams = server.DefaultArgon2Params

// hashResult is the raw argon2id throughput of this machine.
type hashResult struct {
	Goroutines int
	Hashes     int64         // hashes completed in the window
	Elapsed    time.Duration // the window
	Mean       time.Duration // mean time of one hash
	DefaultGC  float64       // hashes/s with Go's default collector settings (GOGC 100, no limit); for reference
}

// Rate is hashes per second.
func (h *hashResult) Rate() float64 {
	if h == nil || h.Elapsed <= 0 {
		return 0
	}
	return float64(h.Hashes) / h.Elapsed.Seconds()
}

// measureHashRate hashes with passwordParams on GOMAXPROCS goroutines in parallel for d and
// returns hashes/s: the most sign-ins per second the machine could do if the server did nothing
// but hash. Each goroutine hashes as a server's hashing slot does: golang.org/x/crypto/argon2,
// which allocates each hash's 19 MiB afresh, under the garbage collector settings a server runs
// with (serverGC). The rate with Go's default settings is measured after it, for reference: what
// the server's settings buy. It uses the same closed-loop runner and measurement window as the
// HTTP scenarios (so sign-in and this rate are counted the same way), with a short warm-up.
func measureHashRate(ctx context.Context, d time.Duration) (*hashResult, error) {
	return measureHash(ctx, d, true)
}

// bracketDuration is how long the raw hash rate (or the floor) is measured between the runs of a
// judged row and around each flood: its yardstick, measured next to it. On this kind of shared
// machine the hash rate has drifted by 15-25% within minutes, and a rate measured once before a
// database's scenarios put that drift into the ratios of the rows that ran minutes later.
const bracketDuration = 3 * time.Second

// A run of a row judged against the ceiling (sign-in) is measured in ceilingSegments segments,
// each of -duration/ceilingSegments, with the raw hash rate measured for segmentBracket before
// and after each, the server idle: the yardstick is then measured every few seconds within the
// run instead of only at its ends. Measured on this kind of machine, the raw rate moved by up to
// 10% between two measurements 12 s apart (79.0 and 85.3 hashes/s; 92.7 and 86.3), and single
// runs of one server, bracketed at their ends only, read 0.77 to 0.95 of their ceilings, while
// the share of the server's CPU its hashes took stayed at 0.91 (CPU profiles). The segments and
// their brackets take about the time the one longer run and its brackets took.
const (
	ceilingSegments = 2
	segmentBracket  = 1500 * time.Millisecond
	segmentWarmup   = 500 * time.Millisecond
)

// segmentOptions is o for segment seg of a run measured in segments: each measures its share of
// -duration, the first after the whole -warmup, the others (whose server and clients just ran)
// after segmentWarmup at most.
func segmentOptions(o *options, seg, segments int) *options {
	if segments <= 1 {
		return o
	}
	so := *o
	so.duration = o.duration / time.Duration(segments)
	if seg > 0 {
		so.warmup = min(o.warmup, segmentWarmup)
	}
	return &so
}

// serverGC sets this process's garbage collector's heap growth to a Latchkey server's
// (server.GCPercent) and returns a func that restores the previous setting. The server's memory
// limit (server.MemoryLimit: 160 MiB above what its hashes under way hold) is left out: in the
// server it starts a burst's collections a little before the growth would, and in this process,
// whose own heap holds the load generator's leftovers, it would make the scavenger hand memory
// back and slow the hashes. Without it the raw rate pays for at most as many collections as the
// server's hashes do: the stricter yardstick.
func serverGC() (restore func()) {
	percent := debug.SetGCPercent(server.GCPercent)
	return func() { debug.SetGCPercent(percent) }
}

// measureHash is measureHashRate, with the default-settings reference only when reference is set.
func measureHash(ctx context.Context, d time.Duration, reference bool) (*hashResult, error) {
	n := runtime.GOMAXPROCS(0)
	pw, salt := []byte("correct-horse-battery"), make([]byte, passwordParams.SaltLength)
	p := passwordParams
	run := func(name string) (*load.Result, error) {
		res, err := load.Run(ctx, load.Config{Name: name, Concurrency: n, Warmup: 500 * time.Millisecond, Duration: d},
			func(context.Context, int) (load.Worker, error) {
				return load.WorkerFunc(func(context.Context) error {
					argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
					return nil
				}), nil
			})
		if err == nil && res.Errors > 0 {
			err = fmt.Errorf("%s: %s", name, res.ErrorLog[0].Msg)
		}
		return res, err
	}
	restore := serverGC()
	res, err := run("argon2id")
	restore()
	if err != nil {
		return nil, err
	}
	h := &hashResult{Goroutines: n, Hashes: res.OK, Elapsed: res.Elapsed, Mean: res.Latency.Mean}
	if !reference {
		return h, nil
	}
	// Go's defaults: GOGC 100, no limit.
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	def, err := run("argon2id, default GC")
	debug.SetGCPercent(percent)
	debug.SetMemoryLimit(limit)
	if err != nil {
		return nil, err
	}
	h.DefaultGC = def.RPS()
	return h, nil
}
