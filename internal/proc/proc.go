// Package proc runs server processes for the benchmark and for the multi-process tests: start a
// binary with an environment and a log file, wait until it answers, sample its memory, Stop it
// gracefully or kill it outright.
package proc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Child is a server process started by the harness (the floor or Latchkey).
// Its stdout and stderr go to a log file whose tail is shown when it fails.
type Child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has Exited
	waitErr error         // set before done is closed

	// maxRSS is the largest VmRSS seen by the sampler since the last
	// ResetSampled; the sampler reads /proc every sampleEvery.
	maxRSS atomic.Int64
}

// sampleEvery is how often a Child's resident set size is sampled.
const sampleEvery = 50 * time.Millisecond

// Start runs bin with args in environment env, output to logPath, and
// starts sampling its RSS.
func Start(name, logPath string, env []string, bin string, args ...string) (*Child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// If the harness dies without stopping it, the kernel stops the Child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &Child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	go c.sample()
	return c, nil
}

// sample records the largest VmRSS of the Child until it exits.
func (c *Child) sample() {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		if rss, err := readProcStatus(c.cmd.Process.Pid, "VmRSS"); err == nil {
			for {
				old := c.maxRSS.Load()
				if rss <= old || c.maxRSS.CompareAndSwap(old, rss) {
					break
				}
			}
		}
		select {
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

// Err is how the process ended; meaningful once Exited reports true.
func (c *Child) Err() error {
	<-c.done
	return c.waitErr
}

// Done is closed when the process has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Pid is the process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Signal sends sig to the process.
func (c *Child) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }

// Kill ends the process with SIGKILL, as a crash or an OOM killer would, and waits for it.
func (c *Child) Kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// Exited reports whether the Child has already stopped.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// WaitReady polls url until it answers 200, the Child exits, or timeout.
func (c *Child) WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if c.Exited() {
			return fmt.Errorf("%s exited before it was ready (%v); last lines of its log:\n%s", c.name, c.waitErr, c.LogTail(20))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %v: GET %s last gave %s; last lines of its log:\n%s", c.name, timeout, url, last, c.LogTail(20))
}

// Stop sends SIGTERM and waits up to 15 s for the Child to exit, then kills
// it. It returns an error if the Child had to be killed.
func (c *Child) Stop() error {
	if c.Exited() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not Stop within 15s of SIGTERM and was killed", c.name)
	}
}

// RSS is the Child's resident set size now (VmRSS).
func (c *Child) RSS() (int64, error) { return readProcStatus(c.cmd.Process.Pid, "VmRSS") }

// PeakRSS is the Child's VmHWM: the largest resident set it has had since it
// started (or since ResetPeak).
func (c *Child) PeakRSS() (int64, error) { return readProcStatus(c.cmd.Process.Pid, "VmHWM") }

// ResetPeak resets the Child's VmHWM to its current RSS (Linux >= 4.0: write
// "5" to /proc/<pid>/clear_refs), so a later PeakRSS covers only what came
// after.
func (c *Child) ResetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", c.cmd.Process.Pid), []byte("5"), 0)
}

// SampledMax returns the largest VmRSS sampled since the last ResetSampled,
// and ResetSampled starts a new sampling window.
func (c *Child) SampledMax() int64 { return c.maxRSS.Load() }
func (c *Child) ResetSampled()     { c.maxRSS.Store(0) }

// LogTail returns the last n lines of the Child's log.
func (c *Child) LogTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "(log is empty)"
	}
	return "    " + strings.Join(lines, "\n    ")
}

// readProcStatus reads one "Vm..." field (in kB) of /proc/<pid>/status and
// returns it in bytes.
func readProcStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(field+":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest)) // e.g. ["123456", "kB"]
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// Env is our environment less the variables named in drop, plus extra.
func Env(drop []string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, k) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// BuiltBinaryEnv names a latchkey binary already built for the tests (make test builds one
// before its shards start): BuildLatchkey then copies it instead of building. The shards' test
// processes each built their own, all at once, from a cold build cache on a new machine; on two
// cores that took over five minutes.
const BuiltBinaryEnv = "LATCHKEY_TEST_BINARY"

// BuildLatchkey builds ./cmd/latchkey of the module that holds the working directory into out,
// or copies the binary BuiltBinaryEnv names.
func BuildLatchkey(ctx context.Context, out string) error {
	if built := os.Getenv(BuiltBinaryEnv); built != "" {
		return copyExecutable(built, out)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go is not in PATH: %w", err)
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", out, "github.com/latchkey/latchkey/cmd/latchkey")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/latchkey: %v\n%s", err, b)
	}
	return nil
}

// ServerEnv is this process's environment without anything that configures Latchkey
// (LATCHKEY_*, DATABASE_URL*, HASURA_*, GOMEMLIMIT), plus extra: a test's server runs with the
// settings the test names and none that a developer's shell happens to hold.
func ServerEnv(extra ...string) []string {
	var drop []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LATCHKEY_") || strings.HasPrefix(k, "DATABASE_URL") || strings.HasPrefix(k, "HASURA_") || k == "GOMEMLIMIT" {
			drop = append(drop, k)
		}
	}
	return Env(drop, extra...)
}

// copyExecutable copies the file from to to, executable.
func copyExecutable(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("%s: %w", BuiltBinaryEnv, err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
