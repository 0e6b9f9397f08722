// Command covercheck fails when the contract has an operation that no part of a split test run
// called with a successful answer: its arguments are the files the parts wrote
// (LATCHKEY_TEST_COVERAGE_OUT, see server/main_http_test.go). make test runs it after each
// database's shards.
package main

import (
	"fmt"
	"os"

	"github.com/latchkey/latchkey/server/servertest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: covercheck COVERAGE.json...")
		os.Exit(2)
	}
	missing, err := servertest.UncoveredIn(os.Args[1:]...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "covercheck:", err)
		os.Exit(1)
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: contract operations never exercised with a success answer: %v\n", missing)
		os.Exit(1)
	}
	fmt.Printf("ok: every operation of the contract answered successfully somewhere in %d parts\n", len(os.Args)-1)
}
