package faults

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
)

// idleRSSLimit is the most a server may hold within a minute of a burst of sign-ins: the idle
// server holds about 45 MiB, a burst's hashing heap takes it near 200 MiB.
const idleRSSLimit = 100 << 20

// TestMemoryHandedBackAfterSignInBurst signs in 16 clients at once, 64 times, with the real
// argon2id parameters (each hash allocates 19 MiB), and requires the process's RSS, above
// idleRSSLimit during the burst, to fall below it within a minute of the burst's end: the heap
// the hashes churned through goes back to the operating system once hashing is idle, instead of
// staying at its flood size.
func TestMemoryHandedBackAfterSignInBurst(t *testing.T) {
	// No queue deadline: on a machine busy with other tests a hash can take several times its
	// usual 25 ms, and the server would refuse part of the burst with 503 (its flood protection,
	// tested elsewhere), while this test is about the memory of the hashes once they have run.
	srv := startServer(t, "memory", newDatabase(t), "LATCHKEY_RATE_LIMITS=false", "LATCHKEY_HASH_QUEUE_TIMEOUT=0")
	ctx := context.Background()
	const email, password = "burst@example.com", "burst-password-1"
	res, err := srv.Client.SignUpEmailPasswordWithResponse(ctx, gen.SignUpEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: password})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("sign-up: %v %s", err, bodyOrNil(res))
	}
	if err := srv.ResetPeak(); err != nil {
		t.Fatalf("reset VmHWM: %v", err)
	}
	const clients, signIns = 16, 64
	var wg sync.WaitGroup
	errs := make(chan error, signIns)
	for i := range clients {
		wg.Go(func() {
			for range signIns / clients {
				r, err := srv.Client.SignInEmailPasswordWithResponse(ctx, gen.SignInEmailPasswordJSONRequestBody{
					Email: openapi_types.Email(email), Password: password})
				if err == nil && r.StatusCode() != http.StatusOK {
					err = fmt.Errorf("client %d: %d %s", i, r.StatusCode(), r.Body)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	ended := time.Now()
	close(errs)
	for err := range errs {
		t.Fatalf("sign-in: %v", err)
	}
	peak, err := srv.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if peak <= idleRSSLimit {
		t.Fatalf("peak RSS during the burst %d MiB: not above %d MiB, so the burst proves nothing", peak>>20, idleRSSLimit>>20)
	}
	var rss int64
	poll(t, fmt.Sprintf("RSS below %d MiB after the burst (peak %d MiB)", idleRSSLimit>>20, peak>>20), time.Minute, func() bool {
		rss, err = srv.RSS()
		return err == nil && rss < idleRSSLimit
	})
	t.Logf("peak RSS %d MiB; %d MiB %v after the burst", peak>>20, rss>>20, time.Since(ended).Round(100*time.Millisecond))
}
