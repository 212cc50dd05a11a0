package handlers

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"

	"oneapi/views"
)

// The operator's content options (SystemName, Logo, Footer, Notice,
// HomePageContent, About; their definitions are in settings.go). Markdown is
// rendered with goldmark and sanitised with bluemonday's UGC policy. Only
// root may set these options, yet HomePageContent and About may hold raw
// HTML as in One API: that HTML is root's own and shown as is, on the two
// public pages root controls (/ signed out, /about), never inside the
// console's pages. A value that is a single http(s) URL is shown in an
// iframe, and the CSP of that page allows that one origin in frame-src.

var ugcPolicy = bluemonday.UGCPolicy()

// markdownHTML renders Markdown and sanitises the result.
func markdownHTML(src string) string {
	var b bytes.Buffer
	if err := goldmark.Convert([]byte(src), &b); err != nil {
		return ""
	}
	return ugcPolicy.Sanitize(b.String())
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && !strings.ContainsAny(s, " \n\t")
}

// pageContent turns a HomePageContent or About value into what the page
// shows: a frame for a URL, root's HTML as is when it starts with a tag,
// else Markdown.
func pageContent(src string) views.PageContent {
	src = strings.TrimSpace(src)
	switch {
	case src == "":
		return views.PageContent{}
	case isHTTPURL(src):
		return views.PageContent{FrameURL: src}
	case strings.HasPrefix(src, "<"):
		return views.PageContent{HTML: src}
	}
	return views.PageContent{HTML: markdownHTML(src)}
}

// option is an option's current value from memory.
func (h *Handler) option(key string) string {
	o := h.state.Options()
	if o == nil {
		return ""
	}
	return settings(o.Raw()).str(key)
}

// withFrame lets this reply's page show frameURL's origin in an iframe: the
// CSP securityHeaders set, with that one origin in frame-src.
func withFrame(c echo.Context, frameURL string) {
	u, err := url.Parse(frameURL)
	if err != nil {
		return
	}
	hd := c.Response().Header()
	hd.Set("Content-Security-Policy", hd.Get("Content-Security-Policy")+"; frame-src "+u.Scheme+"://"+u.Host)
}

// brandCSP widens img-src by the configured logo's origin, on every page
// (the logo is in the header).
func (h *Handler) brandCSP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if logo := h.option("Logo"); logo != "" && isHTTPURL(logo) {
			if u, err := url.Parse(logo); err == nil {
				hd := c.Response().Header()
				hd.Set("Content-Security-Policy", strings.Replace(hd.Get("Content-Security-Policy"),
					"img-src 'self' data:", "img-src 'self' data: "+u.Scheme+"://"+u.Host, 1))
			}
		}
		return next(c)
	}
}

// aboutPage is GET /about, public.
func (h *Handler) aboutPage(c echo.Context) error {
	pc := pageContent(h.option("About"))
	if pc.FrameURL != "" {
		withFrame(c, pc.FrameURL)
	}
	return render(c, http.StatusOK, views.AboutPage(views.AboutView{Layout: h.layout(c, "About"), Content: pc}))
}

// apiNotice, apiAbout and apiHomePageContent are One API's public content
// endpoints: the option's raw value as data.
func (h *Handler) apiNotice(c echo.Context) error   { return apiOK(c, h.option("Notice")) }
func (h *Handler) apiAbout(c echo.Context) error    { return apiOK(c, h.option("About")) }
func (h *Handler) apiHomePage(c echo.Context) error { return apiOK(c, h.option("HomePageContent")) }
