package handlers

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/language"

	"oneapi/queries"
	"oneapi/views"
)

// The viewer's language and time zone: the signed-in user's own setting
// (user_settings), else the cookie (set by the header switch, or for the zone
// by static/console.js from the browser once), else Accept-Language and UTC.
const (
	langCookie = "oneapi_lang"
	zoneCookie = "oneapi_tz"

	sessPrefsUID = "prefs_uid" // int64: the user whose settings sessLang/sessZone hold
	sessLang     = "lang"      // string: that user's language ("" none chosen)
	sessZone     = "tz"        // string: that user's zone ("" none chosen)
)

var langMatcher = language.NewMatcher([]language.Tag{language.English, language.SimplifiedChinese})

// locale puts the viewer's views.Locale on the request context, for pages,
// mails and /api messages alike.
func (h *Handler) locale(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if strings.HasPrefix(r.URL.Path, "/static/") {
			return next(c)
		}
		lang, zone := h.userPrefs(c)
		if lang == "" {
			if ck, err := r.Cookie(langCookie); err == nil {
				lang = ck.Value
			}
		}
		if zone == "" {
			if ck, err := r.Cookie(zoneCookie); err == nil {
				zone = ck.Value
			}
		}
		l := views.Locale{Lang: parseLang(lang), Zone: loadZone(zone)}
		if lang == "" || l.Lang == "" {
			l.Lang = acceptLang(r.Header.Get("Accept-Language"))
		}
		c.SetRequest(r.WithContext(views.WithLocale(r.Context(), l)))
		return next(c)
	}
}

// userPrefs is the signed-in user's saved language and zone, read from the
// database once per session and kept in it.
func (h *Handler) userPrefs(c echo.Context) (lang, zone string) {
	if !h.hasSession(c) {
		return "", ""
	}
	u := h.currentUser(c)
	if u == nil {
		return "", ""
	}
	ctx := c.Request().Context()
	if h.authBy(c) == authBySession && h.sm.GetInt64(ctx, sessPrefsUID) == u.ID {
		return h.sm.GetString(ctx, sessLang), h.sm.GetString(ctx, sessZone)
	}
	p, err := h.q.UserSettingsGet(ctx, u.ID)
	if err != nil { // none saved (or unreadable: the defaults serve)
		p.Language, p.TimeZone = "", ""
	}
	if h.authBy(c) == authBySession {
		h.sm.Put(ctx, sessPrefsUID, u.ID)
		h.sm.Put(ctx, sessLang, p.Language)
		h.sm.Put(ctx, sessZone, p.TimeZone)
	}
	return p.Language, p.TimeZone
}

// parseLang is one of views.Langs, or "" for anything else.
func parseLang(s string) views.Lang {
	for _, l := range views.Langs {
		if strings.EqualFold(s, string(l)) {
			return l
		}
	}
	return ""
}

// acceptLang picks the console language closest to the browser's list.
func acceptLang(header string) views.Lang {
	tags, _, _ := language.ParseAcceptLanguage(header)
	if len(tags) == 0 {
		return views.English
	}
	if _, i, conf := langMatcher.Match(tags...); conf != language.No && i == 1 {
		return views.Chinese
	}
	return views.English
}

var zones sync.Map // zone name → *time.Location

// loadZone resolves an IANA zone name, UTC for "" or an unknown one.
func loadZone(name string) *time.Location {
	if name == "" || len(name) > 64 {
		return time.UTC
	}
	if z, ok := zones.Load(name); ok {
		return z.(*time.Location)
	}
	z, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return time.UTC
	}
	zones.Store(name, z)
	return z
}

// validZone reports whether name is an IANA zone this server knows.
func validZone(name string) bool {
	if name == "Local" || len(name) > 64 {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// langSwitch is POST /lang from the header: the choice goes into a cookie
// and, for a signed-in user, into their settings.
func (h *Handler) langSwitch(c echo.Context) error {
	lang := parseLang(c.FormValue("lang"))
	if lang == "" {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "unknown language")
	}
	h.setPrefCookie(c, langCookie, string(lang))
	if u := h.currentUser(c); u != nil {
		ctx := c.Request().Context()
		if err := h.q.UserSettingsSetLanguage(ctx, queries.UserSettingsSetLanguageParams{UserID: u.ID, Language: string(lang)}); err != nil {
			return err
		}
		h.sm.Remove(ctx, sessPrefsUID) // read again on the next request
	}
	return redirect(c, safeNext(c.FormValue("next")))
}

// accountTimeZone is POST /account/timezone: the user's zone, or "" to
// follow the browser's.
func (h *Handler) accountTimeZone(c echo.Context) error {
	zone := strings.TrimSpace(c.FormValue("time_zone"))
	if zone != "" && !validZone(zone) {
		h.setFlash(c, "Unknown time zone: use an IANA name such as Asia/Shanghai.")
		return redirect(c, "/account")
	}
	u := h.currentUser(c)
	ctx := c.Request().Context()
	if err := h.q.UserSettingsSetTimeZone(ctx, queries.UserSettingsSetTimeZoneParams{UserID: u.ID, TimeZone: zone}); err != nil {
		return err
	}
	h.sm.Remove(ctx, sessPrefsUID)
	h.setFlash(c, "Time zone saved.")
	return redirect(c, "/account")
}

func (h *Handler) setPrefCookie(c echo.Context, name, value string) {
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: h.secureCookies, SameSite: http.SameSiteLaxMode})
}
