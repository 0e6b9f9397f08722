package server

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/bcrypt"
)

var cheap = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestHashSlots(t *testing.T) {
	cpus := runtime.GOMAXPROCS(0)
	for _, c := range []struct {
		budget int64
		want   int
	}{
		{0, 1},                   // never below one
		{19 << 20, 1},            // exactly one hash
		{40 << 20, min(2, cpus)}, // two fit
		{1 << 30, cpus},          // capped by CPUs
	} {
		if got := hashSlots(c.budget, DefaultArgon2Params); got != c.want {
			t.Errorf("hashSlots(%d) = %d, want %d", c.budget, got, c.want)
		}
	}
}

func TestPasswordVerifyAndUpgrade(t *testing.T) {
	ctx := context.Background()
	p, err := newPasswords(cheap, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.Hash(ctx, "correct-horse")
	if err != nil {
		t.Fatal(err)
	}
	if up, err := p.Verify(ctx, "correct-horse", h); err != nil || up != "" {
		t.Fatalf("current hash: upgrade %q, err %v; want no upgrade", up, err)
	}
	if _, err := p.Verify(ctx, "wrong", h); !errors.Is(err, errPasswordMismatch) {
		t.Fatalf("wrong password: %v", err)
	}

	// An imported bcrypt hash verifies and comes back as argon2id with today's parameters.
	bc, _ := bcrypt.GenerateFromPassword([]byte("imported-pw"), bcrypt.MinCost)
	up, err := p.Verify(ctx, "imported-pw", string(bc))
	if err != nil || !strings.HasPrefix(up, "$argon2id$") {
		t.Fatalf("bcrypt: upgrade %q, err %v", up, err)
	}
	if _, err := p.Verify(ctx, "nope", string(bc)); !errors.Is(err, errPasswordMismatch) {
		t.Fatalf("bcrypt wrong password: %v", err)
	}

	// argon2id with other parameters is rehashed with ours.
	old, _ := argon2id.CreateHash("older", &argon2id.Params{Memory: 32, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
	if up, err := p.Verify(ctx, "older", old); err != nil || up == "" {
		t.Fatalf("old parameters: upgrade %q, err %v; want a rehash", up, err)
	}

	// Imported hashes that would cost too much are refused, not run.
	bomb := "$argon2id$v=19$m=4194304,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	if _, err := p.Verify(ctx, "x", bomb); err == nil || errors.Is(err, errPasswordMismatch) {
		t.Fatalf("memory-bomb hash: %v, want a refusal", err)
	}
	if _, err := p.Verify(ctx, "x", "plaintext"); err == nil {
		t.Fatal("unknown hash format accepted")
	}
}

// TestHashingQueueHonoursContext: with every slot taken, a caller waits, and gives up when its
// context ends instead of hashing for nobody.
func TestHashingQueueHonoursContext(t *testing.T) {
	p, err := newPasswords(cheap, int64(cheap.Memory)*1024) // one slot
	if err != nil {
		t.Fatal(err)
	}
	release, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Hash(ctx, "queued"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued hash with expired context: %v", err)
	}
	release()
	if _, err := p.Hash(context.Background(), "now free"); err != nil {
		t.Fatal(err)
	}
}
