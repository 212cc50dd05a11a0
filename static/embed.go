// Package static holds the console's assets (vendored htmx 2.0.8, our
// stylesheet), embedded in the binary and served from our own origin.
package static

import "embed"

// FS holds the asset files.
//
//go:embed *.js *.css
var FS embed.FS
