package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// keepEvery is how often the connections kept open are checked: well within the pool's idle
// timeout (connMaxIdle), so a kept connection is used again before it would be closed, and often
// enough that one the database dropped is replaced within a minute.
const keepEvery = time.Minute

// connMaxIdle is how long a PostgreSQL connection may sit unused in the pool before it is closed.
const connMaxIdle = 5 * time.Minute

// keepTimeout bounds one round of opening and pinging the connections kept open.
const keepTimeout = 10 * time.Second

// minConns keeps at least n connections of a PostgreSQL pool open, as pgxpool's MinConns does for
// its own pools: database/sql, which GORM and the hot paths share, opens connections only when a
// query finds none free, and closes them after connMaxIdle unused. A burst then had to wait while
// PostgreSQL started and warmed a backend for each connection the pool grew by: under a
// 1000-client flood, 144 admitted sign-ins queued for connections the pool was still opening,
// and the hashing queue's 503s that should take milliseconds took up to a second.
type minConns struct {
	db   *sql.DB
	n    int
	stop chan struct{}
	done chan struct{}
}

// startMinConns opens n connections of db at once and returns the keeper that holds them open
// until stop; with n 0 it does nothing and returns nil.
func startMinConns(ctx context.Context, db *sql.DB, n int) (*minConns, error) {
	if n <= 0 {
		return nil, nil
	}
	k := &minConns{db: db, n: n, stop: make(chan struct{}), done: make(chan struct{})}
	if err := k.keep(ctx); err != nil {
		return nil, fmt.Errorf("open %d PostgreSQL connections (the minimum kept open): %w", n, err)
	}
	go k.run()
	return k, nil
}

func (k *minConns) run() {
	defer close(k.done)
	t := time.NewTicker(keepEvery)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), keepTimeout)
			_ = k.keep(ctx) // a database that does not answer now is tried again next round
			cancel()
		}
	}
}

// keep holds as many connections at once as the minimum lacks beside those in use, pinging each,
// then returns them to the pool. Holding them together makes the pool open the missing ones, and
// returning them marks the ones it had as just used, so its idle timeout spares them: the pool
// hands out the connection returned last first, so these are the ones it keeps. A connection the
// database dropped fails its ping and leaves the pool; another is opened in its place, a few
// times at most. It never waits for a connection that queries use: when the pool has none free
// and may open no more, it stops, as the busy pool keeps its connections in use anyway.
func (k *minConns) keep(ctx context.Context) error {
	want := k.n - k.db.Stats().InUse
	var held []*sql.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	var lastErr error
	for tries := 0; len(held) < want && tries < 2*want; tries++ {
		if st := k.db.Stats(); st.Idle == 0 && st.OpenConnections >= st.MaxOpenConnections {
			return nil
		}
		c, err := k.db.Conn(ctx)
		if err != nil {
			return err
		}
		if err := c.PingContext(ctx); err != nil {
			lastErr = err
			_ = c.Close()
			continue
		}
		held = append(held, c)
	}
	if len(held) < want {
		return fmt.Errorf("%d of %d connections answer: %w", len(held), want, lastErr)
	}
	return nil
}

// close stops the keeper; a nil keeper is fine.
func (k *minConns) close() {
	if k == nil {
		return
	}
	close(k.stop)
	<-k.done
}
