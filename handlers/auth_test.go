package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"oneapi/queries"
)

func TestAccessTokenAuth(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{Username: "alice"})
	tok := a.giveAccessToken(t, u)
	c := a.client(t)

	for name, hdr := range map[string]string{"bearer": "Bearer " + tok, "bare": tok, "lower bearer": "bearer " + tok} {
		t.Run(name, func(t *testing.T) {
			rec, res := c.api(http.MethodGet, "/api/user/self", nil, "Authorization", hdr)
			if rec.Code != http.StatusOK || !res.Success {
				t.Fatalf("self = %d %s", rec.Code, rec.Body)
			}
			var got apiUser
			if err := json.Unmarshal(res.Data, &got); err != nil || got.Username != "alice" {
				t.Fatalf("self data = %s (%v)", res.Data, err)
			}
		})
	}

	rec, res := c.api(http.MethodGet, "/api/user/self", nil, "Authorization", "Bearer wrong")
	if rec.Code != http.StatusUnauthorized || res.Success {
		t.Errorf("wrong token = %d %s", rec.Code, rec.Body)
	}
	rec, _ = c.api(http.MethodGet, "/api/user/self", nil)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("anonymous = %d", rec.Code)
	}
	// A token-authenticated write needs no CSRF token (no cookies involved).
	rec, _ = c.api(http.MethodPut, "/api/user/self", map[string]string{"display_name": "Alice A."}, "Authorization", tok)
	if rec.Code != http.StatusOK {
		t.Errorf("token PUT self = %d %s", rec.Code, rec.Body)
	}
}

func TestRoleGuards(t *testing.T) {
	a := newAccountApp(t, nil)
	user := a.createUser(t, userOpts{Role: roleUser})
	admin := a.createUser(t, userOpts{Role: roleAdmin})
	root := a.createUser(t, userOpts{Role: roleRoot})
	toks := map[string]string{"user": a.giveAccessToken(t, user), "admin": a.giveAccessToken(t, admin), "root": a.giveAccessToken(t, root)}

	cases := []struct {
		who, path string
		want      int
	}{
		{"user", "/api/user/", http.StatusForbidden},
		{"admin", "/api/user/", http.StatusOK},
		{"root", "/api/user/", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.who+tc.path, func(t *testing.T) {
			rec, res := a.client(t).api(http.MethodGet, tc.path, nil, "Authorization", "Bearer "+toks[tc.who])
			if rec.Code != tc.want || res.Success != (tc.want == http.StatusOK) {
				t.Errorf("got %d %s", rec.Code, rec.Body)
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		anon := a.client(t)
		rec := anon.get("/users")
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login?next=%2Fusers") {
			t.Errorf("anonymous /users = %d %q", rec.Code, rec.Header().Get("Location"))
		}
		c := a.client(t)
		c.login(user.Username, "correct-horse")
		rec = c.get("/users")
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), `data-testid="error-403"`) {
			t.Errorf("user /users = %d %s", rec.Code, rec.Body)
		}
		if rec := c.get("/settings"); rec.Code != http.StatusForbidden {
			t.Errorf("user /settings = %d", rec.Code)
		}
		c = a.client(t)
		c.login(admin.Username, "correct-horse")
		if rec := c.get("/users"); rec.Code != http.StatusOK {
			t.Errorf("admin /users = %d", rec.Code)
		}
		if rec := c.get("/settings"); rec.Code != http.StatusForbidden {
			t.Errorf("admin /settings = %d", rec.Code)
		}
	})
}

// TestRoleAndStatusChangeApplyAtOnce: an existing session and access token
// follow the database, not what was true at sign-in.
func TestRoleAndStatusChangeApplyAtOnce(t *testing.T) {
	a := newAccountApp(t, nil)
	admin := a.createUser(t, userOpts{Role: roleAdmin})
	tok := a.giveAccessToken(t, admin)
	c := a.client(t)
	c.login(admin.Username, "correct-horse")
	if rec := c.get("/users"); rec.Code != http.StatusOK {
		t.Fatalf("admin /users = %d", rec.Code)
	}
	q := queries.New(a.pool)
	if _, err := q.UserSetRole(context.Background(), queries.UserSetRoleParams{ID: admin.ID, Role: roleUser}); err != nil {
		t.Fatal(err)
	}
	if rec := c.get("/users"); rec.Code != http.StatusForbidden {
		t.Errorf("demoted session /users = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodGet, "/api/user/", nil, "Authorization", tok); rec.Code != http.StatusForbidden {
		t.Errorf("demoted token = %d", rec.Code)
	}
	if _, err := q.UserSetStatus(context.Background(), queries.UserSetStatusParams{ID: admin.ID, Status: statusDisabled}); err != nil {
		t.Fatal(err)
	}
	if rec := c.get("/account"); rec.Code != http.StatusSeeOther {
		t.Errorf("disabled session /account = %d, want redirect to login", rec.Code)
	}
	if rec, _ := c.api(http.MethodGet, "/api/user/self", nil, "Authorization", tok); rec.Code != http.StatusUnauthorized {
		t.Errorf("disabled token = %d", rec.Code)
	}
	// Re-enabling does not revive the old session.
	if _, err := q.UserSetStatus(context.Background(), queries.UserSetStatusParams{ID: admin.ID, Status: statusEnabled}); err != nil {
		t.Fatal(err)
	}
	if rec := c.get("/account"); rec.Code != http.StatusSeeOther {
		t.Errorf("re-enabled old session /account = %d", rec.Code)
	}
}

func TestCSRF(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{})
	c := a.client(t)
	c.login(u.Username, "correct-horse")

	form := func(token string) url.Values {
		return url.Values{"_csrf": {token}, "display_name": {"x"}, "email": {""}}
	}
	cases := []struct {
		name   string
		form   url.Values
		header []string
		want   int
	}{
		{"missing", form(""), nil, http.StatusForbidden},
		{"wrong", form("not-the-token"), nil, http.StatusForbidden},
		{"wrong header", url.Values{"display_name": {"x"}}, []string{"X-CSRF-Token", "nope"}, http.StatusForbidden},
		{"field", form(c.csrf), nil, http.StatusSeeOther},
		{"header", url.Values{"display_name": {"y"}}, []string{"X-CSRF-Token", c.csrf}, http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.form
			if _, ok := f["_csrf"]; !ok {
				f.Set("_csrf", "")
				if len(tc.header) > 0 {
					f.Del("_csrf")
					rec := c.do(http.MethodPost, "/account", strings.NewReader(f.Encode()),
						append([]string{"Content-Type", "application/x-www-form-urlencoded"}, tc.header...)...)
					if rec.Code != tc.want {
						t.Errorf("= %d, want %d", rec.Code, tc.want)
					}
					return
				}
			}
			if rec := c.post("/account", f); rec.Code != tc.want {
				t.Errorf("= %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
		})
	}

	t.Run("api with session", func(t *testing.T) {
		// A form-encoded write to /api with only the cookie is what a
		// cross-site form would send: refused.
		rec := c.do(http.MethodPost, "/api/user/topup", strings.NewReader("key=x"), "Content-Type", "application/x-www-form-urlencoded")
		if rec.Code != http.StatusForbidden {
			t.Errorf("form post to /api = %d", rec.Code)
		}
		rec = c.do(http.MethodPost, "/api/user/topup", strings.NewReader(`{"key":"x"}`), "Content-Type", "text/plain")
		if rec.Code != http.StatusForbidden {
			t.Errorf("text/plain post to /api = %d", rec.Code)
		}
		// JSON (needs a CORS preflight cross-site) or the header is fine.
		if rec, _ := c.api(http.MethodPost, "/api/user/topup", map[string]string{"key": "nope"}); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("json post = %d %s", rec.Code, rec.Body)
		}
		rec = c.do(http.MethodPost, "/api/user/topup", strings.NewReader("key=nope"), "Content-Type", "application/x-www-form-urlencoded", "X-CSRF-Token", c.csrf)
		if rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("form post with header = %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("logout needs token", func(t *testing.T) {
		rec := c.post("/logout", url.Values{"_csrf": {"bad"}})
		if rec.Code != http.StatusForbidden {
			t.Errorf("logout with bad token = %d", rec.Code)
		}
		if rec := c.get("/account"); rec.Code != http.StatusOK {
			t.Errorf("still signed in after refused logout? /account = %d", rec.Code)
		}
	})
}

func TestHTMXErrorGoesToFlash(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{})
	c := a.client(t)
	c.login(u.Username, "correct-horse")
	rec := c.post("/users/1/disable", nil, "HX-Request", "true")
	if rec.Code != http.StatusForbidden || rec.Header().Get("HX-Retarget") != "#flash" || !strings.Contains(rec.Body.String(), `data-testid="flash"`) {
		t.Errorf("htmx 403 = %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}
