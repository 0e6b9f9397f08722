// Package faults holds process-level fault tests: a real latchkey binary is started, killed
// with SIGKILL or stopped with SIGTERM while it serves load, restarted on the same database,
// and what it acknowledged before is checked against what it holds after; and what a burst of
// sign-ins leaves of its memory.
package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/internal/proc"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// bin is the latchkey binary TestMain builds.
var bin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "latchkey-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "latchkey")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := proc.BuildLatchkey(ctx, bin); err != nil {
		fmt.Fprintln(os.Stderr, "build latchkey:", err)
		return 1
	}
	return m.Run()
}

// database is where a test's server processes keep their data: a SQLite data directory or a
// PostgreSQL schema, as LATCHKEY_TEST_DB picks, shared by every process the test starts.
type database struct {
	env     []string // the server's settings that name it
	dialect string
	dsn     string // for the test's own reads (database/sql)
}

func newDatabase(t *testing.T) database {
	t.Helper()
	if testdb.Backend() == store.Postgres {
		url := testdb.PostgresSchema(t)
		return database{env: []string{"DATABASE_URL=" + url}, dialect: store.Postgres, dsn: url}
	}
	dir := t.TempDir()
	return database{env: []string{"LATCHKEY_DATA_DIR=" + dir}, dialect: store.SQLite,
		dsn: "file:" + filepath.Join(dir, "latchkey.db") + "?_pragma=busy_timeout(10000)&_pragma=query_only(ON)"}
}

// server is one running latchkey process.
type server struct {
	*proc.Child
	URL    string
	Client *gen.ClientWithResponses
}

// startServer starts latchkey on db with extra settings, and waits until it is ready. The
// process is killed at cleanup if it still runs.
func startServer(t *testing.T, name string, db database, extra ...string) *server {
	t.Helper()
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// Nothing of the test run's own environment configures the server.
	env := proc.ServerEnv(append([]string{
		fmt.Sprintf("LATCHKEY_ADDR=127.0.0.1:%d", port),
		// Metrics on the API port, with their secret: a listener of their own would need a
		// second free port per process, and another process may take it first.
		"LATCHKEY_METRICS_ADDR=off",
		"LATCHKEY_METRICS_TOKEN=" + metricsToken,
		"LATCHKEY_LOG_FORMAT=json",
		"LATCHKEY_LOG_LEVEL=warn",
	}, append(db.env, extra...)...)...)
	c, err := proc.Start(name, filepath.Join(t.TempDir(), name+".log"), env, bin, "serve")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !c.Exited() {
			c.Kill()
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx, url+"/readyz", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	client, err := gen.NewClientWithResponses(url, gen.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return &server{Child: c, URL: url, Client: client}
}
