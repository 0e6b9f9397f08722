package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/alexedwards/argon2id"

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
}

// Rate is hashes per second.
func (h *hashResult) Rate() float64 {
	if h == nil || h.Elapsed <= 0 {
		return 0
	}
	return float64(h.Hashes) / h.Elapsed.Seconds()
}

// measureHashRate hashes with passwordParams on GOMAXPROCS goroutines in
// parallel for d and returns hashes/s: the most sign-ins per second the
// machine could do if the server did nothing but hash. It uses the same
// closed-loop runner and measurement window as the HTTP scenarios (so sign-in
// and this rate are counted the same way), with a short warm-up.
func measureHashRate(ctx context.Context, d time.Duration) (*hashResult, error) {
	n := runtime.GOMAXPROCS(0)
	hash := load.WorkerFunc(func(context.Context) error {
		_, err := argon2id.CreateHash("correct-horse-battery", passwordParams)
		return err
	})
	res, err := load.Run(ctx, load.Config{Name: "argon2id", Concurrency: n, Warmup: 500 * time.Millisecond, Duration: d},
		func(context.Context, int) (load.Worker, error) { return hash, nil })
	if err != nil {
		return nil, err
	}
	if res.Errors > 0 {
		return nil, fmt.Errorf("argon2id: %s", res.ErrorLog[0].Msg)
	}
	return &hashResult{Goroutines: n, Hashes: res.OK, Elapsed: res.Elapsed, Mean: res.Latency.Mean}, nil
}
