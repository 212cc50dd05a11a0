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

// resourceRoutes registers the console pages for what the relay serves —
// channels, tokens, redemption codes, logs, stored prompts — and their JSON
// endpoints that relayAPIRoutes does not already hold (redemptions, logs).
// Guards sit beside each route, as in consoleRoutes.
func (h *Handler) resourceRoutes(e *echo.Echo, api *echo.Group) {
	web := e.Group("", h.csrfPages)

	web.GET("/channels", h.channelList, h.requireAdmin)
	web.GET("/channels/new", h.channelNew, h.requireAdmin)
	web.POST("/channels", h.channelCreate, h.requireAdmin)
	web.POST("/channels/probe-all", h.channelProbeAll, h.requireAdmin)
	web.GET("/channels/:id/edit", h.channelEdit, h.requireAdmin)
	web.POST("/channels/:id", h.channelUpdate, h.requireAdmin)
	web.POST("/channels/:id/probe", h.channelProbe, h.requireAdmin)
	web.POST("/channels/:id/balance", h.channelUpdateBalance, h.requireAdmin)
	for _, action := range []string{"enable", "disable", "delete"} {
		web.POST("/channels/:id/"+action, h.channelAction(action), h.requireAdmin)
	}

	web.GET("/tokens", h.tokenList, h.requireUser)
	web.GET("/tokens/new", h.tokenNew, h.requireUser)
	web.POST("/tokens", h.tokenCreate, h.requireUser)
	web.GET("/tokens/:id/edit", h.tokenEdit, h.requireUser)
	web.POST("/tokens/:id", h.tokenUpdate, h.requireUser)
	for _, action := range []string{"enable", "disable", "delete"} {
		web.POST("/tokens/:id/"+action, h.tokenAction(action), h.requireUser)
	}

	web.GET("/redemptions", h.redemptionList, h.requireAdmin)
	web.GET("/redemptions/new", h.redemptionNew, h.requireAdmin)
	web.POST("/redemptions", h.redemptionCreate, h.requireAdmin)
	for _, action := range []string{"enable", "disable", "delete"} {
		web.POST("/redemptions/:id/"+action, h.redemptionAction(action), h.requireAdmin)
	}

	web.GET("/logs", h.logList, h.requireUser)

	web.GET("/prompts", h.promptList, h.requireUser)
	web.GET("/prompts/new", h.promptNew, h.requireUser)
	web.POST("/prompts", h.promptCreate, h.requireUser)
	web.POST("/prompts/editor", h.promptEditorRefresh, h.requireUser)
	web.POST("/prompts/preview", h.promptPreview, h.requireUser)
	web.POST("/prompts/import", h.promptImport, h.requireUser)
	web.GET("/prompts/:name", h.promptShow, h.requireUser)
	web.GET("/prompts/:name/edit", h.promptEdit, h.requireUser)
	web.POST("/prompts/:name/versions", h.promptVersionCreate, h.requireUser)
	web.GET("/prompts/:name/diff", h.promptDiff, h.requireUser)
	web.POST("/prompts/:name/labels", h.promptLabelMove, h.requireUser)
	web.POST("/prompts/:name/delete", h.promptDelete, h.requireUser)
	web.GET("/prompts/:name/playground", h.promptPlayground, h.requireUser)
	web.POST("/prompts/:name/playground", h.promptPlaygroundRun, h.requireUser)

	// One API's collection paths end in a slash; scripts often drop it.
	collection := func(method, path string, fn echo.HandlerFunc, guard echo.MiddlewareFunc) {
		api.Add(method, path, fn, guard)
		api.Add(method, path+"/", fn, guard)
	}
	collection(http.MethodGet, "/redemption", h.apiRedemptionList, h.requireAdmin)
	collection(http.MethodPost, "/redemption", h.apiRedemptionCreate, h.requireAdmin)
	collection(http.MethodPut, "/redemption", h.apiRedemptionUpdate, h.requireAdmin)
	api.GET("/redemption/search", h.apiRedemptionSearch, h.requireAdmin)
	api.GET("/redemption/:id", h.apiRedemptionGet, h.requireAdmin)
	api.DELETE("/redemption/:id", h.apiRedemptionDelete, h.requireAdmin)

	collection(http.MethodGet, "/log", h.apiLogList, h.requireAdmin)
	collection(http.MethodDelete, "/log", h.apiLogDelete, h.requireAdmin)
	api.GET("/log/stat", h.apiLogStat, h.requireAdmin)
	api.GET("/log/search", h.apiLogSearch, h.requireAdmin)
	api.GET("/log/self", h.apiLogSelf, h.requireUser)
	api.GET("/log/self/stat", h.apiLogSelfStat, h.requireUser)
	api.GET("/log/self/search", h.apiLogSelfSearch, h.requireUser)

	// Stored prompts (prompt_store.go has who may do what).
	collection(http.MethodGet, "/prompt", h.apiPromptList, h.requireUser)
	collection(http.MethodPost, "/prompt", h.apiPromptCreate, h.requireUser)
	api.GET("/prompt/export", h.apiPromptExport, h.requireUser)
	api.POST("/prompt/import", h.apiPromptImport, h.requireUser)
	api.GET("/prompt/:name", h.apiPromptGet, h.requireUser)
	api.PUT("/prompt/:name", h.apiPromptUpdate, h.requireUser)
	api.DELETE("/prompt/:name", h.apiPromptDelete, h.requireUser)
	api.GET("/prompt/:name/versions", h.apiPromptVersionList, h.requireUser)
	api.POST("/prompt/:name/versions", h.apiPromptVersionCreate, h.requireUser)
	api.GET("/prompt/:name/versions/:version", h.apiPromptVersionGet, h.requireUser)
	api.PUT("/prompt/:name/labels/:label", h.apiPromptLabelSet, h.requireUser)
	api.DELETE("/prompt/:name/labels/:label", h.apiPromptLabelDelete, h.requireUser)
	api.POST("/prompt/:name/render", h.apiPromptRender, h.requireUser)
}

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
