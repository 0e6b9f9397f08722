package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/bcrypt"
)

// DefaultArgon2Params are OWASP's recommended argon2id parameters (19 MiB, 2 passes, 1 lane).
// The benchmark harness measures the raw hash rate with these same values.
var DefaultArgon2Params = &argon2id.Params{
	Memory:      19 * 1024, // KiB
	Iterations:  2,
	Parallelism: 1,
	SaltLength:  16,
	KeyLength:   32,
}

// Caps on the cost of hashes imported from elsewhere: a hash is an instruction to spend memory
// and time, and an imported one must not be able to exhaust the server.
const (
	maxImportedArgon2Memory     = 256 * 1024 // KiB
	maxImportedArgon2Iterations = 10
	maxImportedArgon2Lanes      = 8
	maxImportedBcryptCost       = 14
)

// errPasswordMismatch: the password does not match the hash.
var errPasswordMismatch = errors.New("password mismatch")

// passwords hashes and verifies passwords. At most len(slots) hashes run at once; the slots are
// sized from a memory budget, so a flood of sign-ins queues here instead of exhausting memory.
type passwords struct {
	params *argon2id.Params
	slots  chan struct{}
	dummy  string // a real hash of a random password, verified when the user is unknown
}

// HashingMemory is the memory concurrent password hashing can hold at most with this budget and
// these parameters: the slots times the memory of one hash.
func HashingMemory(budget int64, p *argon2id.Params) int64 {
	if p == nil {
		p = DefaultArgon2Params
	}
	return int64(hashSlots(budget, p)) * int64(p.Memory) * 1024
}

// hashSlots is how many hashes may run at once within budget bytes: never below one, and never
// above the usable CPUs. argon2id keeps a CPU and its caches busy for the whole hash: measured on
// two cores, four concurrent 19 MiB hashes did 10-15% fewer sign-ins per second than two, while
// holding twice the memory.
func hashSlots(budget int64, p *argon2id.Params) int {
	n := int(budget / (int64(p.Memory) * 1024))
	if cpus := runtime.GOMAXPROCS(0); n > cpus {
		n = cpus
	}
	if n < 1 {
		n = 1
	}
	return n
}

func newPasswords(params *argon2id.Params, memoryBudget int64) (*passwords, error) {
	p := &passwords{params: params, slots: make(chan struct{}, hashSlots(memoryBudget, params))}
	var random [32]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, err
	}
	dummy, err := argon2id.CreateHash(string(random[:]), params)
	if err != nil {
		return nil, fmt.Errorf("create dummy hash: %w", err)
	}
	p.dummy = dummy
	return p, nil
}

// acquire waits for a hashing slot, or gives up when ctx ends.
func (p *passwords) acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// The wait may have outlived the request: do not spend a hash on a caller who has left.
	if err := ctx.Err(); err != nil {
		<-p.slots
		return nil, err
	}
	return func() { <-p.slots }, nil
}

// Hash makes an argon2id hash of password.
func (p *passwords) Hash(ctx context.Context, password string) (string, error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return argon2id.CreateHash(password, p.params)
}

// Verify checks password against hash. On a match it may return a replacement hash, for hashes
// that are bcrypt (imported) or argon2id with other parameters; the caller stores it. A mismatch
// is errPasswordMismatch.
func (p *passwords) Verify(ctx context.Context, password, hash string) (upgrade string, err error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		params, _, _, err := argon2id.DecodeHash(hash)
		if err != nil {
			return "", fmt.Errorf("decode password hash: %w", err)
		}
		if params.Memory > maxImportedArgon2Memory || params.Iterations > maxImportedArgon2Iterations ||
			params.Parallelism > maxImportedArgon2Lanes {
			return "", errors.New("password hash parameters exceed the allowed cost")
		}
		ok, err := argon2id.ComparePasswordAndHash(password, hash)
		if err != nil {
			return "", fmt.Errorf("compare password: %w", err)
		}
		if !ok {
			return "", errPasswordMismatch
		}
		if *params != *p.params {
			return argon2id.CreateHash(password, p.params)
		}
		return "", nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return "", fmt.Errorf("decode bcrypt hash: %w", err)
		}
		if cost > maxImportedBcryptCost {
			return "", errors.New("bcrypt cost exceeds the allowed maximum")
		}
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); err != nil {
			if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
				return "", errPasswordMismatch
			}
			return "", fmt.Errorf("compare bcrypt password: %w", err)
		}
		return argon2id.CreateHash(password, p.params)
	default:
		return "", errors.New("unknown password hash format")
	}
}

// VerifyDummy spends the same work as a real verification, so that answering for an unknown
// account takes as long as answering for a known one.
func (p *passwords) VerifyDummy(ctx context.Context) {
	_, _ = p.Verify(ctx, "not the password", p.dummy)
}
