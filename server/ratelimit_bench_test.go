package server_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey/latchkey/store/testdb"
)

// BenchmarkRateLimitHit is the cost a limit adds to each limited request (one upsert), on the
// database LATCHKEY_TEST_DB picks. Refresh pays it once (by address).
func BenchmarkRateLimitHit(b *testing.B) {
	clock := testdb.NewClock()
	st := testdb.Open(b, testdb.Options{Now: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	for i := 0; b.Loop(); i++ {
		if _, _, err := st.Hit(ctx, "refresh|ip:10.0.0."+strconv.Itoa(i%64), time.Minute, now); err != nil {
			b.Fatal(err)
		}
	}
}
