package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"oneapi/views"
)

// healthz answers while the process is up.
func (h *Handler) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok")
}

// readyz answers 200 only while the database is reachable.
func (h *Handler) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.pool.Ping(ctx); err != nil {
		h.log.Warn("readyz: database unreachable", "err", err)
		return c.String(http.StatusServiceUnavailable, "database unreachable")
	}
	return c.String(http.StatusOK, "ready")
}

func (h *Handler) home(c echo.Context) error {
	// Signed in: the dashboard (dashboard.go). Someone who must still change
	// the default password gets the landing page; the other pages send them
	// to the change form.
	if u := h.currentUser(c); u != nil && !u.MustChangePassword {
		return h.dashboard(c)
	}
	pc := pageContent(h.option("HomePageContent"))
	if pc.FrameURL != "" {
		withFrame(c, pc.FrameURL)
	}
	return render(c, http.StatusOK, views.HomePage(views.HomeView{Layout: h.layout(c, "Home"), Version: h.version, Content: pc}))
}
