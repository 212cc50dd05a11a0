// Package views holds the console's templ components: full pages (XxxPage,
// wrapped in Layout) and the partials htmx swaps.
package views

import (
	"encoding/json"
	"strconv"
	"strings"
)

func csrfHeader(token string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}

// RoleName names One API's role numbers.
func RoleName(role int16) string {
	switch {
	case role >= 100:
		return "root"
	case role >= 10:
		return "admin"
	case role >= 1:
		return "user"
	}
	return "guest"
}

// StatusName names One API's user status numbers.
func StatusName(status int16) string {
	if status == 1 {
		return "enabled"
	}
	return "disabled"
}

// FormatQuota shows quota as One API does: in US dollars at 500 000 per
// dollar, with the raw number for exactness.
func FormatQuota(q int64) string {
	return "$" + strconv.FormatFloat(float64(q)/500000, 'f', 2, 64) + " (" + groupDigits(q) + ")"
}

func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
