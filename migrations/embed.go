// Package migrations holds the schema history as goose SQL files, embedded
// so the binary migrates its own database at start and with `oneapi migrate`.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
