package handlers

import (
	"github.com/labstack/echo/v4"

	"oneapi/views"
)

// consoleRoutes registers the console pages. Every route is in this one
// function, guards beside each, so who may open what reads top to bottom.
func (h *Handler) consoleRoutes(e *echo.Echo) {
	web := e.Group("", h.csrfPages)
	web.GET("/", h.home)

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
}

// layout builds the per-request data every full page needs.
func (h *Handler) layout(c echo.Context, title string) views.LayoutView {
	if !h.hasSession(c) {
		// An error page for a request refused before its session was
		// loaded (rate limit, oversized body): nobody is signed in on it.
		return views.LayoutView{Title: title}
	}
	v := views.LayoutView{Title: title, CSRFToken: h.csrfToken(c), Flash: h.popFlash(c)}
	if u := h.currentUser(c); u != nil {
		v.UserName = u.Username
		v.IsAdmin = u.Role >= roleAdmin
		v.IsRoot = u.Role >= roleRoot
	}
	return v
}
