package load

import (
	"math"
	"slices"
	"time"
)

// Histogram records request latencies. It is a plain slice of samples that
// is sorted once when a percentile is first asked for: exact, simple, and
// small enough for our runs (a few hundred thousand samples at most, 8 bytes
// each). It is not safe for concurrent use: each worker keeps its own and the
// runner merges them at the end.
type Histogram struct {
	samples []time.Duration
	sorted  bool
}

// Record adds one latency sample.
func (h *Histogram) Record(d time.Duration) {
	h.samples = append(h.samples, d)
	h.sorted = false
}

// Merge adds all samples of o to h.
func (h *Histogram) Merge(o *Histogram) {
	h.samples = append(h.samples, o.samples...)
	h.sorted = false
}

// Count is the number of samples recorded.
func (h *Histogram) Count() int { return len(h.samples) }

// Percentile returns the p-th percentile (0 < p <= 100) of the samples, or 0
// when there are none.
func (h *Histogram) Percentile(p float64) time.Duration {
	if !h.sorted {
		slices.Sort(h.samples)
		h.sorted = true
	}
	return Percentile(h.samples, p)
}

// Max returns the largest sample, or 0 when there are none.
func (h *Histogram) Max() time.Duration { return h.Percentile(100) }

// Mean returns the arithmetic mean of the samples, or 0 when there are none.
func (h *Histogram) Mean() time.Duration {
	if len(h.samples) == 0 {
		return 0
	}
	var sum time.Duration
	for _, s := range h.samples {
		sum += s
	}
	return sum / time.Duration(len(h.samples))
}

// Summary is the digest of a histogram that the report prints.
type Summary struct {
	Count              int
	P50, P95, P99, Max time.Duration
	Mean               time.Duration
}

// Summarize computes the usual percentiles of h.
func (h *Histogram) Summarize() Summary {
	return Summary{
		Count: h.Count(),
		P50:   h.Percentile(50),
		P95:   h.Percentile(95),
		P99:   h.Percentile(99),
		Max:   h.Max(),
		Mean:  h.Mean(),
	}
}

// Percentile returns the p-th percentile of sorted (ascending) by the
// nearest-rank method: the smallest sample such that at least p percent of
// all samples are less than or equal to it. p is clamped to (0, 100]; an
// empty slice gives 0.
//
// Nearest rank never interpolates, so every value it returns was actually
// observed, and p100 is the maximum.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// rank is 1-based: ceil(p/100 * n), kept within [1, n].
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}
