// Package load is Latchkey's own closed-loop HTTP load generator.
//
// A run has a fixed number of workers. Each worker sends one request, waits
// for the answer, and sends the next, until a shared deadline passes (a
// "closed loop": the offered load adapts to how fast the server answers, and
// the concurrency is exactly the number of workers).
//
// The run has a warm-up followed by a measurement window. Only requests that
// complete inside the window are counted, so requests/s is completions in the
// window divided by the window's length: in a steady state that is unbiased
// even when single requests take a large part of the window (sign-in at high
// concurrency). Requests still in flight at the deadline are allowed to
// finish (so the server is idle when Run returns) but are not counted.
//
// Only successful requests go into the latency histogram; failures are
// counted apart, with the first few distinct reasons kept for the report.
package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Worker sends one request per call to Do and returns nil on success. A
// worker is used by one goroutine only, so it may keep state between calls
// (for example the refresh token its previous answer gave it).
type Worker interface {
	Do(ctx context.Context) error
}

// WorkerFunc adapts a plain function to Worker.
type WorkerFunc func(ctx context.Context) error

// Do calls f.
func (f WorkerFunc) Do(ctx context.Context) error { return f(ctx) }

// NewWorkerFunc builds worker number i (0-based). It runs before the clock
// starts, so it may do untimed setup such as signing in.
type NewWorkerFunc func(ctx context.Context, i int) (Worker, error)

// Config describes one run.
type Config struct {
	Name        string        // for messages only
	Concurrency int           // number of workers
	Warmup      time.Duration // requests completing before this are not counted
	Duration    time.Duration // length of the measurement window after Warmup
	// Window, when set, is called as the measurement window opens (true) and as it closes
	// (false), from a goroutine of its own; Run returns after both calls have returned.
	Window func(open bool)
}

// Result is what one run measured.
type Result struct {
	Name        string
	Concurrency int
	Elapsed     time.Duration // the measurement window
	OK          int64         // successful requests
	Errors      int64         // failed requests
	Latency     Summary       // of successful requests only
	ErrorLog    []ErrorCount  // first distinct failure reasons, in order seen
	latencies   *Histogram    // what Latency summarizes, for Merge
}

// Merge is runs of one scenario measured at different times (in turns with another, say) as one
// result: their requests over their windows added up, and their latencies together. The error
// log keeps the first run's reasons, then the others'.
func Merge(runs ...*Result) *Result {
	out := &Result{Name: runs[0].Name, Concurrency: runs[0].Concurrency, latencies: &Histogram{}}
	for _, r := range runs {
		out.Elapsed += r.Elapsed
		out.OK += r.OK
		out.Errors += r.Errors
		out.ErrorLog = append(out.ErrorLog, r.ErrorLog...)
		if r.latencies != nil {
			out.latencies.Merge(r.latencies)
		}
	}
	out.Latency = out.latencies.Summarize()
	return out
}

// RPS is successful requests per second.
func (r *Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Run builds cfg.Concurrency workers (in parallel, untimed), then drives them
// through cfg.Warmup and cfg.Duration. It fails only if a worker cannot be built or
// ctx is cancelled before the run starts; failed requests are part of the
// Result, not an error.
func Run(ctx context.Context, cfg Config, newWorker NewWorkerFunc) (*Result, error) {
	if cfg.Concurrency < 1 {
		return nil, fmt.Errorf("%s: concurrency must be at least 1", cfg.Name)
	}

	// Build every worker first so that setup cost stays out of the numbers.
	workers := make([]Worker, cfg.Concurrency)
	setupErrs := make([]error, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { workers[i], setupErrs[i] = newWorker(ctx, i) })
	}
	wg.Wait()
	if err := errors.Join(setupErrs...); err != nil {
		return nil, fmt.Errorf("%s: worker setup: %w", cfg.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Each worker fills its own histogram and counters; they are merged once
	// everyone has stopped, so the hot loop takes no lock except on failure.
	type tally struct {
		hist     Histogram
		ok, errs int64
	}
	tallies := make([]tally, cfg.Concurrency)
	errLog := NewErrorLog(5)

	from := time.Now().Add(cfg.Warmup) // start of the measurement window
	deadline := from.Add(cfg.Duration) // end of it
	if cfg.Window != nil {
		wg.Go(func() {
			for _, at := range []struct {
				t    time.Time
				open bool
			}{{from, true}, {deadline, false}} {
				select {
				case <-time.After(time.Until(at.t)):
					cfg.Window(at.open)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	for i, w := range workers {
		wg.Go(func() {
			t := &tallies[i]
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				err := w.Do(ctx)
				t1 := time.Now()
				if t1.Before(from) || t1.After(deadline) {
					continue // warm-up, or finished after the window closed
				}
				if err != nil {
					if ctx.Err() != nil {
						break // interrupted by the caller: not the server's fault
					}
					t.errs++
					errLog.Add(err)
					continue
				}
				t.ok++
				t.hist.Record(t1.Sub(t0))
			}
		})
	}
	wg.Wait()

	res := &Result{Name: cfg.Name, Concurrency: cfg.Concurrency, Elapsed: cfg.Duration}
	var all Histogram
	for i := range tallies {
		t := &tallies[i]
		res.OK += t.ok
		res.Errors += t.errs
		all.Merge(&t.hist)
	}
	res.Latency, res.latencies = all.Summarize(), &all
	res.ErrorLog = errLog.Entries()
	return res, ctx.Err()
}

// ErrorCount is one distinct failure reason and how often it was seen.
type ErrorCount struct {
	Msg   string
	Count int64
}

// ErrorLog counts failures by reason, keeping the first few distinct reasons
// and lumping any later ones together as "(other reasons)". It is safe for
// concurrent use.
type ErrorLog struct {
	mu     sync.Mutex
	limit  int
	order  []string
	counts map[string]int64
	other  int64 // failures whose reason came after the first limit ones
}

// NewErrorLog keeps up to limit distinct reasons.
func NewErrorLog(limit int) *ErrorLog {
	return &ErrorLog{limit: limit, counts: map[string]int64{}}
}

// maxMsg bounds how much of one error message is kept.
const maxMsg = 200

// Add counts err under its message (truncated to maxMsg bytes).
func (l *ErrorLog) Add(err error) {
	msg := err.Error()
	if len(msg) > maxMsg {
		msg = msg[:maxMsg] + "…"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, seen := l.counts[msg]; !seen {
		if len(l.order) >= l.limit {
			l.other++
			return
		}
		l.order = append(l.order, msg)
	}
	l.counts[msg]++
}

// Entries lists the kept reasons in the order first seen, then the lumped
// rest, if any.
func (l *ErrorLog) Entries() []ErrorCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ErrorCount, 0, len(l.order)+1)
	for _, m := range l.order {
		out = append(out, ErrorCount{Msg: m, Count: l.counts[m]})
	}
	if l.other > 0 {
		out = append(out, ErrorCount{Msg: "(other reasons)", Count: l.other})
	}
	return out
}
