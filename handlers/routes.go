// Package handlers owns everything HTTP for people and scripts: console pages,
// htmx partials, the One API-compatible JSON management API under /api,
// middleware, and the one error handler that picks the reply format.
package handlers

import (
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"oneapi/queries"
	"oneapi/static"
)

// Deps is what the handlers need from main.
type Deps struct {
	Pool    *pgxpool.Pool
	Log     *slog.Logger
	Version string
}

// Handler holds the dependencies of every route.
type Handler struct {
	pool    *pgxpool.Pool
	q       *queries.Queries
	log     *slog.Logger
	version string
}

// New builds the Echo application with every non-/v1 route.
func New(d Deps) (*echo.Echo, error) {
	h := &Handler{pool: d.Pool, q: queries.New(d.Pool), log: d.Log, version: d.Version}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.errorHandler
	e.Use(middleware.RequestID())
	e.Use(h.accessLog)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: h.logPanic}))
	e.Use(securityHeaders)

	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.Match([]string{http.MethodGet, http.MethodHead}, "/static/*", echo.WrapHandler(staticHandler()), cacheStatic)

	e.GET("/", h.home)
	return e, nil
}

func staticHandler() http.Handler {
	return http.StripPrefix("/static/", http.FileServerFS(static.FS))
}
