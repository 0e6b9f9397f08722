package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/latchkey/latchkey/store/testdb"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDevOutbox: with no mailer configured (the zero-configuration default), mail goes to the
// log as a marked dev-outbox entry carrying its link and code, so a developer can finish every
// flow; the message still leaves through the outbox.
func TestDevOutbox(t *testing.T) {
	ctx := context.Background()
	clock := testdb.NewClock()
	logs := &syncBuffer{}
	cfg := DefaultConfig()
	cfg.PasswordHashParams = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	s, err := New(ctx, Deps{Store: testdb.Open(t, testdb.Options{Now: clock.Now}), Now: clock.Now, Config: cfg,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.signUp(ctx, signUpInput{Email: "dev@example.com", Password: "correct-horse"}); err != nil {
		t.Fatal(err)
	}
	if err := s.requestPasswordReset(ctx, "dev@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if sent, err := s.DeliverMail(ctx); err != nil || sent != 1 {
		t.Fatalf("DeliverMail = %d, %v; want 1 message out", sent, err)
	}
	out := logs.String()
	for _, want := range []string{"dev outbox", "dev@example.com", cfg.PublicURL + "/v1/verify?", "ticket=passwordReset%3A"} {
		if !strings.Contains(out, want) {
			t.Errorf("dev outbox log lacks %q:\n%s", want, out)
		}
	}
	if pending, err := s.store.UndeliveredMail(ctx, 10); err != nil || len(pending) != 0 {
		t.Fatalf("undelivered after the dev outbox: %v %+v", err, pending)
	}
}

// TestMailBackoff: waits double from the base and stop at an hour.
func TestMailBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 8: 64 * time.Minute, 30: time.Hour} {
		if got := mailBackoff(30*time.Second, n); got != min(want, time.Hour) {
			t.Errorf("mailBackoff(30s, %d) = %v, want %v", n, got, min(want, time.Hour))
		}
	}
}
