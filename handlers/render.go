package handlers

import (
	"bytes"
	"strings"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"oneapi/views"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render renders into a buffer first, so a rendering error still becomes a
// clean 500 instead of half a page.
func render(c echo.Context, status int, comp templ.Component) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// layout builds the per-request data every full page needs.
func (h *Handler) layout(c echo.Context, title string) views.LayoutView {
	if !h.hasSession(c) {
		// An error page for a request refused before its session was
		// loaded (rate limit, oversized body): nobody is signed in on it.
		return views.LayoutView{Title: title, Brand: h.brand()}
	}
	v := views.LayoutView{Title: title, CSRFToken: h.csrfToken(c), Flash: h.popFlash(c),
		Path: c.Request().URL.RequestURI(), Brand: h.brand()}
	if u := h.currentUser(c); u != nil {
		v.UserName = u.Username
		v.IsAdmin = u.Role >= roleAdmin
		v.IsRoot = u.Role >= roleRoot
	}
	return v
}

// brand is the operator's branding for the layout, from the options.
func (h *Handler) brand() views.Brand {
	o := h.state.Options()
	if o == nil {
		return views.Brand{}
	}
	s := settings(o.Raw()) // read only: Raw is shared
	b := views.Brand{Name: s.str("SystemName"), LogoURL: s.str("Logo")}
	if f := strings.TrimSpace(s.str("Footer")); f != "" {
		b.FooterHTML = markdownHTML(f)
	}
	return b
}
