package argon2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	upstream "golang.org/x/crypto/argon2"
)

// The copy must answer exactly as golang.org/x/crypto/argon2 does, for every
// parameter shape, whether its memory is fresh, reused from a smaller or a
// larger hash, or left dirty by a different password.
func TestIDKeyMatchesUpstream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var reused Memory
	for i := range 200 {
		time := 1 + rng.Uint32N(3)
		threads := uint8(1 + rng.IntN(4))
		memory := 8*uint32(threads) + rng.Uint32N(300) // upstream rounds it as the spec says
		keyLen := 4 + rng.Uint32N(100)
		password := make([]byte, rng.IntN(40))
		salt := make([]byte, 8+rng.IntN(24))
		for _, b := range [][]byte{password, salt} {
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		}
		want := upstream.IDKey(password, salt, time, memory, threads, keyLen)
		name := fmt.Sprintf("%d: t=%d m=%d p=%d len=%d", i, time, memory, threads, keyLen)
		if got := IDKey(&reused, password, salt, time, memory, threads, keyLen); !bytes.Equal(got, want) {
			t.Fatalf("%s, reused memory: got %x, want %x", name, got, want)
		}
		if got := IDKey(nil, password, salt, time, memory, threads, keyLen); !bytes.Equal(got, want) {
			t.Fatalf("%s, fresh memory: got %x, want %x", name, got, want)
		}
	}
}

// The parameters Latchkey hashes with by default (OWASP's 19 MiB, 2 passes, 1
// lane), on memory dirtied by another password first.
func TestIDKeyDefaultParameters(t *testing.T) {
	var m Memory
	IDKey(&m, []byte("another password"), []byte("another salt 123"), 2, 19*1024, 1, 32)
	if m.Size() != 19<<20 {
		t.Fatalf("memory holds %d bytes, want %d", m.Size(), 19<<20)
	}
	got := IDKey(&m, []byte("correct horse"), []byte("0123456789abcdef"), 2, 19*1024, 1, 32)
	if want := upstream.IDKey([]byte("correct horse"), []byte("0123456789abcdef"), 2, 19*1024, 1, 32); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	m.Free()
	if m.Size() != 0 {
		t.Fatalf("after Free the memory holds %d bytes", m.Size())
	}
}

// A hash on reused memory does not allocate block memory again.
func TestIDKeyReuseAllocatesLittle(t *testing.T) {
	var m Memory
	IDKey(&m, []byte("pw"), []byte("saltsaltsaltsalt"), 1, 1024, 1, 32) // 1 MiB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 5 {
		IDKey(&m, []byte("pw"), []byte("saltsaltsaltsalt"), 1, 1024, 1, 32)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Fatalf("5 hashes on reused 1 MiB memory allocated %d bytes", n)
	}
}
