package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// freeAddrs returns n distinct loopback addresses nothing listens on (as far as the kernel
// knows now): all are held open together, so none is handed out twice.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out[i] = ln.Addr().String()
	}
	return out
}

// startServe runs `latchkey serve` with args until the test ends, and waits until addr answers
// /readyz. It returns the channel serve's result arrives on.
func startServe(t *testing.T, addr string, args ...string) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"latchkey", "serve", "--addr", addr, "--log-level", "warn"}, args...), io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return done
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited before becoming ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not become ready")
		}
		time.Sleep(20 * time.Millisecond) // polling a real process for readiness, not timing a result
	}
}

func get(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestServeMetricsListener: serve puts the metrics on their own listener, keeps them off the API
// port unless the metrics secret is presented, and refuses to start, naming the setting, when
// another instance on the host already holds the metrics address.
func TestServeMetricsListener(t *testing.T) {
	t.Chdir(t.TempDir())
	addrs, secret := freeAddrs(t, 3), strings.Repeat("s", 40)
	addr, metricsAddr := addrs[0], addrs[1]
	startServe(t, addr, "--metrics-addr", metricsAddr, "--metrics-token", secret)

	status, body := get(t, "http://"+metricsAddr+"/metrics", "")
	if status != http.StatusOK || !strings.Contains(body, `latchkey_http_requests_total{code="200",operation="OpsReadyz"}`) {
		t.Errorf("GET /metrics on the metrics address: %d\n%.600s", status, body)
	}
	if status, body := get(t, "http://"+addr+"/metrics", ""); status != http.StatusUnauthorized || strings.Contains(body, "latchkey_") {
		t.Errorf("GET /metrics on the API port without the secret: %d %.200s, want 401", status, body)
	}
	if status, body := get(t, "http://"+addr+"/metrics", secret); status != http.StatusOK || !strings.Contains(body, "latchkey_http_requests_total") {
		t.Errorf("GET /metrics on the API port with the secret: %d %.200s", status, body)
	}

	// A second instance on the same host with the same metrics address does not start.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Chdir(t.TempDir())
	err := run(ctx, []string{"latchkey", "serve", "--addr", addrs[2], "--metrics-addr", metricsAddr, "--log-level", "warn"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "LATCHKEY_METRICS_ADDR") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second instance on a taken metrics address: %v, want a start-up error naming LATCHKEY_METRICS_ADDR", err)
	}
}
