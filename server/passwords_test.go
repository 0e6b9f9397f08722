package server

import (
	"context"
	"errors"
	"runtime"
	"slices"
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
	p, err := newPasswords(cheap, 1<<30, 0)
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
	bc, err := bcrypt.GenerateFromPassword([]byte("imported-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	up, err := p.Verify(ctx, "imported-pw", string(bc))
	if err != nil || !strings.HasPrefix(up, "$argon2id$") {
		t.Fatalf("bcrypt: upgrade %q, err %v", up, err)
	}
	if _, err := p.Verify(ctx, "nope", string(bc)); !errors.Is(err, errPasswordMismatch) {
		t.Fatalf("bcrypt wrong password: %v", err)
	}

	// argon2id with other parameters is rehashed with ours.
	old, err := argon2id.CreateHash("older", &argon2id.Params{Memory: 32, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
	if err != nil {
		t.Fatal(err)
	}
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

// Our hashes are argon2id's usual encoding: alexedwards/argon2id (what other Go services and
// earlier Latchkey versions wrote) verifies ours, and ours verify its, with the default
// parameters.
func TestPasswordHashesInteroperate(t *testing.T) {
	ctx := context.Background()
	p, err := newPasswords(DefaultArgon2Params, 1<<30, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"correct-horse", "", "ünïcödé pässwörd ✓", strings.Repeat("x", 200)} {
		ours, err := p.Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := argon2id.ComparePasswordAndHash(pw, ours); err != nil || !ok {
			t.Fatalf("%q: alexedwards/argon2id rejects our hash %s: %v", pw, ours, err)
		}
		if ok, err := argon2id.ComparePasswordAndHash(pw+"!", ours); err != nil || ok {
			t.Fatalf("%q: our hash accepts another password (or cannot be read: %v)", pw, err)
		}
		theirs, err := argon2id.CreateHash(pw, DefaultArgon2Params)
		if err != nil {
			t.Fatal(err)
		}
		if up, err := p.Verify(ctx, pw, theirs); err != nil || up != "" {
			t.Fatalf("%q: its hash: upgrade %q, err %v; want a match without upgrade", pw, up, err)
		}
		if _, err := p.Verify(ctx, pw+"!", theirs); !errors.Is(err, errPasswordMismatch) {
			t.Fatalf("%q: its hash accepts another password: %v", pw, err)
		}
	}
}

// Stored hashes are argon2id's reference encoding, byte for byte: these vectors come from the
// reference implementation's command-line tool (Debian's argon2 package, `printf %s PASSWORD |
// argon2 SALT -id -t T -k M -p P -l L -e`), not from any Go code, so they hold both our hashing
// and our encoding to the format every earlier hash in a database was written in.
func TestPasswordHashKnownVectors(t *testing.T) {
	for _, v := range []struct {
		password, salt string
		params         *argon2id.Params
		want           string
	}{
		{"correct-horse", "0123456789abcdef", DefaultArgon2Params,
			"$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$Y7M1bhWqqijLLRFsFRE4eQcEvQVz3Bj9bWBHHIpCniI"},
		{"ünïcödé pässwörd ✓", "0123456789abcdef", DefaultArgon2Params,
			"$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$avnkgHm3s+Ll+CpfgxpfFvlGz8dyUaBSSEHBSqVFdBc"},
		{"older", "saltsaltsaltsalt", &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
			"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$sSl/iFMHplARvKq7UOMa/51kxfYrtaYIlQqJtIP+47k"},
		{"lanes", "another salt 16b", &argon2id.Params{Memory: 256, Iterations: 3, Parallelism: 4, SaltLength: 16, KeyLength: 16},
			"$argon2id$v=19$m=256,t=3,p=4$YW5vdGhlciBzYWx0IDE2Yg$fcAom0vdSJZG03huJ/+dqg"},
	} {
		if got := encodeHash(v.params, v.password, []byte(v.salt)); got != v.want {
			t.Errorf("%q with %+v:\n got %s\nwant %s", v.password, *v.params, got, v.want)
		}
		// The server verifies them: with its own parameters as they are, other ones upgraded.
		p, err := newPasswords(v.params, 1<<30, 0)
		if err != nil {
			t.Fatal(err)
		}
		if up, err := p.Verify(context.Background(), v.password, v.want); err != nil || up != "" {
			t.Errorf("%q: verify the vector: upgrade %q, err %v", v.password, up, err)
		}
		if _, err := p.Verify(context.Background(), v.password+"!", v.want); !errors.Is(err, errPasswordMismatch) {
			t.Errorf("%q: the vector accepts another password: %v", v.password, err)
		}
	}
}

// Once the hashing slots have been idle for a while, the heap's free memory goes back to the
// operating system, once per idle spell, never while a hash runs or soon after one.
func TestMemoryReleaseWhenHashingIdle(t *testing.T) {
	var pending []func()
	freed := 0
	schedule := func(d time.Duration, f func()) {
		if d != releaseAfterIdle {
			t.Errorf("scheduled after %v, want %v", d, releaseAfterIdle)
		}
		pending = append(pending, f)
	}
	p, err := newPasswordsReleasing(DefaultArgon2Params, 1<<30, 0, schedule, func() { freed++ })
	if err != nil {
		t.Fatal(err)
	}
	// fire runs the one check that must be pending.
	fire := func(what string) {
		t.Helper()
		if len(pending) != 1 {
			t.Fatalf("%s: %d checks pending, want 1", what, len(pending))
		}
		f := pending[0]
		pending = pending[1:]
		f()
	}
	// The start's two hashes (the dummy, and the timing of a hash) go back too.
	fire("idle after the start")
	if freed != 1 {
		t.Fatalf("%d releases after the start, want 1", freed)
	}

	ctx := context.Background()
	h, err := p.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(ctx, "pw", h); err != nil { // a second hash while the check is pending
		t.Fatal(err)
	}
	fire("hashes since the check was scheduled")
	if freed != 1 {
		t.Fatal("memory released although hashes ran since the check was scheduled")
	}
	release, err := p.acquire(ctx) // a hash under way when the check comes
	if err != nil {
		t.Fatal(err)
	}
	fire("a hash under way")
	if freed != 1 {
		t.Fatal("memory released while a hash held a slot")
	}
	release()
	fire("a hash ended since")
	if freed != 1 {
		t.Fatal("memory released right after a hash")
	}
	fire("idle since the last check")
	if freed != 2 || len(pending) != 0 {
		t.Fatalf("idle: %d releases, %d checks pending; want 2, 0", freed, len(pending))
	}
	if _, err := p.Hash(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	fire("idle after one more hash")
	if freed != 3 || len(pending) != 0 {
		t.Fatalf("%d releases, %d checks pending after one more hash; want 3, 0", freed, len(pending))
	}

	// Hashes too small to matter never schedule a release.
	small, err := newPasswordsReleasing(cheap, 1<<30, 0, schedule, func() { freed++ })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.Hash(ctx, "pw"); err != nil || len(pending) != 0 {
		t.Fatalf("64 KiB hashes: err %v, %d releases scheduled", err, len(pending))
	}
}

// TestHashingQueueHonoursContext: with every slot taken, a caller waits, and gives up when its
// context ends instead of hashing for nobody.
func TestHashingQueueHonoursContext(t *testing.T) {
	p, err := newPasswords(cheap, int64(cheap.Memory)*1024, 0) // one slot, no deadline
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

// queueRefusal checks that err is the hashing queue's 503 and returns its Retry-After.
func queueRefusal(t *testing.T, err error) time.Duration {
	t.Helper()
	var e *Error
	var b *busy
	if !errors.As(err, &e) || e.Code != CodeUnavailable || !errors.As(err, &b) || !errors.Is(err, errHashQueueFull) {
		t.Fatalf("got %v, want a CodeUnavailable refusal from the hashing queue", err)
	}
	return b.retryAfter
}

// oneSlot is a hasher with one slot and the given queue deadline, whose estimate says a hash
// takes exactly mean.
func oneSlot(t *testing.T, deadline, mean time.Duration) *passwords {
	t.Helper()
	p, err := newPasswords(cheap, int64(cheap.Memory)*1024, deadline)
	if err != nil {
		t.Fatal(err)
	}
	if cap(p.slots) != 1 {
		t.Fatalf("%d slots, want 1", cap(p.slots))
	}
	p.queue.set(mean, 0)
	return p
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

func TestHashQueueEstimate(t *testing.T) {
	var q hashQueue
	q.set(100*time.Millisecond, 0)
	for _, c := range []struct {
		waiting int64
		slots   int
		want    time.Duration
	}{
		{0, 1, 100 * time.Millisecond}, // the hash in the slot
		{0, 2, 50 * time.Millisecond},  // the first of two to finish
		{3, 1, 400 * time.Millisecond}, // three ahead, then the one in the slot
		{9, 2, 500 * time.Millisecond}, // ten hashes' worth spread over two slots
	} {
		if got := q.predict(c.waiting, c.slots); got != c.want {
			t.Errorf("predict(%d waiting, %d slots) = %v, want %v", c.waiting, c.slots, got, c.want)
		}
	}
	// A noisy machine makes the prediction cautious: the hashes' mean plus twice the deviation of
	// their sum, √n times one hash's.
	q.set(100*time.Millisecond, 25*time.Millisecond)
	if got := q.predict(3, 2); got != 250*time.Millisecond {
		t.Errorf("predict with deviation = %v, want (4 × 100ms + 2 × 2 × 25ms) / 2", got)
	}
	// A closed loop of 64 on two slots, hashes of 30±20ms: about a second, not two (64 × 70ms / 2).
	q.set(30*time.Millisecond, 20*time.Millisecond)
	if got := q.predict(63, 2); got != 1120*time.Millisecond {
		t.Errorf("predict(63 waiting) with deviation = %v, want (64 × 30ms + 2 × 8 × 20ms) / 2", got)
	}
	// The averages follow what hashes take now: after a run of 10ms hashes, mean 10ms, no deviation.
	var at time.Time
	for range 200 {
		q.observe(10*time.Millisecond, at, false)
	}
	if m, d := q.estimate(); m < 10*time.Millisecond || m > 10100*time.Microsecond || d > 100*time.Microsecond {
		t.Errorf("after many 10ms hashes: mean %v, deviation %v", m, d)
	}
	// One outlier moves the mean by an eighth of the difference, and the deviation by a quarter of
	// the difference up to the mean: a hash descheduled for 800ms does not make the queue refuse
	// what it would serve in a second.
	q.set(10*time.Millisecond, 0)
	q.observe(10*time.Millisecond+800*time.Millisecond, at, false)
	if m, d := q.estimate(); m != 110*time.Millisecond || d != 2500*time.Microsecond {
		t.Errorf("after one 810ms outlier: mean %v, deviation %v; want 110ms, 2.5ms", m, d)
	}
	q.set(100*time.Millisecond, 0)
	q.observe(60*time.Millisecond, at, false)
	if m, d := q.estimate(); m != 95*time.Millisecond || d != 10*time.Millisecond {
		t.Errorf("after one 60ms hash: mean %v, deviation %v; want 95ms, 10ms", m, d)
	}

	// While the queue drains, the time between releases counts too: hashes of 10ms on two slots
	// should free a place every 5ms, but woken waiters that wait 40ms for a CPU free one every
	// 50ms, and that is what a place in the queue takes.
	q = hashQueue{}
	q.set(10*time.Millisecond, 0)
	for i := range 100 {
		q.observe(10*time.Millisecond, at.Add(time.Duration(i)*50*time.Millisecond), true)
	}
	if got := q.predict(9, 2); got < 490*time.Millisecond || got > 500*time.Millisecond {
		t.Errorf("predict(9 waiting) while draining one place per 50ms = %v, want about 500ms", got)
	}
	// Releases with nobody waiting are idle time, not queue time.
	q = hashQueue{}
	q.set(10*time.Millisecond, 0)
	for i := range 100 {
		q.observe(10*time.Millisecond, at.Add(time.Duration(i)*time.Second), false)
	}
	if got := q.predict(9, 2); got != 50*time.Millisecond {
		t.Errorf("predict(9 waiting) after idle releases = %v, want 10 × 5ms", got)
	}
	// A burst after an idle spell: the first release of the burst is 20s after the last one of
	// the previous burst, and that idle time is not a place in the queue (it once was, and the
	// next burst of 16 sign-ins was refused as if each place took 2.5s).
	q = hashQueue{}
	q.set(10*time.Millisecond, 0)
	q.observe(10*time.Millisecond, at, true)
	q.observe(10*time.Millisecond, at.Add(5*time.Millisecond), false)
	idle := at.Add(20 * time.Second)
	q.observe(10*time.Millisecond, idle, true)
	for i := 1; i < 4; i++ {
		q.observe(10*time.Millisecond, idle.Add(time.Duration(i)*5*time.Millisecond), true)
	}
	if got := q.predict(15, 2); got > 100*time.Millisecond {
		t.Errorf("predict(15 waiting) in a burst after 20s idle = %v, want 16 × 5ms", got)
	}
}

// The hasher measures its first mean on the dummy hash, and every hash after feeds it.
func TestHashQueueLearnsHashTime(t *testing.T) {
	p, err := newPasswords(cheap, 1<<30, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m, d := p.queue.estimate(); m <= 0 || d <= 0 {
		t.Fatalf("initial estimate: mean %v, deviation %v", m, d)
	}
	p.queue.set(time.Hour, 0)
	if _, err := p.Hash(context.Background(), "pw"); err != nil { // a free slot: no queue at all
		t.Fatal(err)
	}
	if m, _ := p.queue.estimate(); m >= time.Hour {
		t.Errorf("mean not updated by a hash: %v", m)
	}
}

// When the predicted wait already exceeds the deadline, the refusal is immediate: with an hour's
// deadline, a caller that waited would hit the test's context timeout instead.
func TestHashQueueRefusesAtOnce(t *testing.T) {
	p := oneSlot(t, time.Hour, 2*time.Hour)
	release, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = p.Hash(ctx, "pw")
	if ra := queueRefusal(t, err); ra != maxRetryAfter {
		t.Errorf("Retry-After = %v, want the cap (%v) of a wait of hours", ra, maxRetryAfter)
	}
	if err := p.VerifyDummy(ctx); queueRefusal(t, err) <= 0 {
		t.Error("dummy verification refused without Retry-After")
	}
	if n := p.queue.refused[refusedPredicted].Load(); n != 2 {
		t.Errorf("%d predicted refusals counted, want 2", n)
	}
	if n := p.queue.waiting.Load(); n != 0 {
		t.Errorf("%d callers still counted as waiting", n)
	}
}

// The prediction counts the callers already queued: with one slot busy and a hash taking 1s, a
// 2.5s deadline admits two waiters (predicted 1s and 2s) and refuses the third (3s) at once. Its
// place would come after the two waiters', in 3s; it is told to come back half a deadline
// before: 1.75s, rounded down to 1s.
func TestHashQueueRefusesByDepth(t *testing.T) {
	p := oneSlot(t, 2500*time.Millisecond, time.Second)
	release, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := p.Hash(ctx, "pw")
			done <- err
		}()
		waitFor(t, "a waiter to queue", func() bool { return p.queue.waiting.Load() == int64(i+1) })
	}
	_, err = p.Hash(ctx, "pw")
	if ra := queueRefusal(t, err); ra != time.Second {
		t.Errorf("third waiter: Retry-After %v, want 1s", ra)
	}
	release() // the two admitted waiters hash in turn
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("admitted waiter: %v", err)
		}
	}
}

// When the estimate is too hopeful, the wait is still capped at the deadline.
func TestHashQueueDeadlineCapsWait(t *testing.T) {
	p := oneSlot(t, 30*time.Millisecond, time.Nanosecond) // predicts no wait at all
	release, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = p.Verify(ctx, "pw", p.dummy)
	if ra := queueRefusal(t, err); ra != time.Second {
		t.Errorf("Retry-After = %v, want the 1s floor", ra)
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Errorf("refused after %v, before the deadline", waited)
	}
	if n := p.queue.refused[refusedDeadline].Load(); n != 1 {
		t.Errorf("%d deadline refusals counted, want 1", n)
	}
}

// Within the deadline a caller waits for its turn and hashes; with no deadline it waits for as
// long as its context lives (TestHashingQueueHonoursContext).
func TestHashQueueWaitsWithinDeadline(t *testing.T) {
	for _, deadline := range []time.Duration{time.Hour, 0} {
		p := oneSlot(t, deadline, time.Millisecond)
		release, err := p.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := p.Hash(context.Background(), "pw")
			done <- err
		}()
		waitFor(t, "the waiter to queue", func() bool { return p.queue.waiting.Load() == 1 })
		release()
		if err := <-done; err != nil {
			t.Errorf("deadline %v: queued hash: %v", deadline, err)
		}
	}
}

// Refused clients are told to come back one place apart, so they return at the pace the slots
// serve them instead of together; the bookings run down as time passes, and a newly measured pace
// between releases replaces a hash's mean time as the place.
func TestHashQueueSpreadsRetries(t *testing.T) {
	p := oneSlot(t, 500*time.Millisecond, time.Second) // one place: 1s; told 0.25s early
	now := time.Unix(1_000_000, 0)
	p.queue.now = func() time.Time { return now }
	release, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var got []time.Duration
	for range 5 {
		got = append(got, queueRefusal(t, admitErr(p)))
	}
	if want := []time.Duration{1, 1, 2, 3, 4}; !slices.Equal(got, scaled(want, time.Second)) { // 0.75s, 1.75s, … rounded down, at least 1s
		t.Errorf("Retry-After of five refusals in a row: %v, want %v s", got, want)
	}
	now = now.Add(3 * time.Second) // places booked until +5s; the sixth's is +6s
	if ra := queueRefusal(t, admitErr(p)); ra != 2*time.Second {
		t.Errorf("3s later: Retry-After %v, want 2s (2.75s rounded down)", ra)
	}
	p.queue.mu.Lock()
	p.queue.gap = 500 * time.Millisecond // releases measured closer together than a hash's time
	p.queue.mu.Unlock()
	if ra := queueRefusal(t, admitErr(p)); ra != 3*time.Second { // booked until +6s, the next place 0.5s on
		t.Errorf("with releases 0.5s apart: Retry-After %v, want 3s (3.25s rounded down)", ra)
	}
	// Slower hashes barely move the pace the places are booked at; a faster one sets it at once.
	for range 4 {
		p.queue.observe(5*time.Second, now, false)
	}
	fast := func() time.Duration {
		p.queue.mu.Lock()
		defer p.queue.mu.Unlock()
		return p.queue.fast
	}
	if f := fast(); f >= 1700*time.Millisecond {
		t.Errorf("four 5s hashes moved the booking pace from 1s to %v", f)
	}
	p.queue.observe(200*time.Millisecond, now, false)
	if f := fast(); f != 200*time.Millisecond {
		t.Errorf("a 200ms hash: booking pace %v, want 200ms", f)
	}
}

func scaled(ns []time.Duration, unit time.Duration) []time.Duration {
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = n * unit
	}
	return out
}

// admitErr is admit's refusal, or nil; a place it gives is given back at once.
func admitErr(p *passwords) error {
	_, done, err := p.admit(context.Background())
	if err == nil {
		done()
	}
	return err
}

// admit, sign-in's early check, refuses exactly when a waiter would be refused at once, and lets
// everything through without a deadline.
func TestHashQueueAdmit(t *testing.T) {
	p := oneSlot(t, time.Second, 2*time.Second)
	if err := admitErr(p); err != nil {
		t.Fatalf("free slot: %v", err)
	}
	release, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if ra := queueRefusal(t, admitErr(p)); ra != time.Second { // its place in 2s, less half the 1s deadline
		t.Errorf("Retry-After %v, want 1s", ra)
	}
	p.queue.set(500*time.Millisecond, 0)
	if err := admitErr(p); err != nil {
		t.Errorf("predicted 500ms within a 1s deadline: %v", err)
	}
	// A prediction of 900ms fits the 1s deadline, but not with the headroom kept for hashes that
	// slow down while the caller waits.
	p.queue.set(900*time.Millisecond, 0)
	if queueRefusal(t, admitErr(p)) <= 0 {
		t.Error("predicted 900ms, beyond 80% of a 1s deadline: admitted")
	}
	p.queue.deadline = 0
	p.queue.set(time.Hour, 0)
	if err := admitErr(p); err != nil {
		t.Errorf("no deadline: %v", err)
	}
}

// A check admit lets through holds its place while it looks up the account: a burst that arrives
// while the slot is still free is refused beyond the places the deadline holds, before any of it
// reaches the queue. The place passes to the caller's wait or slot, and is given back once.
func TestHashQueueAdmitHoldsPlaces(t *testing.T) {
	p := oneSlot(t, time.Second, 250*time.Millisecond) // the free slot, then places of 250ms: three fit in 80% of 1s
	var dones []func()
	var ctxs []context.Context
	for i := range 4 {
		ctx, done, err := p.admit(context.Background())
		if err != nil {
			t.Fatalf("admit %d with the slot free: %v", i, err)
		}
		dones, ctxs = append(dones, done), append(ctxs, ctx)
	}
	if got := p.queue.waiting.Load(); got != 4 {
		t.Errorf("four admitted: queue depth %d, want 4", got)
	}
	if queueRefusal(t, admitErr(p)) <= 0 { // behind three places of 250ms each
		t.Error("a fifth, slot still free: admitted")
	}

	// The first takes the free slot with its place; the depth drops by one.
	release, err := p.acquire(ctxs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := p.queue.waiting.Load(); got != 3 {
		t.Errorf("one of four holds the slot: depth %d, want 3", got)
	}
	dones[0]() // a used place is not given back twice
	if got := p.queue.waiting.Load(); got != 3 {
		t.Errorf("done after the slot was taken: depth %d, want 3", got)
	}

	// The second waits for the slot, counted once with its place.
	got := make(chan error, 1)
	go func() {
		rel, err := p.acquire(ctxs[1])
		if err == nil {
			rel()
		}
		got <- err
	}()
	// The others give up their places (their lookups failed, say); twice is once.
	dones[2]()
	dones[2]()
	dones[3]()
	release()
	if err := <-got; err != nil {
		t.Fatalf("the second, waiting with its place: %v", err)
	}
	dones[1]()
	if got := p.queue.waiting.Load(); got != 0 {
		t.Errorf("all done: depth %d, want 0", got)
	}
}
