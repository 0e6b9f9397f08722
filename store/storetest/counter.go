package storetest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/store"
)

// RunCounter runs the rate-limit counter contract: what the server's limiter relies on from any
// store.Counter (the database's, Redis's). open must return a counter that has counted nothing;
// every case opens its own, so cases run in parallel.
func RunCounter(t *testing.T, open func(t *testing.T) store.Counter) {
	t.Helper()
	for _, c := range counterCases {
		t.Run("contract=counter/case="+c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open(t))
		})
	}
}

// t0 is 40 s into a minute (and into neither an hour nor a 90 s window's start).
var t0 = time.Unix(1_700_000_020, 0).UTC()

var counterCases = []struct {
	name string
	run  func(t *testing.T, c store.Counter)
}{
	{"counts-up-within-a-window", func(t *testing.T, c store.Counter) {
		for want := int64(1); want <= 3; want++ {
			expectHit(t, c, "ip:a", time.Minute, t0, want, time.Unix(1_700_000_040, 0))
		}
		// Any moment of the window counts into it: its last nanosecond too.
		expectHit(t, c, "ip:a", time.Minute, time.Unix(1_700_000_039, 999_999_999), 4, time.Unix(1_700_000_040, 0))
	}},
	{"keys-are-apart", func(t *testing.T, c store.Counter) {
		expectHit(t, c, "signin|ip:a", time.Minute, t0, 1, time.Unix(1_700_000_040, 0))
		expectHit(t, c, "signin|ip:a", time.Minute, t0, 2, time.Unix(1_700_000_040, 0))
		expectHit(t, c, "signin|ip:b", time.Minute, t0, 1, time.Unix(1_700_000_040, 0))
		expectHit(t, c, "mail|ip:a", time.Minute, t0, 1, time.Unix(1_700_000_040, 0))
	}},
	{"next-window-starts-at-one", func(t *testing.T, c store.Counter) {
		expectHit(t, c, "ip:a", time.Minute, t0, 1, time.Unix(1_700_000_040, 0))
		expectHit(t, c, "ip:a", time.Minute, t0, 2, time.Unix(1_700_000_040, 0))
		expectHit(t, c, "ip:a", time.Minute, time.Unix(1_700_000_040, 0), 1, time.Unix(1_700_000_100, 0))
		expectHit(t, c, "ip:a", time.Minute, time.Unix(1_700_000_099, 0), 2, time.Unix(1_700_000_100, 0))
	}},
	{"windows-align-to-the-epoch", func(t *testing.T, c store.Counter) {
		expectHit(t, c, "ip:h", time.Hour, t0, 1, time.Unix(1_700_002_800, 0))
		expectHit(t, c, "ip:s", 90*time.Second, t0, 1, time.Unix(1_700_000_100, 0))
		expectHit(t, c, "ip:d", 24*time.Hour, t0, 1, time.Unix(1_700_006_400, 0))
	}},
	{"windows-are-whole-seconds", func(t *testing.T, c store.Counter) {
		// Below a second counts as a second; a fraction of a second is dropped.
		expectHit(t, c, "ip:ms", 500*time.Millisecond, t0.Add(300*time.Millisecond), 1, time.Unix(1_700_000_021, 0))
		expectHit(t, c, "ip:ms", 500*time.Millisecond, t0.Add(800*time.Millisecond), 2, time.Unix(1_700_000_021, 0))
		expectHit(t, c, "ip:frac", 1500*time.Millisecond, t0, 1, time.Unix(1_700_000_021, 0))
	}},
	{"times-in-other-zones-count-by-instant", func(t *testing.T, c store.Counter) {
		expectHit(t, c, "ip:z", time.Minute, t0, 1, time.Unix(1_700_000_040, 0))
		expectHit(t, c, "ip:z", time.Minute, t0.In(time.FixedZone("X", 5*3600+1800)), 2, time.Unix(1_700_000_040, 0))
	}},
	{"long-keys", func(t *testing.T, c store.Counter) {
		k := "code|to:" + strings.Repeat("0123456789abcdef", 8)
		expectHit(t, c, k, time.Minute, t0, 1, time.Unix(1_700_000_040, 0))
		expectHit(t, c, k, time.Minute, t0, 2, time.Unix(1_700_000_040, 0))
	}},
	{"concurrent-hits-count-once-each", func(t *testing.T, c store.Counter) {
		// Every hit gets its own count: the counts seen are exactly 1…N, whatever the interleaving.
		const racers, each = 16, 10
		var (
			mu   sync.Mutex
			seen []int64
			wg   sync.WaitGroup
		)
		for range racers {
			wg.Go(func() {
				for range each {
					n, _, err := c.Hit(context.Background(), "ip:race", time.Minute, t0)
					if err != nil {
						t.Errorf("hit: %v", err)
						return
					}
					mu.Lock()
					seen = append(seen, n)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(seen)
		for i, n := range seen {
			if n != int64(i+1) {
				t.Fatalf("counts seen by %d concurrent hits are not 1…%d: %v", racers*each, racers*each, seen)
			}
		}
	}},
	{"cancelled-context-fails", func(t *testing.T, c store.Counter) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if n, _, err := c.Hit(ctx, "ip:x", time.Minute, t0); err == nil {
			t.Fatalf("hit with a cancelled context: %d, no error", n)
		}
	}},
}

func expectHit(t *testing.T, c store.Counter, key string, window time.Duration, now time.Time, want int64, wantReset time.Time) {
	t.Helper()
	n, reset, err := c.Hit(context.Background(), key, window, now)
	if err != nil {
		t.Fatalf("Hit(%q, %v, %v): %v", key, window, now, err)
	}
	if n != want || !reset.Equal(wantReset) {
		t.Fatalf("Hit(%q, %v, %v) = %d, reset %v; want %d, reset %v", key, window, now, n, reset.UTC(), want, wantReset.UTC())
	}
}
