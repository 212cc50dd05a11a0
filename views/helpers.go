// Package views holds the console's templ components: full pages (XxxPage,
// wrapped in Layout) and the partials htmx swaps.
package views

import "encoding/json"

func csrfHeader(token string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}
