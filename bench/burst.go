package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/latchkey/latchkey/bench/load"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// floorBurst fires n GET /healthz at the floor at the same instant, each client on a new
// connection of its own, as the flood's clients arrive, and summarizes how long the answers
// took. It is the flood's yardstick for the 503s: what this machine needs to take in n new
// connections and answer each with the least a server can do.
func floorBurst(ctx context.Context, a *api, n int) (load.Summary, error) {
	cl := load.NewClient(n, time.Minute)
	defer cl.CloseIdleConnections()
	var (
		mu        sync.Mutex
		hist      load.Histogram
		firstErr  error
		wg, ready sync.WaitGroup
	)
	fire := make(chan struct{})
	ready.Add(n)
	for range n {
		wg.Go(func() {
			ready.Done()
			<-fire
			t0 := time.Now()
			err := a.healthz(ctx, cl)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			hist.Record(d)
		})
	}
	ready.Wait()
	close(fire)
	wg.Wait()
	if firstErr != nil {
		return load.Summary{}, fmt.Errorf("floor burst of %d: %w", n, firstErr)
	}
	return hist.Summarize(), nil
}

// refusalMetric is the server's histogram of the time it took to answer 503, by operation.
const refusalMetric = "latchkey_http_unavailable_duration_seconds"

// serverHist is a cumulative Prometheus histogram: bucket upper bounds (seconds, ascending,
// +Inf last) and the observations at or below each.
type serverHist struct {
	Bounds []float64
	Counts []uint64
}

// benchMetricsToken is the metrics secret the harness gives the servers it starts.
const benchMetricsToken = "bench-metrics-token-0123456789-abcdefghij"

// scrapeMetrics reads the server's GET /metrics, by metric family name.
func scrapeMetrics(ctx context.Context, a *api) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+benchMetricsToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req) // a hung server must not hang the run
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	return fams, nil
}

// scrapeRefusals reads the server's refusal-time histogram of one operation from GET /metrics;
// an operation not refused yet has an empty histogram.
func scrapeRefusals(ctx context.Context, a *api, operation string) (serverHist, error) {
	fams, err := scrapeMetrics(ctx, a)
	if err != nil {
		return serverHist{}, err
	}
	fam, ok := fams[refusalMetric]
	if !ok {
		return serverHist{}, nil // no operation refused yet
	}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "operation" && l.GetValue() == operation {
				var h serverHist
				for _, b := range m.GetHistogram().GetBucket() {
					h.Bounds = append(h.Bounds, b.GetUpperBound())
					h.Counts = append(h.Counts, b.GetCumulativeCount())
				}
				h.Bounds = append(h.Bounds, math.Inf(1))
				h.Counts = append(h.Counts, m.GetHistogram().GetSampleCount())
				return h, nil
			}
		}
	}
	return serverHist{}, nil
}

// since is h less the observations already in before (the same histogram, read earlier).
func (h serverHist) since(before serverHist) serverHist {
	out := serverHist{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts))}
	for i, c := range h.Counts {
		if i < len(before.Counts) && before.Bounds[i] == h.Bounds[i] {
			c -= before.Counts[i]
		}
		out.Counts[i] = c
	}
	return out
}

// Count is how many observations h holds.
func (h serverHist) Count() uint64 {
	if len(h.Counts) == 0 {
		return 0
	}
	return h.Counts[len(h.Counts)-1]
}

// Quantile is the upper bound of the bucket that holds quantile q: the observations at q are
// at most this long (+Inf when they fell past the last bucket; 0 for an empty histogram).
func (h serverHist) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	i := sort.Search(len(h.Counts), func(i int) bool { return h.Counts[i] >= rank })
	if i == len(h.Counts) || math.IsInf(h.Bounds[i], 1) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(h.Bounds[i] * float64(time.Second))
}

// fmtBound is "≤ 25 ms" for a bucket bound, "> 10 s" past the last bucket.
func fmtBound(h serverHist, d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		last := h.Bounds[len(h.Bounds)-2]
		return "> " + fmtDur(time.Duration(last*float64(time.Second)))
	}
	return "≤ " + fmtDur(d)
}
