// Package handlers owns everything HTTP for people and scripts: console pages,
// htmx partials, the One API-compatible JSON management API under /api,
// middleware, and the one error handler that picks the reply format.
package handlers

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/relay"
	"oneapi/state"
	"oneapi/static"
)

// Deps is what the handlers need from main.
type Deps struct {
	Pool    *pgxpool.Pool
	Log     *slog.Logger
	Version string
	// State is the in-memory view the relay reads; call its Reload after a write.
	State *state.State
	// Cipher encrypts upstream channel keys at rest.
	Cipher *keys.Cipher

	// SessionSecret (SESSION_SECRET) keys the hashes of codes sent by mail;
	// sessions themselves are server-side and need no secret to survive restarts.
	SessionSecret string
	// FrontendBaseURL (FRONTEND_BASE_URL) is the console's public address, used
	// in mailed links and OAuth callbacks; empty: OAuth callbacks take it from
	// the request, and reset links are not mailed (a forged Host header would
	// point them at another site).
	FrontendBaseURL string
	// TrustedProxies may set X-Forwarded-For; from anyone else it is ignored
	// and the client IP is the socket peer.
	TrustedProxies []netip.Prefix
	// APIRateLimit and WebRateLimit are requests per IP per 3 minutes on /api
	// and on console pages (GLOBAL_API_RATE_LIMIT, GLOBAL_WEB_RATE_LIMIT); 0 = off.
	APIRateLimit, WebRateLimit int
	// ConsoleRedirectURL, set on a slave node with FRONTEND_BASE_URL, sends
	// console pages to the master's console there; /api (and /v1) are served
	// here as on every node.
	ConsoleRedirectURL string
	// Jobs enqueues background jobs (channel tests); nil: "test all" answers 503.
	Jobs JobQueue
	// Balances updates channel balances at their providers (jobs.River); nil:
	// the balance endpoints answer 503 and the console shows no button.
	Balances BalanceUpdater
	// Relay runs the console's prompt playground through the gateway
	// (relay.Server); nil: the playground cannot run.
	Relay RelayAs

	// BodyReadTimeout bounds how long a client may take to send a request
	// body; 0: 30 seconds. Tests shorten it.
	BodyReadTimeout time.Duration

	// External endpoints, replaced by loopback stand-ins in tests. Zero values
	// mean the real services.
	TurnstileVerifyURL string
	// OAuthClient makes the server-to-server calls of GitHub and Lark sign-in
	// (token exchange, profile); nil: http.DefaultClient's settings.
	OAuthClient *http.Client
	// UpstreamClient sends the console's channel tests: the relay's client
	// (its timeouts, no redirects, RELAY_PROXY); nil: relay.NewClient(nil).
	UpstreamClient *http.Client
}

// Handler holds the dependencies of every route.
type Handler struct {
	pool    *pgxpool.Pool
	q       *queries.Queries
	log     *slog.Logger
	version string
	state   *state.State
	cipher  *keys.Cipher
	jobs    JobQueue
	balance BalanceUpdater
	relay   RelayAs

	sm            *scs.SessionManager
	secret        []byte
	baseURL       string
	secureCookies bool
	turnstileURL  string
	oauthClient   *http.Client
	upstream      *http.Client // channel tests; relay.Probe bounds each in time

	bodyReadTimeout time.Duration
}

// New builds the Echo application with every non-/v1 route.
func New(d Deps) (*echo.Echo, error) {
	h := &Handler{pool: d.Pool, q: queries.New(d.Pool), log: d.Log, version: d.Version,
		state: d.State, cipher: d.Cipher, jobs: d.Jobs, balance: d.Balances, relay: d.Relay,
		sm:            newSessionManager(d.Pool),
		secret:        []byte(d.SessionSecret),
		baseURL:       strings.TrimRight(d.FrontendBaseURL, "/"),
		secureCookies: strings.HasPrefix(d.FrontendBaseURL, "https://"),
		turnstileURL:  d.TurnstileVerifyURL,
		oauthClient:   d.OAuthClient,
		upstream:      d.UpstreamClient,

		bodyReadTimeout: d.BodyReadTimeout,
	}
	if h.upstream == nil {
		h.upstream = relay.NewClient(nil)
	}
	if h.bodyReadTimeout <= 0 {
		h.bodyReadTimeout = defaultBodyReadTimeout
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.errorHandler
	e.IPExtractor = ipExtractor(d.TrustedProxies)
	e.Use(middleware.RequestID())
	e.Use(h.accessLog)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: h.logPanic}))
	e.Use(securityHeaders)
	e.Use(h.brandCSP)
	e.Use(rateLimit(d.APIRateLimit, d.WebRateLimit))
	e.Use(h.readBody)
	if d.ConsoleRedirectURL != "" {
		e.Use(redirectConsole(strings.TrimRight(d.ConsoleRedirectURL, "/")))
	}
	e.Use(h.sessionsExceptStatic)
	e.Use(h.locale)

	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.Match([]string{http.MethodGet, http.MethodHead}, "/static/*", echo.WrapHandler(staticHandler()), cacheStatic)

	h.consoleRoutes(e)
	api := e.Group("/api", h.csrfAPI)
	h.apiRoutes(api)
	return e, nil
}

// sessionsExceptStatic loads sessions for pages and /api, not for assets and
// probes, which would otherwise cost a database read each.
func (h *Handler) sessionsExceptStatic(next echo.HandlerFunc) echo.HandlerFunc {
	withSession := h.sessions(next)
	return func(c echo.Context) error {
		p := c.Request().URL.Path
		if strings.HasPrefix(p, "/static/") || p == "/healthz" || p == "/readyz" {
			return next(c)
		}
		return withSession(c)
	}
}

// redirectConsole sends every request but /api and the health probes to the
// same path under base: a slave node leaves its console to the master, as One
// API's slaves do with FRONTEND_BASE_URL. The redirect is temporary (307, not
// One API's 301): browsers would cache a permanent one forever, and 307 keeps
// the method and body of a form posted to the slave.
func redirectConsole(base string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := c.Request().URL.Path
			if isAPI(c) || p == "/healthz" || p == "/readyz" || p == "/metrics" {
				return next(c)
			}
			return c.Redirect(http.StatusTemporaryRedirect, base+c.Request().URL.RequestURI())
		}
	}
}

// ipExtractor takes the client IP from X-Forwarded-For only when the socket
// peer is one of the trusted proxies; otherwise the peer address is the
// client (a forged header from the internet counts for nothing).
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

func staticHandler() http.Handler {
	return http.StripPrefix("/static/", http.FileServerFS(static.FS))
}
