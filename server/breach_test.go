package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBreachCheckerAnswers: suffixes match in any case, padding (count 0) never matches, the
// minimum count applies, and a failure's message carries neither the prefix nor the password.
func TestBreachCheckerAnswers(t *testing.T) {
	const pw = secret("hunter2-hunter2")
	// SHA-1 of "hunter2-hunter2", computed the same way the checker does.
	digest := fmt.Sprintf("%X", sha1Sum(string(pw)))
	prefix, suffix := digest[:5], digest[5:]
	var body string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/range/"+prefix || r.Header.Get("Add-Padding") != "true" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	b := newBreachChecker(Config{HIBPBaseURL: srv.URL + "/", HIBPTimeout: time.Second, HIBPMinCount: 5})
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   bool
		err    bool
	}{
		{"absent", 200, "0000000000000000000000000000000000A:12\r\n", false, false},
		{"present, lower case", 200, "0000000000000000000000000000000000A:12\r\n" + strings.ToLower(suffix) + ":7\r\n", true, false},
		{"present, no trailing newline", 200, suffix + ":5", true, false},
		{"padding line", 200, suffix + ":0\r\n", false, false},
		{"under the minimum count", 200, suffix + ":4\r\n", false, false},
		{"garbage count", 200, suffix + ":many\r\n", false, true},
		{"server error", 500, "", false, true},
		{"rate limited", 429, "", false, true},
	} {
		status, body = tc.status, tc.body
		got, err := b.breached(context.Background(), pw)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: breached %v, err %v", tc.name, got, err)
		}
		if err != nil && (strings.Contains(err.Error(), prefix) || strings.Contains(err.Error(), string(pw))) {
			t.Errorf("%s: the error names the prefix or the password: %v", tc.name, err)
		}
	}
	// An unreachable server: the error is url.Error's cause, without the URL and its prefix.
	srv.Close()
	if _, err := b.breached(context.Background(), pw); err == nil || strings.Contains(err.Error(), prefix) {
		t.Errorf("unreachable: %v", err)
	}
}
