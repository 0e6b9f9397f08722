package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// The hot paths' cost in-process: the whole handler chain (middleware, validation,
// authentication, handler, JSON) of GET /v1/user and POST /v1/token against the database
// LATCHKEY_TEST_DB picks, without the network and the load generator that make `make bench`'s
// figures noisy on a shared machine. On PostgreSQL the store talks to the database through a
// proxy that counts round trips (client-to-server flights), reported as roundtrips/op.
//
//	LATCHKEY_TEST_DB=postgres go test -run '^$' -bench HotPath -benchmem ./server
//
// cpu-ns/op is the process's CPU time (user and system) per request: the figure the issue's
// throughput targets depend on, as PostgreSQL's latency is in ns/op. The proxy costs CPU of its
// own; LATCHKEY_BENCH_NO_PROXY=1 leaves it out (and roundtrips/op with it).

// hotBench is a server with one signed-up user, driven through its http.Handler.
type hotBench struct {
	h     http.Handler
	trips *atomic.Int64 // nil on SQLite and without the proxy
}

// session is one signed-in session's tokens.
type benchSession struct{ access, refresh string }

func newHotBench(b *testing.B) *hotBench {
	b.Helper()
	ctx := context.Background()
	clock := testdb.NewClock()
	hb := &hotBench{}
	var st *store.Store
	if testdb.Backend() == store.Postgres {
		raw := testdb.PostgresSchema(b)
		u, err := url.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if os.Getenv("LATCHKEY_BENCH_NO_PROXY") != "1" {
			p := startTripCounter(b, u.Host)
			u.Host = p.addr
			hb.trips = &p.trips
		}
		if st, err = store.Open(ctx, store.Options{URL: u.String(), Now: clock.Now}); err != nil {
			b.Fatal(err)
		}
	} else {
		var err error
		if st, err = store.Open(ctx, store.Options{DataDir: b.TempDir(), Now: clock.Now}); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.PasswordHashParams = servertest.FastPasswordParams
	cfg.RateLimits = false // as `make bench` runs: the server's own cost, not the counters'
	srv, err := server.New(ctx, server.Deps{Store: st, Now: clock.Now, Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	hb.h = srv.Handler()
	if status, body := hb.do(http.MethodPost, "/v1/signup/email-password", "", benchCredentials); status != http.StatusOK {
		b.Fatalf("sign-up: %d %s", status, body)
	}
	return hb
}

const benchCredentials = `{"email":"bench@example.com","password":"correct-horse-battery"}`

// signIn opens a session.
func (hb *hotBench) signIn(b *testing.B) benchSession {
	b.Helper()
	status, body := hb.do(http.MethodPost, "/v1/signin/email-password", "", benchCredentials)
	if status != http.StatusOK {
		b.Fatalf("sign-in: %d %s", status, body)
	}
	var out struct {
		Session struct{ AccessToken, RefreshToken string }
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Session.AccessToken == "" {
		b.Fatalf("sign-in answer %s: %v", body, err)
	}
	return benchSession{out.Session.AccessToken, out.Session.RefreshToken}
}

func (hb *hotBench) do(method, path, bearer, body string) (int, []byte) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "127.0.0.1:40000"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	hb.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// benchWorkers is the concurrency of the parallel benchmarks: the lower of the targets.
const benchWorkers = 16

// measure runs call b.N times, from one goroutine or from benchWorkers, each with a session of
// its own, and reports CPU time and round trips per call.
func (hb *hotBench) measure(b *testing.B, parallel bool, call func(*benchSession) error) {
	n := 1
	if parallel {
		n = benchWorkers
	}
	sessions := make(chan *benchSession, n)
	for range n {
		s := hb.signIn(b)
		sessions <- &s
	}
	b.ReportAllocs()
	var before int64
	if hb.trips != nil {
		before = hb.trips.Load()
	}
	cpu := cpuTime()
	b.ResetTimer()
	if parallel {
		b.SetParallelism((benchWorkers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			s := <-sessions
			for pb.Next() {
				if err := call(s); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		s := <-sessions
		for b.Loop() {
			if err := call(s); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	if hb.trips != nil {
		b.ReportMetric(float64(hb.trips.Load()-before)/float64(b.N), "roundtrips/op")
	}
}

func (hb *hotBench) getUser(s *benchSession) error {
	if status, body := hb.do(http.MethodGet, "/v1/user", s.access, ""); status != http.StatusOK {
		return fmt.Errorf("GET /v1/user: %d %s", status, body)
	}
	return nil
}

var refreshTokenField = []byte(`"refreshToken":"`)

// refresh rotates the session's refresh token and keeps the successor for the next call.
func (hb *hotBench) refreshToken(s *benchSession) error {
	status, body := hb.do(http.MethodPost, "/v1/token", "", `{"refreshToken":"`+s.refresh+`"}`)
	if status != http.StatusOK {
		return fmt.Errorf("POST /v1/token: %d %s", status, body)
	}
	i := bytes.Index(body, refreshTokenField)
	if i < 0 {
		return fmt.Errorf("no refresh token in %s", body)
	}
	rest := body[i+len(refreshTokenField):]
	s.refresh = string(rest[:bytes.IndexByte(rest, '"')])
	return nil
}

func BenchmarkHotPathGetUser(b *testing.B) {
	hb := newHotBench(b)
	hb.measure(b, false, hb.getUser)
}

func BenchmarkHotPathGetUserParallel(b *testing.B) {
	hb := newHotBench(b)
	hb.measure(b, true, hb.getUser)
}

func BenchmarkHotPathRefresh(b *testing.B) {
	hb := newHotBench(b)
	hb.measure(b, false, hb.refreshToken)
}

func BenchmarkHotPathRefreshParallel(b *testing.B) {
	hb := newHotBench(b)
	hb.measure(b, true, hb.refreshToken)
}

// cpuTime is the CPU time the process has used, user and system, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// tripCounter is a TCP proxy to PostgreSQL that counts the client's flights: each burst of
// bytes the client sends before it waits for an answer is one read here (the protocol is
// request-response, so a round trip is one flight; a pipeline of statements is one too).
type tripCounter struct {
	addr  string
	trips atomic.Int64
}

func startTripCounter(b *testing.B, target string) *tripCounter {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := &tripCounter{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	b.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Add(2)
			go func() { // client → server, counted
				defer wg.Done()
				defer s.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						p.trips.Add(1)
						if _, werr := s.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { // server → client
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	return p
}
