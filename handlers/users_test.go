package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"oneapi/queries"
)

func TestAPIUserAdmin(t *testing.T) {
	a := newAccountApp(t, nil)
	root := a.createUser(t, userOpts{Username: "root", Role: roleRoot})
	admin := a.createUser(t, userOpts{Username: "admin", Role: roleAdmin})
	peer := a.createUser(t, userOpts{Username: "peer", Role: roleAdmin})
	for i := range 12 {
		a.createUser(t, userOpts{Username: fmt.Sprintf("member%02d", i), Email: fmt.Sprintf("m%d@example.com", i)})
	}
	rootTok, adminTok := a.giveAccessToken(t, root), a.giveAccessToken(t, admin)
	c := a.client(t)
	as := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	list := func(path string) []apiUser {
		t.Helper()
		rec, res := c.api(http.MethodGet, path, nil, as(adminTok)...)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s = %d %s", path, rec.Code, rec.Body)
		}
		for _, leak := range []string{"password", "access_token"} {
			if strings.Contains(string(res.Data), leak) {
				t.Errorf("%s leaks %s", path, leak)
			}
		}
		var out []apiUser
		if err := json.Unmarshal(res.Data, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := list("/api/user/?p=0"); len(got) != 10 {
		t.Errorf("page 0 has %d users", len(got))
	}
	if got := list("/api/user/?p=1"); len(got) != 5 {
		t.Errorf("page 1 has %d users", len(got))
	}
	if got := list("/api/user/search?keyword=member1"); len(got) != 2 {
		t.Errorf("search member1 = %d users", len(got))
	}
	if got := list("/api/user/search?keyword=m3@example"); len(got) != 1 || got[0].Username != "member03" {
		t.Errorf("search by email = %+v", got)
	}

	// Create: role below one's own only.
	rec, res := c.api(http.MethodPost, "/api/user/", map[string]any{"username": "made", "password": "long-enough-pw", "display_name": "Made"}, as(adminTok)...)
	if rec.Code != http.StatusOK || !res.Success {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	var made apiUser
	_ = json.Unmarshal(res.Data, &made)
	if rec, _ := c.api(http.MethodPost, "/api/user/", map[string]any{"username": "made2", "password": "long-enough-pw", "role": 10}, as(adminTok)...); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("admin creating admin = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodPost, "/api/user/", map[string]any{"username": "made", "password": "long-enough-pw"}, as(adminTok)...); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("duplicate = %d", rec.Code)
	}

	// Get, update, usage.
	path := "/api/user/" + strconv.FormatInt(made.ID, 10)
	if rec, _ := c.api(http.MethodGet, path, nil, as(adminTok)...); rec.Code != http.StatusOK {
		t.Errorf("get = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodGet, "/api/user/999999", nil, as(adminTok)...); rec.Code != http.StatusNotFound {
		t.Errorf("get missing = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodGet, "/api/user/"+strconv.FormatInt(peer.ID, 10), nil, as(adminTok)...); rec.Code != http.StatusForbidden {
		t.Errorf("admin reading a peer admin = %d", rec.Code)
	}
	rec, res = c.api(http.MethodPut, "/api/user/", map[string]any{"id": made.ID, "username": "made", "display_name": "New Name", "group": "vip", "quota": 777}, as(adminTok)...)
	if rec.Code != http.StatusOK {
		t.Fatalf("update = %d %s", rec.Code, rec.Body)
	}
	if got := a.user(t, made.ID); got.GroupName != "vip" || got.Quota != 777 || got.DisplayName != "New Name" {
		t.Errorf("after update = %+v", got)
	}
	if rec, _ := c.api(http.MethodPut, "/api/user/", map[string]any{"id": made.ID, "username": "made", "role": 10}, as(adminTok)...); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("admin giving admin = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodPut, "/api/user/", map[string]any{"id": root.ID, "username": "root", "quota": 1}, as(adminTok)...); rec.Code != http.StatusForbidden {
		t.Errorf("admin editing root = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodGet, path+"/usage", nil, as(adminTok)...); rec.Code != http.StatusOK {
		t.Errorf("usage = %d", rec.Code)
	}

	// Manage actions.
	manage := func(tok, user, action string) int {
		rec, _ := c.api(http.MethodPost, "/api/user/manage", map[string]string{"username": user, "action": action}, as(tok)...)
		return rec.Code
	}
	steps := []struct {
		tok, user, action string
		want              int
	}{
		{adminTok, "made", "disable", 200},
		{adminTok, "made", "enable", 200},
		{adminTok, "made", "promote", 403},
		{rootTok, "made", "promote", 200},
		{adminTok, "made", "disable", 403}, // now a peer
		{rootTok, "made", "demote", 200},
		{rootTok, "made", "demote", 422},
		{rootTok, "root", "disable", 422},
		{rootTok, "root", "delete", 422},
		{adminTok, "made", "bogus", 422},
		{adminTok, "nobody", "disable", 404},
	}
	for i, s := range steps {
		if got := manage(s.tok, s.user, s.action); got != s.want {
			t.Errorf("step %d %s %s = %d, want %d", i, s.action, s.user, got, s.want)
		}
	}

	// Delete is soft: the row stays, the user is gone from lists and logins.
	if rec, _ := c.api(http.MethodDelete, path, nil, as(adminTok)...); rec.Code != http.StatusOK {
		t.Fatalf("delete = %d", rec.Code)
	}
	if _, err := queries.New(a.pool).UserGetByID(context.Background(), made.ID); err == nil {
		t.Error("deleted user still found")
	}
	var deletedAt *string
	if err := a.pool.QueryRow(context.Background(), "SELECT deleted_at::text FROM users WHERE id = $1", made.ID).Scan(&deletedAt); err != nil || deletedAt == nil {
		t.Errorf("row gone or not marked: %v %v", deletedAt, err)
	}
	if rec, _ := c.api(http.MethodDelete, path, nil, as(adminTok)...); rec.Code != http.StatusNotFound {
		t.Errorf("delete again = %d", rec.Code)
	}

	// Admin top-up.
	rec, _ = c.api(http.MethodPost, "/api/topup", map[string]any{"user_id": admin.ID, "quota": 1000}, as(rootTok)...)
	if rec.Code != http.StatusOK || a.user(t, admin.ID).Quota != 1000 {
		t.Errorf("topup = %d quota %d", rec.Code, a.user(t, admin.ID).Quota)
	}
	if rec, _ := c.api(http.MethodPost, "/api/topup", map[string]any{"user_id": admin.ID, "quota": 5}, as(a.giveAccessToken(t, a.createUser(t, userOpts{})))...); rec.Code != http.StatusForbidden {
		t.Errorf("user topup = %d", rec.Code)
	}
}

func TestSelfAPI(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{Username: "selfie"})
	root := a.createUser(t, userOpts{Username: "rooted", Role: roleRoot})
	tok := a.giveAccessToken(t, u)
	c := a.client(t)
	h := []string{"Authorization", tok}
	rec, _ := c.api(http.MethodPut, "/api/user/self", map[string]string{"password": "new-password-1", "original_password": "wrong"}, h...)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("wrong original = %d", rec.Code)
	}
	rec, _ = c.api(http.MethodPut, "/api/user/self", map[string]string{"password": "new-password-1", "original_password": "correct-horse", "email": "selfie@example.com"}, h...)
	if rec.Code != http.StatusOK {
		t.Fatalf("update = %d %s", rec.Code, rec.Body)
	}
	if got := a.user(t, u.ID); got.Email != "selfie@example.com" {
		t.Errorf("email = %q", got.Email)
	}
	a.client(t).login("selfie", "new-password-1")
	if rec, _ := c.api(http.MethodDelete, "/api/user/self", nil, "Authorization", a.giveAccessToken(t, root)); rec.Code != http.StatusForbidden {
		t.Errorf("root deleting itself = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodDelete, "/api/user/self", nil, h...); rec.Code != http.StatusOK {
		t.Errorf("delete self = %d", rec.Code)
	}
	if rec, _ := c.api(http.MethodGet, "/api/user/self", nil, h...); rec.Code != http.StatusUnauthorized {
		t.Errorf("token of deleted user = %d", rec.Code)
	}
}

func TestRedeemOnce(t *testing.T) {
	a := newAccountApp(t, nil)
	admin := a.createUser(t, userOpts{Role: roleAdmin})
	code := a.createRedemption(t, admin, 5000)
	users := make([]queries.User, 8)
	toks := make([]string, len(users))
	for i := range users {
		users[i] = a.createUser(t, userOpts{})
		toks[i] = a.giveAccessToken(t, users[i])
	}
	var wg sync.WaitGroup
	codes := make([]int, len(users))
	for i := range users {
		wg.Go(func() {
			rec, _ := a.client(t).api(http.MethodPost, "/api/user/topup", map[string]string{"key": code}, "Authorization", toks[i])
			codes[i] = rec.Code
		})
	}
	wg.Wait()
	wins, total := 0, int64(0)
	for i, code := range codes {
		if code == http.StatusOK {
			wins++
		} else if code != http.StatusUnprocessableEntity {
			t.Errorf("redeemer %d = %d", i, code)
		}
		total += a.user(t, users[i].ID).Quota
	}
	if wins != 1 || total != 5000 {
		t.Errorf("wins %d, quota handed out %d", wins, total)
	}

	// The page flow, with htmx.
	code2 := a.createRedemption(t, admin, 700)
	c := a.client(t)
	c.login(users[0].Username, "correct-horse")
	rec := c.post("/account/topup", url.Values{"key": {code2}}, "HX-Request", "true")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="topup-ok"`) {
		t.Errorf("htmx redeem = %d %s", rec.Code, rec.Body)
	}
	rec = c.post("/account/topup", url.Values{"key": {code2}}, "HX-Request", "true")
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "already been used") {
		t.Errorf("htmx redeem twice = %d", rec.Code)
	}
}

func TestAccessTokenPage(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{})
	c := a.client(t)
	c.login(u.Username, "correct-horse")
	rec := c.post("/account/token", nil, "HX-Request", "true")
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("regenerate = %d", rec.Code)
	}
	m := regexpFind(`data-testid="access-token-value"[^>]*|value="([A-Za-z0-9]{32})"`, rec.Body.String())
	if m == "" {
		t.Fatalf("token not shown: %s", rec.Body)
	}
	if rec, _ := c.api(http.MethodGet, "/api/user/self", nil, "Authorization", "Bearer "+m); rec.Code != http.StatusOK {
		t.Errorf("new token = %d", rec.Code)
	}
	stored := a.user(t, u.ID)
	if strings.Contains(string(stored.AccessTokenHash), m) || stored.AccessTokenPrefix == "" {
		t.Error("token stored in clear, or no prefix")
	}
	// The account page afterwards shows only the prefix.
	if page := c.get("/account"); strings.Contains(page.Body.String(), m) {
		t.Error("account page shows the token again")
	}
	c.post("/account/token", nil, "HX-Request", "true")
	if rec, _ := c.api(http.MethodGet, "/api/user/self", nil, "Authorization", "Bearer "+m); rec.Code != http.StatusUnauthorized {
		t.Errorf("old token after regenerate = %d", rec.Code)
	}
}

func TestUserPages(t *testing.T) {
	a := newAccountApp(t, nil)
	root := a.createUser(t, userOpts{Username: "boss", Role: roleRoot})
	for i := range 25 {
		a.createUser(t, userOpts{Username: fmt.Sprintf("crew%02d", i)})
	}
	c := a.client(t)
	c.login(root.Username, "correct-horse")
	page := c.get("/users")
	if page.Code != http.StatusOK || strings.Count(page.Body.String(), `data-testid="user-row"`) != usersPageSize {
		t.Fatalf("list = %d rows %d", page.Code, strings.Count(page.Body.String(), `data-testid="user-row"`))
	}
	part := c.get("/users?q=crew1&p=1", "HX-Request", "true", "HX-Target", "user-table")
	if body := part.Body.String(); strings.Contains(body, "<html") || strings.Count(body, `data-testid="user-row"`) != 10 {
		t.Errorf("htmx search = full page or wrong rows: %d", strings.Count(body, `data-testid="user-row"`))
	}
	if page := c.get("/users?p=2"); strings.Count(page.Body.String(), `data-testid="user-row"`) != 6 {
		t.Errorf("page 2 rows = %d", strings.Count(page.Body.String(), `data-testid="user-row"`))
	}

	// Create through the form.
	c.get("/users/new")
	rec := c.post("/users", url.Values{"username": {"formed"}, "password": {"long-enough-pw"}, "group": {"default"}, "quota": {"10"}, "role": {"10"}, "status": {"1"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	formed, err := queries.New(a.pool).UserGetByUsername(context.Background(), "formed")
	if err != nil || formed.Role != roleAdmin {
		t.Fatalf("formed = %+v %v", formed, err)
	}
	id := strconv.FormatInt(formed.ID, 10)
	if rec := c.post("/users", url.Values{"username": {"x y"}, "password": {"short"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("invalid create = %d", rec.Code)
	}

	// Edit shows the usage summary; save.
	edit := c.get("/users/" + id + "/edit")
	if edit.Code != http.StatusOK || !strings.Contains(edit.Body.String(), `data-testid="user-usage"`) {
		t.Errorf("edit = %d", edit.Code)
	}
	rec = c.post("/users/"+id, url.Values{"username": {"formed"}, "display_name": {"Formed"}, "group": {"vip"}, "quota": {"99"}, "role": {"1"}, "status": {"1"}})
	if rec.Code != http.StatusSeeOther || a.user(t, formed.ID).GroupName != "vip" || a.user(t, formed.ID).Role != roleUser {
		t.Errorf("update = %d %+v", rec.Code, a.user(t, formed.ID))
	}

	// Disable with htmx: the row comes back, with its id.
	rec = c.post("/users/"+id+"/disable", nil, "HX-Request", "true")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="user-`+id+`"`) || !strings.Contains(rec.Body.String(), "disabled") {
		t.Errorf("disable = %d %s", rec.Code, rec.Body)
	}
	rec = c.post("/users/"+id+"/delete", nil, "HX-Request", "true")
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("delete = %d %q", rec.Code, rec.Body)
	}
	if rec := c.get("/users/" + id + "/edit"); rec.Code != http.StatusNotFound {
		t.Errorf("edit deleted = %d", rec.Code)
	}
}

func TestSettingsPage(t *testing.T) {
	a := newAccountApp(t, nil)
	root := a.createUser(t, userOpts{Role: roleRoot})
	a.setOption(t, "GitHubClientSecret", "gh-secret-value")
	c := a.client(t)
	c.login(root.Username, "correct-horse")
	page := c.get("/settings")
	if page.Code != http.StatusOK || strings.Contains(page.Body.String(), "gh-secret-value") {
		t.Fatalf("settings = %d (or secret shown)", page.Code)
	}
	form := url.Values{"RegisterEnabled": {"true"}, "PasswordLoginEnabled": {"true"}, "SMTPPort": {"2525"}, "QuotaForNewUser": {"42"},
		"EmailDomainWhitelist": {"a.example, b.example"}, "GitHubClientSecret": {""}}
	if rec := c.post("/settings", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("save = %d %s", rec.Code, rec.Body)
	}
	s, err := (&Handler{q: queries.New(a.pool)}).loadSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.int("QuotaForNewUser") != 42 || s.bool("PasswordRegisterEnabled") || s.str("GitHubClientSecret") != "gh-secret-value" ||
		s.str("EmailDomainWhitelist") != "a.example,b.example" {
		t.Errorf("saved = %v", s)
	}
	form.Set("SMTPPort", "99999")
	if rec := c.post("/settings", form); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "error-SMTPPort") {
		t.Errorf("bad port = %d", rec.Code)
	}
	// Applies without restart: registration with a password is now off.
	if rec := a.client(t).post("/register", url.Values{"username": {"late"}, "password": {"long-enough-pw"}, "password2": {"long-enough-pw"}}); rec.Code != http.StatusForbidden {
		t.Errorf("register after switching off = %d", rec.Code)
	}
}

func TestXSSEscaped(t *testing.T) {
	a := newAccountApp(t, nil)
	root := a.createUser(t, userOpts{Role: roleRoot})
	payload := `<script>alert(1)</script>`
	a.createUser(t, userOpts{Username: "xss", DisplayName: payload + `"><img src=x onerror=alert(2)>`, Email: `"<svg/onload=alert(3)>"@example.com`})
	c := a.client(t)
	c.login(root.Username, "correct-horse")
	for _, path := range []string{"/users", "/users?q=" + url.QueryEscape(payload)} {
		body := c.get(path).Body.String()
		for _, raw := range []string{"<script>alert", "<img src=x", "<svg/onload"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s renders %q unescaped", path, raw)
			}
		}
		if path == "/users" && !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: escaped payload missing", path)
		}
	}
	// A login error echoes the username escaped.
	body := a.client(t).post("/login", url.Values{"username": {payload}, "password": {"x"}}).Body.String()
	if strings.Contains(body, "<script>alert") {
		t.Error("login form echoes the username unescaped")
	}
	// Self-service: display name through the form.
	u := a.createUser(t, userOpts{})
	uc := a.client(t)
	uc.login(u.Username, "correct-horse")
	uc.post("/account", url.Values{"display_name": {payload}, "email": {""}})
	if body := uc.get("/account").Body.String(); strings.Contains(body, "<script>alert") {
		t.Error("account page renders the display name unescaped")
	}
}

func regexpFind(pattern, s string) string {
	for _, m := range regexpAll(pattern, s) {
		if len(m) > 1 && m[1] != "" {
			return m[1]
		}
	}
	return ""
}

// An admin mints codes for others: the code's creator cannot redeem it
// (that would be a way to credit themself without root), another user can.
func TestCreatorCannotRedeemOwnCode(t *testing.T) {
	a := newAccountApp(t, nil)
	admin := a.createUser(t, userOpts{Role: roleAdmin})
	adminTok := a.giveAccessToken(t, admin)
	code := a.createRedemption(t, admin, 9000)
	rec, _ := a.client(t).api(http.MethodPost, "/api/user/topup", map[string]string{"key": code}, "Authorization", adminTok)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "You created this code") {
		t.Errorf("creator's redeem = %d %s", rec.Code, rec.Body)
	}
	if q := a.user(t, admin.ID).Quota; q != admin.Quota {
		t.Errorf("creator credited: quota %d, was %d", q, admin.Quota)
	}
	other := a.createUser(t, userOpts{})
	rec, _ = a.client(t).api(http.MethodPost, "/api/user/topup", map[string]string{"key": code}, "Authorization", a.giveAccessToken(t, other))
	if rec.Code != http.StatusOK || a.user(t, other.ID).Quota != other.Quota+9000 {
		t.Errorf("another user's redeem = %d, quota %d", rec.Code, a.user(t, other.ID).Quota)
	}
}
