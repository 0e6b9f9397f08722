package store

import (
	"context"
	"sync"
)

// coalescer runs calls in batches. A call that arrives while every worker is busy waits for the
// next free worker, which then takes it together with everything else that queued meanwhile. At
// low load each call runs alone and at once; under load one database round trip serves many
// callers, which is what the per-request work of this server is mostly made of.
type coalescer[Req, Res any] struct {
	queue chan *pending[Req, Res]
	max   int
	run   func(ctx context.Context, reqs []Req) []result[Res]
	stop  chan struct{}
	wg    sync.WaitGroup
}

type pending[Req, Res any] struct {
	req  Req
	done chan result[Res]
}

type result[Res any] struct {
	val Res
	err error
}

// newCoalescer starts workers goroutines that each run batches of at most max calls.
func newCoalescer[Req, Res any](workers, max int, run func(context.Context, []Req) []result[Res]) *coalescer[Req, Res] {
	c := &coalescer[Req, Res]{queue: make(chan *pending[Req, Res]), max: max, run: run, stop: make(chan struct{})}
	for range workers {
		c.wg.Add(1)
		go c.work()
	}
	return c
}

func (c *coalescer[Req, Res]) work() {
	defer c.wg.Done()
	batch := make([]*pending[Req, Res], 0, c.max)
	reqs := make([]Req, 0, c.max)
	for {
		batch, reqs = batch[:0], reqs[:0]
		select {
		case p := <-c.queue:
			batch = append(batch, p)
		case <-c.stop:
			return
		}
	drain:
		for len(batch) < c.max {
			select {
			case p := <-c.queue:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		for _, p := range batch {
			reqs = append(reqs, p.req)
		}
		// The batch outlives any one caller: a caller that gives up must not fail the others.
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		results := c.run(ctx, reqs)
		cancel()
		for i, p := range batch {
			p.done <- results[i]
		}
	}
}

// do runs one call, in whatever batch it lands in.
func (c *coalescer[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	p := &pending[Req, Res]{req: req, done: make(chan result[Res], 1)}
	var zero Res
	select {
	case c.queue <- p:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-c.stop:
		return zero, errClosed
	}
	select {
	case r := <-p.done:
		return r.val, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

func (c *coalescer[Req, Res]) close() {
	close(c.stop)
	c.wg.Wait()
}
