package handlers

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// accessLog writes one structured line per request, with the request id.
func (h *Handler) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // let the error handler write the reply so the status is known
		}
		req, res := c.Request(), c.Response()
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		h.log.LogAttrs(req.Context(), level, "http",
			slog.String("id", res.Header().Get(echo.HeaderXRequestID)),
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Duration("dur", time.Since(start)),
			slog.String("ip", c.RealIP()),
		)
		return nil
	}
}

func (h *Handler) logPanic(c echo.Context, err error, stack []byte) error {
	h.log.Error("panic", "id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err, "stack", string(stack))
	return err
}

// securityHeaders sends a strict policy: scripts and styles only from our own
// origin, no framing, no MIME sniffing.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		return next(c)
	}
}

// cacheStatic lets browsers keep assets for a day; they change only with a release.
func cacheStatic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		return next(c)
	}
}

// maxBody bounds every request body the console and /api accept: the largest
// legitimate one is a batch of channel keys or a ratio table. Without it a
// JSON body read by c.Bind, or a multipart form (whose file parts Go spools to
// disk without limit), could be as large as a client cares to send, and most
// routes that parse one (sign-in, registration, the CSRF check itself) are
// open to anyone.
const maxBody = apiMaxBody

// defaultBodyReadTimeout bounds how long a client may take to send that
// body (Deps.BodyReadTimeout). The server has ReadHeaderTimeout but no
// ReadTimeout (streams on /v1 run for minutes), so without it a client
// trickling a body a byte at a time holds a connection and a goroutine as
// long as it likes (slowloris).
const defaultBodyReadTimeout = 30 * time.Second

// readBody reads the request body whole, bounded in size (413) and in time
// (408), before any handler sees it; handlers then read it from memory. Once
// the body is in, the read deadline is lifted before the handler runs: left in
// place, it would cancel the request's context when it passed during a slow
// handler (net/http's background read of the idle connection fails on it).
func (h *Handler) readBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > maxBody {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
		}
		if r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		rc := http.NewResponseController(c.Response())
		_ = rc.SetReadDeadline(time.Now().Add(h.bodyReadTimeout)) // ErrNotSupported under httptest: no deadline
		body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxBody))
		if err != nil {
			// The deadline stays: net/http drains an unread body before it
			// answers, and must not wait for this client any longer.
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
			}
			// The body never arrived whole (timeout, or the client went
			// away): the connection cannot be reused either.
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return echo.NewHTTPError(http.StatusRequestTimeout, "the request body did not arrive in time")
		}
		_ = rc.SetReadDeadline(time.Time{})
		r.Body = io.NopCloser(bytes.NewReader(body))
		return next(c)
	}
}
