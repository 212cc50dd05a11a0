package views

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"
)

// Money says how quota amounts are shown: with Currency (the
// DisplayInCurrencyEnabled option) as US dollars at PerUnit quota per dollar
// (QuotaPerUnit) next to the raw number, otherwise as the raw number only.
type Money struct {
	PerUnit  float64
	Currency bool
}

// Format shows a quota amount, for example "$0.0025 (1 234)". Small amounts
// (one request's cost) keep enough decimals to be told apart from zero.
func (m Money) Format(q int64) string {
	if !m.Currency || m.PerUnit <= 0 {
		return groupDigits(q)
	}
	return m.USD(q) + " (" + groupDigits(q) + ")"
}

// USD is the amount in dollars alone, "$12.50".
func (m Money) USD(q int64) string {
	if m.PerUnit <= 0 {
		return groupDigits(q)
	}
	d := float64(q) / m.PerUnit
	prec := 2
	switch a := math.Abs(d); {
	case a == 0 || a >= 1:
	case a >= 0.01:
		prec = 4
	default:
		prec = 6
	}
	s := strconv.FormatFloat(d, 'f', prec, 64)
	// Keep two decimals at least, and no trailing zeros beyond them.
	for prec > 2 && strings.HasSuffix(s, "0") {
		s, prec = s[:len(s)-1], prec-1
	}
	return "$" + s
}

// Digits shows a count with thin grouping, "1 234 567".
func Digits(n int64) string { return groupDigits(n) }

// FormatTime shows an instant in the viewer's zone to the second, the zone's
// abbreviation after it (its full name is in the page footer); "never" for nil.
func FormatTime(ctx context.Context, t *time.Time) string {
	if t == nil {
		return T(ctx, "never")
	}
	return t.In(LocaleOf(ctx).Zone).Format("2006-01-02 15:04:05 MST")
}

// shortTime is FormatTime to the minute.
func shortTime(ctx context.Context, t *time.Time) string {
	if t == nil {
		return T(ctx, "never")
	}
	return t.In(LocaleOf(ctx).Zone).Format("2006-01-02 15:04 MST")
}

// shortList shows the first n entries of a comma list and how many more
// there are: "gpt-4o, gpt-4o-mini +3".
func shortList(s string, n int) string {
	if s == "" {
		return ""
	}
	parts := strings.Split(s, ",")
	if len(parts) <= n {
		return strings.Join(parts, ", ")
	}
	return strings.Join(parts[:n], ", ") + " +" + strconv.Itoa(len(parts)-n)
}

// pageCount is the number of pages of size for total rows (at least 1).
func pageCount(total int64, size int) int {
	if size <= 0 {
		return 1
	}
	n := int((total + int64(size) - 1) / int64(size))
	return max(n, 1)
}
