package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// child is a server process started by the harness (the floor or Latchkey).
// Its stdout and stderr go to a log file whose tail is shown when it fails.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed

	// maxRSS is the largest VmRSS seen by the sampler since the last
	// resetSampled; the sampler reads /proc every sampleEvery.
	maxRSS atomic.Int64
}

// sampleEvery is how often a child's resident set size is sampled.
const sampleEvery = 50 * time.Millisecond

// startChild runs bin with args in environment env, output to logPath, and
// starts sampling its RSS.
func startChild(name, logPath string, env []string, bin string, args ...string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// If the harness dies without stopping it, the kernel stops the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	go c.sample()
	return c, nil
}

// sample records the largest VmRSS of the child until it exits.
func (c *child) sample() {
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

// exited reports whether the child has already stopped.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// waitReady polls url until it answers 200, the child exits, or timeout.
func (c *child) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if c.exited() {
			return fmt.Errorf("%s exited before it was ready (%v); last lines of its log:\n%s", c.name, c.waitErr, c.logTail(20))
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
	return fmt.Errorf("%s not ready after %v: GET %s last gave %s; last lines of its log:\n%s", c.name, timeout, url, last, c.logTail(20))
}

// stop sends SIGTERM and waits up to 15 s for the child to exit, then kills
// it. It returns an error if the child had to be killed.
func (c *child) stop() error {
	if c.exited() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop within 15s of SIGTERM and was killed", c.name)
	}
}

// peakRSS is the child's VmHWM: the largest resident set it has had since it
// started (or since resetPeak).
func (c *child) peakRSS() (int64, error) { return readProcStatus(c.cmd.Process.Pid, "VmHWM") }

// resetPeak resets the child's VmHWM to its current RSS (Linux >= 4.0: write
// "5" to /proc/<pid>/clear_refs), so a later peakRSS covers only what came
// after.
func (c *child) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", c.cmd.Process.Pid), []byte("5"), 0)
}

// sampledMax returns the largest VmRSS sampled since the last resetSampled,
// and resetSampled starts a new sampling window.
func (c *child) sampledMax() int64 { return c.maxRSS.Load() }
func (c *child) resetSampled()     { c.maxRSS.Store(0) }

// logTail returns the last n lines of the child's log.
func (c *child) logTail(n int) string {
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

// childEnv is our environment less the variables named in drop, plus extra.
func childEnv(drop []string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, k) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// errMissingBinary marks a server binary that does not exist.
var errMissingBinary = errors.New("server binary missing")
