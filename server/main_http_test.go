package server_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/latchkey/latchkey/server/servertest"
)

// TestMain fails a full run of the HTTP suite when an operation of the contract was never called
// with a successful answer (every operation must be exercised somewhere), and any run in which a
// server logged a secret that crossed its edge. A run of part of the suite (-run or -skip) is not
// checked; with LATCHKEY_TEST_COVERAGE_OUT set it saves what it exercised there, and make test,
// which splits the suite over processes, checks their union (server/servertest/covercheck).
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	// No server log of the whole run may hold a secret that any test sent or received.
	if leaks := servertest.Leaks(); len(leaks) > 0 {
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "FAIL: secret in log:", l)
		}
		code = 1
	}
	partial := flag.Lookup("test.run").Value.String() != "" || flag.Lookup("test.skip").Value.String() != ""
	if out := os.Getenv("LATCHKEY_TEST_COVERAGE_OUT"); out != "" && partial {
		if err := servertest.WriteCoverage(out); err != nil {
			fmt.Fprintln(os.Stderr, "coverage:", err)
			code = 1
		}
	}
	if code == 0 && !partial && !testing.Short() {
		missing, err := servertest.Uncovered()
		if err != nil {
			fmt.Fprintln(os.Stderr, "coverage:", err)
			code = 1
		} else if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: contract operations never exercised with a success answer: %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}
