package server_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/latchkey/latchkey/server/servertest"
)

// TestMain fails a full run of the HTTP suite when an operation of the contract was never called
// with a successful answer: every operation must be exercised somewhere.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
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
