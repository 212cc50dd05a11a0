package handlers

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserChinese: root brands the site, switches the header to 中文 and
// walks every console page on a desktop and a phone: the header and page
// headings hold no English, the brand is in the header, the page has no JS
// error or CSP violation. Screenshots of every page in both languages go to
// testdata-artifacts/ (lang-*.png).
func TestBrowserChinese(t *testing.T) {
	findChromium(t)
	a := newAccountApp(t, nil)
	a.createUser(t, userOpts{Username: "root", Password: "root-pass-2024", Role: roleRoot, Quota: 12_500_000})
	a.setOption(t, "SystemName", "云雀 API")
	a.setOption(t, "Notice", "**1 月 1 日**起价格调整。")
	if err := a.state.ReloadAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.e)
	defer srv.Close()
	b := newBrowser(t, srv.URL)

	b.open("/login")
	b.fill(map[string]string{"username": "root", "password": "root-pass-2024"}, `[data-testid="login-submit"]`)
	b.waitFor(`[data-testid="dashboard"]`)
	pages := []string{"/", "/tokens", "/tokens/new", "/prompts", "/logs", "/channels", "/channels/new", "/redemptions",
		"/redemptions/new", "/users", "/users/new", "/account", "/settings", "/about", "/pricing"}
	name := func(p string) string {
		if p == "/" {
			return "dashboard"
		}
		return strings.ReplaceAll(strings.Trim(p, "/"), "/", "-")
	}
	for _, p := range pages {
		b.open(p)
		b.waitFor("main")
		b.checkClean()
		b.shot("lang-en-" + name(p))
	}

	b.open("/")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="lang-zh-CN"]`)))
	b.waitFor(`html[lang="zh-CN"]`)
	if got := b.text(`[data-testid="brand"]`); !strings.Contains(got, "云雀 API") {
		t.Errorf("header brand = %q", got)
	}
	if got := b.text(`[data-testid="notice"]`); !strings.Contains(got, "1 月 1 日") {
		t.Errorf("notice = %q", got)
	}
	english := []string{"Tokens", "Prompts", "Logs", "Channels", "Redemptions", "Users", "Settings", "Balance", "Search", "Name", "Status"}
	for _, phone := range []bool{false, true} {
		b.phone(phone)
		for _, p := range pages {
			b.open(p)
			b.waitFor("main")
			b.checkClean()
			chrome := b.text("header") + " " + b.text("main h1") + " " + b.text("footer")
			for _, w := range english {
				if strings.Contains(chrome, w) {
					t.Errorf("%s (phone %v): English %q left in the chrome: %q", p, phone, w, chrome)
				}
			}
			suffix := ""
			if phone {
				suffix = "-390"
			}
			b.shot("lang-zh-" + name(p) + suffix)
		}
	}
}
