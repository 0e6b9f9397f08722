package store

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestSessionCacheMemoryPerEntry measures what one cached session costs with a typical user
// (docs/revocation.md states it), and that the cap holds.
func TestSessionCacheMemoryPerEntry(t *testing.T) {
	const n = 20_000
	// A lease of an hour: filling the cache takes over a second on a busy machine, and an entry put
	// after the lease lapsed is not kept.
	c := newSessionCache(time.Hour, n/2)
	c.renew(time.Now())
	hash := "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		email, name := fmt.Sprintf("someone.%d@example.com", i), fmt.Sprintf("Some One %d", i)
		u := &User{ID: uuid.New(), ZUID: fmt.Sprintf("5-%012x", i), Email: &email, EmailLower: &email, DisplayName: name,
			AvatarURL: "https://www.gravatar.com/avatar/0123456789abcdef?d=blank", Locale: "en", DefaultRole: "user",
			Metadata: JSONMap{"plan": "free"}, PasswordHash: &hash, Roles: []string{"me", "user"}}
		c.put(uuid.New(), u, time.Now().Add(time.Hour), c.epoch)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := c.len(); got != n/2 {
		t.Fatalf("%d entries, want the cap %d", got, n/2)
	}
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n/2)
	t.Logf("%.0f bytes per cached session", per)
	if per > 1536 {
		t.Errorf("%.0f bytes per cached session; docs/revocation.md says about 1 KiB", per)
	}
}
