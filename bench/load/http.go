package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// NewClient returns an HTTP client for a run with the given concurrency: it
// keeps connections alive and may hold at least one idle connection per
// worker, so that after warm-up every worker reuses its own connection and no
// request pays for a TCP handshake.
func NewClient(concurrency int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // loopback only: never go through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * concurrency,
		MaxIdleConnsPerHost: 2 * concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// NewOneShotClient returns an HTTP client that opens a fresh connection for
// every request and closes it afterwards (used to fire many simultaneous
// requests, each on its own connection).
func NewOneShotClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:              nil,
		DialContext:        (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// StatusError is a reply whose status was not 2xx.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string        // the start of the reply body
	RetryAfter   time.Duration // the reply's Retry-After in seconds; 0 when absent or malformed
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// maxBodyInError is how much of a failed reply's body goes into its error.
const maxBodyInError = 160

// NewRequest builds a request. body, when not nil, is sent as JSON; bearer,
// when not empty, is sent as "Authorization: Bearer <bearer>".
func NewRequest(ctx context.Context, method, url string, body any, bearer string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req, nil
}

// Send performs req and reads the whole reply (so the connection can be
// reused). A non-2xx status gives a *StatusError. When out is not nil a 2xx
// body is decoded into it as JSON.
func Send(c *http.Client, req *http.Request, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyInError))
		_, _ = io.Copy(io.Discard, resp.Body)
		return &StatusError{
			Method:     req.Method,
			Path:       req.URL.Path,
			Status:     resp.StatusCode,
			Body:       strings.TrimSpace(string(b)),
			RetryAfter: retryAfter(resp.Header.Get("Retry-After")),
		}
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding reply: %w", req.Method, req.URL.Path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// retryAfter reads a Retry-After header given in seconds (the form Latchkey sends).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
