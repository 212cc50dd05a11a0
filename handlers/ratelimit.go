package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

// rateWindow is One API's: GLOBAL_*_RATE_LIMIT requests per IP per 3 minutes.
const rateWindow = 3 * time.Minute

// rateLimit limits requests per client IP (the socket peer, or the
// forwarded address from a trusted proxy; an IPv6 client by its /64, see
// addressKey) on /api and on console pages,
// separately; assets and health probes are never limited. A limit of 0 is
// off. The count is per node: it guards a node's own capacity.
func rateLimit(apiPerWindow, webPerWindow int) echo.MiddlewareFunc {
	limiter := func(n int) echo.MiddlewareFunc {
		if n <= 0 {
			return nil
		}
		return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
			Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
				Rate: rate.Limit(float64(n) / rateWindow.Seconds()), Burst: n, ExpiresIn: rateWindow,
			}),
			IdentifierExtractor: func(c echo.Context) (string, error) { return addressKey(c.RealIP()), nil },
			DenyHandler: func(c echo.Context, _ string, _ error) error {
				return echo.NewHTTPError(http.StatusTooManyRequests, "Too many requests from your address; try again in a minute.")
			},
		})
	}
	api, web := limiter(apiPerWindow), limiter(webPerWindow)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		var apiNext, webNext echo.HandlerFunc = next, next
		if api != nil {
			apiNext = api(next)
		}
		if web != nil {
			webNext = web(next)
		}
		return func(c echo.Context) error {
			p := c.Request().URL.Path
			switch {
			case strings.HasPrefix(p, "/static/"), p == "/healthz", p == "/readyz", p == "/metrics":
				return next(c)
			case strings.HasPrefix(p, "/api/"):
				return apiNext(c)
			}
			return webNext(c)
		}
	}
}
