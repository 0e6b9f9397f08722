package server

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
)

// CodeUnavailable: Latchkey cannot serve the request now and wrote nothing (its database does
// not answer, or the password-hashing queue is longer than its deadline allows). 503, with
// Retry-After when the cause knows how long to wait.
const CodeUnavailable Code = "unavailable"

const msgUnavailable = "The service is temporarily unavailable; try again later"

// busy is the private cause of a CodeUnavailable error: what is unavailable, and for how long
// the client should wait (0 when unknown).
type busy struct {
	cause      error
	retryAfter time.Duration
}

func (b *busy) Error() string { return b.cause.Error() }
func (b *busy) Unwrap() error { return b.cause }

// unavailable is a CodeUnavailable error caused by cause; retryAfter > 0 becomes Retry-After.
func unavailable(cause error, retryAfter time.Duration) *Error {
	return &Error{Code: CodeUnavailable, Err: &busy{cause: cause, retryAfter: retryAfter}}
}

// describeUnavailable adds Retry-After to a 503 whose cause says how long to wait.
func describeUnavailable(e *Error, r *rendered) {
	var b *busy
	if e.Code != CodeUnavailable || !errors.As(e.Err, &b) || b.retryAfter <= 0 {
		return
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Set("Retry-After", strconv.Itoa(int(math.Ceil(max(b.retryAfter, time.Second).Seconds()))))
}
