package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/queries"
)

// Sign-in throttling. Failures are counted in the database (login_failures)
// so the limits hold across nodes: an attacker cannot spread guesses over
// several of them. The account limit stops guessing one password from many
// addresses; the IP limit stops one address trying many accounts.
const (
	throttleWindow     = 15 * time.Minute
	maxFailuresAccount = 5
	maxFailuresIP      = 20
)

// errThrottled is what a locked-out caller sees, with the wait in minutes.
func errThrottled(until time.Time) error {
	mins := int(math.Ceil(time.Until(until).Minutes()))
	if mins < 1 {
		mins = 1
	}
	return echo.NewHTTPError(http.StatusTooManyRequests,
		fmt.Sprintf("Too many failed sign-in attempts. Try again in %d minute%s.", mins, plural(mins)))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func throttleKeys(ip, username string) (ipKey, userKey string) {
	return "ip:" + addressKey(ip), "user:" + strings.ToLower(strings.TrimSpace(username))
}

// addressKey is what per-address limits count against: an IPv4 address
// (IPv4-mapped IPv6 unmapped), or the /64 an IPv6 address belongs to. A
// single IPv6 host is routinely given a whole /64, so counting per address
// would give it 2^64 fresh budgets.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// checkThrottle returns errThrottled when either key is over its limit.
func (h *Handler) checkThrottle(ctx context.Context, ip, username string) error {
	ipKey, userKey := throttleKeys(ip, username)
	for _, k := range []struct {
		key string
		max int32
	}{{userKey, maxFailuresAccount}, {ipKey, maxFailuresIP}} {
		row, err := h.q.LoginFailureGet(ctx, k.key)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read sign-in failures: %w", err)
		}
		if row.Failures >= k.max {
			return errThrottled(row.WindowEnd)
		}
	}
	return nil
}

// recordFailure counts a failed sign-in against the IP and the account name
// (known or not, so the reply does not reveal which names exist).
func (h *Handler) recordFailure(ctx context.Context, ip, username string) error {
	ipKey, userKey := throttleKeys(ip, username)
	return queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		for _, k := range []string{userKey, ipKey} {
			if _, err := q.LoginFailureRecord(ctx, queries.LoginFailureRecordParams{Key: k, WindowSecs: throttleWindow.Seconds()}); err != nil {
				return fmt.Errorf("record sign-in failure: %w", err)
			}
		}
		return nil
	})
}

// clearFailures forgets the account's failures after a good sign-in. The IP's
// count stays: one right password must not reset an address's guessing budget.
func (h *Handler) clearFailures(ctx context.Context, username string) error {
	_, userKey := throttleKeys("", username)
	return h.q.LoginFailureClear(ctx, userKey)
}
