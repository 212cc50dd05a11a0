package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// apiRoutes registers One API's management API under /api: the one route
// table of that surface. Paths, query parameters and JSON fields are One
// API's, with its {"success","message","data"} shape, so its scripts keep
// working; unlike One API, keys never appear in listings and failures carry
// a truthful HTTP status (401/403/404/409/422/429) while the body keeps
// success:false.
func (h *Handler) apiRoutes(api *echo.Group) {
	// One API's collection paths end in a slash ("/api/channel/"); scripts
	// written by hand often drop it, so collections answer on both.
	collection := func(method, path string, fn echo.HandlerFunc, guard echo.MiddlewareFunc) {
		api.Add(method, path, fn, guard)
		api.Add(method, path+"/", fn, guard)
	}

	// Sign-in and the caller's own account.
	api.POST("/user/register", h.apiUserRegister)
	api.POST("/user/login", h.apiUserLogin)
	api.GET("/user/logout", h.apiUserLogout, h.refuseCrossSite) // One API signs out with GET
	api.POST("/user/logout", h.apiUserLogout)
	api.GET("/verification", h.apiVerification)
	api.GET("/reset_password", h.apiResetPassword)
	api.POST("/user/reset", h.apiUserReset)

	api.GET("/user/self", h.apiUserSelf, h.requireUser)
	api.PUT("/user/self", h.apiUserSelfUpdate, h.requireUser)
	api.DELETE("/user/self", h.apiUserSelfDelete, h.requireUser)
	api.GET("/user/aff", h.apiUserAff, h.requireUser)
	api.POST("/user/topup", h.apiUserTopUp, h.requireUser)

	// One API's collection path ends in a slash; scripts often drop it.
	for _, p := range []string{"/user/", "/user"} {
		api.GET(p, h.apiUserList, h.requireAdmin)
		api.POST(p, h.apiUserCreate, h.requireAdmin)
		api.PUT(p, h.apiUserUpdate, h.requireAdmin)
	}
	api.GET("/user/search", h.apiUserSearch, h.requireAdmin)
	api.GET("/user/:id", h.apiUserGet, h.requireAdmin)
	api.GET("/user/:id/usage", h.apiUserUsage, h.requireAdmin)
	api.DELETE("/user/:id", h.apiUserDelete, h.requireAdmin)
	api.POST("/user/manage", h.apiUserManage, h.requireAdmin)
	api.POST("/topup", h.apiTopUp, h.requireAdmin)

	api.GET("/oauth/state", h.apiOAuthState)
	api.GET("/oauth/:provider", h.apiOAuthCallback)

	// Status, channels, tokens, options.
	api.GET("/status", h.apiStatus)
	api.GET("/notice", h.apiNotice)
	api.GET("/about", h.apiAbout)
	api.GET("/home_page_content", h.apiHomePage)
	api.GET("/user/token", h.apiAccessTokenRegenerate, h.requireUser, h.refuseCrossSite)

	collection(http.MethodGet, "/channel", h.apiChannelList, h.requireAdmin)
	collection(http.MethodPost, "/channel", h.apiChannelCreate, h.requireAdmin)
	collection(http.MethodPut, "/channel", h.apiChannelUpdate, h.requireAdmin)
	api.GET("/channel/search", h.apiChannelSearch, h.requireAdmin)
	// Channel tests and balance updates are GETs in One API; they call
	// upstream (tests spend quota) and may disable channels, so another site
	// must not trigger them through a link (refuseCrossSite).
	api.GET("/channel/test/:id", h.apiChannelProbe, h.requireAdmin, h.refuseCrossSite)
	api.GET("/channel/test", h.apiChannelProbeAll, h.requireAdmin, h.refuseCrossSite)
	api.GET("/channel/test/", h.apiChannelProbeAll, h.requireAdmin, h.refuseCrossSite)
	api.GET("/channel/update_balance/:id", h.apiChannelUpdateBalance, h.requireAdmin, h.refuseCrossSite)
	api.GET("/channel/update_balance", h.apiChannelUpdateBalanceAll, h.requireAdmin, h.refuseCrossSite)
	api.GET("/channel/update_balance/", h.apiChannelUpdateBalanceAll, h.requireAdmin, h.refuseCrossSite)
	api.GET("/channel/fetch_models/:id", h.apiChannelFetchModels, h.requireAdmin, h.refuseCrossSite)
	api.GET("/channel/keys/:id", h.apiChannelKeys, h.requireAdmin)
	api.POST("/channel/keys/:id/enable", h.apiChannelKeysEnable, h.requireAdmin)
	api.GET("/jobs", h.apiJobList, h.requireAdmin)
	api.GET("/channel/:id", h.apiChannelGet, h.requireAdmin)
	api.DELETE("/channel/:id", h.apiChannelDelete, h.requireAdmin)

	collection(http.MethodGet, "/token", h.apiTokenList, h.requireUser)
	collection(http.MethodPost, "/token", h.apiTokenCreate, h.requireUser)
	collection(http.MethodPut, "/token", h.apiTokenUpdate, h.requireUser)
	api.GET("/token/search", h.apiTokenSearch, h.requireUser)
	api.GET("/token/:id", h.apiTokenGet, h.requireUser)
	api.DELETE("/token/:id", h.apiTokenDelete, h.requireUser)

	collection(http.MethodGet, "/option", h.apiOptionList, h.requireRoot)
	collection(http.MethodPut, "/option", h.apiOptionUpdate, h.requireRoot)

	// Redemption codes, logs, stored prompts.
	collection(http.MethodGet, "/redemption", h.apiRedemptionList, h.requireAdmin)
	collection(http.MethodPost, "/redemption", h.apiRedemptionCreate, h.requireAdmin)
	collection(http.MethodPut, "/redemption", h.apiRedemptionUpdate, h.requireAdmin)
	api.GET("/redemption/search", h.apiRedemptionSearch, h.requireAdmin)
	api.GET("/redemption/:id", h.apiRedemptionGet, h.requireAdmin)
	api.DELETE("/redemption/:id", h.apiRedemptionDelete, h.requireAdmin)

	collection(http.MethodGet, "/log", h.apiLogList, h.requireAdmin)
	collection(http.MethodDelete, "/log", h.apiLogDelete, h.requireAdmin)
	api.GET("/log/stat", h.apiLogStat, h.requireAdmin)
	api.GET("/log/export", h.apiLogExport, h.requireUser) // admins every row, users their own
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
