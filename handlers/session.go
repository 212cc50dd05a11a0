package handlers

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"oneapi/keys"
)

// Session keys. Values are gob-encoded by scs, so keep them to basic types.
const (
	sessUserID   = "uid"   // int64: the signed-in user
	sessPassword = "pwv"   // string: fingerprint of the password hash at sign-in
	sessCSRF     = "csrf"  // string: this session's CSRF token
	sessFlash    = "flash" // string: one message for the next page
)

// ctxSessionLoaded marks a request whose session the sessions middleware has
// loaded. Requests refused before that (rate limit, oversized body, a failed
// session load) have none, and scs panics when asked about a session that was
// never loaded: the error page must then be drawn without one.
const ctxSessionLoaded = "oneapi.session_loaded"

// sessionCookie is the cookie's name; "session" would collide with other apps
// on the same host.
const sessionCookie = "oneapi_session"

// newSessionManager keeps sessions in PostgreSQL (the sessions table of
// migration 00001), so every node sees the same sessions and a restart signs
// nobody out. The cookie carries only a random token; there is nothing in it
// to sign, which is why SESSION_SECRET is not needed for sessions to survive
// restarts (it keys the mailed-code hashes instead, see codeHash).
func newSessionManager(pool *pgxpool.Pool) *scs.SessionManager {
	sm := scs.New()
	sm.Store = hashedStore{pgxstore.New(pool)}
	sm.Lifetime = 7 * 24 * time.Hour
	sm.IdleTimeout = 72 * time.Hour
	sm.Cookie.Name = sessionCookie
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	return sm
}

// sessions loads the session for the request and saves it just before the
// reply's header is written. Unlike scs' LoadAndSave, errors are handled
// inside (c.Error), so error pages still see the session (CSRF token, user)
// and the session is committed before the error reply goes out.
func (h *Handler) sessions(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var token string
		if ck, err := c.Cookie(sessionCookie); err == nil {
			token = ck.Value
		}
		ctx, err := h.sm.Load(c.Request().Context(), token)
		if err != nil {
			return err
		}
		c.SetRequest(c.Request().WithContext(ctx))
		c.Set(ctxSessionLoaded, true)
		res := c.Response()
		res.Header().Add("Vary", "Cookie")
		res.Before(func() { h.commitSession(c) })
		if err := next(c); err != nil {
			c.Error(err)
		}
		if !res.Committed { // nothing written at all: still save the session
			h.commitSession(c)
		}
		return nil
	}
}

// hasSession reports whether the sessions middleware loaded this request's
// session (see ctxSessionLoaded).
func (h *Handler) hasSession(c echo.Context) bool {
	loaded, _ := c.Get(ctxSessionLoaded).(bool)
	return h.sm != nil && loaded
}

// hashedStore keeps sessions under the SHA-256 of their token, as API keys and
// access tokens are kept: the cookie's token is a bearer credential, and a
// copy of the sessions table (a backup, a read-only SQL injection) must not
// be enough to sign in as everyone who is signed in. (Sessions stored before
// the hashing, under their plain token, are not found: their owners sign in
// once more.)
type hashedStore struct{ inner scs.Store }

func (s hashedStore) Find(token string) ([]byte, bool, error) {
	return s.inner.Find(hashSessionToken(token))
}

func (s hashedStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.inner.Commit(hashSessionToken(token), b, expiry)
}

func (s hashedStore) Delete(token string) error { return s.inner.Delete(hashSessionToken(token)) }

func hashSessionToken(token string) string {
	sum := keys.Hash("session:" + token)
	return hex.EncodeToString(sum)
}

// commitSession writes a modified session to the store and its cookie to the
// reply. The cookie is Secure when the console is served over HTTPS: directly,
// behind a proxy that says so, or when FRONTEND_BASE_URL is https.
func (h *Handler) commitSession(c echo.Context) {
	ctx := c.Request().Context()
	var ck *http.Cookie
	switch h.sm.Status(ctx) {
	case scs.Modified:
		token, expiry, err := h.sm.Commit(ctx)
		if err != nil {
			h.log.Error("commit session", "err", err)
			return
		}
		ck = &http.Cookie{Name: sessionCookie, Value: token, Expires: time.Unix(expiry.Unix()+1, 0).UTC(),
			MaxAge: int(time.Until(expiry).Seconds() + 1)}
	case scs.Destroyed:
		ck = &http.Cookie{Name: sessionCookie, Value: "", Expires: time.Unix(1, 0), MaxAge: -1}
	default:
		return
	}
	ck.Path, ck.HttpOnly, ck.SameSite = "/", true, http.SameSiteLaxMode
	ck.Secure = h.secureCookies || c.Scheme() == "https"
	hd := c.Response().Header()
	hd.Add("Set-Cookie", ck.String())
	hd.Add("Cache-Control", `no-cache="Set-Cookie"`)
}

// startSession signs u in on this session. The session token is renewed first,
// so a token planted before sign-in (session fixation) is worthless after it.
func (h *Handler) startSession(c echo.Context, userID int64, passwordHash string) error {
	ctx := c.Request().Context()
	if err := h.sm.RenewToken(ctx); err != nil {
		return err
	}
	h.sm.Put(ctx, sessUserID, userID)
	h.sm.Put(ctx, sessPassword, passwordFingerprint(passwordHash))
	h.sm.Put(ctx, sessCSRF, keys.Random(32)) // a fresh CSRF token for the new privilege level
	return nil
}

// endSession signs out: the session row is deleted and the cookie cleared.
func (h *Handler) endSession(c echo.Context) error {
	return h.sm.Destroy(c.Request().Context())
}

// passwordFingerprint ties a session to the password it was opened with:
// changing or resetting the password ends every other session at once.
func passwordFingerprint(hash string) string {
	sum := keys.Hash("pw:" + hash)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// setFlash leaves a message for the next page this session renders.
func (h *Handler) setFlash(c echo.Context, msg string) {
	h.sm.Put(c.Request().Context(), sessFlash, msg)
}

func (h *Handler) popFlash(c echo.Context) string {
	return h.sm.PopString(c.Request().Context(), sessFlash)
}

// csrfToken returns the session's CSRF token, creating it on first use.
func (h *Handler) csrfToken(c echo.Context) string {
	ctx := c.Request().Context()
	if t := h.sm.GetString(ctx, sessCSRF); t != "" {
		return t
	}
	t := keys.Random(32)
	h.sm.Put(ctx, sessCSRF, t)
	return t
}

var errCSRF = echo.NewHTTPError(http.StatusForbidden, "invalid or missing CSRF token: reload the page and try again")

// csrfPages protects the console: every POST/PUT/PATCH/DELETE must carry the
// session's token, as the X-CSRF-Token header (htmx adds it from hx-headers on
// <body>) or as the _csrf field of a plain form. Safe methods pass.
func (h *Handler) csrfPages(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isSafeMethod(c.Request().Method) {
			return next(c)
		}
		if !h.csrfTokenOK(c, true) {
			return errCSRF
		}
		return next(c)
	}
}

// csrfAPI protects /api. The rules differ from the pages because /api is also
// for scripts:
//   - A request that carries an access token in Authorization is not made by a
//     browser on someone's behalf (browsers never add that header on their
//     own), so it needs no CSRF token.
//   - Otherwise (session cookie, or anonymous: sign-in and registration are
//     CSRF targets too) the request must carry X-CSRF-Token matching the
//     session, OR have Content-Type application/json. A cross-site page can
//     only send JSON with fetch, which makes it a CORS "non-simple" request
//     that needs a preflight; we never answer preflights with
//     Access-Control-Allow-*, so the browser never sends it. HTML forms can
//     only send urlencoded, multipart or text/plain bodies.
func (h *Handler) csrfAPI(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if isSafeMethod(r.Method) || h.authBy(c) == authByToken {
			return next(c)
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err == nil && mt == echo.MIMEApplicationJSON {
			return next(c)
		}
		if !h.csrfTokenOK(c, false) {
			return errCSRF
		}
		return next(c)
	}
}

// refuseCrossSite guards the GET routes that change state because One API's
// are GETs: a new access token, channel tests, sign-out. The session cookie is
// SameSite=Lax, which browsers still send on a top-level navigation from any
// site, so a link or a redirect on another site could otherwise trigger them
// with the victim's session. A session-authenticated request that the
// browser marks as coming from another site (Sec-Fetch-Site: cross-site or
// same-site) is refused. The console ("same-origin"), a typed URL or bookmark
// ("none"), access tokens, and clients that send no such header (scripts
// holding a session cookie; browsers too old to send it) pass.
func (h *Handler) refuseCrossSite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h.authBy(c) == authBySession {
			switch c.Request().Header.Get("Sec-Fetch-Site") {
			case "", "same-origin", "none":
			default:
				return echo.NewHTTPError(http.StatusForbidden, "open this from the console, not from another site")
			}
		}
		return next(c)
	}
}

// csrfTokenOK compares the header (or, for pages, the _csrf form field) with
// the session's token in constant time.
func (h *Handler) csrfTokenOK(c echo.Context, formField bool) bool {
	want := h.sm.GetString(c.Request().Context(), sessCSRF)
	if want == "" {
		return false
	}
	got := c.Request().Header.Get("X-CSRF-Token")
	if got == "" && formField {
		got = c.FormValue("_csrf")
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// isAPI tells JSON management API requests from console pages.
func isAPI(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == "/api" || strings.HasPrefix(p, "/api/")
}

// isHTMX reports whether htmx sent the request (it wants a partial).
func isHTMX(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}
