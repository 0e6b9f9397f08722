// Package openapi embeds Latchkey's contract, the source that gen/ is generated from, so the
// server can serve it exactly as written.
package openapi

import _ "embed"

// YAML is openapi.yaml as committed.
//
//go:embed openapi.yaml
var YAML []byte
