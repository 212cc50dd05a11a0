package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// apiMaxBody bounds a management request body; the largest legitimate one is
// a batch of channel keys or a ratio table.
const apiMaxBody = 1 << 20

// apiOK writes One API's success reply.
func apiOK(c echo.Context, data any) error {
	return c.JSON(http.StatusOK, apiReply{Success: true, Data: data})
}

// apiOKSecret is apiOK for a reply that carries a secret shown once: no
// cache or proxy may keep it.
func apiOKSecret(c echo.Context, data any) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return apiOK(c, data)
}

// apiInvalid is a validation failure: 422 with the message in One API's shape.
func apiInvalid(format string, args ...any) error {
	return echo.NewHTTPError(http.StatusUnprocessableEntity, fmt.Sprintf(format, args...))
}

// apiReadBody reads a JSON request body (bounded by apiMaxBody). An empty
// body is malformed: every endpoint that reads one needs at least "{}".
func apiReadBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, apiMaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest, "unreadable request body")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "invalid JSON body: empty")
	}
	return body, nil
}

// apiUnmarshal decodes body into v; a syntax or type error is 400, with the
// field named when the decoder knows it. Unknown fields are ignored, as One
// API's clients send whole objects back.
func apiUnmarshal(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return echo.NewHTTPError(http.StatusBadRequest,
			fmt.Sprintf("invalid JSON body: %s must be a %s, not a %s", typeErr.Field, typeErr.Type, typeErr.Value))
	}
	return echo.NewHTTPError(http.StatusBadRequest, "invalid JSON body: "+err.Error())
}

// apiPathID reads the :id path parameter; one that is not a positive number
// names nothing, hence 404 (as the user endpoints answer).
func apiPathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	return id, nil
}

// apiPage turns One API's ?p= (0-based page number) into LIMIT and OFFSET,
// pages of apiPageSize rows.
func apiPage(c echo.Context) (limit, offset int32) {
	p, _ := strconv.Atoi(c.QueryParam("p"))
	// The upper bound keeps the offset inside int32; nobody pages that far.
	p = min(max(p, 0), 10_000_000)
	return apiPageSize, int32(p * apiPageSize)
}

// apiReload refreshes the in-memory state after a committed write, so the
// relay on this node sees it at once. A failure is logged, not returned: the
// write is already committed, and answering an error would make a script
// retry it (creating a second channel, say); the periodic reload catches up.
func (h *Handler) apiReload(c echo.Context, kind string, id int64) {
	if err := h.state.Reload(c.Request().Context(), kind, id); err != nil {
		h.log.Error("reload state after write", "id", c.Response().Header().Get(echo.HeaderXRequestID),
			"kind", kind, "row", id, "err", err)
	}
}

// unixOrZero is One API's timestamp: unix seconds, 0 for never.
func unixOrZero(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.Unix()
}

// flexString is a JSON field One API declares as a string holding JSON
// (model_mapping, config). It accepts that string, or the JSON object
// itself, which scripts tend to send; null leaves the value unchanged.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch t := strings.TrimSpace(string(b)); {
	case t == "null":
		return nil
	case strings.HasPrefix(t, `"`):
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		*f = flexString(t)
	}
	return nil
}

// splitCommaList trims the entries of a comma-separated list, dropping empty
// ones and repeats, and returns them in order.
func splitCommaList(s string) []string {
	var out []string
	seen := map[string]bool{}
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
