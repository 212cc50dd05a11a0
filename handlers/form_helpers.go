package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"oneapi/views"
)

// fieldRef names the form field a validation failure is about. It rides in
// echo.HTTPError's Internal, which the error handler never shows, so the JSON
// API's reply (status and message) is exactly apiInvalid's.
type fieldRef string

func (f fieldRef) Error() string { return "invalid field " + string(f) }

// invalidField is a validation failure of one field: to the JSON API a 422
// with the message, like apiInvalid; to a console form the message beside
// that field (fieldErrorsOf).
func invalidField(field, format string, args ...any) error {
	return &echo.HTTPError{Code: http.StatusUnprocessableEntity, Message: fmt.Sprintf(format, args...), Internal: fieldRef(field)}
}

// fieldErrorsOf turns a validation failure into a form's error map (key ""
// for a message about the whole form). ok is false for any other error,
// which the caller returns as it is.
func fieldErrorsOf(err error) (errs map[string]string, ok bool) {
	var he *echo.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusUnprocessableEntity {
		return nil, false
	}
	msg, _ := he.Message.(string)
	var f fieldRef
	errors.As(he.Internal, &f)
	return map[string]string{string(f): msg}, true
}

// pageParam is the console's 1-based ?p=.
func pageParam(c echo.Context) int {
	p, _ := strconv.Atoi(c.QueryParam("p"))
	// The upper bound keeps offsets inside int32.
	return min(max(p, 1), 1_000_000)
}

// wantsPartial reports whether an htmx request aimed at container (filters,
// search and paging swap only the table). The reply varies on it.
func wantsPartial(c echo.Context, container string) bool {
	c.Response().Header().Add("Vary", "HX-Request")
	return isHTMX(c) && c.Request().Header.Get("HX-Target") == container
}

// pathIDParam reads :id for a console route; anything but a positive number
// names nothing.
func pathIDParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	return id, nil
}

// formInt reads an optional whole number from a form; ok is false when the
// field holds something that is not one.
func formInt(c echo.Context, name string) (n int64, ok bool) {
	s := strings.TrimSpace(c.FormValue(name))
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// money is how the console shows quota amounts right now: in the currency
// when DisplayInCurrencyEnabled is on, at QuotaPerUnit quota per US dollar.
func (h *Handler) money() views.Money {
	m := views.Money{PerUnit: 500000, Currency: true}
	if o := h.state.Options(); o != nil {
		m.PerUnit, m.Currency = o.QuotaPerUnit, o.DisplayInCurrency
	}
	return m
}

// noStore keeps a reply that carries a secret (a key shown once) out of every
// cache.
func noStore(c echo.Context) {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
}
