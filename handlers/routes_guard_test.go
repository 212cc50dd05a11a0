package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// guard is who may pass a route's authorization check.
type guard int

const (
	guardPublic guard = iota
	guardUser
	guardAdmin
	guardRoot
)

// routeGuards is the expected guard of every route the application registers.
// TestRouteGuards fails for a route missing here, so a new route cannot ship
// without someone deciding who may call it.
var routeGuards = func() map[string]guard {
	m := map[string]guard{}
	add := func(g guard, routes ...string) {
		for _, r := range routes {
			m[r] = g
		}
	}
	// Anyone: sign-in, registration, reset, OAuth, health, assets, status.
	add(guardPublic,
		"GET /", "POST /lang", "GET /about", "GET /api/notice", "GET /api/about", "GET /api/home_page_content", "GET /login", "POST /login", "POST /logout", "GET /register", "POST /register",
		"POST /register/code", "GET /reset", "POST /reset", "GET /reset/confirm", "POST /reset/confirm",
		"GET /oauth/:provider", "GET /oauth/:provider/callback", "GET /healthz", "GET /readyz", "GET /static/*",
		"HEAD /static/*", "GET /api/status", "POST /api/user/register", "POST /api/user/login",
		"GET /api/user/logout", "POST /api/user/logout", "GET /api/verification", "GET /api/reset_password",
		"POST /api/user/reset", "GET /api/oauth/state", "GET /api/oauth/:provider",
	)
	// Any signed-in user: their own account, tokens and logs.
	add(guardUser,
		"GET /account", "POST /account", "POST /account/email/code", "POST /account/token", "POST /account/topup", "POST /account/timezone",
		"GET /account/password", "POST /account/password", "GET /tokens", "GET /tokens/new", "POST /tokens",
		"GET /tokens/:id/edit", "POST /tokens/:id", "POST /tokens/:id/enable", "POST /tokens/:id/disable",
		"POST /tokens/:id/delete", "GET /logs", "GET /pricing", "GET /api/user/self", "PUT /api/user/self",
		"DELETE /api/user/self", "GET /api/user/aff", "POST /api/user/topup", "GET /api/user/token",
		"GET /api/token", "GET /api/token/", "POST /api/token", "POST /api/token/", "PUT /api/token",
		"PUT /api/token/", "GET /api/token/search", "GET /api/token/:id", "DELETE /api/token/:id",
		"GET /api/log/self", "GET /api/log/export", "GET /api/log/self/stat", "GET /api/log/self/search",
	)
	// Any signed-in user: stored prompts (the handlers decide per prompt:
	// shared ones are changed by admins, private ones by their owner).
	add(guardUser,
		"GET /prompts", "GET /prompts/new", "POST /prompts", "POST /prompts/editor", "POST /prompts/preview",
		"POST /prompts/import", "GET /prompts/:name", "GET /prompts/:name/edit", "POST /prompts/:name/versions",
		"GET /prompts/:name/diff", "POST /prompts/:name/labels", "POST /prompts/:name/delete",
		"GET /prompts/:name/playground", "POST /prompts/:name/playground",
		"GET /api/prompt", "GET /api/prompt/", "POST /api/prompt", "POST /api/prompt/", "GET /api/prompt/export",
		"POST /api/prompt/import", "GET /api/prompt/:name", "PUT /api/prompt/:name", "DELETE /api/prompt/:name",
		"GET /api/prompt/:name/versions", "POST /api/prompt/:name/versions", "GET /api/prompt/:name/versions/:version",
		"PUT /api/prompt/:name/labels/:label", "DELETE /api/prompt/:name/labels/:label", "POST /api/prompt/:name/render",
	)
	// Admins: users, channels, redemption codes, everyone's logs, jobs.
	add(guardAdmin,
		"GET /users", "GET /users/new", "POST /users", "GET /users/:id/edit", "POST /users/:id",
		"POST /users/:id/disable", "POST /users/:id/enable", "POST /users/:id/delete", "POST /users/:id/promote",
		"POST /users/:id/demote", "GET /channels", "GET /channels/new", "POST /channels",
		"POST /channels/probe-all", "GET /channels/:id/edit", "POST /channels/:id", "POST /channels/:id/probe",
		"POST /channels/:id/enable", "POST /channels/:id/disable", "POST /channels/:id/delete", "GET /redemptions",
		"GET /redemptions/new", "POST /redemptions", "POST /redemptions/:id/enable",
		"POST /redemptions/:id/disable", "POST /redemptions/:id/delete", "GET /api/user", "GET /api/user/",
		"POST /api/user", "POST /api/user/", "PUT /api/user", "PUT /api/user/", "GET /api/user/search",
		"GET /api/user/:id", "GET /api/user/:id/usage", "DELETE /api/user/:id", "POST /api/user/manage",
		"POST /api/topup", "GET /api/channel", "GET /api/channel/", "POST /api/channel", "POST /api/channel/",
		"PUT /api/channel", "PUT /api/channel/", "GET /api/channel/search", "GET /api/channel/test/:id",
		"GET /api/channel/test", "GET /api/channel/test/", "GET /api/channel/update_balance/:id",
		"GET /api/channel/update_balance", "GET /api/channel/update_balance/", "GET /api/jobs",
		"GET /api/channel/fetch_models/:id", "GET /api/channel/keys/:id", "POST /api/channel/keys/:id/enable",
		"GET /api/channel/:id", "DELETE /api/channel/:id", "GET /api/redemption", "GET /api/redemption/",
		"POST /api/redemption", "POST /api/redemption/", "PUT /api/redemption", "PUT /api/redemption/",
		"GET /api/redemption/search", "GET /api/redemption/:id", "DELETE /api/redemption/:id", "GET /api/log",
		"GET /api/log/", "GET /api/log/stat", "DELETE /api/log", "DELETE /api/log/", "GET /api/log/search",
		"POST /channels/:id/balance",
	)
	// Root: instance settings.
	add(guardRoot,
		"GET /settings", "POST /settings", "GET /settings/pricing", "POST /settings/pricing", "GET /api/option",
		"GET /api/option/", "PUT /api/option", "PUT /api/option/",
	)
	return m
}()

// TestRouteGuards walks every registered route as an anonymous caller, a
// user, an admin and root — with a session (pages and /api) and with an
// access token (/api) — and checks the authorization answer's class:
// anonymous callers of a guarded route are sent to sign in (401 on /api, a
// redirect to /login on pages), callers below the route's role get 403, and
// everyone else gets past the guard (whatever the handler then says about a
// made-up id or an empty body). Every request carries what CSRF protection
// asks for, so a 403 here is the guard's.
func TestRouteGuards(t *testing.T) {
	a := newAccountApp(t, nil)

	var routes []*echo.Route
	for _, r := range a.e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		if _, ok := routeGuards[r.Method+" "+r.Path]; !ok {
			t.Errorf("route %s %s has no expected guard: add it to routeGuards", r.Method, r.Path)
			continue
		}
		routes = append(routes, r)
	}
	sort.Slice(routes, func(i, j int) bool {
		return routes[i].Method+routes[i].Path < routes[j].Method+routes[j].Path
	})

	type caller struct {
		name string
		role int16 // 0: anonymous
	}
	callers := []caller{{"anonymous", 0}, {"user", roleUser}, {"admin", roleAdmin}, {"root", roleRoot}}
	type variant struct {
		route  *echo.Route
		caller caller
		token  bool
	}
	var variants []variant
	for _, r := range routes {
		for _, c := range callers {
			variants = append(variants, variant{r, c, false})
			if strings.HasPrefix(r.Path, "/api/") && c.role != 0 {
				variants = append(variants, variant{r, c, true})
			}
		}
	}
	// Every variant gets its own fresh identity, signed in before any route
	// runs: some routes end the session, replace the access token, delete the
	// account or change the sign-in settings.
	type identity struct {
		c     *client
		token string
	}
	ids := make([]identity, len(variants))
	for i, v := range variants {
		c := a.client(t)
		switch {
		case v.caller.role == 0:
			c.get("/login") // an anonymous session with a CSRF token
		case v.token:
			u := a.createUser(t, userOpts{Role: v.caller.role})
			ids[i].token = a.giveAccessToken(t, u)
		default:
			u := a.createUser(t, userOpts{Role: v.caller.role})
			c.login(u.Username, "correct-horse")
		}
		ids[i].c = c
	}

	for i, v := range variants {
		r, who := v.route, v.caller
		want := routeGuards[r.Method+" "+r.Path]
		name := r.Method + " " + r.Path + " as " + who.name
		if v.token {
			name += " (access token)"
		}
		t.Run(name, func(t *testing.T) {
			path := strings.NewReplacer(":id", "999999", ":provider", "github", "*", "app.css").Replace(r.Path)
			isAPI := strings.HasPrefix(path, "/api/")
			c := ids[i].c
			var body *strings.Reader
			header := []string{"X-CSRF-Token", c.csrf}
			switch {
			case isAPI:
				body = strings.NewReader("{}")
				header = append(header, "Content-Type", "application/json")
			default:
				body = strings.NewReader(url.Values{"_csrf": {c.csrf}}.Encode())
				header = append(header, "Content-Type", "application/x-www-form-urlencoded")
			}
			if v.token {
				header = append(header, "Authorization", "Bearer "+ids[i].token)
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete {
				body = strings.NewReader("")
			}
			rec := c.do(r.Method, path, body, header...)
			checkGuard(t, rec, want, who.role, isAPI)
		})
	}
}

func checkGuard(t *testing.T, rec *httptest.ResponseRecorder, want guard, role int16, isAPI bool) {
	t.Helper()
	loc := rec.Header().Get("Location")
	toLogin := rec.Code == http.StatusSeeOther && strings.HasPrefix(loc, "/login")
	// requireRole's refusal, as opposed to a handler's own 403 ("root cannot
	// delete itself").
	roleRefused := rec.Code == http.StatusForbidden && strings.Contains(rec.Body.String(), "You do not have permission to do this.")
	if want == guardPublic {
		// Open routes may refuse for their own reasons (a closed
		// registration, an OAuth state), but never ask the caller to sign in.
		if rec.Code == http.StatusUnauthorized || strings.HasPrefix(loc, "/login?next=") || roleRefused {
			t.Errorf("open route asks for sign-in or a role: %d %q", rec.Code, loc)
		}
		return
	}
	var need int16
	switch want {
	case guardUser:
		need = roleUser
	case guardAdmin:
		need = roleAdmin
	case guardRoot:
		need = roleRoot
	}
	switch {
	case role == 0 && isAPI:
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("anonymous = %d, want 401: %s", rec.Code, rec.Body)
		}
	case role == 0:
		if !toLogin {
			t.Errorf("anonymous = %d %q, want a redirect to /login", rec.Code, loc)
		}
	case role < need:
		if !roleRefused {
			t.Errorf("role %d = %d, want the 403 of the role check: %s", role, rec.Code, rec.Body)
		}
	default:
		if rec.Code == http.StatusUnauthorized || roleRefused || toLogin {
			t.Errorf("role %d stopped at the guard: %d %q %s", role, rec.Code, loc, rec.Body)
		}
	}
}

// TestCSRFOnEveryWrite sends every state-changing route what a cross-site
// form could: the session cookie (signed in as root, or anonymous for the
// sign-in and registration forms) and a form-encoded or text/plain body, but
// no CSRF token. Every one is refused before its handler runs.
func TestCSRFOnEveryWrite(t *testing.T) {
	a := newAccountApp(t, nil)
	root := a.createUser(t, userOpts{Role: roleRoot})
	signedIn := a.client(t)
	signedIn.login(root.Username, "correct-horse")
	anon := a.client(t)
	anon.get("/login")

	for _, r := range a.e.Routes() {
		if r.Method == echo.RouteNotFound || isSafeMethod(r.Method) {
			continue
		}
		path := strings.NewReplacer(":id", "1", ":provider", "github").Replace(r.Path)
		for _, who := range []struct {
			name string
			c    *client
		}{{"root", signedIn}, {"anonymous", anon}} {
			for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"} {
				t.Run(r.Method+" "+r.Path+" as "+who.name+" with "+ct, func(t *testing.T) {
					rec := who.c.do(r.Method, path, strings.NewReader("a=b"), "Content-Type", ct)
					if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "CSRF") {
						t.Errorf("= %d, want the CSRF refusal: %.300s", rec.Code, rec.Body)
					}
				})
			}
		}
	}
	if rec := signedIn.get("/account"); rec.Code != http.StatusOK {
		t.Errorf("the refused writes ended the session: /account = %d", rec.Code)
	}
}
