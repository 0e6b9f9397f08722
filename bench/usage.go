package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Where a flood's time goes. Goodput over the raw hash rate is exactly the hashing slots' busy
// share times the raw time of one hash over the time a hash held its slot in the server (with
// as many slots as the raw measurement's goroutines): idle slots and slower hashes are the only
// two ways to lose it. The machine's CPU split over the same window says what slowed the
// hashes: the CPU time the server's other work, the database and the load generator took.

// usageSample is one reading of the server's hashing counters and of the machine's CPU time.
type usageSample struct {
	At          time.Duration // since the flood was fired
	Hashes      float64       // latchkey_password_hashes_total
	SlotSeconds float64       // latchkey_password_hash_slot_seconds_total
	Slots       int           // latchkey_password_hash_slots
	CPU         cpuTimes
}

// cpuTimes is CPU time so far, in seconds: the whole machine's (busy and idle, from /proc/stat),
// the server process's, every PostgreSQL process's, and this load generator's.
type cpuTimes struct {
	Busy, Idle, Server, Postgres, Bench float64
}

// usageSplit is what happened between two samples.
type usageSplit struct {
	Window   time.Duration
	Slots    int
	Hashes   float64
	Busy     float64       // share of the window the slots were held, 0..1
	Held     time.Duration // mean time one hash held its slot
	CPUs     float64       // the machine's CPUs (busy + idle over the window)
	Server   float64       // CPUs' worth of time each took over the window
	Postgres float64
	Bench    float64
	Other    float64
	Idle     float64
}

// Ceiling is the most a server could have made of the window against the raw hash rate: the
// share of the machine's CPU that PostgreSQL, the load generator and everything else left to
// it, as if it had spent all of that on hashes at the raw rate and nothing on anything else.
func (u usageSplit) Ceiling() float64 {
	if u.CPUs <= 0 {
		return 0
	}
	return (u.CPUs - u.Postgres - u.Bench - u.Other) / u.CPUs
}

// mergeUsage is several windows' usage as one: counts added up, shares and CPU figures weighted
// by their windows, a hash's time by the hashes.
func mergeUsage(us []*usageSplit) *usageSplit {
	out := &usageSplit{}
	var held float64 // slot-seconds
	for _, u := range us {
		w := u.Window.Seconds()
		out.Window += u.Window
		out.Slots = u.Slots
		out.Hashes += u.Hashes
		held += u.Held.Seconds() * u.Hashes
		out.Busy += u.Busy * w
		out.CPUs += u.CPUs * w
		out.Server += u.Server * w
		out.Postgres += u.Postgres * w
		out.Bench += u.Bench * w
		out.Other += u.Other * w
		out.Idle += u.Idle * w
	}
	w := out.Window.Seconds()
	if w <= 0 {
		return out
	}
	for _, f := range []*float64{&out.Busy, &out.CPUs, &out.Server, &out.Postgres, &out.Bench, &out.Other, &out.Idle} {
		*f /= w
	}
	if out.Hashes > 0 {
		out.Held = time.Duration(held / out.Hashes * float64(time.Second))
	}
	return out
}

// split is what happened from s to later.
func (s usageSample) split(later usageSample) usageSplit {
	w := (later.At - s.At).Seconds()
	out := usageSplit{Window: later.At - s.At, Slots: later.Slots, Hashes: later.Hashes - s.Hashes}
	if w <= 0 {
		return out
	}
	held := later.SlotSeconds - s.SlotSeconds
	if later.Slots > 0 {
		out.Busy = held / w / float64(later.Slots)
	}
	if out.Hashes > 0 {
		out.Held = time.Duration(held / out.Hashes * float64(time.Second))
	}
	c, d := s.CPU, later.CPU
	busy, idle := d.Busy-c.Busy, d.Idle-c.Idle
	out.CPUs = (busy + idle) / w
	out.Server, out.Postgres, out.Bench = (d.Server-c.Server)/w, (d.Postgres-c.Postgres)/w, (d.Bench-c.Bench)/w
	out.Other = max(busy/w-out.Server-out.Postgres-out.Bench, 0)
	out.Idle = idle / w
	return out
}

// sampleUsage reads the server's hashing counters from GET /metrics and the CPU times.
func sampleUsage(ctx context.Context, a *api, serverPid int) (usageSample, error) {
	var s usageSample
	vals, err := scrapeValues(ctx, a, "latchkey_password_hashes_total", "latchkey_password_hash_slot_seconds_total", "latchkey_password_hash_slots")
	if err != nil {
		return s, err
	}
	s.Hashes, s.SlotSeconds, s.Slots = vals[0], vals[1], int(vals[2])
	s.CPU, err = readCPUTimes(serverPid)
	return s, err
}

// scrapeValues reads the first sample of each named counter or gauge from GET /metrics; one
// that is missing is an error.
func scrapeValues(ctx context.Context, a *api, names ...string) ([]float64, error) {
	fams, err := scrapeMetrics(ctx, a)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(names))
	for i, n := range names {
		f, ok := fams[n]
		if !ok || len(f.GetMetric()) == 0 {
			return nil, fmt.Errorf("GET /metrics: no %s", n)
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			out[i] = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			out[i] = m.GetGauge().GetValue()
		default:
			return nil, fmt.Errorf("GET /metrics: %s is neither a counter nor a gauge", n)
		}
	}
	return out, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Go runs on.
const clockTicks = 100

// readCPUTimes reads the machine's CPU time from /proc/stat, and the server's, PostgreSQL's and
// this process's from their /proc/<pid>/stat.
func readCPUTimes(serverPid int) (cpuTimes, error) {
	var c cpuTimes
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c, err
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return c, errors.New("/proc/stat: no cpu line")
	}
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return c, fmt.Errorf("/proc/stat: %w", err)
		}
		if i == 3 || i == 4 {
			c.Idle += n / clockTicks
		} else {
			c.Busy += n / clockTicks
		}
	}
	if c.Server, _, err = processCPU(strconv.Itoa(serverPid)); err != nil {
		return c, err
	}
	if c.Bench, _, err = processCPU("self"); err != nil {
		return c, err
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		// A process that exits between the listing and the read is simply not counted.
		if t, comm, err := processCPU(filepath.Base(d)); err == nil && (comm == "postgres" || comm == "postmaster") {
			c.Postgres += t
		}
	}
	return c, nil
}

// processCPU is one process's user and system CPU time, in seconds, and its command name.
func processCPU(pid string) (float64, string, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, "", err
	}
	secs, comm, err := parseProcStat(b)
	if err != nil {
		return 0, "", fmt.Errorf("/proc/%s/stat: %w", pid, err)
	}
	return secs, comm, nil
}

// parseProcStat reads utime plus stime (in seconds) and comm from a /proc/<pid>/stat line:
// "pid (comm) state ppid …", utime its 14th field and stime its 15th; comm may hold spaces and
// parentheses, so the fields are counted from its last ')'.
func parseProcStat(b []byte) (float64, string, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return 0, "", errors.New("malformed")
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return 0, "", errors.New("malformed")
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, "", err
	}
	return (u + s) / clockTicks, string(b[open+1 : end]), nil
}
