package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"oneapi/queries"
)

func TestLoginAndForcedPasswordChange(t *testing.T) {
	a := newAccountApp(t, nil)
	root := a.createUser(t, userOpts{Username: "root", Password: "123456", Role: roleRoot, MustChangePassword: true})
	c := a.client(t)

	c.get("/login")
	rec := c.post("/login", url.Values{"username": {"root"}, "password": {"123456"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account/password" {
		t.Fatalf("login = %d %q", rec.Code, rec.Header().Get("Location"))
	}
	// Every other page sends root back to the form until the password changes.
	for _, path := range []string{"/account", "/users", "/settings"} {
		if rec := c.get(path); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account/password" {
			t.Errorf("%s before change = %d %q", path, rec.Code, rec.Header().Get("Location"))
		}
	}
	// The API with the session is refused too, except the self endpoints.
	if rec, _ := c.api(http.MethodGet, "/api/user/", nil); rec.Code != http.StatusForbidden {
		t.Errorf("api before change = %d", rec.Code)
	}
	rec = c.get("/account/password")
	if !strings.Contains(rec.Body.String(), `data-testid="password-forced"`) {
		t.Errorf("password page does not say why: %s", rec.Body)
	}

	cases := []struct {
		name, current, next, repeat, field string
	}{
		{"wrong current", "nope", "a-better-password", "a-better-password", "current_password"},
		{"too short", "123456", "short", "short", "new_password"},
		{"mismatch", "123456", "a-better-password", "another-password", "new_password2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := c.post("/account/password", url.Values{"current_password": {tc.current}, "new_password": {tc.next}, "new_password2": {tc.repeat}})
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `data-testid="error-`+tc.field+`"`) {
				t.Errorf("= %d, want 422 with %s error", rec.Code, tc.field)
			}
		})
	}
	before := c.sessionCookie()
	rec = c.post("/account/password", url.Values{"current_password": {"123456"}, "new_password": {"a-better-password"}, "new_password2": {"a-better-password"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("change = %d %s", rec.Code, rec.Body)
	}
	if c.sessionCookie() == before {
		t.Error("session id not renewed after the password change")
	}
	if got := a.user(t, root.ID); got.MustChangePassword {
		t.Error("must_change_password still set")
	}
	if rec := c.get("/users"); rec.Code != http.StatusOK {
		t.Errorf("/users after change = %d", rec.Code)
	}

	// Sign out, then the old password fails and the new one works.
	if rec := c.post("/logout", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("logout = %d", rec.Code)
	}
	if rec := c.get("/account"); rec.Code != http.StatusSeeOther {
		t.Errorf("/account after logout = %d", rec.Code)
	}
	c.get("/login")
	rec = c.post("/login", url.Values{"username": {"root"}, "password": {"123456"}})
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Wrong username or password.") {
		t.Errorf("old password = %d", rec.Code)
	}
	c.login("root", "a-better-password")
}

// TestPasswordChangeEndsOtherSessions: a session opened with the old password
// stops working when the password changes elsewhere.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{})
	one, two := a.client(t), a.client(t)
	one.login(u.Username, "correct-horse")
	two.login(u.Username, "correct-horse")
	rec := one.post("/account/password", url.Values{"current_password": {"correct-horse"}, "new_password": {"battery-staple"}, "new_password2": {"battery-staple"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("change = %d", rec.Code)
	}
	if rec := one.get("/account"); rec.Code != http.StatusOK {
		t.Errorf("changing session = %d", rec.Code)
	}
	if rec := two.get("/account"); rec.Code != http.StatusSeeOther {
		t.Errorf("other session = %d, want signed out", rec.Code)
	}
}

func TestSessionFixation(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{})
	attacker := a.client(t)
	attacker.get("/login")
	planted := attacker.sessionCookie()
	if planted == "" {
		t.Fatal("no session before sign-in")
	}
	victim := a.client(t)
	victim.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: planted}
	victim.csrf = attacker.csrf
	victim.login(u.Username, "correct-horse")
	if victim.sessionCookie() == planted {
		t.Fatal("session id not renewed at sign-in")
	}
	if rec := attacker.get("/account"); rec.Code != http.StatusSeeOther {
		t.Errorf("planted session is signed in: /account = %d", rec.Code)
	}
	// A made-up session id is never adopted.
	forged := a.client(t)
	forged.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: "made-up-token"}
	forged.get("/login")
	if got := forged.sessionCookie(); got == "made-up-token" {
		t.Error("server adopted a client-chosen session id")
	}
}

func TestSessionCookieFlags(t *testing.T) {
	a := newAccountApp(t, func(d *Deps) { d.FrontendBaseURL = "https://console.example.com" })
	rec := a.client(t).get("/login")
	ck := rec.Result().Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || !ck[0].Secure || ck[0].SameSite != http.SameSiteLaxMode || ck[0].Name != sessionCookie {
		t.Fatalf("cookie = %+v", ck)
	}
	rec = newAccountApp(t, nil).client(t).get("/login")
	if ck := rec.Result().Cookies(); len(ck) != 1 || ck[0].Secure {
		t.Errorf("plain http cookie = %+v", ck)
	}
}

func TestLoginThrottle(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{Username: "bob"})
	t.Run("per account", func(t *testing.T) {
		for i := range maxFailuresAccount {
			c := a.client(t)
			c.ip = "198.51.100." + string(rune('1'+i)) // different addresses
			if rec := c.post("/login", url.Values{"username": {"bob"}, "password": {"wrong"}}); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d", i, rec.Code)
			}
		}
		c := a.client(t)
		rec := c.post("/login", url.Values{"username": {"bob"}, "password": {"correct-horse"}})
		if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "Too many failed sign-in attempts. Try again in 15 minutes.") {
			t.Errorf("locked account, right password = %d %s", rec.Code, rec.Body)
		}
		_, res := c.api(http.MethodPost, "/api/user/login", map[string]string{"username": "bob", "password": "correct-horse"})
		if res.Success || !strings.Contains(res.Message, "Too many") {
			t.Errorf("api login while locked = %+v", res)
		}
		// A reset by mail (proof of the address) would clear it; so does time.
		if err := queries.New(a.pool).LoginFailureClear(context.Background(), "user:bob"); err != nil {
			t.Fatal(err)
		}
		c.login("bob", "correct-horse")
	})
	t.Run("per IP", func(t *testing.T) {
		c := a.client(t)
		c.ip = "203.0.113.7"
		for i := range maxFailuresIP {
			rec := c.post("/login", url.Values{"username": {"nobody" + string(rune('a'+i))}, "password": {"x"}})
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d", i, rec.Code)
			}
		}
		rec := c.post("/login", url.Values{"username": {u.Username}, "password": {"correct-horse"}})
		if rec.Code != http.StatusTooManyRequests {
			t.Errorf("locked IP = %d", rec.Code)
		}
		other := a.client(t)
		other.ip = "203.0.113.8"
		other.login(u.Username, "correct-horse")
	})
}

// TestForwardedForIgnoredUnlessTrusted: a client cannot dodge the IP limit by
// sending X-Forwarded-For, unless it comes through a trusted proxy.
func TestForwardedForIgnoredUnlessTrusted(t *testing.T) {
	a := newAccountApp(t, nil)
	c := a.client(t)
	c.ip = "203.0.113.9"
	for i := range maxFailuresIP + 1 {
		c.post("/login", url.Values{"username": {"x" + string(rune('a'+i))}, "password": {"x"}}, "X-Forwarded-For", "10.9.9."+string(rune('0'+i%10)))
	}
	if rec := c.post("/login", url.Values{"username": {"z"}, "password": {"x"}}, "X-Forwarded-For", "10.1.1.1"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("spoofed XFF dodged the limit: %d", rec.Code)
	}
	ext := ipExtractor(nil)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.0.0.1:5"
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	if ip := ext(req); ip != "10.0.0.1" {
		t.Errorf("untrusted = %s", ip)
	}
	trusted, _ := parseTestPrefix("10.0.0.0/8")
	if ip := ipExtractor(trusted)(req); ip != "198.51.100.1" {
		t.Errorf("trusted proxy = %s", ip)
	}
}

func TestLoginRefusals(t *testing.T) {
	a := newAccountApp(t, nil)
	a.createUser(t, userOpts{Username: "off", Status: statusDisabled})
	a.createUser(t, userOpts{Username: "rooty", Role: roleRoot})
	a.createUser(t, userOpts{Username: "plain"})
	c := a.client(t)
	rec := c.post("/login", url.Values{"username": {"off"}, "password": {"correct-horse"}})
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "This account is disabled.") {
		t.Errorf("disabled = %d", rec.Code)
	}
	rec = c.post("/login", url.Values{"username": {"nobody"}, "password": {"x"}})
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `data-testid="login-error"`) {
		t.Errorf("unknown = %d", rec.Code)
	}
	a.setOption(t, "PasswordLoginEnabled", "false")
	if rec := c.post("/login", url.Values{"username": {"plain"}, "password": {"correct-horse"}}); rec.Code != http.StatusForbidden {
		t.Errorf("password login off = %d", rec.Code)
	}
	c.login("rooty", "correct-horse") // root is never locked out
}

func TestAPILoginLogout(t *testing.T) {
	a := newAccountApp(t, nil)
	a.createUser(t, userOpts{Username: "carol", Email: "carol@example.com"})
	c := a.client(t)
	rec, res := c.api(http.MethodPost, "/api/user/login", map[string]string{"username": "carol", "password": "nope"})
	if rec.Code != http.StatusUnauthorized || res.Success {
		t.Errorf("bad login = %d %+v", rec.Code, res)
	}
	rec, res = c.api(http.MethodPost, "/api/user/login", map[string]string{"username": "carol", "password": "correct-horse"})
	if rec.Code != http.StatusOK || !res.Success {
		t.Fatalf("login = %d %+v", rec.Code, res)
	}
	for _, leak := range []string{"password", "access_token", "hash"} {
		if strings.Contains(string(res.Data), `"`+leak) {
			t.Errorf("login reply has %q: %s", leak, res.Data)
		}
	}
	if rec, _ := c.api(http.MethodGet, "/api/user/self", nil); rec.Code != http.StatusOK {
		t.Errorf("self after api login = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodGet, "/api/user/logout", nil); rec.Code != http.StatusOK {
		t.Errorf("logout = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodGet, "/api/user/self", nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("self after logout = %d", rec.Code)
	}
	// Sign in by email works too.
	if rec, _ := c.api(http.MethodPost, "/api/user/login", map[string]string{"username": "carol@example.com", "password": "correct-horse"}); rec.Code != http.StatusOK {
		t.Errorf("login by email = %d", rec.Code)
	}
	var u apiUser
	_ = json.Unmarshal(res.Data, &u)
	if u.Username != "carol" || u.Role != roleUser {
		t.Errorf("login data = %+v", u)
	}
}
