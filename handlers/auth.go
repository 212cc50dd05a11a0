package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/queries"
)

// Roles and statuses use One API's numbers.
const (
	roleGuest int16 = 0
	roleUser  int16 = 1
	roleAdmin int16 = 10
	roleRoot  int16 = 100

	statusEnabled  int16 = 1
	statusDisabled int16 = 2
)

// authMethod says how the caller proved who they are.
type authMethod int

const (
	authNone      authMethod = iota + 1 // anonymous
	authBySession                       // the session cookie
	authByToken                         // Authorization: [Bearer ]<access token> on /api
)

// Echo context keys for the caller, resolved once per request.
const (
	ctxUser    = "oneapi.user"
	ctxAuthBy  = "oneapi.auth_by"
	ctxAuthErr = "oneapi.auth_err"
)

// currentUser is the signed-in user: the session's user, or on /api the owner
// of the access token in Authorization ("Bearer <token>" or the bare token,
// as One API accepts both). It is nil for anonymous callers and for deleted or
// disabled users. The user is read from the database on every request, so a
// change of role or status takes effect on existing sessions and tokens at once.
func (h *Handler) currentUser(c echo.Context) *queries.User {
	h.identify(c)
	u, _ := c.Get(ctxUser).(*queries.User)
	return u
}

// authBy tells how the current request authenticated (authNone if it did not).
func (h *Handler) authBy(c echo.Context) authMethod {
	h.identify(c)
	return c.Get(ctxAuthBy).(authMethod)
}

// identify resolves the caller once and caches the answer on the context.
func (h *Handler) identify(c echo.Context) {
	if c.Get(ctxAuthBy) != nil {
		return
	}
	u, by, err := h.lookupCaller(c)
	if err != nil {
		// A database failure must not look like "signed out": requireRole
		// turns it into a 500.
		c.Set(ctxAuthErr, err)
		u = nil
	}
	c.Set(ctxUser, u)
	c.Set(ctxAuthBy, by)
}

func (h *Handler) lookupCaller(c echo.Context) (*queries.User, authMethod, error) {
	ctx := c.Request().Context()
	if isAPI(c) {
		if tok := accessTokenFrom(c.Request().Header.Get(echo.HeaderAuthorization)); tok != "" {
			u, err := h.q.UserGetByAccessToken(ctx, keys.Hash(tok))
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, authByToken, nil
			}
			if err != nil {
				return nil, authByToken, err
			}
			if u.Status != statusEnabled {
				return nil, authByToken, nil
			}
			return &u, authByToken, nil
		}
	}
	if !h.hasSession(c) {
		return nil, authNone, nil
	}
	id := h.sm.GetInt64(ctx, sessUserID)
	if id == 0 {
		return nil, authNone, nil
	}
	u, err := h.q.UserGetByID(ctx, id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, authNone, err
	}
	// Deleted, disabled, or the password changed since this session signed
	// in: the session no longer speaks for anyone. Dropping the user from the
	// session (rather than only refusing) means re-enabling the account does
	// not revive old sessions.
	if err != nil || u.Status != statusEnabled || h.sm.GetString(ctx, sessPassword) != passwordFingerprint(u.PasswordHash) {
		h.sm.Remove(ctx, sessUserID)
		h.sm.Remove(ctx, sessPassword)
		return nil, authNone, nil
	}
	return &u, authBySession, nil
}

// accessTokenFrom takes the token out of an Authorization header value.
func accessTokenFrom(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		v = strings.TrimSpace(v[7:])
	}
	return v
}

// requireUser lets any signed-in user through (role ≥ 1).
func (h *Handler) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return h.requireRole(roleUser, next)
}

// requireAdmin lets admins and root through (role ≥ 10).
func (h *Handler) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return h.requireRole(roleAdmin, next)
}

// requireRoot lets only root through (role ≥ 100).
func (h *Handler) requireRoot(next echo.HandlerFunc) echo.HandlerFunc {
	return h.requireRole(roleRoot, next)
}

// passwordChangeRoutes may be used by a session whose user must still change
// the default password: everything else sends them to the change form.
var passwordChangeRoutes = map[string]bool{
	"/account/password": true,
	"/logout":           true,
	"/api/user/self":    true,
	"/api/user/logout":  true,
}

// requireRole answers 401 to anonymous callers and 403 to users below min. On
// /api both are JSON (errorHandler); on pages anonymous people are sent to
// /login and come back afterwards, and a too-low role gets the 403 page.
func (h *Handler) requireRole(min int16, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := h.currentUser(c)
		if err, _ := c.Get(ctxAuthErr).(error); err != nil {
			return err
		}
		if u == nil {
			if isAPI(c) {
				return echo.NewHTTPError(http.StatusUnauthorized, "Not signed in, or the access token is invalid.")
			}
			return h.redirectToLogin(c)
		}
		if u.Role < min {
			return echo.NewHTTPError(http.StatusForbidden, "You do not have permission to do this.")
		}
		if u.MustChangePassword && h.authBy(c) == authBySession && !passwordChangeRoutes[c.Path()] {
			if isAPI(c) {
				return echo.NewHTTPError(http.StatusForbidden, "Change your password first (PUT /api/user/self).")
			}
			return redirect(c, "/account/password")
		}
		return next(c)
	}
}

// redirectToLogin sends an anonymous visitor to the sign-in page, remembering
// where they were going when that was a page they can come back to.
func (h *Handler) redirectToLogin(c echo.Context) error {
	target := "/login"
	if r := c.Request(); r.Method == http.MethodGet && !isHTMX(c) {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	return redirect(c, target)
}

// redirect is POST-redirect-GET for plain requests and HX-Redirect for htmx,
// which would otherwise swap the target page into a fragment.
func redirect(c echo.Context, to string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// safeNext keeps a post-login redirect on our own site: a path, never
// something a browser could read as another host. Browsers drop tabs and
// newlines inside a URL and treat a backslash as a slash, so "/\t/evil.example"
// and "/\\evil.example" both mean //evil.example to them: any control
// character or backslash disqualifies the value outright.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	return next
}
