package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/bench/load"
	"github.com/latchkey/latchkey/internal/proc"
)

// The flood's limits. floodRSSLimit is the target; a /healthz probe slower than
// floodHealthzMaxLatency, or failing, counts as /healthz not answering; a refresh prober whose
// p99 is above floodRefreshMaxP99, or that failed, counts as refresh not answering.
// floodRefusalMaxP99 is how fast the 503s of a full hashing queue must be ("milliseconds", not
// the seconds of the queue); floodGoodputTarget is the share of its ceiling (the raw hash rate
// times the share of the CPU the rest of the machine left it) the server must turn into sign-ins
// while it is refusing the excess.
const (
	floodRSSLimit          = 300 << 20 // bytes
	floodHealthzMaxLatency = time.Second
	floodRefreshMaxP99     = time.Second
	floodRefusalMaxP99     = 100 * time.Millisecond
	floodGoodputTarget     = 0.90
	floodRequestTimeout    = 5 * time.Minute // one client's whole time, retries included
)

// probeResult is what one prober measured during the flood.
type probeResult struct {
	Latency load.Summary
	Errors  int64
	Log     []load.ErrorCount
}

// floodResult is what one flood measured.
type floodResult struct {
	Fired        int           // clients, each signing in until it succeeds
	QueueTimeout time.Duration // the server's hashing-queue deadline during the flood
	Attempts     int64         // sign-in requests sent, retries included
	OK           int64         // clients that signed in
	Errors       int64         // clients that gave up (an answer other than 2xx or 503, or no answer)
	Statuses     map[int]int64 // failures by HTTP status; 0 = no reply
	ErrorLog     []load.ErrorCount
	Elapsed      time.Duration // from firing until the last client finished
	SignIn       load.Summary  // latency of the successful sign-in requests
	Settled      load.Summary  // per client: from firing until its sign-in succeeded, waits included

	Refused      int64        // 503 answers (each followed by a retry after Retry-After)
	NoRetryAfter int64        // 503 answers without a usable Retry-After
	RefusedLate  int64        // 503 answers that came only after waiting out the queue deadline
	Refusal      load.Summary // latency of the 503 answers, as the clients saw it
	// ServerRefusal: the server's own time to answer them (its refusal histogram, first
	// middleware to last byte), read from GET /metrics before and after; ServerRefusalErr
	// says why it is missing.
	ServerRefusal    serverHist
	ServerRefusalErr string
	RetryAfter       load.Summary  // the Retry-After values given (as durations)
	LastRefusal      time.Duration // from firing until the last 503 was answered
	ServedN          int64         // goodputShare of the clients (rounded up)
	Served           time.Duration // from firing until ServedN clients had signed in (0: fewer did)

	// Usage: the hashing slots and the machine's CPU from firing until ServedN had signed in
	// (sampled as the ServedN-th sign-in was answered); UsageErr says why it is missing.
	Usage    usageSplit
	UsageErr string

	ProbeEvery time.Duration // the probers' pause between calls
	Health     probeResult   // GET /healthz during the flood
	Refresh    probeResult   // POST /v1/token, chained, during the flood

	PeakRSS      int64 // server VmHWM after the flood
	PeakRSSExact bool  // VmHWM was reset before the flood, so PeakRSS is the flood's own
	SampledRSS   int64 // largest VmRSS sampled during the flood
}

// Rate is completed sign-ins per second over the whole flood, tail included.
func (f *floodResult) Rate() float64 {
	if f.Elapsed <= 0 {
		return 0
	}
	return float64(f.OK) / f.Elapsed.Seconds()
}

// goodputShare is the share of the clients whose sign-ins the goodput counts: the rest are the
// flood's tail, when few clients remain and the rate measures their Retry-After waits.
const goodputShare = 0.9

// Goodput is successful sign-ins per second until goodputShare of the clients had signed in:
// while most of the flood was still pending, so demand exceeded what the hash slots could do and
// the rate is the server's. (Until the last 503, as before, no longer works: a server that spreads
// its refused clients' Retry-After over the time it needs for them stops refusing within seconds,
// and serves the rest as they return.) With fewer sign-ins than that share, it is 0.
func (f *floodResult) Goodput() float64 {
	if f.Served <= 0 {
		return 0
	}
	return float64(f.ServedN) / f.Served.Seconds()
}

// healthzAnswered tells whether /healthz kept answering during the flood.
func (f *floodResult) healthzAnswered() bool {
	return f.Health.Latency.Count > 0 && f.Health.Errors == 0 && f.Health.Latency.Max < floodHealthzMaxLatency
}

// refreshAnswered tells whether refresh kept answering during the flood.
func (f *floodResult) refreshAnswered() bool {
	return f.Refresh.Latency.Count > 0 && f.Refresh.Errors == 0 && f.Refresh.Latency.P99 < floodRefreshMaxP99
}

// probe calls do, pausing every between calls, on its own kept-alive connection until stop
// closes, and records how long each answer takes.
func probe(ctx context.Context, stop <-chan struct{}, every time.Duration, do func(context.Context) error) (wait func() probeResult) {
	done := make(chan probeResult)
	go func() {
		var hist load.Histogram
		var res probeResult
		log := load.NewErrorLog(5)
		for {
			t0 := time.Now()
			if err := do(ctx); err != nil {
				res.Errors++
				log.Add(err)
			} else {
				hist.Record(time.Since(t0))
			}
			select {
			case <-stop:
				res.Latency, res.Log = hist.Summarize(), log.Entries()
				done <- res
				return
			case <-time.After(every):
			}
		}
	}()
	return func() probeResult { return <-done }
}

// runFlood fires n sign-ins for one user at the same instant, each client on its own
// connection. A client answered 503 waits what Retry-After says (plus up to a second of jitter:
// the header is whole seconds) and tries again, until it signs in. Meanwhile one prober calls
// GET /healthz and another refreshes a session (chained, Nhost dialect), each pausing probeEvery
// between calls, on kept-alive connections. It measures the server's peak RSS over the flood.
func runFlood(ctx context.Context, a *api, srv *proc.Child, n int, queueTimeout, probeEvery time.Duration) (*floodResult, error) {
	// The one existing user every sign-in is for, and the prober's session.
	setupClient := load.NewClient(1, time.Minute)
	defer setupClient.CloseIdleConnections()
	email := a.freshEmail()
	if _, err := a.signUp(ctx, setupClient, email); err != nil {
		return nil, fmt.Errorf("flood setup: %w", err)
	}
	probeSession, err := a.signUp(ctx, setupClient, a.freshEmail())
	if err != nil {
		return nil, fmt.Errorf("flood setup: %w", err)
	}

	res := &floodResult{Fired: n, QueueTimeout: queueTimeout, ProbeEvery: probeEvery, Statuses: map[int]int64{}}
	// Measure this flood's own peak, not what earlier scenarios left behind.
	res.PeakRSSExact = srv.ResetPeak() == nil
	srv.ResetSampled()

	// The probers open their connections before the flood starts.
	healthClient, refreshClient := load.NewClient(1, 30*time.Second), load.NewClient(1, 30*time.Second)
	defer healthClient.CloseIdleConnections()
	defer refreshClient.CloseIdleConnections()
	if err := a.healthz(ctx, healthClient); err != nil {
		return nil, fmt.Errorf("flood: /healthz before the flood: %w", err)
	}
	refreshToken := probeSession.RefreshToken
	refresh := func(ctx context.Context) error {
		s, err := a.refresh(ctx, refreshClient, refreshToken)
		if err != nil {
			return err // the same token again next time: within the reuse leeway that is safe
		}
		refreshToken = s.RefreshToken
		return nil
	}
	if err := refresh(ctx); err != nil {
		return nil, fmt.Errorf("flood: refresh before the flood: %w", err)
	}
	stopProbes := make(chan struct{})
	healthDone := probe(ctx, stopProbes, probeEvery, func(ctx context.Context) error { return a.healthz(ctx, healthClient) })
	refreshDone := probe(ctx, stopProbes, probeEvery, refresh)

	// The clients: every goroutine is ready before any of them fires. One keep-alive connection
	// per client: n connections at once, kept through the retries.
	cl := load.NewClient(n, floodRequestTimeout)
	defer cl.CloseIdleConnections()
	errLog := load.NewErrorLog(5)
	var (
		attempts, refused, noRA, late    atomic.Int64
		lastRefusal                      atomic.Int64 // ns since start
		mu                               sync.Mutex
		okHist, settled, refHist, raHist load.Histogram
		okAt                             []time.Duration // since start
		wg, ready                        sync.WaitGroup
	)
	fire := make(chan struct{})
	var start time.Time
	// The usage is sampled at firing and again as the servedN-th client signs in: the goodput's
	// window.
	servedN := int(math.Ceil(goodputShare * float64(n)))
	type sampled struct {
		s   usageSample
		err error
	}
	atServed := make(chan sampled, 1)
	ready.Add(n)
	for range n {
		wg.Go(func() {
			ready.Done()
			<-fire
			giveUp := start.Add(floodRequestTimeout)
			for {
				attempts.Add(1)
				t0 := time.Now()
				_, err := a.signIn(ctx, cl, email)
				t1 := time.Now()
				if err == nil {
					mu.Lock()
					okHist.Record(t1.Sub(t0))
					settled.Record(t1.Sub(start))
					okAt = append(okAt, t1.Sub(start))
					if len(okAt) == servedN {
						go func() {
							s, err := sampleUsage(ctx, a, srv.Pid())
							s.At = time.Since(start)
							atServed <- sampled{s, err}
						}()
					}
					mu.Unlock()
					return
				}
				var se *load.StatusError
				if errors.As(err, &se) && se.Status == http.StatusServiceUnavailable && t1.Before(giveUp) {
					refused.Add(1)
					for since := int64(t1.Sub(start)); ; {
						last := lastRefusal.Load()
						if since <= last || lastRefusal.CompareAndSwap(last, since) {
							break
						}
					}
					if t1.Sub(t0) >= queueTimeout {
						late.Add(1)
					}
					ra := se.RetryAfter
					if ra <= 0 {
						noRA.Add(1)
						ra = time.Second
					}
					mu.Lock()
					refHist.Record(t1.Sub(t0))
					raHist.Record(ra)
					mu.Unlock()
					select {
					case <-time.After(ra + rand.N(time.Second)): // a client honouring Retry-After
						continue
					case <-ctx.Done():
						err = ctx.Err()
					}
				}
				mu.Lock()
				res.Errors++
				errLog.Add(err)
				if errors.As(err, &se) {
					res.Statuses[se.Status]++
				} else {
					res.Statuses[0]++
				}
				mu.Unlock()
				return
			}
		})
	}
	refusedBefore, scrapeErr := scrapeRefusals(ctx, a, "SignInEmailPassword")
	ready.Wait()
	atFire, usageErr := sampleUsage(ctx, a, srv.Pid())
	start = time.Now()
	close(fire)
	wg.Wait()
	res.Elapsed = time.Since(start)
	if scrapeErr == nil {
		var after serverHist
		if after, scrapeErr = scrapeRefusals(ctx, a, "SignInEmailPassword"); scrapeErr == nil {
			res.ServerRefusal = after.since(refusedBefore)
		}
	}
	if scrapeErr != nil {
		res.ServerRefusalErr = scrapeErr.Error()
	}
	close(stopProbes)
	res.Health, res.Refresh = healthDone(), refreshDone()

	res.Attempts, res.Refused, res.NoRetryAfter, res.RefusedLate = attempts.Load(), refused.Load(), noRA.Load(), late.Load()
	res.OK = int64(len(okAt))
	res.LastRefusal = time.Duration(lastRefusal.Load())
	res.ServedN = int64(servedN)
	if slices.Sort(okAt); res.ServedN > 0 && int64(len(okAt)) >= res.ServedN {
		res.Served = okAt[res.ServedN-1]
	}
	switch {
	case usageErr != nil:
		res.UsageErr = usageErr.Error()
	case len(okAt) < servedN || servedN == 0:
		res.UsageErr = "too few clients signed in"
	default:
		if at := <-atServed; at.err != nil {
			res.UsageErr = at.err.Error()
		} else {
			res.Usage = atFire.split(at.s)
		}
	}
	res.ErrorLog = errLog.Entries()
	res.SignIn, res.Settled = okHist.Summarize(), settled.Summarize()
	res.Refusal, res.RetryAfter = refHist.Summarize(), raHist.Summarize()
	res.SampledRSS = srv.SampledMax()
	peak, err := srv.PeakRSS()
	if err != nil {
		return res, fmt.Errorf("flood: reading the server's VmHWM: %w", err)
	}
	res.PeakRSS = peak
	return res, ctx.Err()
}
