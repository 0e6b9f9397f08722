package main

import (
	"github.com/latchkey/latchkey/internal/proc"

	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/bench/load"
)

// The flood's limits. floodRSSLimit is the target; a /healthz probe slower
// than floodHealthzMaxLatency, or failing, counts as /healthz not answering.
const (
	floodRSSLimit          = 300 << 20 // bytes
	floodHealthzMaxLatency = time.Second
	floodHealthzEvery      = 5 * time.Millisecond
	floodRequestTimeout    = 5 * time.Minute
)

// floodResult is what one flood measured.
type floodResult struct {
	Fired    int
	OK       int64
	Errors   int64
	Statuses map[int]int64 // failed requests by HTTP status; 0 = no reply
	ErrorLog []load.ErrorCount
	Elapsed  time.Duration // from firing until the last sign-in finished
	SignIn   load.Summary  // latency of the successful sign-ins

	Health       load.Summary // /healthz latency during the flood
	HealthErrors int64
	HealthLog    []load.ErrorCount

	PeakRSS      int64 // server VmHWM after the flood
	PeakRSSExact bool  // VmHWM was reset before the flood, so PeakRSS is the flood's own
	SampledRSS   int64 // largest VmRSS sampled during the flood
}

// Rate is completed sign-ins per second.
func (f *floodResult) Rate() float64 {
	if f.Elapsed <= 0 {
		return 0
	}
	return float64(f.OK) / f.Elapsed.Seconds()
}

// healthzAnswered tells whether /healthz kept answering during the flood.
func (f *floodResult) healthzAnswered() bool {
	return f.Health.Count > 0 && f.HealthErrors == 0 && f.Health.Max < floodHealthzMaxLatency
}

// runFlood fires n sign-ins for one user at the same instant, each on its own
// connection, while one more worker calls GET /healthz every few
// milliseconds on a kept-alive connection and records how long each answer
// takes. It measures the server's peak RSS over the flood.
func runFlood(ctx context.Context, a *api, srv *proc.Child, n int) (*floodResult, error) {
	// The one existing user every sign-in is for.
	setupClient := load.NewClient(1, time.Minute)
	defer setupClient.CloseIdleConnections()
	email := a.freshEmail()
	if _, err := a.signUp(ctx, setupClient, email); err != nil {
		return nil, fmt.Errorf("flood setup: %w", err)
	}

	res := &floodResult{Fired: n, Statuses: map[int]int64{}}
	// Measure this flood's own peak, not what earlier scenarios left behind.
	res.PeakRSSExact = srv.ResetPeak() == nil
	srv.ResetSampled()

	// The /healthz prober: opens its connection before the flood starts.
	probeClient := load.NewClient(1, 30*time.Second)
	defer probeClient.CloseIdleConnections()
	if err := a.healthz(ctx, probeClient); err != nil {
		return nil, fmt.Errorf("flood: /healthz before the flood: %w", err)
	}
	stopProbe := make(chan struct{})
	probeDone := make(chan struct{})
	var probeHist load.Histogram
	probeLog := load.NewErrorLog(5)
	go func() {
		defer close(probeDone)
		for {
			t0 := time.Now()
			if err := a.healthz(ctx, probeClient); err != nil {
				res.HealthErrors++
				probeLog.Add(err)
			} else {
				probeHist.Record(time.Since(t0))
			}
			select {
			case <-stopProbe:
				return
			case <-time.After(floodHealthzEvery):
			}
		}
	}()

	// The sign-ins: every goroutine is ready before any of them fires.
	oneShot := load.NewOneShotClient(floodRequestTimeout)
	errLog := load.NewErrorLog(5)
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		hist       load.Histogram
		wg, ready  sync.WaitGroup
	)
	fire := make(chan struct{})
	ready.Add(n)
	for range n {
		wg.Go(func() {
			ready.Done()
			<-fire
			t0 := time.Now()
			_, err := a.signIn(ctx, oneShot, email)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed.Add(1)
				errLog.Add(err)
				var se *load.StatusError
				if errors.As(err, &se) {
					res.Statuses[se.Status]++
				} else {
					res.Statuses[0]++
				}
				return
			}
			ok.Add(1)
			hist.Record(d)
		})
	}
	ready.Wait()
	start := time.Now()
	close(fire)
	wg.Wait()
	res.Elapsed = time.Since(start)

	close(stopProbe)
	<-probeDone

	res.OK, res.Errors = ok.Load(), failed.Load()
	res.ErrorLog = errLog.Entries()
	res.SignIn = hist.Summarize()
	res.Health = probeHist.Summarize()
	res.HealthLog = probeLog.Entries()
	res.SampledRSS = srv.SampledMax()
	peak, err := srv.PeakRSS()
	if err != nil {
		return res, fmt.Errorf("flood: reading the server's VmHWM: %w", err)
	}
	res.PeakRSS = peak
	return res, ctx.Err()
}
