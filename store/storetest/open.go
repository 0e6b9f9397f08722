package storetest

import "github.com/latchkey/latchkey/store/testdb"

// The suite opens its databases through testdb; these names keep its calls short.
type (
	// Options tunes a test store.
	Options = testdb.Options
	// Clock is a clock tests move by hand.
	Clock = testdb.Clock
)

// Open, NewClock and Backend are testdb's.
var (
	Open     = testdb.Open
	NewClock = testdb.NewClock
	Backend  = testdb.Backend
)
