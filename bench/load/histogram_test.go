package load

import (
	"context"
	"sync"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentileEmpty(t *testing.T) {
	if got := Percentile(nil, 50); got != 0 {
		t.Fatalf("Percentile(nil, 50) = %v, want 0", got)
	}
	var h Histogram
	if s := h.Summarize(); s != (Summary{}) {
		t.Fatalf("empty Summarize() = %+v, want zero", s)
	}
}

func TestPercentileSingle(t *testing.T) {
	one := []time.Duration{ms(7)}
	for _, p := range []float64{0, 1, 50, 99, 100, 150} {
		if got := Percentile(one, p); got != ms(7) {
			t.Errorf("Percentile([7ms], %v) = %v, want 7ms", p, got)
		}
	}
}

func TestPercentileOneToHundred(t *testing.T) {
	// 1ms..100ms: the p-th percentile by nearest rank is exactly p ms.
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = ms(i + 1)
	}
	cases := map[float64]time.Duration{
		1: ms(1), 50: ms(50), 95: ms(95), 99: ms(99), 100: ms(100),
		99.5: ms(100), // rank ceil(99.5) = 100
		0.1:  ms(1),   // clamped to the first sample
	}
	for p, want := range cases {
		if got := Percentile(s, p); got != want {
			t.Errorf("Percentile(1..100ms, %v) = %v, want %v", p, got, want)
		}
	}
}

func TestPercentileSmallOdd(t *testing.T) {
	// 5 samples: p50 has rank ceil(2.5) = 3, p95 and p99 rank 5.
	s := []time.Duration{ms(10), ms(20), ms(30), ms(40), ms(50)}
	cases := map[float64]time.Duration{20: ms(10), 21: ms(20), 50: ms(30), 80: ms(40), 95: ms(50), 99: ms(50)}
	for p, want := range cases {
		if got := Percentile(s, p); got != want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", s, p, got, want)
		}
	}
}

func TestHistogramUnsortedAndMerge(t *testing.T) {
	var a, b Histogram
	for _, v := range []int{9, 3, 7, 1, 5} {
		a.Record(ms(v))
	}
	for _, v := range []int{10, 2, 8, 4, 6} {
		b.Record(ms(v))
	}
	if got := a.Percentile(50); got != ms(5) {
		t.Fatalf("a p50 = %v, want 5ms", got)
	}
	// Recording after a percentile query must re-sort.
	a.Merge(&b)
	s := a.Summarize()
	want := Summary{Count: 10, P50: ms(5), P95: ms(10), P99: ms(10), Max: ms(10), Mean: 5500 * time.Microsecond}
	if s != want {
		t.Fatalf("merged Summarize() = %+v, want %+v", s, want)
	}
	a.Record(ms(100))
	if got := a.Max(); got != ms(100) {
		t.Fatalf("max after Record = %v, want 100ms", got)
	}
}

// Merge adds up runs measured apart: requests over their windows, latencies together.
func TestMergeResults(t *testing.T) {
	mk := func(ok int64, elapsed time.Duration, lat ...time.Duration) *Result {
		h := &Histogram{}
		for _, d := range lat {
			h.Record(d)
		}
		return &Result{Name: "x", Concurrency: 4, OK: ok, Elapsed: elapsed, Latency: h.Summarize(), latencies: h}
	}
	m := Merge(mk(100, time.Second, time.Millisecond), mk(300, time.Second, 3*time.Millisecond, 5*time.Millisecond))
	if m.OK != 400 || m.Elapsed != 2*time.Second || m.RPS() != 200 {
		t.Errorf("merged: %d ok in %v = %v req/s, want 400 in 2s = 200", m.OK, m.Elapsed, m.RPS())
	}
	if m.Latency.Count != 3 || m.Latency.Max != 5*time.Millisecond || m.Latency.P50 != 3*time.Millisecond {
		t.Errorf("merged latencies: %+v", m.Latency)
	}
}

// Run calls Window as its measurement window opens and as it closes, never before either, and
// returns after both.
func TestRunWindow(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []bool
		at    []time.Time
	)
	cfg := Config{Name: "window", Concurrency: 2, Warmup: 20 * time.Millisecond, Duration: 50 * time.Millisecond,
		Window: func(open bool) {
			mu.Lock()
			defer mu.Unlock()
			calls, at = append(calls, open), append(at, time.Now())
		}}
	start := time.Now()
	res, err := Run(context.Background(), cfg, func(context.Context, int) (Worker, error) {
		return WorkerFunc(func(context.Context) error { return nil }), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || !calls[0] || calls[1] {
		t.Fatalf("Window calls %v, want [true false]", calls)
	}
	if at[0].Before(start.Add(cfg.Warmup)) || at[1].Before(start.Add(cfg.Warmup+cfg.Duration)) {
		t.Errorf("Window called %v and %v after the start, before the window opened (%v) or closed (%v)",
			at[0].Sub(start), at[1].Sub(start), cfg.Warmup, cfg.Warmup+cfg.Duration)
	}
	if res.OK == 0 {
		t.Error("no request counted")
	}
}
