package server

import (
	"crypto/rand"
	"encoding/hex"
)

// ZUID type prefixes (Zesty's scheme): each entity keeps one stable ZUID from its creation.
const (
	zuidUser = "5"
)

// newZUID returns prefix-<random hex>, e.g. 5-3f2a9c1d0b4e7a61.
func newZUID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}
