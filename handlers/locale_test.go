package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"oneapi/views"
)

// TestLanguageChoice: Accept-Language picks the language of a visitor; the
// header switch sets a cookie and, for a signed-in user, their own setting,
// which wins over the browser on their next session.
func TestLanguageChoice(t *testing.T) {
	a := newTestApp(t)
	if rec := a.do(http.MethodGet, "/login", "", "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5"); !strings.Contains(rec.Body.String(), "用户名") {
		t.Fatalf("Accept-Language zh: no Chinese on /login:\n%.400s", rec.Body.String())
	}
	if rec := a.do(http.MethodGet, "/login", "", "Accept-Language", "fr,en;q=0.5"); !strings.Contains(rec.Body.String(), "Username") {
		t.Fatal("Accept-Language fr: not English")
	}

	c, _ := signedIn(t, a, "lang-user", 1)
	c.get("/account")
	rec := c.post("/lang", url.Values{"lang": {"zh-CN"}, "next": {"/account"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account" {
		t.Fatalf("switch: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	if !strings.Contains(rec.Header().Get("Set-Cookie"), langCookie+"=zh-CN") {
		t.Errorf("switch set no cookie: %q", rec.Header().Get("Set-Cookie"))
	}
	body := c.get("/account").Body.String()
	if !strings.Contains(body, "我的账户") || !strings.Contains(body, `lang="zh-CN"`) {
		t.Fatalf("after the switch the account page is not Chinese:\n%.600s", body)
	}

	// A new session without the cookie still gets the user's choice.
	c2 := a.client(t)
	c2.login("lang-user", "correct-horse")
	if body := c2.get("/account").Body.String(); !strings.Contains(body, "我的账户") {
		t.Fatal("the saved language did not follow the user to a new session")
	}

	// An open redirect through next is refused.
	if rec := c.post("/lang", url.Values{"lang": {"en"}, "next": {"//evil.example"}}); rec.Header().Get("Location") != "/" {
		t.Errorf("next=//evil.example went to %q", rec.Header().Get("Location"))
	}
	if rec := c.post("/lang", url.Values{"lang": {"xx"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("unknown language: %d", rec.Code)
	}
}

// TestTimeZoneSetting: times follow the browser's zone cookie, and the user's
// saved zone wins over it; the footer names the zone.
func TestTimeZoneSetting(t *testing.T) {
	a := newTestApp(t)
	c, _ := signedIn(t, a, "tz-user", 1)
	c.cookies[zoneCookie] = &http.Cookie{Name: zoneCookie, Value: "America/New_York"}
	if body := c.get("/account").Body.String(); !strings.Contains(body, "America/New_York") {
		t.Fatal("the browser's zone is not named on the page")
	}
	c.post("/account/timezone", url.Values{"time_zone": {"Asia/Shanghai"}})
	if body := c.get("/account").Body.String(); !strings.Contains(body, "Asia/Shanghai") || strings.Contains(body, "America/New_York") {
		t.Fatal("the saved zone does not win over the browser's")
	}
	c.post("/account/timezone", url.Values{"time_zone": {"Mars/Olympus"}})
	if body := c.get("/account").Body.String(); !strings.Contains(body, "Unknown time zone") {
		t.Fatal("an unknown zone was not refused")
	}
	if acceptLang("zh-TW") != views.Chinese || acceptLang("") != views.English {
		t.Error("acceptLang")
	}
}

// TestAPIMessagesTranslated: a /api refusal speaks the caller's language
// when the catalogue has its message.
func TestAPIMessagesTranslated(t *testing.T) {
	a := newTestApp(t)
	rec := a.do(http.MethodPost, "/api/user/login", "username=x", "Content-Type", "application/x-www-form-urlencoded", "Accept-Language", "zh-CN")
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "CSRF 令牌无效或缺失") || !strings.Contains(rec.Body.String(), `"success":false`) {
		t.Errorf("zh: %d %s", rec.Code, rec.Body)
	}
	rec = a.do(http.MethodPost, "/api/user/login", "username=x", "Content-Type", "application/x-www-form-urlencoded")
	if !strings.Contains(rec.Body.String(), "invalid or missing CSRF token") {
		t.Errorf("en: %s", rec.Body)
	}
}
