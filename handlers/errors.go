package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/queries"
)

// apiReply is One API's reply shape for /api.
type apiReply struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// errorHandler is the one place that turns an error into a reply: JSON in One
// API's shape under /api, plain text elsewhere. 5xx details stay in the log.
func (h *Handler) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := statusOf(err)
	if code >= 500 {
		h.log.Error("request failed", "id", c.Response().Header().Get(echo.HeaderXRequestID), "path", c.Request().URL.Path, "err", err)
		msg = "internal server error"
	}
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		_ = c.JSON(code, apiReply{Success: false, Message: msg})
		return
	}
	_ = c.String(code, msg)
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
