package handlers

import (
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/queries"
	"oneapi/views"
)

// apiReply is One API's reply shape for /api.
type apiReply struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// errorHandler is the one place that turns an error into a reply: JSON in One
// API's shape under /api; for htmx requests a flash fragment retargeted to
// #flash; otherwise a full error page. 5xx details stay in the log.
func (h *Handler) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := statusOf(err)
	id := c.Response().Header().Get(echo.HeaderXRequestID)
	if code >= 500 {
		h.log.Error("request failed", "id", id, "path", c.Request().URL.Path, "err", err)
		var he *echo.HTTPError
		// A plain error or a 500 may carry internals: never shown. A 502/503
		// built with echo.NewHTTPError carries a message written for people
		// ("the mail could not be sent").
		if !errors.As(err, &he) || he.Internal != nil || code == http.StatusInternalServerError {
			msg = "internal server error"
		}
	} else {
		h.log.Info("request refused", "id", id, "path", c.Request().URL.Path, "status", code, "msg", msg)
	}
	var werr error
	switch {
	case isAPI(c):
		// In the caller's language when the catalogue has the message (the
		// relay's /v1 errors are not made here and stay English).
		werr = c.JSON(code, apiReply{Success: false, Message: views.Phrase(c.Request().Context(), msg)})
	case c.Request().Method == http.MethodHead:
		werr = c.NoContent(code)
	case isHTMX(c):
		c.Response().Header().Set("HX-Retarget", "#flash")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		werr = render(c, code, views.Flash(views.FlashView{Message: msg, Error: true}))
	default:
		werr = render(c, code, views.ErrorPage(views.ErrorView{Layout: h.layout(c, http.StatusText(code)), Code: code, Message: msg, RequestID: id}))
	}
	if werr != nil {
		h.log.Error("write error reply", "id", id, "err", werr)
	}
}

// statusOf maps an error to an HTTP status and a message a user may see.
func statusOf(err error) (int, string) {
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		msg, ok := he.Message.(string)
		if !ok {
			msg = http.StatusText(he.Code)
		}
		return he.Code, msg
	case errors.Is(err, pgx.ErrNoRows):
		return http.StatusNotFound, "not found"
	case queries.IsUniqueViolation(err):
		return http.StatusConflict, "already exists"
	}
	return http.StatusInternalServerError, err.Error()
}
