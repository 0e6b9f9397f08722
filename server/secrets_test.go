package server

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestOpaqueTokens(t *testing.T) {
	seen := map[secret]bool{}
	for range 1000 {
		tok, err := newOpaqueToken()
		if err != nil {
			t.Fatal(err)
		}
		if !uuidRE.MatchString(string(tok)) {
			t.Fatalf("token %q is not a v4 UUID (the contract's pattern)", tok)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
}

func TestSealedSuccessor(t *testing.T) {
	a, err := newOpaqueToken()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newOpaqueToken()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sealSuccessor(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), string(b)) {
		t.Fatal("sealed successor contains the plaintext")
	}
	got, err := openSuccessor(a, sealed)
	if err != nil || got != b {
		t.Fatalf("open with the right token: %q, %v", got, err)
	}
	other, err := newOpaqueToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openSuccessor(other, sealed); err == nil {
		t.Fatal("a different token opened the sealed successor")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := openSuccessor(a, sealed); err == nil {
		t.Fatal("a tampered sealed successor opened")
	}
}

func TestSecretsRedact(t *testing.T) {
	s := secret("hunter2-hunter2")
	var b strings.Builder
	log := slog.New(slog.NewJSONHandler(&b, nil))
	log.Info("x", "pw", s, "nested", struct{ S secret }{s})
	out := fmt.Sprintf("%v %s %+v %#v", s, s, s, s) + b.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret leaked: %s", out)
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo", 2); got != "h" {
		t.Errorf("truncate split a rune: %q", got)
	}
	if got := truncate("abc", 10); got != "abc" {
		t.Errorf("truncate(abc, 10) = %q", got)
	}
}
