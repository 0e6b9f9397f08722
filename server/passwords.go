package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/argon2"
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
// With a queue deadline, a hash that cannot start within it is refused (503 with Retry-After)
// instead of queueing: at once when the queue's predicted wait already exceeds the deadline,
// else when the deadline passes.
//
// Every hash allocates its argon2id block memory afresh (golang.org/x/crypto/argon2 owns it),
// so under a sign-in flood the Go heap churns through a gigabyte a second: the slots bound how
// much of it is live at once, the server's GC settings (cmd/latchkey: tuneGC) size the heap for
// that, and the memory is handed back to the operating system once the slots go idle (see
// memoryRelease).
type passwords struct {
	params  *argon2id.Params
	slots   chan struct{}
	dummy   string // a real hash of a random password, verified when the user is unknown
	queue   hashQueue
	release memoryRelease
}

// releaseAfterIdle is how long the hashing slots must have stayed unused before the heap's free
// memory is handed back to the operating system: long enough that a burst's retries (Retry-After
// is whole seconds) and the next request of a steady trickle of sign-ins find the heap as they
// left it, short enough that a server is back to its idle size well within a minute of a burst.
const releaseAfterIdle = 5 * time.Second

// releaseMinHashMemory is the least memory one hash must take for its churn to be worth handing
// back: below it (the tests' tiny parameters) the runtime's own scavenger is enough.
const releaseMinHashMemory = 4 << 20

// memoryRelease hands the heap's free memory back to the operating system once password hashing
// has gone idle. A burst of sign-ins leaves the heap as large as the hashing slots' churn made it
// (the collector's goal stays where the burst's live hashes put it, and the runtime scavenges
// what lies above it slowly, or only after its two-minute forced collection): RSS stayed at
// 176-180 MiB after a burst, four times the idle server's. One debug.FreeOSMemory (a collection,
// then every free page back) once the slots have been idle for releaseAfterIdle brings it back
// within seconds. It costs a hash nothing but a load of an atomic flag, and a burst one
// collection of a heap that no longer holds any hash.
type memoryRelease struct {
	after time.Duration // 0: never
	armed atomic.Bool   // a check is scheduled
	seen  atomic.Int64  // hashes completed when the check was scheduled
	// Hooks, replaced by tests: schedule runs f after d (time.AfterFunc); free hands the memory back.
	schedule func(d time.Duration, f func())
	free     func()
}

// hashDone schedules a check for idleness unless one is pending. It runs as a slot is released.
func (p *passwords) hashDone() {
	r := &p.release
	if r.after <= 0 || r.armed.Load() || !r.armed.CompareAndSwap(false, true) {
		return
	}
	r.seen.Store(p.queue.hashes.Load())
	r.schedule(r.after, p.releaseIfIdle)
}

// releaseIfIdle hands the memory back when no hash ran since the check was scheduled and none
// runs now, and otherwise checks again releaseAfterIdle later.
func (p *passwords) releaseIfIdle() {
	r := &p.release
	if n := p.queue.hashes.Load(); n != r.seen.Load() || len(p.slots) > 0 {
		r.seen.Store(n)
		r.schedule(r.after, p.releaseIfIdle)
		return
	}
	// Disarmed before the release: a hash that ends from here on schedules the next check, so
	// the memory of one that started meanwhile is handed back too.
	r.armed.Store(false)
	r.free()
}

// hashQueue is the bookkeeping behind the deadline: how many callers wait for a slot, and how
// long a slot is held: exponentially weighted moving averages of recent hashes' time and of its
// deviation, as TCP estimates a round trip. The predicted wait of a newcomer is the callers ahead
// of it, spread over the slots, each taking the mean plus twice the deviation: a hash's time
// swings with the machine's load, and a prediction that is too hopeful makes a caller wait out
// the whole deadline before its 503, which the prediction is there to spare it.
type hashQueue struct {
	deadline time.Duration // longest wait for a slot; 0: wait as long as the caller's context lives
	now      func() time.Time
	waiting  atomic.Int64 // callers waiting for a slot now
	refused  [2]atomic.Int64
	held     atomic.Int64 // nanoseconds slots were held, over the server's life
	hashes   atomic.Int64 // slot holds completed, over the server's life

	mu          sync.Mutex
	mean, dev   time.Duration // of the time a hash holds its slot
	gap         time.Duration // moving average of the time between releases while callers wait
	lastRelease time.Time
	wasDraining bool          // callers were waiting at lastRelease too
	horizon     time.Time     // until when the slots are spoken for, refused clients' returns included (see refuse)
	fast        time.Duration // a hash's time when the machine is not swamped: falls at once, rises slowly (see refuse)
}

// Why a hash was refused, for metrics: the prediction, or the deadline passing while queued.
const (
	refusedPredicted = iota
	refusedDeadline
)

// DefaultHashQueueTimeout is how long a password hash may wait for a slot by default: long
// enough to ride out a burst of sign-ins, short enough that a person is told to retry (503 with
// Retry-After) before they give up, and far below the 30 s a flooded server without a deadline
// makes everyone wait.
const DefaultHashQueueTimeout = 3 * time.Second

// errHashQueueFull is the private cause of a 503 from the hashing queue.
var errHashQueueFull = errors.New("password hashing queue is full")

// The weights of the newest hash in the moving averages (TCP's for round trips: 1/8 and 1/4):
// the mean follows a machine that slows down under load within a fraction of a second of
// sign-ins, yet one slow hash (a descheduled goroutine) does not swing it; the deviation reacts
// faster, so a suddenly noisy machine admits fewer callers at once.
const (
	hashMeanWeight = 0.125
	hashDevWeight  = 0.25
)

// HashingMemory is the memory concurrent password hashing can hold at most with this budget and
// these parameters: the slots times the memory of one hash.
func HashingMemory(budget int64, p *argon2id.Params) int64 {
	if p == nil {
		p = DefaultArgon2Params
	}
	return int64(hashSlots(budget, p)) * int64(p.Memory) * 1024
}

// GCPercent is the garbage collector's heap growth a server runs with unless the operator set
// GOGC: fewer collections than Go's default on paths that allocate per request (cmd/latchkey's
// tuneGC says why these values; the benchmark's raw hash rate runs with them too).
const GCPercent = 400

// MemoryLimit is the soft heap limit a server runs with unless the operator set GOMEMLIMIT or
// --memory-limit: 160 MiB for the server's own heap (a flood's connections included) and for the
// garbage of the hashes between two collections, plus what the hashes under way may hold with
// this budget and these parameters. With GCPercent's growth it is the limit, not the growth,
// that starts the collections of a sign-in burst (see cmd/latchkey's tuneGC).
func MemoryLimit(budget int64, p *argon2id.Params) int64 {
	return 160<<20 + HashingMemory(budget, p)
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

// newPasswords makes the hasher. queueDeadline is the longest a hash may wait for a slot
// (0: no limit beyond the caller's context).
func newPasswords(params *argon2id.Params, memoryBudget int64, queueDeadline time.Duration) (*passwords, error) {
	return newPasswordsReleasing(params, memoryBudget, queueDeadline,
		func(d time.Duration, f func()) { time.AfterFunc(d, f) }, debug.FreeOSMemory)
}

// newPasswordsReleasing is newPasswords with memoryRelease's hooks.
func newPasswordsReleasing(params *argon2id.Params, memoryBudget int64, queueDeadline time.Duration,
	schedule func(time.Duration, func()), free func()) (*passwords, error) {
	n := hashSlots(memoryBudget, params)
	p := &passwords{params: params, slots: make(chan struct{}, n)}
	p.queue.deadline, p.queue.now = max(queueDeadline, 0), time.Now
	p.release.schedule, p.release.free = schedule, free
	if int64(params.Memory)*1024 >= releaseMinHashMemory {
		p.release.after = releaseAfterIdle
	}
	var random [32]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, err
	}
	// Making the dummy faults the heap's first hash memory in; hashing again, most likely in the
	// pages the first hash left, is the first measurement of how long a hash takes here. (Timing
	// the first hash, faults and all, made the estimate two to four times too long, and a flood
	// right after start was refused and spread out by it.)
	dummy, err := p.create(string(random[:]))
	if err != nil {
		return nil, fmt.Errorf("create dummy hash: %w", err)
	}
	p.dummy = dummy
	start := time.Now()
	if _, err := p.create(string(random[:])); err != nil {
		return nil, fmt.Errorf("time a hash: %w", err)
	}
	first := max(time.Since(start), time.Nanosecond)
	p.queue.set(first, first/2) // one sample: as unsure as TCP is of its first round trip
	p.hashDone()                // the two hashes' memory goes back too, once the server is idle
	return p, nil
}

// set replaces the estimate of a hash's time and forgets how fast the queue last drained and
// whom it told to come back.
func (q *hashQueue) set(mean, dev time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.mean, q.dev, q.gap, q.horizon, q.fast = mean, dev, 0, time.Time{}, mean
}

// estimate is the moving averages of a hash's time and of its deviation.
func (q *hashQueue) estimate() (mean, dev time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mean, q.dev
}

// observe folds one hash's slot time into the moving averages. When callers were waiting as
// the slot was released (the queue was draining), the time since the previous release is also
// how long one place in the queue took, which includes what the slot time misses: a woken waiter
// waiting for a CPU before its hash starts.
func (q *hashQueue) observe(d time.Duration, released time.Time, draining bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	// One hash's deviation counts at most as much as the mean itself: a single hash descheduled
	// for a few hundred milliseconds must not make the queue refuse a burst of callers it would
	// serve within a second.
	q.dev += time.Duration(hashDevWeight * float64(min((d-q.mean).Abs(), q.mean)-q.dev))
	q.mean = max(q.mean+time.Duration(hashMeanWeight*float64(d-q.mean)), time.Nanosecond)
	if d < q.fast {
		q.fast = max(d, time.Nanosecond)
	} else {
		q.fast += time.Duration(hashFastRise * float64(d-q.fast))
	}
	// Only two releases in one stretch of draining measure a place in the queue: the first release
	// after an idle spell would count the idle time (seconds between bursts) as one place.
	if draining && q.wasDraining && !q.lastRelease.IsZero() {
		q.gap += time.Duration(hashMeanWeight * float64(released.Sub(q.lastRelease)-q.gap))
	}
	q.lastRelease, q.wasDraining = released, draining
}

// predict is how long a caller arriving behind waiting others should expect to wait, at worst
// within reason, for one of slots slots: the n = waiting+1 hashes to finish before it take n
// times a hash's mean time plus twice the deviation of their sum (√n times one hash's, the
// hashes' swings in part cancelling out), spread over the slots; or n times the time between
// releases last seen while the queue drained, whichever is longer. (Twice one hash's deviation
// for each of them, as before, had a closed loop of 64 sign-ins predict twice its real wait on a
// noisy machine, and refuse hundreds of sign-ins it would have served within a second.)
func (q *hashQueue) predict(waiting int64, slots int) time.Duration {
	q.mu.Lock()
	mean, dev, gap := q.mean, q.dev, q.gap
	q.mu.Unlock()
	n := float64(waiting + 1)
	hashes := time.Duration((n*float64(mean) + 2*math.Sqrt(n)*float64(dev)) / float64(slots))
	return max(hashes, time.Duration(n*float64(gap)))
}

// admissible reports whether a caller behind ahead others may queue: whether the predicted wait
// fits in admitShare of the deadline. The rest of the deadline is headroom for hashes that slow
// down while the caller waits (under a flood they do, as the burst's other work takes CPU): a
// caller admitted at a prediction of the whole deadline waited it out and was refused after all,
// the one 503 that is not fast.
func (q *hashQueue) admissible(ahead int64, slots int) bool {
	return q.predict(ahead, slots) <= time.Duration(admitShare*float64(q.deadline))
}

// admitShare is the share of the queue deadline a caller's predicted wait may take.
const admitShare = 0.8

// refuse is the 503 for a hash that cannot start in time, with a Retry-After that spreads the
// refused clients over the time the slots need to serve them. Telling every refused client the
// same wait (the queue's predicted wait, as before) brought them back together: the queue took a
// deadline's worth of them, refused the rest with the same wait again, and sat empty in between;
// under a 1000-client flood the slots were idle a quarter of the time.
//
// Instead the queue keeps a horizon: the time until which the slots are spoken for, by the
// callers waiting now and by the clients already told to come back. Each refusal books one
// more place past it (one place: the fast estimate of a hash's time spread over the slots, or
// the measured time between slot releases when that is shorter), and the client is told to return
// half a deadline before its place comes, so it waits in the queue briefly instead of finding it
// empty. Retry-After is whole seconds, rounded down (a client early by under a second still waits
// within the deadline), at least 1 s and at most maxRetryAfter. The horizon only sets Retry-After: whether a caller is
// admitted is decided by the real queue alone, so bookings of clients who never return cost
// nothing but a later Retry-After for others while the queue is full.
func (q *hashQueue) refuse(why int, waiting int64, slots int) *Error {
	q.refused[why].Add(1)
	q.mu.Lock()
	now := q.now()
	per := q.fast / time.Duration(slots)
	if q.gap > 0 {
		per = min(per, q.gap)
	}
	if drained := now.Add(time.Duration(waiting) * per); q.horizon.Before(drained) {
		q.horizon = drained
	}
	q.horizon = q.horizon.Add(per)
	wait := q.horizon.Sub(now) - q.deadline/2
	q.mu.Unlock()
	return unavailable(errHashQueueFull, min(max(wait.Truncate(time.Second), time.Second), maxRetryAfter))
}

// hashFastRise is the weight of a slower hash in the fast estimate that books refused clients'
// places. The hashes that run while a burst of connections arrives take two to five times as long
// as the same hashes a second later, and the refusals of that burst were booked at that pace when
// the mean set it: the clients came back too slowly, and the slots sat idle for half of a flood's
// second half (a weight of 1/32 still let a burst's twenty slow hashes double the estimate). The
// fast estimate takes a quicker hash at once and a slower one at 1/256 of the difference, so a
// burst barely moves it and a machine that stays slower moves it over some hundreds of hashes.
// Booked too early, a client finds the queue full and is refused and booked again, a fast 503;
// booked too late, it leaves a slot idle, a lost hash.
const hashFastRise = 1.0 / 256

// maxRetryAfter caps the hashing queue's Retry-After: a client told to wait longer comes back
// sooner and is told again.
const maxRetryAfter = time.Minute

// acquire waits for a hashing slot. It gives up when ctx ends (returning ctx's error), and, with
// a queue deadline, when the slot cannot be had within it (returning a CodeUnavailable *Error
// with Retry-After): at once when the predicted wait exceeds the deadline, or when the deadline
// passes while waiting. release must be called when the hash is done.
func (p *passwords) acquire(ctx context.Context) (release func(), err error) {
	q := &p.queue
	select {
	case p.slots <- struct{}{}: // a free slot: no queue at all
		placeFrom(ctx).giveBack()
	default:
		if err := p.wait(ctx); err != nil {
			return nil, err
		}
	}
	// The wait may have outlived the request: do not spend a hash on a caller who has left.
	if err := ctx.Err(); err != nil {
		<-p.slots
		return nil, err
	}
	start := q.now()
	return func() {
		now := q.now()
		q.observe(now.Sub(start), now, q.waiting.Load() > 0)
		q.held.Add(int64(now.Sub(start)))
		q.hashes.Add(1)
		<-p.slots
		p.hashDone()
	}, nil
}

// admit refuses at once, as acquire would, a password check that the queue already predicts
// cannot start within the deadline. Sign-in calls it before anything else, so that under a flood
// the refused majority costs neither a database round trip nor time, and the hashing keeps the
// CPU. Known and unknown accounts pass through it alike.
//
// A check it lets through holds a place in the queue from then on: it counts among the callers
// waiting (the queue depth) while it looks up the account, and its place passes to its wait for a
// slot, or is given back by done (call it when the check is over; it is a no-op once the place
// was used). Without that, the 1000 sign-ins of a burst all passed admit before any of them
// reached the queue, all went to the database, and most were refused only after it, with a
// database pool's queue in their 503's time: half a second and more on PostgreSQL.
//
// The returned context carries the place to acquire; use it for the check.
func (p *passwords) admit(ctx context.Context) (_ context.Context, done func(), err error) {
	q := &p.queue
	if q.deadline <= 0 {
		return ctx, func() {}, nil
	}
	waiting := q.waiting.Add(1)
	// Ahead of this caller: the others holding places, less those a free slot awaits.
	if ahead := waiting - 1 - int64(cap(p.slots)-len(p.slots)); ahead >= 0 && !q.admissible(ahead, cap(p.slots)) {
		q.waiting.Add(-1)
		return ctx, nil, q.refuse(refusedPredicted, ahead, cap(p.slots))
	}
	pl := &place{q: q}
	return context.WithValue(ctx, placeKey{}, pl), pl.giveBack, nil
}

// place is a caller's place in the hashing queue, counted in waiting from admit until the caller
// takes a slot, waits for one (its wait counts it from then on) or gives the place back.
type place struct {
	q    *hashQueue
	used atomic.Bool
}

type placeKey struct{}

// placeFrom is the place admit gave ctx's caller, or nil.
func placeFrom(ctx context.Context) *place {
	pl, _ := ctx.Value(placeKey{}).(*place)
	return pl
}

// take marks the place used and reports whether it was held: a caller's wait then counts itself
// with it instead of adding to waiting again.
func (pl *place) take() bool {
	return pl != nil && !pl.used.Swap(true)
}

// giveBack returns a place that was not used.
func (pl *place) giveBack() {
	if pl.take() {
		pl.q.waiting.Add(-1)
	}
}

// wait queues for a slot when none is free. A caller holding a place from admit is already
// counted among the waiting.
func (p *passwords) wait(ctx context.Context) error {
	q := &p.queue
	var waiting int64
	if placeFrom(ctx).take() {
		waiting = q.waiting.Load()
	} else {
		waiting = q.waiting.Add(1)
	}
	defer q.waiting.Add(-1)
	if q.deadline <= 0 {
		select {
		case p.slots <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// waiting counts this caller too: waiting-1 are ahead of it.
	if !q.admissible(waiting-1, cap(p.slots)) {
		return q.refuse(refusedPredicted, waiting-1, cap(p.slots))
	}
	timer := time.NewTimer(q.deadline)
	defer timer.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		// The estimate was too hopeful.
		return q.refuse(refusedDeadline, q.waiting.Load()-1, cap(p.slots))
	}
}

// Hash makes an argon2id hash of password.
func (p *passwords) Hash(ctx context.Context, password string) (string, error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return p.create(password)
}

// create hashes password with the server's parameters and a random salt, in argon2id's usual
// encoding ($argon2id$v=19$m=...,t=...,p=...$salt$key, unpadded base64), as the reference
// implementation and alexedwards/argon2id write it.
func (p *passwords) create(password string) (string, error) {
	salt := make([]byte, p.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return encodeHash(p.params, password, salt), nil
}

// encodeHash hashes password with params and salt, in the encoding create describes.
func encodeHash(params *argon2id.Params, password string, salt []byte) string {
	key := argon2.IDKey([]byte(password), salt, params.Iterations, params.Memory, params.Parallelism, params.KeyLength)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		params.Memory, params.Iterations, params.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
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
		params, salt, key, err := argon2id.DecodeHash(hash)
		if err != nil {
			return "", fmt.Errorf("decode password hash: %w", err)
		}
		if params.Memory > maxImportedArgon2Memory || params.Iterations > maxImportedArgon2Iterations ||
			params.Parallelism > maxImportedArgon2Lanes {
			return "", errors.New("password hash parameters exceed the allowed cost")
		}
		if subtle.ConstantTimeCompare(argon2.IDKey([]byte(password), salt, params.Iterations, params.Memory, params.Parallelism, uint32(len(key))), key) != 1 {
			return "", errPasswordMismatch
		}
		if *params != *p.params {
			return p.create(password)
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
		return p.create(password)
	default:
		return "", errors.New("unknown password hash format")
	}
}

// VerifyDummy spends the same work as a real verification, so that answering for an unknown
// account takes as long as answering for a known one. It queues like a real verification, and
// fails like one when the queue refuses it (or the caller leaves): the caller must then answer
// as it would for a known account, so a full queue does not tell accounts apart either.
func (p *passwords) VerifyDummy(ctx context.Context) error {
	_, err := p.Verify(ctx, "not the password", p.dummy)
	if errors.Is(err, errPasswordMismatch) {
		return nil
	}
	return err
}
