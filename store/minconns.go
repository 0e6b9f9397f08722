package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// keepEvery is how often the keeper looks at the pool. A look costs one read of the pool's
// counts, so it can be frequent: the pool is short of its minimum at most this long after its
// idle timeout (connMaxIdle) closed connections.
const keepEvery = 10 * time.Second

// connMaxIdle is how long a PostgreSQL connection may sit unused in the pool before it is closed.
const connMaxIdle = 5 * time.Minute

// keepTimeout bounds one round of opening the connections the pool lacks.
const keepTimeout = 10 * time.Second

// minConns keeps at least n connections of a PostgreSQL pool open, as pgxpool's MinConns does for
// its own pools: database/sql, which GORM and the hot paths share, opens connections only when a
// query finds none free, and closes them after connMaxIdle unused. A burst then had to wait while
// PostgreSQL started and warmed a backend for each connection the pool grew by: under a
// 1000-client flood, 144 admitted sign-ins queued for connections the pool was still opening,
// and the hashing queue's 503s that should take milliseconds took up to a second.
type minConns struct {
	db     *sql.DB
	n      int
	kick   chan struct{}   // a round now, as the ticker's (tests)
	ctx    context.Context // ends with close: a round under way gives up at once
	cancel context.CancelFunc
	done   chan struct{}
}

// startMinConns opens n connections of db at once and returns the keeper that holds them open
// until close; with n 0 it does nothing and returns nil.
func startMinConns(ctx context.Context, db *sql.DB, n int) (*minConns, error) {
	if n <= 0 {
		return nil, nil
	}
	if err := keepOpen(ctx, db, n); err != nil {
		return nil, fmt.Errorf("open %d PostgreSQL connections (the minimum kept open): %w", n, err)
	}
	k := &minConns{db: db, n: n, kick: make(chan struct{}), done: make(chan struct{})}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	go k.run()
	return k, nil
}

func (k *minConns) run() {
	defer close(k.done)
	t := time.NewTicker(keepEvery)
	defer t.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-t.C:
		case <-k.kick:
		}
		ctx, cancel := context.WithTimeout(k.ctx, keepTimeout)
		_ = k.keep(ctx) // a database that does not answer now is tried again next round
		cancel()
	}
}

// keep is one round: it opens the connections the pool lacks of the minimum.
func (k *minConns) keep(ctx context.Context) error { return keepOpen(ctx, k.db, k.n) }

// keepOpen opens the connections db's pool lacks of n. While the pool holds n, in use or idle
// (as whenever queries keep it busy), that costs one read of its counts and touches no
// connection. Otherwise the pool closed some (its idle timeout) or found the database had
// dropped them (pgx pings a connection idle for over a second before a query gets it, and the
// pool replaces a dead one there). database/sql opens a connection only for a caller that finds
// none idle, so the round takes the idle ones and the missing ones together and hands them all
// back at once: the idle ones are away only while the new ones open (a query arriving then opens
// one of its own, or, with n the whole pool, waits that long), which happens once after the
// pool shrank, never while it is busy.
func keepOpen(ctx context.Context, db *sql.DB, n int) error {
	var held []*sql.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	// Each connection taken is an idle one or a new one: n of each at most, and a few more in
	// case queries return connections to the pool meanwhile.
	for range 3 * n {
		if db.Stats().OpenConnections >= n { // n is at most the pool's limit (Open checks)
			return nil
		}
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		held = append(held, c)
	}
	return fmt.Errorf("the pool holds %d of %d connections", db.Stats().OpenConnections, n)
}

// close stops the keeper, ending a round under way; a nil keeper is fine.
func (k *minConns) close() {
	if k == nil {
		return
	}
	k.cancel()
	<-k.done
}
