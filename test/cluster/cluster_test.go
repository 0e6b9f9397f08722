// Package cluster runs two real `latchkey serve` processes against one PostgreSQL schema (and,
// in one of its runs, one Redis) and checks that they behave as one server: sessions, refresh
// tokens, rate limits, lockouts, signing keys and mailed tickets are shared state, not node-local.
//
// WebAuthn does not exist in Latchkey yet; when it does, its challenges belong in the database
// like tickets, and a case here (register on A, finish on B) should prove it.
package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/internal/proc"
	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/redisctr/redistest"
	"github.com/latchkey/latchkey/store/testdb"
)

// bin is the latchkey binary TestMain builds once for every test.
var bin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The documented multi-instance deployment is PostgreSQL: SQLite is one file that one process
	// owns, so on the SQLite run there is nothing to build and every test skips.
	if testdb.Backend() == store.Postgres {
		dir, err := os.MkdirTemp("", "latchkey-cluster-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "latchkey")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := proc.BuildLatchkey(ctx, bin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// needPostgres skips on the SQLite run (see run).
func needPostgres(t *testing.T) {
	t.Helper()
	if testdb.Backend() != store.Postgres {
		t.Skip("SKIPPED: several instances share PostgreSQL, not SQLite (run with LATCHKEY_TEST_DB=postgres)")
	}
}

const adminSecret = "cluster-test-admin-secret-0123456789abcdef"

// counters is where a cluster keeps its rate-limit counters.
type counters string

const (
	inDatabase counters = "db"
	inRedis    counters = "redis"
)

// cluster is two instances of one deployment: one database, one SMTP server, one Redis (when the
// counters live there), the same settings.
type cluster struct {
	t           *testing.T
	dbURL       string
	redisPrefix string // "" when the counters are in the database
	mail        *servertest.MailSink
	env         []string
	a, b        *node
	secrets     []string // values no log line may hold
}

// node is one `latchkey serve` process.
type node struct {
	name  string
	url   string
	child *proc.Child
}

// startCluster starts A and B with the given counters and settings (NAME=value).
func startCluster(t *testing.T, ctr counters, settings ...string) *cluster {
	t.Helper()
	needPostgres(t)
	c := &cluster{t: t, dbURL: testdb.PostgresSchema(t), mail: servertest.StartMailSink(t)}
	env := []string{
		"DATABASE_URL=" + c.dbURL,
		"LATCHKEY_DB_MAX_CONNS=5",
		"LATCHKEY_LOG_FORMAT=json",
		"LATCHKEY_ADMIN_SECRET=" + adminSecret,
		"LATCHKEY_SMTP_HOST=" + c.mail.Host,
		fmt.Sprintf("LATCHKEY_SMTP_PORT=%d", c.mail.Port),
		"LATCHKEY_SMTP_TLS=none",
		"LATCHKEY_SMTP_FROM=Latchkey Cluster <no-reply@latchkey.test>",
		"LATCHKEY_PASSWORD_HASH_MEMORY=64MiB",
		// Two instances on one host would collide on the metrics listener's address; these
		// tests read no metrics.
		"LATCHKEY_METRICS_ADDR=off",
	}
	if ctr == inRedis {
		c.redisPrefix = redistest.Prefix(t)
		env = append(env, "LATCHKEY_REDIS_URL="+redistest.Require(t), "LATCHKEY_REDIS_PREFIX="+c.redisPrefix)
	}
	c.env = append(proc.ServerEnv(), append(env, settings...)...)
	c.secrets = append(c.secrets, adminSecret)
	// A migrates the fresh schema; B, started together with it, waits on the advisory lock and
	// finds nothing left to do: the start of a real rollout.
	c.a, c.b = c.start("A"), c.start("B")
	for _, n := range []*node{c.a, c.b} {
		if err := n.child.WaitReady(context.Background(), n.url+"/readyz", 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.stop)
	return c
}

func (c *cluster) start(name string) *node {
	c.t.Helper()
	port, err := proc.FreePort()
	if err != nil {
		c.t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	child, err := proc.Start(name, filepath.Join(c.t.TempDir(), name+".log"), append(c.env, "LATCHKEY_ADDR="+addr), bin, "serve")
	if err != nil {
		c.t.Fatal(err)
	}
	return &node{name: name, url: "http://" + addr, child: child}
}

// stop ends both processes gracefully; on failure it shows the end of their logs. Either way it
// checks that no log line holds a secret the test used.
func (c *cluster) stop() {
	for _, n := range []*node{c.a, c.b} {
		if err := n.child.Stop(); err != nil {
			c.t.Errorf("%s: %v", n.name, err)
		}
		if c.t.Failed() {
			c.t.Logf("last lines of %s's log:\n%s", n.name, n.child.LogTail(40))
		}
		logText := n.child.LogTail(1 << 30)
		for _, s := range c.secrets {
			if s != "" && strings.Contains(logText, s) {
				c.t.Errorf("%s's log holds a secret the test used (%.6s…)", n.name, s)
			}
		}
	}
}

// secret records a value that must never appear in a log.
func (c *cluster) secret(vs ...string) { c.secrets = append(c.secrets, vs...) }

// client is the generated client, calling n from the loopback address ip (127.0.0.x all reach
// 127.0.0.1), so each case has a client address of its own for the rate limits; every answer is
// checked against the contract, failing t.
func (n *node) client(t *testing.T, ip string) *gen.ClientWithResponses {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	hc := &http.Client{
		Timeout:   30 * time.Second,
		Transport: servertest.ContractTransport(t, &http.Transport{DialContext: d.DialContext}),
		// Redirects are answers to check, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c, err := gen.NewClientWithResponses(n.url, gen.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// --- small helpers

func adminHeader(_ context.Context, r *http.Request) error {
	r.Header.Set("X-Admin-Secret", adminSecret)
	return nil
}

// kidOf is the kid in an access token's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		t.Fatalf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// eventually polls cond until it holds or the deadline passes (never a fixed sleep for timing).
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
}

// latchkeyCmd runs the built binary once (an operator's command) against the cluster's database.
func (c *cluster) latchkeyCmd(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(proc.ServerEnv(), "DATABASE_URL="+c.dbURL, "LATCHKEY_LOG_FORMAT=json")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("latchkey %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// ticketOf is the ticket of the first /v1/verify link in a mail.
func ticketOf(t *testing.T, m *servertest.Mail) string {
	t.Helper()
	u, err := url.Parse(m.Link(t, "/v1/verify"))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("ticket")
}
