package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// defaultMetricsAddr is where metrics are served unless LATCHKEY_METRICS_ADDR says otherwise:
// loopback, beside the API's default 127.0.0.1:4000.
const defaultMetricsAddr = "127.0.0.1:4001"

// metricsOff turns the metrics listener off.
func (c *config) metricsOff() bool { return c.MetricsAddr == "" || c.MetricsAddr == "off" }

// validateMetrics checks the metrics listener's address and the metrics secret.
func (c *config) validateMetrics(bad func(name, env, why string)) {
	if !c.metricsOff() {
		_, port, err := net.SplitHostPort(c.MetricsAddr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			bad("metrics-addr", "LATCHKEY_METRICS_ADDR", "must be host:port (127.0.0.1:4001), or off")
		} else if c.MetricsAddr == c.Addr {
			bad("metrics-addr", "LATCHKEY_METRICS_ADDR", "must differ from the API's address (addr / LATCHKEY_ADDR)")
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 32 {
		bad("metrics-token", "LATCHKEY_METRICS_TOKEN", "must be at least 32 characters") // never echo the secret
	}
}

// listenMetrics opens the metrics listener, or returns nil when it is off. A taken address is a
// start-up error that names the setting: two instances on one host cannot share it.
func (c *config) listenMetrics() (net.Listener, error) {
	if c.metricsOff() {
		return nil, nil
	}
	ln, err := net.Listen("tcp", c.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics-addr / LATCHKEY_METRICS_ADDR: %w (each instance on a host needs a metrics address of its own; off turns the listener off)", err)
	}
	return ln, nil
}

// serveMetrics serves GET /metrics on ln until ctx ends, then closes it.
func serveMetrics(ctx context.Context, ln net.Listener, metrics http.Handler, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("metrics listener", "error", err)
	}
}
