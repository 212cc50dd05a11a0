package handlers

import "github.com/labstack/echo/v4"

// consoleRoutes registers every console page and htmx partial: the one route
// table of the console, guards beside each route, so who may open what reads
// top to bottom. The /api table is apiRoutes (api_routes.go).
func (h *Handler) consoleRoutes(e *echo.Echo) {
	web := e.Group("", h.csrfPages)
	web.GET("/", h.home)
	web.POST("/lang", h.langSwitch)
	web.GET("/about", h.aboutPage)

	web.GET("/login", h.loginPage)
	web.POST("/login", h.loginSubmit)
	web.POST("/logout", h.logout)
	web.GET("/register", h.registerPage)
	web.POST("/register", h.registerSubmit)
	web.POST("/register/code", h.registerCode)
	web.GET("/reset", h.resetRequestPage)
	web.POST("/reset", h.resetRequestSubmit)
	web.GET("/reset/confirm", h.resetConfirmPage)
	web.POST("/reset/confirm", h.resetConfirmSubmit)

	web.GET("/oauth/:provider", h.oauthStart)
	web.GET("/oauth/:provider/callback", h.oauthCallback)

	web.GET("/account", h.accountPage, h.requireUser)
	web.POST("/account", h.accountUpdate, h.requireUser)
	web.POST("/account/email/code", h.accountEmailCode, h.requireUser)
	web.POST("/account/token", h.accountToken, h.requireUser)
	web.POST("/account/topup", h.accountTopUp, h.requireUser)
	web.POST("/account/timezone", h.accountTimeZone, h.requireUser)
	web.GET("/account/password", h.passwordPage, h.requireUser)
	web.POST("/account/password", h.passwordSubmit, h.requireUser)

	web.GET("/users", h.userList, h.requireAdmin)
	web.GET("/users/new", h.userNew, h.requireAdmin)
	web.POST("/users", h.userCreate, h.requireAdmin)
	web.GET("/users/:id/edit", h.userEdit, h.requireAdmin)
	web.POST("/users/:id", h.userUpdate, h.requireAdmin)
	for _, action := range []string{"disable", "enable", "delete", "promote", "demote"} {
		web.POST("/users/:id/"+action, h.userAction(action), h.requireAdmin)
	}

	web.GET("/settings", h.settingsPage, h.requireRoot)
	web.POST("/settings", h.settingsUpdate, h.requireRoot)
	web.GET("/settings/pricing", h.pricingSettingsPage, h.requireRoot)
	web.GET("/pricing", h.modelPrices, h.requireUser)
	web.POST("/settings/pricing", h.pricingSettingsUpdate, h.requireRoot)

	// What the relay serves: channels, tokens, redemption codes, logs, stored prompts.

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
}
